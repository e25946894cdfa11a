//! Arrangement (docs/design.md §4.2): the next slot table as a pure function of the
//! current table, the live data processes and their slot reports.
//!
//! **Cold start.** A table where no slot ever had a leader ([`is_cold`]) is placed at once,
//! balanced: with the live processes in id order `p0..pN-1`, slot `i` is led by `p(i mod N)`;
//! followers are filled from the processes holding fewest replicas, then follower copies
//! move directly (nothing holds data yet) from the fullest to the emptiest process until
//! replica counts are within one. Every process then leads `floor(S/N)` or `ceil(S/N)` of
//! the `S` slots, which with those replica counts is a fixpoint of the balance below. When to place (the start window that lets the
//! data nodes join first) is the caller's decision ([`super::StartWindow`]).
//!
//! Otherwise, one round, in order:
//!
//! 1. **Repair**, always: replicas on processes that are no longer live are dropped; a slot
//!    without a leader is led by one of its surviving followers (caught up at the slot's
//!    leader epoch first, then the one leading fewest slots, then the lowest id), or, only
//!    when no copy survived, by the live process leading fewest slots; missing followers are
//!    refilled from the processes holding fewest replicas that do not hold the slot. A round
//!    that repairs anything does nothing else.
//! 2. **Balance**, only when the table is stable ([`SlotReports::is_stable`]), with the
//!    whole plan in one round (at most `max_moves` moves, unlimited by default). Each
//!    process's leader *target* is `floor(S/N)` or `ceil(S/N)`; the `S mod N` processes
//!    leading most now (lowest id on ties) get the ceiling.
//!    - *handoff*: a slot whose leader is above its target and that has a follower below
//!      its target, caught up at the slot's leader epoch, is handed to that follower (the
//!      old leader becomes a follower). No copy is lost and the new leader holds the data.
//!    - *migration*: for what handoffs cannot settle, a process below its target is added
//!      as an extra follower to slots of processes above theirs, so that the next round
//!      (once it reported caught up) hands them over;
//!    - *trimming*: slots that got no new follower this round drop followers beyond
//!      `replicas - 1`, the fullest first, keeping those a handoff still wants. A copy is
//!      thus dropped only once its replacement reported caught up;
//!    - *replica spreading*: while replica counts differ by two or more (counting, for
//!      each slot migrated this round, its leader's copy as already gone: the trim after
//!      the handoff drops it), the emptiest process is added as an extra follower to a
//!      slot the fullest follows and that this round left alone; a later trim drops the
//!      fullest copy.
//!
//! **Leaving processes** ([`arrange_leaving`], a decommissioned data node): they count as
//! live (their copies serve until replaced) but get nothing new and a leader target of 0.
//! Placement, refills and spreading use only the staying processes, and followers per
//! slot are `min(replicas, staying) - 1`. Balancing then moves their leaders off through
//! the usual handoff and migration (a leader only ever goes to a caught-up follower);
//! *evacuation* adds a staying follower to each slot a leaving process follows that has
//! fewer staying followers than wanted; and trimming drops leaving copies first, so a
//! leaving copy goes only once its replacement reported caught up. A leaving process is
//! empty within a few stable rounds (`core/tests/meta_arrange.rs` checks the bound). If
//! every live process is leaving, none is treated as leaving.
//!
//! **Epochs per event.** A restarted data process (its new incarnation replaces the old
//! one) gets the dead one's follower copies back in the repair round and its leaders in
//! the next stable round: two tables. A process that joins empty (new, or back after its
//! lease ran out) is added as follower in one round, takes its leaders and the surplus
//! copies are trimmed in the next, and a last round evens out replicas: at most three
//! (`core/tests/meta_arrange.rs` checks these bounds).
//!
//! **Leader epochs.** The new table's epoch is `max(old epoch, every leader epoch) + 1`, and a
//! slot whose leader changed gets exactly that value as its leader epoch. Every leader epoch
//! a table ever held is at most its table epoch, and table epochs strictly grow, so a new
//! leader epoch is higher than every leader epoch the slot (or any slot) had before: leader
//! epochs never repeat and never go down.
//!
//! **Balance bound.** Handoffs and migrations continue while a live process is off its
//! leader target, and with stable reports between rounds every migration becomes a handoff
//! in the next round, so the table reaches a fixpoint where every process leads
//! `floor(S/N)` or `ceil(S/N)` of the `S` slots. Every count is then less than one away from
//! the mean `S/N`, hence within `ceil(10% of the mean)` of it.
//!
//! Cost: O(slots × processes) per round.

use super::reports::SlotReports;
use crate::model::{LeaderEpoch, ProcessId, SlotId, TableEpoch};
use crate::slot::{Slot, SlotTable};
use std::collections::{BTreeMap, BTreeSet};

/// The arrangement's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrangeConfig {
    /// Replicas per slot, leader included (at least 1).
    pub replicas: usize,
    /// Balancing moves per round (at least 1); [`ArrangeConfig::UNLIMITED`] by default, so
    /// a round carries out its whole plan.
    pub max_moves: usize,
}

impl ArrangeConfig {
    /// No limit on the moves of a round.
    pub const UNLIMITED: usize = usize::MAX;
}

impl Default for ArrangeConfig {
    fn default() -> Self {
        ArrangeConfig {
            replicas: 2,
            max_moves: ArrangeConfig::UNLIMITED,
        }
    }
}

/// Whether no slot of `table` ever had a leader: a new cluster's table, placed at once.
pub fn is_cold(table: &SlotTable) -> bool {
    table
        .slots()
        .all(|(_, s)| s.leader.is_none() && s.followers.is_empty() && s.leader_epoch.0 == 0)
}

/// The next table, or `None` if `table` needs no change. See the module docs.
pub fn arrange(
    table: &SlotTable,
    live: &BTreeSet<ProcessId>,
    reports: &SlotReports,
    config: &ArrangeConfig,
) -> Option<SlotTable> {
    arrange_leaving(table, live, &BTreeSet::new(), reports, config)
}

/// [`arrange`], moving every slot copy off the `leaving` processes (module docs).
pub fn arrange_leaving(
    table: &SlotTable,
    live: &BTreeSet<ProcessId>,
    leaving: &BTreeSet<ProcessId>,
    reports: &SlotReports,
    config: &ArrangeConfig,
) -> Option<SlotTable> {
    let mut work = Work::new(table, live, leaving, config);
    if is_cold(table) {
        work.place();
    } else {
        let repaired = work.repair(reports);
        if !repaired && reports.is_stable(table) {
            work.balance(reports);
        }
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
    /// The live processes that take new copies: those not leaving.
    staying: BTreeSet<ProcessId>,
    config: &'a ArrangeConfig,
    /// Followers each slot should have: `min(replicas, staying) - 1`.
    want_followers: usize,
    /// Each live process's leader target (see the module docs), once balancing starts.
    target: BTreeMap<ProcessId, usize>,
}

impl<'a> Work<'a> {
    fn new(
        table: &SlotTable,
        live: &'a BTreeSet<ProcessId>,
        leaving: &BTreeSet<ProcessId>,
        config: &'a ArrangeConfig,
    ) -> Self {
        let original: Vec<Slot> = table.slots().map(|(_, s)| s.clone()).collect();
        let load = live.iter().map(|&p| (p, Load::default())).collect();
        let mut staying: BTreeSet<ProcessId> = live.difference(leaving).copied().collect();
        if staying.is_empty() {
            staying = live.clone();
        }
        let want_followers = config.replicas.max(1).min(staying.len()).saturating_sub(1);
        Work {
            slots: original.clone(),
            original,
            load,
            live,
            staying,
            config,
            want_followers,
            target: BTreeMap::new(),
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

    /// Cold start: leaders in rotation over the live processes, followers from the
    /// processes holding fewest replicas.
    fn place(&mut self) {
        let procs: Vec<ProcessId> = self.staying.iter().copied().collect();
        if procs.is_empty() {
            return;
        }
        for i in 0..self.slots.len() {
            let p = procs[i % procs.len()];
            self.slots[i].leader = Some(p);
            self.adjust(p, 1, 1);
        }
        self.refill();
        // Nothing holds data yet, so copies move directly until replica counts are within
        // one of each other (a fixpoint of spreading).
        loop {
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

    /// Gives every slot its missing followers, from the processes holding fewest replicas
    /// (then leading fewest, then the lowest id) that do not hold it.
    fn refill(&mut self) {
        for i in 0..self.slots.len() {
            while self.slots[i].followers.len() < self.want_followers {
                let holders: Vec<ProcessId> = self.slots[i].replicas().collect();
                let Some(p) = self.least_loaded(|l| (l.replicas, l.leaders), &holders) else {
                    break;
                };
                self.slots[i].followers.push(p);
                self.adjust(p, 0, 1);
            }
        }
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
        }
        self.refill();
        self.slots != self.original
    }

    /// The staying process not in `exclude` with the smallest `key`, lowest id on ties.
    fn least_loaded<K: Ord>(
        &self,
        key: impl Fn(Load) -> K,
        exclude: &[ProcessId],
    ) -> Option<ProcessId> {
        self.staying
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
            let leaving = !self.staying.contains(&f);
            (!caught_up, leaving, self.load(f).leaders, f)
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

    /// The leader targets: `floor(S/N)` each, plus one for the `S mod N` processes that
    /// lead most now (lowest id on ties), so that reaching them moves as little as possible.
    fn set_targets(&mut self) {
        let n = self.staying.len();
        if n == 0 {
            return;
        }
        let (q, r) = (self.slots.len() / n, self.slots.len() % n);
        let mut by_load: Vec<ProcessId> = self.staying.iter().copied().collect();
        by_load.sort_by_key(|&p| (std::cmp::Reverse(self.load(p).leaders), p));
        self.target = by_load
            .into_iter()
            .enumerate()
            .map(|(k, p)| (p, q + usize::from(k < r)))
            .collect();
    }

    fn target(&self, p: ProcessId) -> usize {
        self.target.get(&p).copied().unwrap_or(0)
    }

    fn above(&self, p: ProcessId) -> bool {
        self.load(p).leaders > self.target(p)
    }

    fn below(&self, p: ProcessId) -> bool {
        self.load(p).leaders < self.target(p)
    }

    /// Step 2: the round's whole plan (module docs), within `max_moves`.
    fn balance(&mut self, reports: &SlotReports) {
        self.set_targets();
        let mut budget = self.config.max_moves;
        let mut added = vec![false; self.slots.len()];
        self.handoffs(reports, &mut budget);
        let migrated = self.migrate(&mut budget, &mut added);
        self.evacuate(&mut budget, &mut added);
        self.trim(&added);
        self.spread(&migrated, &mut budget, &mut added);
    }

    /// Hands slots of processes above their target to caught-up followers below theirs.
    fn handoffs(&mut self, reports: &SlotReports, budget: &mut usize) {
        for i in 0..self.slots.len() {
            if *budget == 0 {
                break;
            }
            let Some(a) = self.slots[i].leader.filter(|&a| self.above(a)) else {
                continue;
            };
            let (id, epoch) = (SlotId(i as u16), self.slots[i].leader_epoch);
            let Some(b) = self.slots[i]
                .followers
                .iter()
                .copied()
                .filter(|&f| self.below(f) && reports.caught_up(f, id, epoch))
                .min_by_key(|&f| (self.load(f).leaders, f))
            else {
                continue;
            };
            let slot = &mut self.slots[i];
            slot.leader = Some(b);
            slot.followers.retain(|&x| x != b);
            slot.followers.push(a);
            self.adjust(a, -1, 0);
            self.adjust(b, 1, 0);
            *budget -= 1;
        }
    }

    /// Adds processes below their target as extra followers of slots led by processes
    /// above theirs; returns the slots migrated.
    fn migrate(&mut self, budget: &mut usize, added: &mut [bool]) -> Vec<usize> {
        let mut surplus: BTreeMap<ProcessId, usize> = self
            .live
            .iter()
            .map(|&p| (p, self.load(p).leaders.saturating_sub(self.target(p))))
            .collect();
        let mut migrated = Vec::new();
        let low: Vec<ProcessId> = self
            .live
            .iter()
            .copied()
            .filter(|&p| self.below(p))
            .collect();
        for b in low {
            // Slots where b already follows an over-target leader are handed over next
            // round (they were not caught up in this one).
            let pending = self
                .slots
                .iter()
                .filter(|s| s.followers.contains(&b) && s.leader.is_some_and(|a| self.above(a)))
                .count();
            let mut need = self.target(b) - self.load(b).leaders;
            need = need.saturating_sub(pending);
            for (i, was_added) in added.iter_mut().enumerate() {
                if need == 0 || *budget == 0 {
                    break;
                }
                let Some(a) = self.slots[i].leader else {
                    continue;
                };
                let spare = surplus.get(&a).copied().unwrap_or(0);
                if *was_added || spare == 0 || self.slots[i].role_of(b).is_some() {
                    continue;
                }
                self.slots[i].followers.push(b);
                self.adjust(b, 0, 1);
                *was_added = true;
                migrated.push(i);
                if let Some(s) = surplus.get_mut(&a) {
                    *s -= 1;
                }
                need -= 1;
                *budget -= 1;
            }
        }
        migrated
    }

    /// Adds a staying follower to each slot a leaving process follows whose staying
    /// followers are fewer than wanted (the leaving copy is trimmed once it caught up).
    fn evacuate(&mut self, budget: &mut usize, added: &mut [bool]) {
        for (i, was_added) in added.iter_mut().enumerate() {
            if *budget == 0 {
                return;
            }
            let slot = &self.slots[i];
            let staying = |f: &&ProcessId| self.staying.contains(*f);
            let kept = slot.followers.iter().filter(staying).count();
            if *was_added || kept >= self.want_followers || kept == slot.followers.len() {
                continue;
            }
            let holders: Vec<ProcessId> = slot.replicas().collect();
            let Some(p) = self.least_loaded(|l| (l.replicas, l.leaders), &holders) else {
                continue;
            };
            self.slots[i].followers.push(p);
            self.adjust(p, 0, 1);
            *was_added = true;
            *budget -= 1;
        }
    }

    /// Adds the emptiest process as an extra follower where the fullest follows, while
    /// planned replica counts differ by two or more.
    fn spread(&mut self, migrated: &[usize], budget: &mut usize, added: &mut [bool]) {
        let mut plan: BTreeMap<ProcessId, usize> = self
            .staying
            .iter()
            .map(|&p| (p, self.load(p).replicas))
            .collect();
        for &i in migrated {
            if let Some(n) = self.slots[i].leader.and_then(|a| plan.get_mut(&a)) {
                *n = n.saturating_sub(1);
            }
        }
        while *budget > 0 {
            let high = plan
                .iter()
                .max_by_key(|&(p, n)| (*n, std::cmp::Reverse(*p)));
            let low = plan.iter().min_by_key(|&(p, n)| (*n, *p));
            let (Some((&x, &nx)), Some((&y, &ny))) = (high, low) else {
                return;
            };
            if nx < ny + 2 {
                return;
            }
            let Some(i) = (0..self.slots.len()).find(|&i| {
                !added[i]
                    && self.slots[i].followers.contains(&x)
                    && self.slots[i].role_of(y).is_none()
            }) else {
                return;
            };
            self.slots[i].followers.push(y);
            self.adjust(y, 0, 1);
            added[i] = true;
            *plan.entry(x).or_default() -= 1;
            *plan.entry(y).or_default() += 1;
            *budget -= 1;
        }
    }

    /// Drops followers beyond the wanted number from slots that got none this round, always
    /// a leaving copy first, then the copy of the fullest process among all droppable ones
    /// (so that drops even out replica counts), keeping those a handoff still wants.
    fn trim(&mut self, added: &[bool]) {
        loop {
            let mut best: Option<(bool, usize, std::cmp::Reverse<ProcessId>, usize)> = None;
            for (i, slot) in self.slots.iter().enumerate() {
                if added[i] || slot.followers.len() <= self.want_followers {
                    continue;
                }
                let wanted =
                    |f: ProcessId| slot.leader.is_some_and(|l| self.above(l)) && self.below(f);
                for &f in slot.followers.iter().filter(|&&f| !wanted(f)) {
                    let leaving = !self.staying.contains(&f);
                    let key = (leaving, self.load(f).replicas, std::cmp::Reverse(f), i);
                    if best.is_none_or(|b| key > b) {
                        best = Some(key);
                    }
                }
            }
            let Some((_, _, std::cmp::Reverse(v), i)) = best else {
                return;
            };
            self.slots[i].followers.retain(|&x| x != v);
            self.adjust(v, 0, -1);
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
