//! The portable IO shell (DESIGN.md section 6): one mio event loop per node, owning its
//! listeners, connections, framing, clock and timers, and the meta persist file, while all
//! protocol logic stays in `roster-core`. Built by the runtime issue; empty until then.
