//! What the nodes' metrics are made of, as plain values: every role keeps its counters in a
//! stats struct of `u64`s (`SessionStats`, `DataStats`, `MetaStats`, each read with the
//! node's `stats()`), and a latency distribution in a [`Histogram`]: a fixed set of bucket
//! counts with a count and a sum. No clock is read here: a node observes the difference of
//! two `now`s it was handed. The admin crate turns these values into Prometheus text.

use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (the last bucket, `+Inf`, is
/// implicit). From 100 µs (a push on loopback) to 10 s (a push retried through a breaker's
/// cool-down), about three per decade.
pub const LATENCY_BOUNDS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram: how many observations fell at or below each bound of
/// [`LATENCY_BOUNDS_MICROS`] (not cumulative: each observation is in exactly one bucket),
/// the ones above the last bound, their count and their sum. `Copy`, so a node's stats are
/// read by copying them; observing is a search over 16 bounds and three additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Histogram {
    buckets: [u64; LATENCY_BOUNDS_MICROS.len() + 1],
    count: u64,
    sum_micros: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_MICROS.partition_point(|&b| b < micros);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum, in microseconds.
    pub fn sum_micros(&self) -> u64 {
        self.sum_micros
    }

    /// Observations at or below each bound of [`LATENCY_BOUNDS_MICROS`], cumulative (as
    /// Prometheus buckets are); the `+Inf` bucket is [`Histogram::count`].
    pub fn cumulative(&self) -> [(u64, u64); LATENCY_BOUNDS_MICROS.len()] {
        let mut acc = 0;
        std::array::from_fn(|i| {
            acc += self.buckets[i];
            (LATENCY_BOUNDS_MICROS[i], acc)
        })
    }

    /// Adds another histogram's observations (several shards, or the two halves of a
    /// measurement kept apart).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_holds_them() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(100)); // on a bound: that bucket (le is inclusive)
        h.observe(Duration::from_micros(101));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60)); // above every bound: +Inf only
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum_micros(), 100 + 101 + 3_000 + 60_000_000);
        let c = h.cumulative();
        assert_eq!(c[0], (100, 1));
        assert_eq!(c[1], (250, 2));
        assert_eq!(c[4], (2_500, 2));
        assert_eq!(c[5], (5_000, 3));
        assert_eq!(c[15], (10_000_000, 3), "the minute is only in +Inf");
    }

    #[test]
    fn merging_adds_bucket_by_bucket() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.observe(Duration::from_micros(50));
        b.observe(Duration::from_micros(50));
        b.observe(Duration::from_millis(20));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.cumulative()[0], (100, 2));
        assert_eq!(a.cumulative()[7], (25_000, 3));
        assert_eq!(a.sum_micros(), 20_100);
    }
}
