//! The connection layer every role uses: how a node dials its peers, how long a dial may
//! take, and how it waits before dialling again.
//!
//! - [`Backoff`]: the jittered, doubling delay of every retry (reconnects, and the
//!   session's write, fetch and push retries).
//! - [`Dials`]: each outbound connect's deadline, a core timer.

mod backoff;
mod dials;

pub use backoff::Backoff;
pub use dials::{DEFAULT_CONNECT_TIMEOUT, Dials, TIMED_OUT};
