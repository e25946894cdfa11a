//! The thread-per-core IO shell (docs/design.md §6): a role's process runs N shards,
//! each a glommio executor on io_uring pinned to a core and each an independent node of
//! the role (its own identity, listeners, connections and timers), sharing nothing. A
//! session's client port is shared by its shards through `SO_REUSEPORT`; peer ports are
//! one per shard, since other nodes dial one particular node.
//!
//! Everything that is not the event loop comes from `roster-shell`: framing, the rules of
//! draining a node's outputs, the hooks and readiness of each role, the clock.
//!
//! - [`shards`]: where each shard listens, starting them, waiting for and stopping them.
//! - [`roles`]: data and session nodes as shards (their listener plans and identities).
//! - `executor`: one shard's thread and executor, and its start-up errors (Linux only;
//!   elsewhere `unsupported` says so).
//! - `listen`: listening sockets a restarted process can bind at once (`SO_REUSEADDR`).
//! - `shard`: the event loop of one shard; `conn`: one connection's task; `signal`: the
//!   wake-up between a shard's tasks.

pub mod roles;
pub mod shards;

#[cfg(target_os = "linux")]
mod conn;
#[cfg(target_os = "linux")]
mod executor;
#[cfg(target_os = "linux")]
mod listen;
#[cfg(target_os = "linux")]
mod shard;
#[cfg(target_os = "linux")]
mod signal;

#[cfg(not(target_os = "linux"))]
#[path = "unsupported.rs"]
mod executor;

pub use shards::{ListenerPlan, ShardContext, Shards, launch};
