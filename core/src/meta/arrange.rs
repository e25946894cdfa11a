//! Arrangement (docs/design.md §4.2): the next slot table as a pure function of the
//! current table, the live data processes and their slot reports.
//!
//! One round, in order:
//!
//! 1. **Repair**, always: replicas on processes that are no longer live are dropped; a slot
//!    without a leader is led by one of its surviving followers (caught up at the slot's
//!    leader epoch first, then the one leading fewest slots, then the lowest id), or, only
//!    when no copy survived, by the live process leading fewest slots; missing followers are
//!    refilled from the processes holding fewest replicas that do not hold the slot. A round
//!    that repairs anything does nothing else.
//! 2. **Balance**, only when the table is stable ([`SlotReports::is_stable`]), at most
//!    `max_moves` moves:
//!    - *handoff*: a follower B of a slot led by A becomes its leader (A its follower) when A
//!      leads at least two slots more than B;
//!    - *migration*, only in a round without handoffs: a low process B that follows none of
//!      the slots of a high process A (two or more leaders apart) replaces a follower of one
//!      of them (with one replica per slot: is added as an extra follower), so that a later
//!      round can hand that slot to B once B has caught up;
//!    - *replica spreading*, only when leader counts are within one of each other: a
//!      follower copy moves from the process holding most replicas to the one holding
//!      fewest (two or more apart).
//!
//!    Then extra followers (beyond `replicas - 1`) are trimmed, except those a handoff
//!    still wants.
//!
//! **Leader epochs.** The new table's epoch is `max(old epoch, every leader epoch) + 1`, and a
//! slot whose leader changed gets exactly that value as its leader epoch. Every leader epoch
//! a table ever held is at most its table epoch, and table epochs strictly grow, so a new
//! leader epoch is higher than every leader epoch the slot (or any slot) had before: leader
//! epochs never repeat and never go down.
//!
//! **Balance bound.** Handoffs and migrations continue while two live processes' leader
//! counts differ by two or more, and each handoff strictly lowers the sum of squares of the
//! leader counts, so with stable reports between rounds the table reaches a fixpoint where
//! every process leads `floor(S/N)` or `ceil(S/N)` of the `S` slots. Every count is then less
//! than one away from the mean `S/N`, hence within `ceil(10% of the mean)` of it.
//!
//! Cost: O(slots × processes) for the repair, O(max_moves × slots × replicas) for the balance.

use super::reports::SlotReports;
use crate::model::{LeaderEpoch, ProcessId, SlotId, TableEpoch};
use crate::slot::{Slot, SlotTable};
use std::collections::{BTreeMap, BTreeSet};

/// The arrangement's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrangeConfig {
    /// Replicas per slot, leader included (at least 1).
    pub replicas: usize,
    /// Balancing moves per round (at least 1).
    pub max_moves: usize,
}

impl Default for ArrangeConfig {
    fn default() -> Self {
        ArrangeConfig {
            replicas: 2,
            max_moves: 6,
        }
    }
}

/// The next table, or `None` if `table` needs no change. See the module docs.
pub fn arrange(
    table: &SlotTable,
    live: &BTreeSet<ProcessId>,
    reports: &SlotReports,
    config: &ArrangeConfig,
) -> Option<SlotTable> {
    let mut work = Work::new(table, live, config);
    let repaired = work.repair(reports);
    if !repaired && reports.is_stable(table) {
        work.balance();
    }
    work.finish(table)
}

/// Per-process counts over the working slots.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    leaders: usize,
    replicas: usize,
}

struct Work<'a> {
    original: Vec<Slot>,
    slots: Vec<Slot>,
    load: BTreeMap<ProcessId, Load>,
    live: &'a BTreeSet<ProcessId>,
    config: &'a ArrangeConfig,
    /// Followers each slot should have: `min(replicas, live) - 1`.
    want_followers: usize,
}

impl<'a> Work<'a> {
    fn new(table: &SlotTable, live: &'a BTreeSet<ProcessId>, config: &'a ArrangeConfig) -> Self {
        let original: Vec<Slot> = table.slots().map(|(_, s)| s.clone()).collect();
        let load = live.iter().map(|&p| (p, Load::default())).collect();
        let want_followers = config.replicas.max(1).min(live.len()).saturating_sub(1);
        Work {
            slots: original.clone(),
            original,
            load,
            live,
            config,
            want_followers,
        }
    }

    fn load(&self, p: ProcessId) -> Load {
        self.load.get(&p).copied().unwrap_or_default()
    }

    fn adjust(&mut self, p: ProcessId, leaders: isize, replicas: isize) {
        let l = self.load.entry(p).or_default();
        l.leaders = l.leaders.saturating_add_signed(leaders);
        l.replicas = l.replicas.saturating_add_signed(replicas);
    }

    /// Step 1: drop dead replicas, lead leaderless slots, refill followers.
    fn repair(&mut self, reports: &SlotReports) -> bool {
        for slot in &mut self.slots {
            if slot.leader.is_some_and(|l| !self.live.contains(&l)) {
                slot.leader = None;
            }
            slot.followers.retain(|f| self.live.contains(f));
        }
        for i in 0..self.slots.len() {
            let replicas: Vec<ProcessId> = self.slots[i].replicas().collect();
            for (k, p) in replicas.into_iter().enumerate() {
                self.adjust(p, isize::from(k == 0 && self.slots[i].leader.is_some()), 1);
            }
        }
        if self.live.is_empty() {
            return self.slots != self.original;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].leader.is_none() {
                self.elect(i, reports);
            }
            while self.slots[i].followers.len() < self.want_followers {
                let holders: Vec<ProcessId> = self.slots[i].replicas().collect();
                let Some(p) = self.least_loaded(|l| (l.replicas, l.leaders), &holders) else {
                    break;
                };
                self.slots[i].followers.push(p);
                self.adjust(p, 0, 1);
            }
        }
        self.slots != self.original
    }

    /// The live process not in `exclude` with the smallest `key`, lowest id on ties.
    fn least_loaded<K: Ord>(
        &self,
        key: impl Fn(Load) -> K,
        exclude: &[ProcessId],
    ) -> Option<ProcessId> {
        self.live
            .iter()
            .filter(|p| !exclude.contains(p))
            .min_by_key(|&&p| key(self.load(p)))
            .copied()
    }

    /// Gives leaderless slot `i` a leader: a surviving follower if any, else anyone.
    fn elect(&mut self, i: usize, reports: &SlotReports) {
        let id = SlotId(i as u16);
        let epoch = self.original[i].leader_epoch;
        let slot = &self.slots[i];
        let best = slot.followers.iter().copied().min_by_key(|&f| {
            let caught_up = reports.caught_up(f, id, epoch);
            (!caught_up, self.load(f).leaders, f)
        });
        let leader = match best {
            Some(f) => {
                self.slots[i].followers.retain(|&x| x != f);
                f
            }
            None => match self.least_loaded(|l| (l.leaders, l.replicas), &[]) {
                Some(p) => {
                    self.adjust(p, 0, 1);
                    p
                }
                None => return,
            },
        };
        self.slots[i].leader = Some(leader);
        self.adjust(leader, 1, 0);
    }

    /// Step 2: bounded balancing moves, then trimming.
    fn balance(&mut self) {
        let mut moves = 0;
        while moves < self.config.max_moves && self.handoff() {
            moves += 1;
        }
        if moves == 0 {
            moves = self.migrate();
        }
        if moves == 0 {
            self.spread_replicas();
        }
        self.trim();
    }

    /// Whether `follower` would take slot leadership from `leader` (two or more apart).
    fn wants_handoff(&self, leader: ProcessId, follower: ProcessId) -> bool {
        self.load(leader).leaders >= self.load(follower).leaders + 2
    }

    /// The best single handoff (largest gap, lowest slot on ties), applied.
    fn handoff(&mut self) -> bool {
        let mut best: Option<(usize, usize, ProcessId)> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(a) = slot.leader else { continue };
            for &b in &slot.followers {
                if self.wants_handoff(a, b) {
                    let gap = self.load(a).leaders - self.load(b).leaders;
                    if best.is_none_or(|(g, _, _)| gap > g) {
                        best = Some((gap, i, b));
                    }
                }
            }
        }
        let Some((_, i, b)) = best else { return false };
        let slot = &mut self.slots[i];
        let a = slot.leader.replace(b).unwrap_or(b);
        slot.followers.retain(|&x| x != b);
        slot.followers.push(a);
        self.adjust(a, -1, 0);
        self.adjust(b, 1, 0);
        true
    }

    /// Places copies of high processes' slots on low ones; returns the number placed.
    fn migrate(&mut self) -> usize {
        let mut plan: BTreeMap<ProcessId, usize> =
            self.load.iter().map(|(&p, l)| (p, l.leaders)).collect();
        let mut migrated = vec![false; self.slots.len()];
        let mut moves = 0;
        while moves < self.config.max_moves {
            let high = plan
                .iter()
                .max_by_key(|&(p, n)| (*n, std::cmp::Reverse(*p)));
            let low = plan.iter().min_by_key(|&(p, n)| (*n, *p));
            let (Some((&a, &na)), Some((&b, &nb))) = (high, low) else {
                break;
            };
            if na < nb + 2 {
                break;
            }
            let Some(i) = (0..self.slots.len()).find(|&i| {
                !migrated[i]
                    && self.slots[i].leader == Some(a)
                    && self.slots[i].role_of(b).is_none()
            }) else {
                break;
            };
            let evict = self.slots[i]
                .followers
                .iter()
                .copied()
                .max_by_key(|&f| (self.load(f).replicas, std::cmp::Reverse(f)));
            if let (Some(f), true) = (evict, self.config.replicas >= 2) {
                self.slots[i].followers.retain(|&x| x != f);
                self.adjust(f, 0, -1);
            }
            self.slots[i].followers.push(b);
            self.adjust(b, 0, 1);
            migrated[i] = true;
            *plan.entry(a).or_default() -= 1;
            *plan.entry(b).or_default() += 1;
            moves += 1;
        }
        moves
    }

    /// Moves follower copies from the fullest process to the emptiest.
    fn spread_replicas(&mut self) {
        for _ in 0..self.config.max_moves {
            let high = self
                .load
                .iter()
                .max_by_key(|&(p, l)| (l.replicas, std::cmp::Reverse(*p)));
            let low = self.load.iter().min_by_key(|&(p, l)| (l.replicas, *p));
            let (Some((&x, lx)), Some((&y, ly))) = (high, low) else {
                return;
            };
            if lx.replicas < ly.replicas + 2 {
                return;
            }
            let Some(i) = (0..self.slots.len()).find(|&i| {
                self.slots[i].followers.contains(&x) && self.slots[i].role_of(y).is_none()
            }) else {
                return;
            };
            for f in &mut self.slots[i].followers {
                if *f == x {
                    *f = y;
                }
            }
            self.adjust(x, 0, -1);
            self.adjust(y, 0, 1);
        }
    }

    /// Removes followers beyond the wanted number, keeping those a handoff still wants.
    fn trim(&mut self) {
        for i in 0..self.slots.len() {
            while self.slots[i].followers.len() > self.want_followers {
                let leader = self.slots[i].leader;
                let victim = self.slots[i]
                    .followers
                    .iter()
                    .copied()
                    .filter(|&f| !leader.is_some_and(|l| self.wants_handoff(l, f)))
                    .max_by_key(|&f| (self.load(f).replicas, std::cmp::Reverse(f)));
                let Some(v) = victim else { break };
                self.slots[i].followers.retain(|&x| x != v);
                self.adjust(v, 0, -1);
            }
        }
    }

    /// The new table if anything changed, with the epochs described in the module docs.
    fn finish(self, table: &SlotTable) -> Option<SlotTable> {
        if self.slots == self.original {
            return None;
        }
        let top = self
            .original
            .iter()
            .map(|s| s.leader_epoch.0)
            .fold(table.epoch().0, u64::max);
        let epoch = top.saturating_add(1);
        let slots = self
            .slots
            .into_iter()
            .zip(&self.original)
            .map(|(mut s, old)| {
                if s.leader != old.leader {
                    s.leader_epoch = LeaderEpoch(epoch);
                }
                s
            })
            .collect();
        SlotTable::new(TableEpoch(epoch), slots).ok()
    }
}
