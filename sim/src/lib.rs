//! The deterministic simulator (DESIGN.md section 7): one thread, virtual time, one seeded
//! RNG, real core state machines and the real codec, under injected faults. Built by the
//! simulator issue; empty until then.
