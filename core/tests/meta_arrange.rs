//! Mechanism 2 (arrangement), property-tested: from any table, any sequence of data-node
//! joins, leaves and restarts, each followed by a few rounds (stable or not), and then
//! rounds with stable reports until nothing changes, ends in a valid, balanced table; and no
//! round ever moves a leader to a process that held no copy while a copy survived, or lets
//! an epoch repeat or go down. And the number of tables each event costs is bounded: a cold
//! start is one table, a restarted or returning or new data process gets its share back in
//! at most three, a balanced table gets none.

use quickcheck::{Gen, QuickCheck};
use roster_core::meta::{ArrangeConfig, SlotReports, arrange};
use roster_core::model::{Incarnation, LeaderEpoch, NodeId, ProcessId, SlotId, TableEpoch};
use roster_core::rng::Rng;
use roster_core::slot::{Slot, SlotTable};
use std::collections::BTreeSet;

fn process(node: u64, incarnation: u64) -> ProcessId {
    ProcessId {
        node: NodeId(node),
        incarnation: Incarnation(incarnation),
    }
}

/// A scenario is its seed; everything else is drawn from it, so a failure names the seed.
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

/// Runs rounds and checks each transition.
struct Run {
    table: SlotTable,
    live: BTreeSet<ProcessId>,
    config: ArrangeConfig,
    /// Highest leader epoch each slot ever had.
    seen: Vec<LeaderEpoch>,
}

impl Run {
    /// One round; returns whether the table changed.
    fn round(&mut self, stable: bool) -> bool {
        let reports = if stable {
            SlotReports::all_stable(&self.table)
        } else {
            SlotReports::default()
        };
        let Some(next) = arrange(&self.table, &self.live, &reports, &self.config) else {
            return false;
        };
        self.check_transition(&next);
        self.table = next;
        true
    }

    fn check_transition(&mut self, next: &SlotTable) {
        let old = &self.table;
        assert!(next.epoch() > old.epoch(), "table epoch must grow");
        old.check_successor(next).unwrap();
        for ((id, o), (_, n)) in old.slots().zip(next.slots()) {
            let i = usize::from(id.0);
            for p in n.replicas() {
                assert!(self.live.contains(&p), "slot {i}: dead replica {p}");
            }
            if n.leader == o.leader {
                assert_eq!(n.leader_epoch, o.leader_epoch, "slot {i}: epoch moved");
                continue;
            }
            assert!(
                n.leader_epoch > self.seen[i],
                "slot {i}: leader epoch repeats"
            );
            assert!(n.leader_epoch.0 <= next.epoch().0);
            self.seen[i] = n.leader_epoch;
            if let Some(l) = n.leader {
                let survived = o.replicas().any(|p| self.live.contains(&p));
                assert!(
                    o.followers.contains(&l) || !survived,
                    "slot {i}: leader moved to {l}, which held no copy, while one survived"
                );
            }
        }
    }

    fn check_final(&self) {
        let n = self.live.len();
        let s = self.table.slot_count().get() as usize;
        let want = self.config.replicas.min(n);
        let mut leaders: std::collections::BTreeMap<ProcessId, usize> =
            self.live.iter().map(|&p| (p, 0)).collect();
        for (id, slot) in self.table.slots() {
            assert_eq!(slot.replicas().count(), want, "slot {}: replicas", id.0);
            if let Some(l) = slot.leader {
                *leaders.get_mut(&l).expect("leader is live") += 1;
            }
        }
        if n == 0 {
            return;
        }
        let (min, max) = (
            *leaders.values().min().unwrap(),
            *leaders.values().max().unwrap(),
        );
        assert!(max - min <= 1, "leader counts spread {min}..{max}");
        // The documented bound: within 10% of the mean, rounded up.
        let mean = s as f64 / n as f64;
        let bound = (mean * 0.1).ceil();
        for (&p, &c) in &leaders {
            assert!(
                (c as f64 - mean).abs() <= bound,
                "{p} leads {c}, mean {mean}, bound {bound}"
            );
        }
    }
}

fn random_table(rng: &mut Rng, slots: usize, pool: &[ProcessId]) -> SlotTable {
    let slots = (0..slots)
        .map(|_| {
            let mut replicas: Vec<ProcessId> = Vec::new();
            for _ in 0..rng.below(4) {
                if pool.is_empty() {
                    break;
                }
                let p = pool[rng.below(pool.len() as u64) as usize];
                if !replicas.contains(&p) {
                    replicas.push(p);
                }
            }
            let leader = if rng.chance(0.8) && !replicas.is_empty() {
                Some(replicas.remove(0))
            } else {
                None
            };
            Slot {
                leader,
                leader_epoch: LeaderEpoch(rng.below(20)),
                followers: replicas,
            }
        })
        .collect();
    SlotTable::new(TableEpoch(rng.below(30)), slots).unwrap()
}

fn scenario(s: Scenario) -> bool {
    let mut rng = Rng::seed_from_u64(s.seed);
    let slots = 1usize << rng.below(7);
    let config = ArrangeConfig {
        replicas: 1 + rng.below(3) as usize,
        max_moves: if rng.chance(0.5) {
            1 + rng.below(8) as usize
        } else {
            ArrangeConfig::UNLIMITED
        },
    };
    let mut next_node = 1 + rng.below(8);
    let pool: Vec<ProcessId> = (1..next_node).map(|n| process(n, 1)).collect();
    let live = pool.iter().copied().filter(|_| rng.chance(0.7)).collect();
    let table = random_table(&mut rng, slots, &pool);
    let mut run = Run {
        seen: table.slots().map(|(_, s)| s.leader_epoch).collect(),
        table,
        live,
        config,
    };
    for _ in 0..rng.below(12) {
        let members: Vec<ProcessId> = run.live.iter().copied().collect();
        match rng.below(3) {
            0 => {
                run.live.insert(process(next_node, 1));
                next_node += 1;
            }
            1 if !members.is_empty() => {
                let p = members[rng.below(members.len() as u64) as usize];
                run.live.remove(&p);
            }
            _ if !members.is_empty() => {
                // A restart: the node's new incarnation replaces the old process.
                let p = members[rng.below(members.len() as u64) as usize];
                run.live.remove(&p);
                run.live.insert(process(p.node.0, p.incarnation.0 + 1));
            }
            _ => {}
        }
        for _ in 0..rng.below(3) {
            let stable = rng.chance(0.5);
            run.round(stable);
        }
    }
    let mut rounds = 0;
    while run.round(true) {
        rounds += 1;
        assert!(rounds < 10_000, "no fixpoint");
    }
    run.check_final();
    true
}

#[test]
fn random_join_and_leave_sequences_always_arrange_into_a_valid_balanced_table() {
    QuickCheck::new()
        .tests(500)
        .max_tests(500)
        .quickcheck(scenario as fn(Scenario) -> bool);
}

#[test]
fn a_dead_leaders_slots_go_to_a_caught_up_follower_at_a_new_leader_epoch() {
    let (a, b, c) = (process(1, 1), process(2, 1), process(3, 1));
    let slot = |l, f: Vec<ProcessId>| Slot {
        leader: Some(l),
        leader_epoch: LeaderEpoch(4),
        followers: f,
    };
    let table = SlotTable::new(TableEpoch(7), vec![slot(a, vec![b, c]), slot(b, vec![a])]).unwrap();
    let mut reports = SlotReports::all_stable(&table);
    // b fell behind on slot 0, so c, caught up, is promoted.
    reports.record(b, &[]);
    let live: BTreeSet<ProcessId> = [b, c].into();
    let config = ArrangeConfig {
        replicas: 3,
        max_moves: 1,
    };
    let next = arrange(&table, &live, &reports, &config).unwrap();
    let s0 = next.slot(SlotId(0)).unwrap();
    assert_eq!(s0.leader, Some(c));
    assert_eq!(s0.followers, vec![b]);
    assert_eq!(next.epoch(), TableEpoch(8));
    assert_eq!(
        s0.leader_epoch,
        LeaderEpoch(8),
        "new leader epoch = new table epoch"
    );
    let s1 = next.slot(SlotId(1)).unwrap();
    assert_eq!((s1.leader, s1.leader_epoch), (Some(b), LeaderEpoch(4)));
    assert_eq!(s1.followers, vec![c], "missing follower refilled");
    // Unstable: nothing to balance, so a repaired table is a fixpoint.
    assert_eq!(
        arrange(&next, &live, &SlotReports::default(), &config),
        None
    );
}

/// Rounds with stable reports until nothing changes; the number of tables installed.
fn settle(run: &mut Run) -> usize {
    let mut tables = 0;
    while run.round(true) {
        tables += 1;
        assert!(tables < 10_000, "no fixpoint");
    }
    tables
}

/// A cold-started run of `n` processes, placed, and the number of tables that took.
fn cold(slots: usize, n: u64, config: ArrangeConfig) -> (Run, usize) {
    let table = SlotTable::empty(roster_core::slot::SlotCount::new(slots as u64).unwrap());
    let mut run = Run {
        seen: table.slots().map(|(_, s)| s.leader_epoch).collect(),
        table,
        live: (1..=n).map(|i| process(i, 1)).collect(),
        config,
    };
    let tables = settle(&mut run);
    run.check_final();
    (run, tables)
}

/// The event bounds, for one shape: cold start 1 table, restart, return after expiry and
/// a new process at most 3 each (repair of the expiry not counted), steady 0.
fn epochs_per_event(slots: usize, n: u64, replicas: usize, max_moves: usize) -> [usize; 4] {
    let config = ArrangeConfig {
        replicas,
        max_moves,
    };
    let (mut run, cold_tables) = cold(slots, n, config);
    // Restart: node 1's new incarnation replaces the old process.
    run.live.remove(&process(1, 1));
    run.live.insert(process(1, 2));
    let restart = settle(&mut run);
    run.check_final();
    // Expired, repaired without it, then back.
    run.live.remove(&process(2, 1));
    settle(&mut run);
    run.live.insert(process(2, 2));
    let back = settle(&mut run);
    run.check_final();
    // A new process.
    run.live.insert(process(n + 1, 1));
    let new = settle(&mut run);
    run.check_final();
    [cold_tables, restart, back, new]
}

#[test]
fn each_event_costs_a_bounded_number_of_tables() {
    let mut over = Vec::new();
    for slots in [16, 32, 64, 128, 256] {
        for n in 1..=10 {
            for replicas in 1..=3 {
                let tables = epochs_per_event(slots, n, replicas, ArrangeConfig::UNLIMITED);
                let [cold, restart, back, new] = tables;
                if cold != 1 || restart > 3 || back > 3 || new > 3 {
                    over.push(format!(
                        "{slots} slots, {n} processes, {replicas} replicas: {tables:?}"
                    ));
                }
            }
        }
    }
    assert!(
        over.is_empty(),
        "[cold, restart, return, new] over the bound: {over:#?}"
    );
}

#[test]
fn a_few_moves_per_round_break_the_bound() {
    // What the bound guards against: balancing a few slots at a time.
    let [_, restart, back, _] = epochs_per_event(256, 4, 2, 6);
    assert!(restart > 3 && back > 3, "{restart} {back}");
}

#[test]
fn a_cold_table_is_placed_at_once_and_balanced() {
    let (run, tables) = cold(256, 4, ArrangeConfig::default());
    assert_eq!(tables, 1);
    for (_, s) in run.table.slots() {
        assert_eq!(s.replicas().count(), 2);
    }
    assert_eq!(run.table.epoch(), TableEpoch(1));
}
