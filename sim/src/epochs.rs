//! Check (d): slot-table epochs per fault are counted and bounded.
//!
//! Every table the meta leader installs raises the highest table epoch any meta node
//! applied, so counting rises of that maximum counts installs. They are counted per phase:
//!
//! - **cold start**, until the first fault action: the new cluster's placement, at most
//!   [`COLD_MAX`] tables;
//! - **faults and recovery**, from the first fault until the cluster converged after
//!   healing: at most [`PER_FAULT_MAX`] tables per fault action (a crash that outlives the
//!   lease costs a repair, and the node's return up to three), plus [`COLD_MAX`] for a
//!   placement the faults interrupted;
//! - **steady**, after convergence: the run goes on for [`SETTLE`] (rebalancing that waits
//!   for caught-up followers may still finish) and then [`QUIET`], during which no table
//!   may be installed at all: nothing oscillates.
//!
//! The world calls [`Epochs::on_meta_table`] after every meta step, [`Epochs::on_fault`]
//! per fault action, [`Epochs::on_heal`] and [`Epochs::on_converged`].

use crate::check::Violation;
use roster_core::time::Instant;
use std::fmt;
use std::time::Duration;

/// Most tables of a cold start.
pub const COLD_MAX: u64 = 3;
/// Most tables per fault action.
pub const PER_FAULT_MAX: u64 = 6;
/// After convergence, time left for rebalancing to finish.
pub const SETTLE: Duration = Duration::from_secs(10);
/// Then a period without any install.
pub const QUIET: Duration = Duration::from_secs(20);

/// Tables installed per phase of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochCounts {
    /// Before the first fault action.
    pub cold: u64,
    /// From the first fault action to convergence after healing.
    pub faulty: u64,
    /// Fault actions.
    pub faults: u64,
    /// During the settle period after convergence.
    pub settle: u64,
    /// During the quiet period after it.
    pub quiet: u64,
}

impl fmt::Display for EpochCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cold start {}, {} over {} faults, settle {}, quiet {}",
            self.cold, self.faulty, self.faults, self.settle, self.quiet
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Cold,
    Faulty,
    Settle { until: Instant },
    Quiet { until: Instant },
    Done,
}

/// The counter.
#[derive(Debug, Clone)]
pub struct Epochs {
    top: u64,
    phase: Phase,
    /// The counts so far.
    pub counts: EpochCounts,
}

impl Default for Epochs {
    fn default() -> Self {
        Epochs {
            top: 0,
            phase: Phase::Cold,
            counts: EpochCounts::default(),
        }
    }
}

impl Epochs {
    /// A meta node's applied table has epoch `epoch`.
    pub fn on_meta_table(&mut self, now: Instant, epoch: u64) {
        if epoch <= self.top {
            return;
        }
        // Epochs of one install are consecutive; a jump is still one install per rise seen
        // by some meta node, which is what a leader's log line counts.
        self.top = epoch;
        let c = &mut self.counts;
        match self.phase {
            Phase::Cold => c.cold += 1,
            Phase::Faulty => c.faulty += 1,
            Phase::Settle { until } if now < until => c.settle += 1,
            Phase::Settle { .. } | Phase::Quiet { .. } => c.quiet += 1,
            Phase::Done => {}
        }
    }

    /// A fault action happened.
    pub fn on_fault(&mut self) {
        self.counts.faults += 1;
        if self.phase == Phase::Cold {
            self.phase = Phase::Faulty;
        }
    }

    /// The faults stopped (recovery still counts with them).
    pub fn on_heal(&mut self) {
        if self.phase == Phase::Cold {
            self.phase = Phase::Faulty;
        }
    }

    /// The cluster is converged at `now`; when the run should look again (the end of the
    /// settle or quiet period), or `None` once the quiet period is over.
    pub fn on_converged(&mut self, now: Instant) -> Option<Instant> {
        match self.phase {
            Phase::Cold | Phase::Faulty => {
                let until = now + SETTLE;
                self.phase = Phase::Settle { until };
                Some(until)
            }
            Phase::Settle { until } if now < until => Some(until),
            Phase::Settle { until } => {
                let until = until + QUIET;
                self.phase = Phase::Quiet { until };
                Some(until)
            }
            Phase::Quiet { until } if now < until => Some(until),
            Phase::Quiet { .. } | Phase::Done => {
                self.phase = Phase::Done;
                None
            }
        }
    }

    /// The bounds (module docs).
    pub fn check(&self) -> Result<(), Violation> {
        let c = &self.counts;
        let fail = |detail: String| {
            Err(Violation {
                property: "slot-table epochs per fault are bounded",
                detail: format!("{detail} ({c})"),
            })
        };
        if c.cold > COLD_MAX {
            return fail(format!("cold start installed {} tables", c.cold));
        }
        let bound = PER_FAULT_MAX * c.faults + COLD_MAX;
        if c.faulty > bound {
            return fail(format!(
                "{} tables over {} faults, bound {bound}",
                c.faulty, c.faults
            ));
        }
        if c.quiet > 0 {
            return fail(format!("{} tables while nothing failed", c.quiet));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_are_counted_per_phase_and_bounded() {
        let t = |s: u64| Instant::from_millis(s * 1000);
        let mut e = Epochs::default();
        e.on_meta_table(t(1), 1);
        e.on_meta_table(t(1), 1);
        e.on_fault();
        for epoch in 2..=5 {
            e.on_meta_table(t(3), epoch);
        }
        e.on_heal();
        assert_eq!(e.on_converged(t(10)), Some(t(20)));
        e.on_meta_table(t(12), 6);
        assert_eq!(e.on_converged(t(20)), Some(t(40)));
        assert_eq!(e.check(), Ok(()));
        assert_eq!((e.counts.cold, e.counts.faulty, e.counts.settle), (1, 4, 1));
        e.on_meta_table(t(30), 7);
        assert_eq!(e.on_converged(t(40)), None);
        let v = e.check().unwrap_err();
        assert!(v.detail.contains("while nothing failed"), "{v}");
    }
}
