//! The shells' own settings: limits and TLS (the core's settings are each role's config).

use crate::framing::DEFAULT_WRITE_LIMIT;
use crate::tls::Tls;

/// Limits of the shell, and its connections' TLS.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// Bound of each connection's unsent bytes.
    pub write_limit: usize,
    /// TLS of each kind of listener and of dials (default: all plain).
    pub tls: Tls,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            write_limit: DEFAULT_WRITE_LIMIT,
            tls: Tls::default(),
        }
    }
}
