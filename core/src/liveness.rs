//! Per-connection liveness (docs/protocol.md §1 "KeepAlive"): when a frame was last
//! received and last sent on one connection. A side that sent nothing for
//! `keepalive_interval` sends a `KeepAlive`; a connection on which nothing arrived for
//! `idle_timeout` is dead (the peer vanished without a reset: power loss, partition, a
//! paused host) and is closed. Any frame counts as sign of life. Pure: time is passed in.
//!
//! [`Liveness`] tracks one connection with two instants; [`Sweep`] tracks many (a session's
//! clients) checked together every half interval, each connection keeping only the instant
//! it was last heard from and a one-byte stamp of the tick of its last send. Both measure
//! elapsed time, so a node that resumes after a pause sends at once every keep-alive that
//! fell due meanwhile, and a sweep that comes late judges nobody dead before the node read
//! what its peers sent meanwhile.

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

    /// The node itself was stalled until `now` (it was not woken for far longer than its
    /// deadlines allow): what the peer sent meanwhile is still unread, so its silence is not
    /// the peer's. Death is put off until one keep-alive interval from `now`, time for the
    /// driver to hand in what is queued; a peer that is really gone is still closed then.
    pub fn excuse(&mut self, now: Instant, cfg: &LivenessConfig) {
        let grant = cfg.idle_timeout.saturating_sub(cfg.keepalive_interval);
        self.last_received = self.last_received.max(now - grant);
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

/// The sweep tick, modulo 256, during which something was last sent on a swept connection.
/// Ticks are whole sweep periods of elapsed time since [`Instant::ZERO`], so a stamp says
/// *when* the send happened, not how many sweeps ran since: a node that did not sweep for a
/// while (a GC pause, `SIGSTOP`, a slow disk) still sees at its next sweep how long each
/// connection has been quiet. One byte suffices: every sweep re-stamps the connections it
/// finds due, so a stamp never falls more than `keepalive_after` ticks behind the previous
/// sweep, and a sweep after a gap so long that the distance could wrap treats every
/// connection as due (see [`Sweep`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStamp(u8);

/// Liveness of many connections checked together by one periodic sweep (a session's client
/// connections). The settings and the current tick live here, once; each connection keeps
/// only the [`Instant`] it was last heard from and the [`SweepStamp`] of its last send —
/// 9 bytes instead of a [`Liveness`]'s 16 and a map entry of its own.
///
/// - Time is cut into ticks of [`Sweep::period`] (half the keep-alive interval) counted
///   from [`Instant::ZERO`], and the sweep runs at tick boundaries ([`Sweep::next_at`]).
/// - A keep-alive is due once `keepalive_after = ⌈interval / period⌉ + 1` ticks separate
///   the sweep's tick from the tick of the last send: the send came during its tick, so at
///   least `keepalive_interval` passed; with sweeps on tick boundaries at most
///   `keepalive_after` periods passed — 1.5 intervals with the default period. Because
///   ticks measure elapsed time, the first sweep after a pause finds every connection
///   quiet for an interval due at once.
/// - Death is exact, as with [`Liveness::due`] (a connection is dead at the first sweep at
///   least `idle_timeout` after it was last heard) — except at a *late* sweep, one that
///   runs more than two periods after the previous one: the node itself did not look for
///   a while, and what its peers sent meanwhile is still queued in its sockets, unread.
///   Such a sweep only sends keep-alives; the next one, a period later, after the driver
///   handed in what was queued, judges. Only one sweep in a row is excused, so a node that
///   is merely slow still closes dead connections.
#[derive(Debug, Clone)]
pub struct Sweep {
    cfg: LivenessConfig,
    period: Duration,
    keepalive_after: u64,
    /// The tick of the current sweep.
    tick: u64,
    /// When the current sweep ran (none yet: `None`).
    ran: Option<Instant>,
    /// Ticks between the previous sweep and the current one.
    gap: u64,
    /// The current sweep is late: it judges no connection dead.
    late: bool,
}

impl Sweep {
    /// A sweep every half keep-alive interval (at least 1 ms).
    pub fn new(cfg: LivenessConfig) -> Self {
        let period = (cfg.keepalive_interval / 2).max(Duration::from_millis(1));
        let (interval, p) = (cfg.keepalive_interval.as_nanos(), period.as_nanos());
        // The interval is at most twice the period, so this is 2 to 3.
        let keepalive_after = u64::try_from(interval.div_ceil(p) + 1).unwrap_or(u64::MAX);
        Sweep {
            cfg,
            period,
            keepalive_after,
            tick: 0,
            ran: None,
            gap: 0,
            late: false,
        }
    }

    /// How long one tick is: the sweep runs once per tick.
    pub fn period(&self) -> Duration {
        self.period
    }

    fn tick_of(&self, at: Instant) -> u64 {
        // The period is at least 1 ms, so the quotient fits.
        at.as_nanos() / u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX)
    }

    /// When the sweep after the one at `now` is due: the next tick boundary.
    pub fn next_at(&self, now: Instant) -> Instant {
        let p = u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(self.tick_of(now).saturating_add(1).saturating_mul(p))
    }

    /// The stamp of something sent at `now`.
    pub fn stamp(&self, now: Instant) -> SweepStamp {
        // Modulo 256 on purpose: see `SweepStamp`.
        SweepStamp(self.tick_of(now) as u8)
    }

    /// Starts a sweep at `now`: call once per sweep, before asking [`Sweep::due`] of each
    /// connection.
    pub fn advance(&mut self, now: Instant) {
        let tick = self.tick_of(now).max(self.tick);
        self.gap = tick - self.tick;
        let late = self
            .ran
            .is_some_and(|prev| now.saturating_since(prev) > self.period * 2);
        // Excuse one late sweep, never two in a row.
        self.late = late && !self.late;
        self.tick = tick;
        self.ran = Some(now);
    }

    /// Whether the current sweep is late (it judges no connection dead): the node was
    /// stalled, and what its peers sent meanwhile may still be unread.
    pub fn late(&self) -> bool {
        self.late
    }

    /// What is due for a connection last heard from at `heard` that last sent at `sent`;
    /// death takes precedence. A caller that sends the keep-alive stamps its send at once
    /// (so that no connection's stamp falls more than `keepalive_after` ticks behind).
    pub fn due(&self, now: Instant, heard: Instant, sent: SweepStamp) -> Due {
        // After a gap this long a stamp's distance could have wrapped: all are due.
        let wrapped = self.gap.saturating_add(self.keepalive_after) >= 256;
        let quiet = u64::from((self.tick as u8).wrapping_sub(sent.0));
        if !self.late && now.saturating_since(heard) >= self.cfg.idle_timeout {
            Due::Dead
        } else if wrapped || quiet >= self.keepalive_after {
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
    fn an_excused_stall_puts_death_off_by_one_interval() {
        let cfg = LivenessConfig::DEFAULT;
        let mut l = Liveness::new(ms(0));
        l.excuse(ms(15_000), &cfg);
        assert_eq!(l.due(ms(15_000), &cfg), Due::KeepAlive);
        assert!(
            l.next_deadline(&cfg) <= ms(15_000),
            "the keep-alive is due now"
        );
        l.sent(ms(15_000));
        assert_eq!(l.next_deadline(&cfg), ms(18_000));
        assert_eq!(l.due(ms(17_999), &cfg), Due::Nothing);
        assert_eq!(l.due(ms(18_000), &cfg), Due::Dead);
        // A connection heard recently keeps what it has.
        let mut l = Liveness::new(ms(0));
        l.received(ms(14_000));
        l.excuse(ms(15_000), &cfg);
        assert_eq!(l.due(ms(23_999), &cfg), Due::KeepAlive);
        assert_eq!(l.due(ms(24_000), &cfg), Due::Dead);
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

    /// Sweeps at each tick boundary until `until` (in whole milliseconds here), with a
    /// send at each instant of `sends`: the instants at which a keep-alive was due (each
    /// stamped as sent).
    fn keepalives(cfg: LivenessConfig, sends: &[u64], until: u64) -> Vec<u64> {
        let mut sweep = Sweep::new(cfg);
        let mut sent = sweep.stamp(ms(0));
        let mut sends = sends.iter().copied().peekable();
        let mut out = Vec::new();
        let mut t = sweep.next_at(ms(0));
        while t <= ms(until) {
            // Sends strictly before this sweep.
            while let Some(s) = sends.next_if(|s| ms(*s) < t) {
                sent = sweep.stamp(ms(s));
            }
            sweep.advance(t);
            if sweep.due(t, t, sent) == Due::KeepAlive {
                out.push(t.as_nanos() / 1_000_000);
                sent = sweep.stamp(t);
            }
            t = sweep.next_at(t);
        }
        out
    }

    #[test]
    fn swept_keepalive_waits_an_interval_after_the_last_send_and_at_most_one_and_a_half() {
        let cfg = LivenessConfig::DEFAULT; // 3 s interval: sweeps every 1.5 s
        // Silent from the start: 4.5 s is the first sweep a full interval later.
        assert_eq!(keepalives(cfg, &[], 9_000), vec![4_500, 9_000]);
        // A send during the tick from 1.5 s to 3 s: the keep-alive is due three ticks
        // later, at 6 s — 4.4 s after a send at 1.6 s, 3.1 s after one at 2.9 s: never less
        // than the interval, never more than 1.5 intervals.
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
        let sent = sweep.stamp(ms(0));
        sweep.advance(ms(10_500));
        sweep.advance(ms(12_000));
        assert_eq!(sweep.due(ms(10_999), ms(1_000), sent), Due::KeepAlive);
        assert_eq!(sweep.due(ms(11_000), ms(1_000), sent), Due::Dead);
        assert_eq!(sweep.due(ms(11_000), ms(1_001), sent), Due::KeepAlive);
    }

    #[test]
    fn the_first_sweep_after_a_pause_sends_every_due_keepalive_at_once() {
        let cfg = LivenessConfig::DEFAULT;
        let mut sweep = Sweep::new(cfg);
        // Sweeps at 1.5 s and 3 s; sends at 2 s (a) and 4 s (b), then a 7 s pause.
        sweep.advance(ms(1_500));
        let a = sweep.stamp(ms(2_000));
        sweep.advance(ms(3_000));
        let b = sweep.stamp(ms(4_000));
        // The node resumes at 11 s: one sweep, and both have been quiet for an interval.
        sweep.advance(ms(11_000));
        assert_eq!(sweep.due(ms(11_000), ms(11_000), a), Due::KeepAlive);
        assert_eq!(sweep.due(ms(11_000), ms(11_000), b), Due::KeepAlive);
        // Something sent just before, in the same tick, is not due.
        let c = sweep.stamp(ms(10_600));
        assert_eq!(sweep.due(ms(11_000), ms(11_000), c), Due::Nothing);
        // A pause so long that a one-byte distance wraps (256 ticks is 384 s): still due.
        let d = sweep.stamp(ms(11_000));
        sweep.advance(ms(11_000 + 256 * 1_500));
        let at = ms(11_000 + 256 * 1_500);
        assert_eq!(sweep.due(at, at, d), Due::KeepAlive);
    }

    #[test]
    fn a_late_sweep_judges_nobody_dead_and_the_next_one_does() {
        let cfg = LivenessConfig::DEFAULT;
        let mut sweep = Sweep::new(cfg);
        let sent = sweep.stamp(ms(0));
        sweep.advance(ms(1_500));
        assert!(!sweep.late());
        // Heard at 1 s, then the node stalls until 20 s: the late sweep sends a keep-alive
        // instead of closing a connection whose frames are unread in its socket.
        sweep.advance(ms(20_000));
        assert!(sweep.late());
        assert_eq!(sweep.due(ms(20_000), ms(1_000), sent), Due::KeepAlive);
        // The next sweep, on time, judges: heard meanwhile is alive, silent is dead.
        sweep.advance(ms(21_000));
        assert!(!sweep.late());
        assert_eq!(sweep.due(ms(21_000), ms(20_000), sent), Due::KeepAlive);
        assert_eq!(sweep.due(ms(21_000), ms(1_000), sent), Due::Dead);
        // Late again and again (an overloaded node): only every other sweep is excused.
        sweep.advance(ms(25_000));
        assert!(sweep.late());
        sweep.advance(ms(29_000));
        assert!(!sweep.late(), "two late sweeps in a row: the second judges");
        assert_eq!(sweep.due(ms(29_000), ms(1_000), sent), Due::Dead);
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
