//! What both IO shells (`roster-mio`, `roster-glommio`) share, so neither depends on the
//! other: everything about running a node except the event loop itself.
//!
//! - [`drain`]: carrying out a node's outputs over a shell's [`Transport`], by one set of
//!   rules.
//! - [`framing`]: frames over a byte stream with bounded write buffers.
//! - [`admission`]: which first message each kind of listener admits.
//! - [`clock`]: the node's monotonic clock and its seed from the OS.
//! - [`nodes`]: each role's node made from validated settings (config, identity, seed,
//!   meta's store), for both shells and whatever starts them.
//! - [`hooks`]: what a shell does with a node's events; the session's and data's hooks.
//! - [`readiness`]: when a node is ready, and the flag raised for those waiting on it.
//! - [`logbook`]: what meta and data nodes tell the operator's log, rate-limited.
//! - [`inspect`]: asking a running node something from another thread (the admin server).
//! - [`persist`]: the meta persist file.
//! - [`resolve`]: addresses, literal at once, names off the event loops.
//! - [`config`]: the shells' own limits.
//! - [`tls`]: rustls over the shells' sockets, and its settings.

pub mod admission;
pub mod clock;
pub mod config;
pub mod drain;
pub mod framing;
pub mod hooks;
pub mod inspect;
pub mod logbook;
pub mod nodes;
pub mod persist;
pub mod readiness;
pub mod resolve;
pub mod tls;

pub use admission::ListenerKind;
pub use clock::{Clock, os_seed};
pub use config::ShellConfig;
pub use drain::{Drain, Transport};
pub use hooks::{DataHooks, Hooks, SessionHooks};
pub use inspect::{AskError, Inbox, Inspector};
pub use readiness::{Flag, Observed, Readiness, table_complete};
