//! The connection layer every role uses: how a node dials its peers, how long a dial may
//! take, and how it waits before dialling again.
//!
//! - [`Backoff`]: the jittered, doubling delay of every retry (reconnects, and the
//!   session's write, fetch and push retries).
//! - [`Dials`]: each outbound connect's deadline, a core timer.
//! - [`Dialer`]: the outbound links of a node's peer table (down, connecting, up), which
//!   dial through [`Dials`] and retry after the [`Backoff`].
//! - [`Violation`]: what every role does with a peer that skips the hello.
//! - [`MetaWatch`]: when a data or session node gives up on a silent (stalled) meta node.

mod backoff;
mod dialer;
mod dials;
mod meta_watch;
mod violation;

pub use backoff::Backoff;
pub use dialer::{Dialer, LinkState};
pub use dials::{DEFAULT_CONNECT_TIMEOUT, Dials, TIMED_OUT};
pub use meta_watch::{MetaWatch, SILENT_HEARTBEATS};
pub use violation::Violation;
