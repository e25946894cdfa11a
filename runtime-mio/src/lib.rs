//! The portable IO shell (docs/design.md §6): one mio event loop per node, owning its listeners, connections and
//! timers, while all protocol logic stays in `roster-core` and what every shell shares
//! (framing, clock, hooks, readiness, the meta persist file) is `roster-shell`'s.
//!
//! - [`shell`]: the event loop of one node.
//! - [`nodes`]: a node on its own thread, its readiness, stop and join.
//! - [`roles`]: each role's node, made by `roster_shell::nodes`, started on its loop.
//! - [`queue`], [`watch`], `waitable`, `sync`: the hand-offs between threads (commands in
//!   order; the newest pushed list of a key), model-checked with loom.

pub mod queue;
mod sync;
mod waitable;
pub mod watch;

#[cfg(not(loom))]
pub mod nodes;
#[cfg(not(loom))]
pub mod roles;
#[cfg(not(loom))]
pub mod shell;
