//! The data role (docs/design.md §3 and §4.1, §4.4 to §4.7): where publishers
//! live, sharded by slot, as a pure state machine ([`DataNode`], an [`crate::io::Node`]).
//!
//! - [`config`]: every tunable and its validation;
//! - `store`: per-slot publishers, tombstones, datum versions and incremental digests;
//! - `oplog`: the bounded per-slot log of effective changes;
//! - `admission`: `Moved` / `EpochMismatch` / `Migrating`;
//! - `replica`: op-log streaming to followers and digest resync;
//! - `reconcile`: leader ↔ session reconciliation;
//! - `lease`: session leases;
//! - `notify`: change notification batching;
//! - `node`: the node that ties them to connections, meta and timers (one submodule per
//!   concern: connections, session requests, reconciliation runs, replication, the meta
//!   link, timers).

mod admission;
pub mod config;
mod lease;
mod node;
mod notify;
mod oplog;
mod reconcile;
mod replica;
mod store;

#[cfg(test)]
mod tests;

pub use config::DataConfig;
pub use node::{DataCommand, DataEvent, DataKeyView, DataNode};
