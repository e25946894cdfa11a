//! `StartWindow`: when the meta leader places a new cluster's table (docs/design.md §4.2).
//!
//! A cold table ([`super::arrange::is_cold`]) placed as soon as the first data process
//! joined would give it every slot, and balancing would then have to walk the slots over
//! to the others. So placement waits for the data processes to join: until
//! `expected_data_nodes` of them are live (when configured), or until `window` passed
//! without a new one joining, and never longer than [`CAP`] windows after the first joined.
//! Kept by the meta leader only and volatile: a new leader waits afresh.

use crate::time::Instant;
use std::time::Duration;

/// The longest wait, in windows from the first data process's join.
pub(super) const CAP: u32 = 5;

/// The start window's state (see the module docs).
#[derive(Debug, Clone)]
pub struct StartWindow {
    window: Duration,
    expected: usize,
    first: Option<Instant>,
    last: Option<Instant>,
    seen: usize,
}

impl StartWindow {
    /// A window of `window`; `expected` data processes end it at once (0: not configured).
    pub fn new(window: Duration, expected: usize) -> Self {
        StartWindow {
            window,
            expected,
            first: None,
            last: None,
            seen: 0,
        }
    }

    /// Whether a cold table may be placed at `now`, with `live` data processes.
    pub fn ready(&mut self, now: Instant, live: usize) -> bool {
        if live == 0 {
            return false;
        }
        if self.expected > 0 && live >= self.expected {
            return true;
        }
        if live > self.seen {
            self.seen = live;
            self.last = Some(now);
            self.first.get_or_insert(now);
        }
        let (Some(first), Some(last)) = (self.first, self.last) else {
            return false;
        };
        let quiet = last + self.window;
        let cap = first + self.window * CAP;
        now >= quiet.min(cap)
    }

    /// Forgets everything (leadership changed).
    pub fn reset(&mut self) {
        *self = StartWindow::new(self.window, self.expected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn placement_waits_for_quiet_or_the_expected_count_or_the_cap() {
        let mut w = StartWindow::new(Duration::from_secs(2), 0);
        assert!(!w.ready(t(0), 0), "nobody to place on");
        assert!(!w.ready(t(100), 1));
        assert!(!w.ready(t(1_500), 2), "a join restarts the window");
        assert!(!w.ready(t(3_000), 2));
        assert!(w.ready(t(3_500), 2), "2 s without a join");

        let mut w = StartWindow::new(Duration::from_secs(2), 3);
        assert!(!w.ready(t(0), 2));
        assert!(
            w.ready(t(10), 3),
            "the expected count ends the window at once"
        );

        let mut w = StartWindow::new(Duration::from_secs(2), 0);
        for k in 0..6u64 {
            let now = t(k * 1_900);
            assert_eq!(w.ready(now, k as usize + 1), now >= t(10_000), "at {now:?}");
        }
        assert!(
            w.ready(t(10_000), 6),
            "capped at 5 windows from the first join"
        );
        w.reset();
        assert!(!w.ready(t(10_000), 6), "a new leader waits afresh");
    }
}
