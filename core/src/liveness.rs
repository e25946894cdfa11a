//! Per-connection liveness (docs/protocol.md §1 "KeepAlive"): when a frame was last
//! received and last sent on one connection. A side that sent nothing for
//! `keepalive_interval` sends a `KeepAlive`; a connection on which nothing arrived for
//! `idle_timeout` is dead (the peer vanished without a reset: power loss, partition, a
//! paused host) and is closed. Any frame counts as sign of life. Pure: time is passed in.

use crate::session::ConfigError;
use crate::time::Instant;
use std::time::Duration;

/// The two intervals, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// Send a `KeepAlive` after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Close the connection after this long without receiving anything.
    pub idle_timeout: Duration,
}

impl LivenessConfig {
    /// 3 s keep-alive, 10 s idle timeout.
    pub const DEFAULT: LivenessConfig = LivenessConfig {
        keepalive_interval: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
    };

    /// Checks both intervals; the error names `keepalive_interval` or `idle_timeout`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keepalive_interval.is_zero() {
            return Err(ConfigError::new(
                "keepalive_interval",
                "must be greater than zero",
            ));
        }
        if self.idle_timeout <= self.keepalive_interval {
            return Err(ConfigError::new(
                "idle_timeout",
                "must be longer than keepalive_interval",
            ));
        }
        Ok(())
    }
}

/// What one connection's liveness asks for at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing to do yet.
    Nothing,
    /// Nothing was sent for `keepalive_interval`: send a `KeepAlive`.
    KeepAlive,
    /// Nothing was received for `idle_timeout`: close the connection.
    Dead,
}

/// When a frame was last received and sent on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    last_received: Instant,
    last_sent: Instant,
}

impl Liveness {
    /// A connection that came up at `now` (counts as both received and sent).
    pub fn new(now: Instant) -> Self {
        Liveness {
            last_received: now,
            last_sent: now,
        }
    }

    /// A frame arrived at `now`.
    pub fn received(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    /// A frame was sent at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    /// What is due at `now`: death takes precedence over a keep-alive.
    pub fn due(&self, now: Instant, cfg: &LivenessConfig) -> Due {
        if now.saturating_since(self.last_received) >= cfg.idle_timeout {
            Due::Dead
        } else if now.saturating_since(self.last_sent) >= cfg.keepalive_interval {
            Due::KeepAlive
        } else {
            Due::Nothing
        }
    }

    /// Whether nothing was sent for `keepalive_interval` (for a side that sends
    /// keep-alives but applies no idle timeout of its own).
    pub fn keepalive_due(&self, now: Instant, keepalive_interval: Duration) -> bool {
        now.saturating_since(self.last_sent) >= keepalive_interval
    }

    /// The next instant at which [`Liveness::due`] may answer something else than
    /// `Nothing`.
    pub fn next_deadline(&self, cfg: &LivenessConfig) -> Instant {
        (self.last_received + cfg.idle_timeout).min(self.last_sent + cfg.keepalive_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn keepalive_after_send_silence_and_dead_after_receive_silence() {
        let cfg = LivenessConfig::DEFAULT;
        let mut l = Liveness::new(ms(0));
        assert_eq!(l.next_deadline(&cfg), ms(3_000));
        assert_eq!(l.due(ms(2_999), &cfg), Due::Nothing);
        assert_eq!(l.due(ms(3_000), &cfg), Due::KeepAlive);
        assert!(!l.keepalive_due(ms(2_999), cfg.keepalive_interval));
        assert!(l.keepalive_due(ms(3_000), cfg.keepalive_interval));
        l.sent(ms(3_000));
        assert_eq!(l.next_deadline(&cfg), ms(6_000));
        assert_eq!(l.due(ms(5_000), &cfg), Due::Nothing);
        l.sent(ms(9_000));
        assert_eq!(l.next_deadline(&cfg), ms(10_000));
        assert_eq!(l.due(ms(9_999), &cfg), Due::Nothing);
        assert_eq!(l.due(ms(10_000), &cfg), Due::Dead);
    }

    #[test]
    fn any_received_frame_defers_death() {
        let cfg = LivenessConfig::DEFAULT;
        let mut l = Liveness::new(ms(0));
        for t in (0..60_000).step_by(2_000) {
            l.received(ms(t));
            l.sent(ms(t));
            assert_eq!(l.due(ms(t + 1_999), &cfg), Due::Nothing);
        }
        // Time passed in out of order never moves the marks back.
        l.received(ms(1));
        assert_eq!(l.due(ms(58_000 + 9_999), &cfg), Due::KeepAlive);
        assert_eq!(l.due(ms(68_000), &cfg), Due::Dead);
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(LivenessConfig::DEFAULT.validate(), Ok(()));
        let mut c = LivenessConfig::DEFAULT;
        c.keepalive_interval = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "keepalive_interval");
        let mut c = LivenessConfig::DEFAULT;
        c.idle_timeout = c.keepalive_interval;
        assert_eq!(c.validate().unwrap_err().field, "idle_timeout");
    }
}
