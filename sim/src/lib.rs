//! The deterministic simulator (docs/design.md §7): one thread, virtual time, one seeded
//! RNG, the real core state machines (meta, data, session, client) and the real codec,
//! under injected faults, with the registry's promises checked as the run goes.
//!
//! - [`config`]: what the seed chooses (cluster, faults, workload).
//! - [`queue`]: the event queue, ordered by (time, sequence).
//! - [`net`]: the virtual network (connections, latency, loss, duplication, reordering,
//!   partitions).
//! - [`cluster`]: the nodes and their life cycle (crash, restart, pause).
//! - [`workload`]: what the applications do, and the truth liveness compares with.
//! - [`check`]: the safety properties.
//! - [`operator`]: switches turned mid-run, and what they promise.
//! - [`epochs`]: slot-table installs per phase, and their bounds.
//! - [`trace`]: the trace hash and the last events for failure reports.
//! - [`world`]: the run itself.

pub mod check;
pub mod cluster;
pub mod config;
pub mod epochs;
pub mod felt;
pub mod net;
pub mod operator;
pub mod queue;
pub mod trace;
pub mod workload;
pub mod world;

pub use config::SimConfig;
pub use world::{Outcome, Stats, World};

/// Runs the seed's scenario; `trace` prints every event.
pub fn run_seed(seed: u64, trace: bool) -> Outcome {
    World::new(SimConfig::from_seed(seed), trace).run()
}

/// Runs a given configuration.
pub fn run_config(cfg: SimConfig, trace: bool) -> Outcome {
    World::new(cfg, trace).run()
}
