//! `SlotReports`: what each data process last said about the slots it holds (its heartbeat's
//! `SlotStatus`es), and the stability test the arrangement gates balancing on.
//!
//! A report counts only at the leader epoch the table currently has for that slot: a status
//! from before a leader change says nothing about the new leadership.

use crate::model::{LeaderEpoch, ProcessId, SlotId};
use crate::slot::SlotTable;
use crate::wire::{SlotState, SlotStatus};
use std::collections::BTreeMap;

/// The latest slot statuses per data process. Volatile: held by the meta leader only,
/// rebuilt from heartbeats after a leader change (until then the table is not stable, so
/// a new meta leader repairs but does not rebalance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotReports {
    by_process: BTreeMap<ProcessId, BTreeMap<SlotId, (LeaderEpoch, SlotState)>>,
}

impl SlotReports {
    /// Replaces everything `process` reported before by `statuses`.
    pub fn record(&mut self, process: ProcessId, statuses: &[SlotStatus]) {
        let map = statuses
            .iter()
            .map(|s| (s.slot, (s.leader_epoch, s.state.clone())))
            .collect();
        self.by_process.insert(process, map);
    }

    /// Forgets a process (it left).
    pub fn remove(&mut self, process: ProcessId) {
        self.by_process.remove(&process);
    }

    /// Forgets everything (leadership lost).
    pub fn clear(&mut self) {
        self.by_process.clear();
    }

    fn state(&self, process: ProcessId, slot: SlotId, epoch: LeaderEpoch) -> Option<&SlotState> {
        match self.by_process.get(&process)?.get(&slot)? {
            (e, state) if *e == epoch => Some(state),
            _ => None,
        }
    }

    /// Whether `process` reported leading `slot` at `epoch`, reconciled.
    pub fn reconciled(&self, process: ProcessId, slot: SlotId, epoch: LeaderEpoch) -> bool {
        matches!(
            self.state(process, slot, epoch),
            Some(SlotState::Leader {
                reconciled: true,
                ..
            })
        )
    }

    /// Whether `process` reported following `slot` at `epoch`, caught up.
    pub fn caught_up(&self, process: ProcessId, slot: SlotId, epoch: LeaderEpoch) -> bool {
        matches!(
            self.state(process, slot, epoch),
            Some(SlotState::Follower {
                caught_up: true,
                ..
            })
        )
    }

    /// Whether `table` is stable: every slot has a leader that reported itself reconciled at
    /// the slot's leader epoch, and every follower reported itself caught up at that epoch.
    pub fn is_stable(&self, table: &SlotTable) -> bool {
        table.slots().all(|(id, slot)| {
            slot.leader
                .is_some_and(|l| self.reconciled(l, id, slot.leader_epoch))
                && slot
                    .followers
                    .iter()
                    .all(|&f| self.caught_up(f, id, slot.leader_epoch))
        })
    }

    /// Reports that make `table` stable: every replica reports exactly what it should.
    /// What a healthy cluster converges to; tests use it between arrangement rounds.
    pub fn all_stable(table: &SlotTable) -> Self {
        let mut reports = SlotReports::default();
        for (id, slot) in table.slots() {
            let epoch = slot.leader_epoch;
            let mut put = |p: ProcessId, state| {
                reports
                    .by_process
                    .entry(p)
                    .or_default()
                    .insert(id, (epoch, state));
            };
            if let Some(l) = slot.leader {
                put(
                    l,
                    SlotState::Leader {
                        reconciled: true,
                        log_end: 0,
                    },
                );
            }
            for &f in &slot.followers {
                put(
                    f,
                    SlotState::Follower {
                        applied: 0,
                        caught_up: true,
                    },
                );
            }
        }
        reports
    }
}
