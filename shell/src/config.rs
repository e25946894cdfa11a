//! The shells' own limits (the core's settings are each role's config).

use crate::framing::DEFAULT_WRITE_LIMIT;

/// Limits of the shell.
#[derive(Debug, Clone, Copy)]
pub struct ShellConfig {
    /// Bound of each connection's unsent bytes.
    pub write_limit: usize,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            write_limit: DEFAULT_WRITE_LIMIT,
        }
    }
}
