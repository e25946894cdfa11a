//! What the node holds per slot: the slot's store and its role here, leader (epoch, op-log,
//! follower streams, writes awaiting their followers, reconciliation) or follower; the
//! lookups every mechanism uses to reach them; the leader-side change path (an effective
//! change gets the next version, is logged for followers and recorded for notification);
//! and the status a heartbeat reports per slot.

use super::DataNode;
use super::serve::PendingWrite;
use crate::data::oplog::{LogOp, OpLog};
use crate::data::reconcile::{Removal, SlotReconcile};
use crate::data::replica::{Follower, Streams};
use crate::data::store::SlotStore;
use crate::model::{DatumVersion, LeaderEpoch, ProcessId, SlotId};
use crate::time::Instant;
use crate::wire::{SlotState, SlotStatus};
use std::collections::VecDeque;

/// This node leads a slot.
#[derive(Debug)]
pub(super) struct Leading {
    pub(super) epoch: LeaderEpoch,
    pub(super) log: OpLog,
    pub(super) streams: Streams,
    pub(super) writes: VecDeque<PendingWrite>,
    pub(super) reconcile: SlotReconcile,
}

#[derive(Debug)]
pub(super) enum SlotRole {
    Leader(Box<Leading>),
    Follower(Follower),
}

#[derive(Debug)]
pub(super) struct LocalSlot {
    pub(super) store: SlotStore,
    pub(super) role: SlotRole,
}

impl DataNode {
    pub(super) fn leading_mut(&mut self, slot: SlotId) -> Option<&mut Leading> {
        match &mut self.slots.get_mut(&slot)?.role {
            SlotRole::Leader(l) => Some(l),
            SlotRole::Follower(_) => None,
        }
    }

    pub(super) fn following_mut(&mut self, slot: SlotId) -> Option<&mut Follower> {
        match &mut self.slots.get_mut(&slot)?.role {
            SlotRole::Follower(f) => Some(f),
            SlotRole::Leader(_) => None,
        }
    }

    pub(super) fn led_slots(&self) -> Vec<SlotId> {
        self.slots
            .iter()
            .filter(|(_, s)| matches!(s.role, SlotRole::Leader(_)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Applies a leader-side change to `slot`: the closure gets the store and the version
    /// an effective change takes; an effective change is logged and notified.
    pub(super) fn apply(
        &mut self,
        slot: SlotId,
        f: impl FnOnce(&mut SlotStore, DatumVersion) -> Option<LogOp>,
    ) -> bool {
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&slot)
        else {
            return false;
        };
        let version = DatumVersion::new(l.epoch, l.log.end());
        let Some(op) = f(store, version) else {
            return false;
        };
        self.notifier.record(op.key(), version);
        l.log.append(op);
        self.dirty.insert(slot);
        true
    }

    /// Owner-checked removals of `owner`'s publishers; `lapsed`: because its lease lapsed
    /// (see `SlotStore::remove_owned`), not because it said it no longer holds them. How
    /// many were removed.
    pub(super) fn remove_owned(
        &mut self,
        now: Instant,
        slot: SlotId,
        owner: ProcessId,
        removals: Vec<Removal>,
        lapsed: bool,
    ) -> usize {
        let mut removed = 0;
        for (key, rid) in removals {
            removed += usize::from(self.apply(slot, |store, v| {
                store.remove_owned(&key, &rid, owner, v, now, lapsed)
            }));
        }
        removed
    }
}

pub(super) fn status(slot: SlotId, s: &LocalSlot) -> SlotStatus {
    match &s.role {
        SlotRole::Leader(l) => SlotStatus {
            slot,
            leader_epoch: l.epoch,
            state: SlotState::Leader {
                reconciled: l.reconcile.reconciled,
                log_end: l.log.end(),
            },
        },
        SlotRole::Follower(f) => SlotStatus {
            slot,
            leader_epoch: f.leader_epoch,
            state: SlotState::Follower {
                applied: f.next,
                caught_up: f.caught_up(),
            },
        },
    }
}
