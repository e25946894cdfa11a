//! Why a role did not start, whichever runtime was chosen: the CLI's own settings errors
//! and those of making and starting a node (`roster_shell::nodes`, the shells' `roles`).

use crate::config::ConfigError;
use roster_shell::nodes::BuildError;
use std::io;

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    /// Bad settings.
    Config(ConfigError),
    /// A socket, thread or file failed.
    Io(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

impl From<BuildError> for StartError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Config(e) => StartError::Config(ConfigError(e)),
            BuildError::Io(e) => StartError::Io(e),
        }
    }
}
