//! The client's configuration: its identity, the sessions it may use, its reconnect
//! backoff (docs/design.md §8: 100 ms doubling to 2 s, jittered) and its keep-alive and idle
//! timeout (3 s and 10 s), and its periodic re-query (off unless set).

use crate::config::ConfigError;
use crate::liveness::LivenessConfig;
use crate::model::Text;
use crate::net::Backoff;
use crate::wire::{Features, Token};
use std::time::Duration;

/// Everything a client is configured with.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Stable identity of the client process, sent in `ClientHello`.
    pub client_id: Text,
    /// Session client addresses to fail over across.
    pub sessions: Vec<Text>,
    /// Backoff between connection attempts.
    pub reconnect_backoff: Backoff,
    /// A connect that has not completed by then is abandoned and the next session tried.
    pub connect_timeout: Duration,
    /// Keep-alive interval and idle timeout of the session connection: a connection on
    /// which nothing arrived for `idle_timeout` is closed and failed over.
    pub liveness: LivenessConfig,
    /// The optional protocol features the client announces (all it supports by default;
    /// fewer to act as an older client, as the simulator does).
    pub features: Features,
    /// Every this often while connected, the client asks the session again for the current
    /// list of every key it subscribes to (a safety net for a lost push; `None`: never).
    pub requery_interval: Option<Duration>,
    /// The access token sent in every hello, naming the client to the session's access
    /// rules (docs/security.md); `Token::NONE` for none.
    pub token: Token,
}

impl ClientConfig {
    /// The defaults for `client_id` and `sessions`.
    pub fn new(client_id: Text, sessions: Vec<Text>) -> Self {
        ClientConfig {
            client_id,
            sessions,
            // Capped at 2 s, not 5: a client that failed to reach any session all through
            // a partition or a session restart is back within ~2 s of the heal (it was the
            // simulator's slowest seeds' wait), and a fleet's retries, jittered over the
            // sessions it knows, stay cheap at that rate.
            reconnect_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(2)),
            connect_timeout: crate::net::DEFAULT_CONNECT_TIMEOUT,
            liveness: LivenessConfig::DEFAULT,
            features: Features::SUPPORTED,
            requery_interval: None,
            token: Token::NONE,
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_id.is_empty() {
            return Err(ConfigError::new("client_id", "must not be empty"));
        }
        if self.sessions.is_empty() {
            return Err(ConfigError::new("sessions", "needs at least one address"));
        }
        if self.sessions.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::new("sessions", "contains an empty address"));
        }
        self.reconnect_backoff.validate("reconnect_backoff")?;
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new("connect_timeout", "must be positive"));
        }
        if self.requery_interval.is_some_and(|i| i.is_zero()) {
            return Err(ConfigError::new("requery_interval", "must be positive"));
        }
        self.liveness.validate()
    }
}
