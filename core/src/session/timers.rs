//! A timer wheel in its simplest deterministic form: an ordered set of `(deadline, key)`.
//! Keys are validated when they fire (lazy cancellation), so callers never need to find and
//! remove a timer whose reason has gone away.

use crate::time::Instant;
use std::collections::BTreeSet;

/// Timers keyed by `K`; firing order is `(deadline, key)`, hence deterministic.
#[derive(Debug, Clone)]
pub(crate) struct Timers<K: Ord> {
    set: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Clone> Timers<K> {
    pub(crate) fn new() -> Self {
        Timers {
            set: BTreeSet::new(),
        }
    }

    /// Arms `key` at `at` (a key may be armed several times; each fires).
    pub(crate) fn arm(&mut self, at: Instant, key: K) {
        self.set.insert((at, key));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        if self.next()? <= now {
            self.set.pop_first().map(|(_, k)| k)
        } else {
            None
        }
    }
}
