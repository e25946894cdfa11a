//! Session requests to the slots this node leads: admission (`Moved` / `EpochMismatch` /
//! `Migrating`, and every key in the addressed slot), `WriteBatch`, `FetchDatums` and
//! `VersionScan`.
//!
//! Write acknowledgement policy: a `WriteBatch` is answered `WriteAccepted` once every
//! follower currently streaming the slot acknowledged the op-log up to the batch's last
//! entry, or after `replication_ack_timeout`, whichever comes first (at once when no
//! follower streams). A session's acknowledged write has therefore normally reached a
//! follower, and the wait is bounded; the session keeps the registration either way.
//!
//! Datum of a key that never existed: `FetchDatums` answers an empty datum at version
//! `(leader_epoch, 0)`: lower than any version the current leader gave a real change
//! (positions start at 1) and higher than every version of earlier leader epochs. A key that
//! existed keeps its entry (and version) after its last publisher is removed.

use super::slots::{Leading, LocalSlot, SlotRole};
use super::{DataNode, error};
use crate::data::admission::{Access, admit};
use crate::data::store::SlotStore;
use crate::io::ConnId;
use crate::model::{DataInfoId, DatumVersion, LeaderEpoch, ProcessId, SlotId};
use crate::time::Instant;
use crate::wire::{
    Datum, Datums, ErrorCode, FetchDatums, Message, PublisherList, Refused, SlotRefusal, SlotRoute,
    VersionScan, VersionScanReply, WriteAccepted, WriteBatch, WriteOp,
};

/// A write waiting for followers before its `WriteAccepted`.
#[derive(Debug)]
pub(super) struct PendingWrite {
    pub(super) conn: ConnId,
    pub(super) request_id: u64,
    pub(super) upto: u64,
    pub(super) deadline: Instant,
}

impl DataNode {
    fn reconciled(&self, slot: SlotId) -> bool {
        matches!(self.slots.get(&slot), Some(LocalSlot { role: SlotRole::Leader(l), .. }) if l.reconcile.reconciled)
    }

    fn admit_session(
        &self,
        slot: SlotId,
        epoch: LeaderEpoch,
        access: Access,
    ) -> Result<(), SlotRefusal> {
        admit(
            &self.table,
            self.cfg.process,
            slot,
            epoch,
            access,
            self.reconciled(slot),
        )
    }

    /// Admission of a session's slot-addressed request, and the check that every key it
    /// names is in its slot; answers `Refused` or `ErrorReply` itself and returns false
    /// when the request is not served.
    fn admit_request<'k>(
        &mut self,
        conn: ConnId,
        id: u64,
        (slot, epoch): (SlotId, LeaderEpoch),
        access: Access,
        mut keys: impl Iterator<Item = &'k DataInfoId>,
    ) -> bool {
        if let Err(refusal) = self.admit_session(slot, epoch, access) {
            self.send(conn, id, Refused { slot, refusal });
            return false;
        }
        let count = self.table.slot_count();
        if let Some(bad) = keys.find(|k| count.slot_of(k) != slot) {
            let msg = format!("{bad} is not in slot {}", slot.0);
            self.send(conn, id, error(ErrorCode::BadRequest, msg));
            return false;
        }
        true
    }

    pub(super) fn on_write_batch(
        &mut self,
        now: Instant,
        conn: ConnId,
        owner: ProcessId,
        id: u64,
        b: WriteBatch,
    ) {
        let slot = b.route.slot;
        let at = (slot, b.route.leader_epoch);
        if !self.admit_request(conn, id, at, Access::Write, b.ops.iter().map(op_key)) {
            self.stats.write_batches_refused += 1;
            return;
        }
        self.stats.write_batches += 1;
        // One borrow of the slot for the whole batch: this is the hot path.
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&slot)
        else {
            return;
        };
        let reconciling = !l.reconcile.runs.is_empty();
        for op in b.ops {
            let version = DatumVersion::new(l.epoch, l.log.end());
            let logged = match op {
                WriteOp::Put {
                    data_info_id,
                    publisher,
                } => {
                    if reconciling {
                        l.reconcile
                            .note_write(owner, &data_info_id, &publisher.register_id);
                    }
                    store.put(data_info_id, owner, publisher, version)
                }
                WriteOp::Remove {
                    data_info_id,
                    register_id,
                    version: removed,
                } => store.remove(&data_info_id, &register_id, removed, version, now),
            };
            if let Some(op) = logged {
                self.stats.writes_applied += 1;
                self.notifier.record(op.key(), version, now);
                l.log.append(op);
            }
        }
        self.dirty.insert(slot);
        let deadline = now + self.cfg.replication_ack_timeout;
        let Some(l) = self.leading_mut(slot) else {
            return;
        };
        if l.streams.min_acked().is_none() {
            self.send(conn, id, WriteAccepted { slot });
        } else {
            let upto = l.log.end();
            l.writes.push_back(PendingWrite {
                conn,
                request_id: id,
                upto,
                deadline,
            });
        }
    }

    /// Admits a read of `route`'s slot for `keys` (answering `Refused` otherwise) and hands
    /// back the slot's store.
    fn admit_read<'k>(
        &mut self,
        conn: ConnId,
        id: u64,
        route: SlotRoute,
        keys: impl Iterator<Item = &'k DataInfoId>,
    ) -> Option<&SlotStore> {
        let at = (route.slot, route.leader_epoch);
        if !self.admit_request(conn, id, at, Access::Read, keys) {
            return None;
        }
        self.slots.get(&route.slot).map(|ls| &ls.store)
    }

    pub(super) fn on_fetch(&mut self, conn: ConnId, id: u64, f: FetchDatums) {
        let epoch = f.route.leader_epoch;
        let Some(store) = self.admit_read(conn, id, f.route, f.data_info_ids.iter()) else {
            return;
        };
        let datums: Vec<Datum> = f
            .data_info_ids
            .into_iter()
            .map(|key| Datum {
                version: store.read_version(&key, epoch),
                publishers: store.datum(&key).map_or_else(PublisherList::new, |d| {
                    PublisherList::encode_from(d.publishers().map(|s| &s.publisher))
                }),
                data_info_id: key,
            })
            .collect();
        self.stats.fetches_served += 1;
        self.stats.datums_fetched += datums.len() as u64;
        self.send(conn, id, Datums { datums });
    }

    pub(super) fn on_version_scan(&mut self, conn: ConnId, id: u64, v: VersionScan) {
        let epoch = v.route.leader_epoch;
        let keys = v.known.iter().map(|c| &c.data_info_id);
        let Some(store) = self.admit_read(conn, id, v.route, keys) else {
            return;
        };
        let changed: Vec<_> = v
            .known
            .into_iter()
            .filter_map(|mut c| {
                let mine = store.read_version(&c.data_info_id, epoch);
                (mine != c.version).then(|| {
                    c.version = mine;
                    c
                })
            })
            .collect();
        self.stats.scans_served += 1;
        self.stats.scan_repairs += changed.len() as u64;
        self.send(conn, id, VersionScanReply { changed });
    }
}

/// Answers the writes whose entries every stream acknowledged, or whose wait expired.
pub(super) fn release_writes(
    l: &mut Leading,
    now: Instant,
    slot: SlotId,
    sends: &mut Vec<(ConnId, u64, Message)>,
) {
    let acked = l.streams.min_acked();
    l.writes.retain(|w| {
        let replicated = acked.is_none_or(|a| a >= w.upto);
        if replicated || now >= w.deadline {
            sends.push((w.conn, w.request_id, WriteAccepted { slot }.into()));
            false
        } else {
            true
        }
    });
}

fn op_key(op: &WriteOp) -> &DataInfoId {
    match op {
        WriteOp::Put { data_info_id, .. } | WriteOp::Remove { data_info_id, .. } => data_info_id,
    }
}
