//! Exponential backoff with jitter, the one schedule of every retry loop: every role's
//! reconnects and the session's write, fetch and push retries (docs/design.md §8: reconnects
//! double from 100 ms to 5 s, jittered from the node's seeded `Rng`, so that a fleet that
//! lost the same peer does not come back in lock step).

use crate::config::ConfigError;
use crate::rng::Rng;
use std::time::Duration;

/// A doubling delay between `initial` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Cap of the doubling.
    pub max: Duration,
}

impl Backoff {
    /// A backoff doubling from `initial` to `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The un-jittered delay before retry number `attempt` (0 for the first retry).
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry `attempt`: "equal jitter", uniform in `[base/2, base]`, so it
    /// never exceeds `max` and never collapses to zero.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let base = self.base(attempt);
        let half = base / 2;
        let spread = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.range_inclusive(0, spread))
    }

    /// The delay after one more failure of a retry loop that has failed `failures` times in
    /// a row so far, counting this one; a success resets `failures` to 0.
    pub fn after_failure(&self, failures: &mut u32, rng: &mut Rng) -> Duration {
        let delay = self.delay(*failures, rng);
        *failures = failures.saturating_add(1);
        delay
    }

    /// Checks the bounds, for the configuration field `field`: a zero initial delay would
    /// spin, and a cap below it would make the doubling meaningless.
    pub fn validate(&self, field: &'static str) -> Result<(), ConfigError> {
        if self.initial.is_zero() || self.max < self.initial {
            return Err(ConfigError::new(
                field,
                "initial must be positive and at most max",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_jitters_within_half() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(b.base(0), Duration::from_millis(100));
        assert_eq!(b.base(3), Duration::from_millis(800));
        assert_eq!(b.base(10), Duration::from_secs(5));
        assert_eq!(b.base(200), Duration::from_secs(5));
        let mut rng = Rng::seed_from_u64(3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let d = b.delay(2, &mut rng);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
            seen.insert(d);
        }
        assert!(seen.len() > 10, "jitter spreads the delays");
    }

    #[test]
    fn each_failure_moves_one_step_up_the_schedule() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut rng = Rng::seed_from_u64(9);
        let mut failures = 0;
        let first = b.after_failure(&mut failures, &mut rng);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let second = b.after_failure(&mut failures, &mut rng);
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        assert_eq!(failures, 2);
        let mut stuck = u32::MAX;
        assert!(b.after_failure(&mut stuck, &mut rng) <= b.max);
        assert_eq!(stuck, u32::MAX, "the count saturates");
    }

    #[test]
    fn validation_refuses_a_zero_start_and_a_cap_below_it() {
        let ok = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(ok.validate("b"), Ok(()));
        let zero = Backoff::new(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(zero.validate("b").unwrap_err().field, "b");
        let inverted = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(inverted.validate("b").unwrap_err().field, "b");
    }
}
