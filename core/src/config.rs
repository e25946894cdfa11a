//! The one error every role's configuration check returns (session, data, meta, client and
//! the liveness settings they share): the field that is wrong and why, so an operator's
//! mistake is reported before a node starts, worded the same whichever role made it.

use std::borrow::Cow;
use std::fmt;

/// A configuration field with a value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's name, as spelled in the role's configuration struct.
    pub field: &'static str,
    /// What is wrong with it; owned when it names a value (a peer id, an address).
    pub reason: Cow<'static, str>,
}

impl ConfigError {
    /// `field` is wrong because of `reason`.
    pub fn new(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        ConfigError {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    // No role prefix: callers that start several roles (the CLI) say which one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_then_the_reason() {
        let fixed = ConfigError::new("scan_interval", "must be greater than zero");
        assert_eq!(
            fixed.to_string(),
            "scan_interval: must be greater than zero"
        );
        let named = ConfigError::new("peers", format!("peer id {} appears twice", 3));
        assert_eq!(named.to_string(), "peers: peer id 3 appears twice");
        assert_eq!(named.reason, "peer id 3 appears twice");
    }
}
