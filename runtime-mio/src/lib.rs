//! The portable IO shell (docs/design.md §6): one mio event loop per node, owning its
//! listeners, connections, framing, clock and timers, and the meta persist file, while all
//! protocol logic stays in `roster-core`.
//!
//! - [`framing`]: frames over a byte stream with bounded write buffers (no event loop in
//!   it, so other shells share it).
//! - [`shell`]: the event loop of one node.
//! - [`nodes`]: a node on its own thread, its readiness, stop and join.
//! - [`persist`]: the meta persist file.
//! - [`client`]: the Rust client library, its clients sharing a few IO threads.
//! - [`queue`], [`watch`], `waitable`, `sync`: the hand-offs between threads (commands in
//!   order; the newest pushed list of a key), model-checked with loom.

pub mod queue;
mod sync;
mod waitable;
pub mod watch;

#[cfg(not(loom))]
pub mod client;
#[cfg(not(loom))]
mod client_io;
#[cfg(not(loom))]
pub mod framing;
#[cfg(not(loom))]
pub mod nodes;
#[cfg(not(loom))]
pub mod persist;
#[cfg(not(loom))]
pub mod shell;
