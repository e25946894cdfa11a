//! Decommissioning a data node (`arrange_leaving`), property-tested: from a balanced table
//! of any shape, marking any proper subset of the data processes as leaving and running
//! rounds (stable, with some unstable ones between) empties every leaving process within a
//! bounded number of tables; no table ever leaves a slot without a leader, hands a slot to a
//! process that was not its follower, or gives a leaving process a copy it did not hold;
//! and the staying processes end balanced, every slot with its full replica count.

use quickcheck::{Gen, QuickCheck};
use roster_core::meta::{ArrangeConfig, SlotReports, arrange_leaving};
use roster_core::model::{Incarnation, NodeId, ProcessId};
use roster_core::rng::Rng;
use roster_core::slot::{SlotCount, SlotTable};
use std::collections::{BTreeMap, BTreeSet};

fn process(node: u64) -> ProcessId {
    ProcessId {
        node: NodeId(node),
        incarnation: Incarnation(1),
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
}

impl quickcheck::Arbitrary for Scenario {
    fn arbitrary(g: &mut Gen) -> Self {
        Scenario {
            seed: <u64 as quickcheck::Arbitrary>::arbitrary(g),
        }
    }
}

struct Run {
    table: SlotTable,
    live: BTreeSet<ProcessId>,
    leaving: BTreeSet<ProcessId>,
    config: ArrangeConfig,
}

impl Run {
    /// One round; whether the table changed.
    fn round(&mut self, stable: bool) -> bool {
        let reports = if stable {
            SlotReports::all_stable(&self.table)
        } else {
            SlotReports::default()
        };
        let next = arrange_leaving(
            &self.table,
            &self.live,
            &self.leaving,
            &reports,
            &self.config,
        );
        let Some(next) = next else {
            return false;
        };
        self.check_transition(&next);
        self.table = next;
        true
    }

    fn check_transition(&self, next: &SlotTable) {
        self.table.check_successor(next).unwrap();
        for ((id, o), (_, n)) in self.table.slots().zip(next.slots()) {
            let i = id.0;
            let leader = n
                .leader
                .unwrap_or_else(|| panic!("slot {i} left without a leader"));
            if o.leader.is_some() && Some(leader) != o.leader {
                assert!(
                    o.followers.contains(&leader),
                    "slot {i}: leader moved to {leader}, which was not its follower"
                );
            }
            for p in n.replicas().filter(|p| self.leaving.contains(p)) {
                assert!(
                    o.replicas().any(|q| q == p),
                    "slot {i}: leaving {p} got a new copy"
                );
            }
        }
    }

    /// Rounds with stable reports until nothing changes; the tables installed.
    fn settle(&mut self) -> usize {
        let mut tables = 0;
        while self.round(true) {
            tables += 1;
            assert!(tables < 1_000, "no fixpoint");
        }
        tables
    }

    fn holds(&self, p: ProcessId) -> usize {
        self.table
            .slots()
            .filter(|(_, s)| s.replicas().any(|q| q == p))
            .count()
    }

    fn check_final(&self) {
        let staying: Vec<ProcessId> = self.live.difference(&self.leaving).copied().collect();
        for &p in &self.leaving {
            assert_eq!(self.holds(p), 0, "leaving {p} still holds slots");
        }
        let want = self.config.replicas.min(staying.len());
        let mut leads: BTreeMap<ProcessId, usize> = staying.iter().map(|&p| (p, 0)).collect();
        for (id, slot) in self.table.slots() {
            assert_eq!(slot.replicas().count(), want, "slot {}: replicas", id.0);
            *leads
                .get_mut(&slot.leader.unwrap())
                .expect("staying leader") += 1;
        }
        let (min, max) = (leads.values().min(), leads.values().max());
        assert!(
            max.unwrap() - min.unwrap() <= 1,
            "leaders spread: {leads:?}"
        );
    }
}

/// A balanced cluster of `n` processes.
fn cold(slots: u64, n: u64, config: ArrangeConfig) -> Run {
    let mut run = Run {
        table: SlotTable::empty(SlotCount::new(slots).unwrap()),
        live: (1..=n).map(process).collect(),
        leaving: BTreeSet::new(),
        config,
    };
    run.settle();
    run
}

/// The tables a decommission may take: a handoff or migration, then the handoff of the
/// migrated slots with the trim of the leaving copies, then evacuated followers' trims and
/// spreading among the staying processes; and, in about one scenario in a thousand (two or
/// three replicas, 7 or 8 processes), one more spreading round. Over 200,000 seeds of this
/// property no scenario took more than 5; the bound was 4 until a CI run drew one of those.
const BOUND: usize = 5;

fn scenario(s: Scenario) -> bool {
    let mut rng = Rng::seed_from_u64(s.seed);
    let slots = 1u64 << rng.below(8);
    let n = 2 + rng.below(7);
    let config = ArrangeConfig {
        replicas: 1 + rng.below(3) as usize,
        max_moves: ArrangeConfig::UNLIMITED,
    };
    let mut run = cold(slots, n, config);
    let mut leaving: Vec<ProcessId> = run.live.iter().copied().collect();
    leaving.retain(|_| rng.chance(0.3));
    if leaving.len() == run.live.len() {
        leaving.pop();
    }
    if leaving.is_empty() {
        leaving.push(process(1 + rng.below(n)));
    }
    run.leaving = leaving.into_iter().collect();
    // Unstable rounds (reports not in yet) change nothing of a balanced table.
    for _ in 0..rng.below(3) {
        assert!(!run.round(false), "an unstable round moved copies");
    }
    let tables = run.settle();
    assert!(
        tables <= BOUND,
        "{slots} slots, {n} processes, {:?}: {tables} tables",
        run.config
    );
    run.check_final();
    true
}

#[test]
fn decommission_empties_the_leaving_processes_in_a_bounded_number_of_tables() {
    QuickCheck::new()
        .tests(400)
        .max_tests(400)
        .quickcheck(scenario as fn(Scenario) -> bool);
}

#[test]
fn every_shape_empties_one_leaving_process_within_the_bound() {
    let mut over = Vec::new();
    for slots in [1, 16, 64, 256] {
        for n in 2..=8 {
            for replicas in 1..=3 {
                let config = ArrangeConfig {
                    replicas,
                    max_moves: ArrangeConfig::UNLIMITED,
                };
                let mut run = cold(slots, n, config);
                run.leaving = [process(1)].into();
                let tables = run.settle();
                run.check_final();
                if tables > BOUND {
                    over.push(format!("{slots} slots, {n}, {replicas} replicas: {tables}"));
                }
            }
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}

#[test]
fn a_few_moves_per_round_still_empty_the_process() {
    let config = ArrangeConfig {
        replicas: 2,
        max_moves: 3,
    };
    let mut run = cold(64, 4, config);
    run.leaving = [process(2)].into();
    run.settle();
    run.check_final();
}

#[test]
fn taking_the_process_back_rebalances_onto_it() {
    let mut run = cold(64, 3, ArrangeConfig::default());
    run.leaving = [process(3)].into();
    run.settle();
    run.check_final();
    assert_eq!(run.holds(process(3)), 0);
    run.leaving.clear();
    run.settle();
    run.check_final();
    assert!(run.holds(process(3)) > 0, "back in use");
}
