//! Per-connection liveness (docs/protocol.md §1 "KeepAlive"): when a frame was last
//! received and last sent on one connection. A side that sent nothing for
//! `keepalive_interval` sends a `KeepAlive`; a connection on which nothing arrived for
//! `idle_timeout` is dead (the peer vanished without a reset: power loss, partition, a
//! paused host) and is closed. Any frame counts as sign of life. Pure: time is passed in.
//!
//! [`Liveness`] tracks one connection with two instants; [`Sweep`] tracks many (a session's
//! clients) checked together every half interval, each connection keeping only the instant
//! it was last heard from and a one-byte stamp of the sweep of its last send.

use crate::config::ConfigError;
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

/// The sweep count, modulo 256, at which something happened on a swept connection. One
/// byte suffices: the sweep never lets a connection go more than a few sweeps without
/// sending (see [`Sweep`]), so the distance to the current count never wraps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStamp(u8);

/// Liveness of many connections checked together by one periodic sweep (a session's client
/// connections). The settings and the sweep count live here, once; each connection keeps
/// only the [`Instant`] it was last heard from and the [`SweepStamp`] of its last send —
/// 9 bytes instead of a [`Liveness`]'s 16 and a map entry of its own.
///
/// - Death is exact, as with [`Liveness::due`]: a connection is dead at the first sweep at
///   least `idle_timeout` after it was last heard.
/// - A keep-alive is due once `keepalive_after` sweeps have passed since the sweep a
///   connection's last send is stamped with. The send came after that sweep and before the
///   next one, and sweeps are at least [`Sweep::period`] apart (the caller re-arms the sweep
///   `period` after it ran), so `keepalive_after = ⌈interval / period⌉ + 1` sweeps mean at
///   least `keepalive_interval` of silence. With the period at half the interval that is
///   three sweeps: the keep-alive leaves within 1.5 intervals of the last send, the same
///   bound as exact send instants checked every half interval.
#[derive(Debug, Clone)]
pub struct Sweep {
    cfg: LivenessConfig,
    period: Duration,
    count: u8,
    keepalive_after: u8,
}

impl Sweep {
    /// A sweep every half keep-alive interval (at least 1 ms).
    pub fn new(cfg: LivenessConfig) -> Self {
        let period = (cfg.keepalive_interval / 2).max(Duration::from_millis(1));
        let (interval, p) = (cfg.keepalive_interval.as_nanos(), period.as_nanos());
        // The interval is at most twice the period, so this is 2 to 4.
        let keepalive_after = u8::try_from(interval.div_ceil(p) + 1).unwrap_or(u8::MAX);
        Sweep {
            cfg,
            period,
            count: 0,
            keepalive_after,
        }
    }

    /// How long after one sweep ran the next one is due.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The stamp of something happening now (between this sweep and the next).
    pub fn stamp(&self) -> SweepStamp {
        SweepStamp(self.count)
    }

    /// Starts a sweep: call once per sweep, before asking [`Sweep::due`] of each connection.
    pub fn advance(&mut self) {
        self.count = self.count.wrapping_add(1);
    }

    /// What is due for a connection last heard from at `heard` that last sent at `sent`;
    /// death takes precedence. A caller that sends the keep-alive stamps its send at once
    /// (so that no connection's stamp falls more than `keepalive_after` sweeps behind).
    pub fn due(&self, now: Instant, heard: Instant, sent: SweepStamp) -> Due {
        if now.saturating_since(heard) >= self.cfg.idle_timeout {
            Due::Dead
        } else if self.count.wrapping_sub(sent.0) >= self.keepalive_after {
            Due::KeepAlive
        } else {
            Due::Nothing
        }
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

    /// Sweeps every period (in whole milliseconds here) until `until`, with a send at each
    /// instant of `sends`: the instants at which a keep-alive was due (each stamped as sent).
    fn keepalives(cfg: LivenessConfig, sends: &[u64], until: u64) -> Vec<u64> {
        let mut sweep = Sweep::new(cfg);
        let period = sweep.period().as_millis() as u64;
        let mut sent = sweep.stamp();
        let mut sends = sends.iter().copied().peekable();
        let mut out = Vec::new();
        let mut t = period;
        while t <= until {
            // Sends strictly between the previous sweep and this one.
            while sends.next_if(|s| *s < t).is_some() {
                sent = sweep.stamp();
            }
            sweep.advance();
            if sweep.due(ms(t), ms(t), sent) == Due::KeepAlive {
                out.push(t);
                sent = sweep.stamp();
            }
            t += period;
        }
        out
    }

    #[test]
    fn swept_keepalive_waits_an_interval_after_the_last_send_and_at_most_one_and_a_half() {
        let cfg = LivenessConfig::DEFAULT; // 3 s interval: sweeps every 1.5 s
        // Silent from the start: 3 s is the first sweep a full interval later.
        assert_eq!(keepalives(cfg, &[], 9_000), vec![4_500, 9_000]);
        // A send between the sweeps at 1.5 s and 3 s is stamped with the first: the
        // keep-alive is due three sweeps later, at 6 s — 4.4 s after a send at 1.6 s, 3.1 s
        // after one at 2.9 s: never less than the interval, never more than 1.5 intervals.
        assert_eq!(keepalives(cfg, &[1_600], 9_000), vec![6_000]);
        assert_eq!(keepalives(cfg, &[2_900], 9_000), vec![6_000]);
        // Traffic every second: no keep-alive at all.
        let busy: Vec<u64> = (1..60).map(|s| s * 1_000).collect();
        assert!(keepalives(cfg, &busy, 59_000).is_empty());
    }

    #[test]
    fn swept_keepalive_never_comes_before_an_interval_of_silence() {
        for interval in [1u64, 2, 4, 10, 3_000] {
            let cfg = LivenessConfig {
                keepalive_interval: Duration::from_millis(interval),
                idle_timeout: Duration::from_millis(interval * 10),
            };
            let period = Sweep::new(cfg).period().as_millis() as u64;
            for send in 1..(interval * 4) {
                let due = keepalives(cfg, &[send], send + interval * 3);
                let first = due.iter().copied().find(|t| *t > send).unwrap();
                assert!(
                    first - send >= interval,
                    "interval {interval}, send {send}: {due:?}"
                );
                assert!(
                    first - send <= interval + period,
                    "interval {interval}, send {send}: {due:?}"
                );
            }
        }
    }

    #[test]
    fn swept_death_is_exact() {
        let cfg = LivenessConfig::DEFAULT;
        let mut sweep = Sweep::new(cfg);
        let sent = sweep.stamp();
        sweep.advance();
        assert_eq!(sweep.due(ms(10_999), ms(1_000), sent), Due::Nothing);
        assert_eq!(sweep.due(ms(11_000), ms(1_000), sent), Due::Dead);
        // Death wins over a keep-alive that is due as well.
        for _ in 0..3 {
            sweep.advance();
        }
        assert_eq!(sweep.due(ms(5_000), ms(1_000), sent), Due::KeepAlive);
        assert_eq!(sweep.due(ms(11_000), ms(1_000), sent), Due::Dead);
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
