//! The library's one error type: every fallible call returns [`Error`], and each variant
//! says what a program does about it.

use roster_core::wire::ErrorCode;
use std::io;
use std::path::PathBuf;

/// What can go wrong, and what to do about it.
///
/// New variants may come in later versions (`#[non_exhaustive]`): match the ones a program
/// acts on and treat the rest as failures of the call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the text names the field. A programming or deployment
    /// error: fix the settings (nothing was started).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The key is neither a data id nor `data_id#@#instance_id#@#group`. Fix the key;
    /// nothing was registered.
    #[error("invalid data id {0:?}")]
    InvalidKey(String),
    /// The client was closed (its IO thread is gone, or a publication was withdrawn before
    /// the answer waited for). Make a new client if the program still needs one.
    #[error("the client is closed")]
    Closed,
    /// Nothing arrived within the timeout given. Nothing is undone: a registration carries
    /// on and may still be acknowledged, a subscription still receives later lists; wait
    /// again or go on without.
    #[error("timed out")]
    Timeout,
    /// The session refused a registration. `code` says whether retrying can help:
    /// `Overloaded` (too many registrations on the connection: shed some, or retry later),
    /// `BadRequest` (malformed: fix it, retrying is useless).
    #[error("registration {register_id} refused ({code:?}): {reason}")]
    Rejected {
        /// The registration.
        register_id: String,
        /// Why, as a code a program can act on.
        code: ErrorCode,
        /// The session's reason.
        reason: String,
    },
    /// The client's IO thread could not start (the process is out of threads or file
    /// descriptors). Report it; retrying makes sense only once resources are freed.
    #[error("client IO: {0}")]
    Io(#[source] io::Error),
    /// The cache directory could not be created or is not writable (`ClientOptions::
    /// cache_dir`). Fix its path or permissions, or run without a cache.
    #[error("cache directory {}: {source}", path.display())]
    Cache {
        /// The directory.
        path: PathBuf,
        /// Why it is unusable.
        #[source]
        source: io::Error,
    },
}
