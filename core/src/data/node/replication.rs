//! The node's side of op-log replication (the stream and follower state machines are
//! `data::replica`). As a slot's leader it answers `OpLogSubscribe` with appends or
//! resync digests, takes `OpLogAck`s and serves `ResyncFetch` pages; as a follower it feeds
//! the leader's frames to its `Follower` and sends what that asks for next, subscribing idle
//! slots whenever their leader is connected and retrying stuck requests.

use super::slots::{LocalSlot, SlotRole};
use super::{DataNode, Pending};
use crate::data::admission::{Access, admit};
use crate::data::replica::{self, Follower, Next, Phase, Streams};
use crate::data::store::SlotStore;
use crate::io::ConnId;
use crate::model::{LeaderEpoch, ProcessId, SlotId};
use crate::time::Instant;
use crate::wire::{OpLogAck, OpLogAppend, OpLogSubscribe, Refused, ResyncFetch, SlotRefusal};

impl DataNode {
    /// Admission of a follower's request: we lead the slot at `epoch`. Never `Migrating`:
    /// followers copy the leader's state whether or not the sessions reconciled it yet.
    fn admit_replica(&self, slot: SlotId, epoch: LeaderEpoch) -> Result<(), SlotRefusal> {
        admit(
            &self.table,
            self.cfg.process,
            slot,
            epoch,
            Access::Write,
            true,
        )
    }

    pub(super) fn on_subscribe(&mut self, conn: ConnId, id: u64, s: OpLogSubscribe) {
        // The subscription names the epoch the follower last synced at, which may be older
        // than ours (it then gets resync digests): admit at the table's epoch, so only
        // "we lead this slot" is checked.
        let epoch = self
            .table
            .slot(s.slot)
            .map_or(LeaderEpoch(0), |x| x.leader_epoch);
        if let Err(refusal) = self.admit_replica(s.slot, epoch) {
            self.send(
                conn,
                id,
                Refused {
                    slot: s.slot,
                    refusal,
                },
            );
            return;
        }
        let batch = self.cfg.append_batch;
        let follows = self
            .table
            .slot(s.slot)
            .is_some_and(|x| self.is_follower(conn, &x.followers));
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&s.slot)
        else {
            let refusal = SlotRefusal::Moved {
                table_epoch: self.table.epoch(),
                leader: None,
            };
            self.send(
                conn,
                id,
                Refused {
                    slot: s.slot,
                    refusal,
                },
            );
            return;
        };
        if Streams::can_stream(&l.log, l.epoch, s.leader_epoch, s.next) {
            let entries = l.log.read(s.next, batch);
            l.streams.start(conn, s.next, follows);
            if let Some(st) = l.streams.by_conn.get_mut(&conn) {
                st.next += entries.len() as u64;
            }
            let append = OpLogAppend {
                slot: s.slot,
                leader_epoch: l.epoch,
                entries,
            };
            self.send(conn, id, append);
        } else {
            l.streams.by_conn.remove(&conn);
            let digests = replica::resync_digests(s.slot, l.epoch, store, &l.log);
            self.send(conn, id, digests);
        }
    }

    pub(super) fn on_oplog_ack(&mut self, conn: ConnId, a: OpLogAck) {
        if let Some(l) = self.leading_mut(a.slot) {
            if l.epoch == a.leader_epoch {
                l.streams.ack(conn, a.next);
                self.dirty.insert(a.slot);
            }
        }
    }

    pub(super) fn on_resync_fetch(&mut self, conn: ConnId, id: u64, f: ResyncFetch) {
        let admitted = self.admit_replica(f.slot, f.leader_epoch);
        let page = match (admitted, self.slots.get(&f.slot)) {
            (Ok(()), Some(ls)) => Ok(replica::resync_page(
                &ls.store,
                f.slot,
                f.leader_epoch,
                &f,
                self.cfg.resync_page_publishers,
            )),
            (Err(refusal), _) => Err(refusal),
            (Ok(()), None) => Err(SlotRefusal::Moved {
                table_epoch: self.table.epoch(),
                leader: None,
            }),
        };
        match page {
            Ok(page) => self.send(conn, id, page),
            Err(refusal) => self.send(
                conn,
                id,
                Refused {
                    slot: f.slot,
                    refusal,
                },
            ),
        }
    }

    pub(super) fn follower_step(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: ProcessId,
        slot: SlotId,
        f: impl FnOnce(&mut Follower, &mut SlotStore, Instant, usize) -> Next,
    ) {
        let keys = self.cfg.fetch_keys;
        let Some(LocalSlot {
            store,
            role: SlotRole::Follower(fo),
        }) = self.slots.get_mut(&slot)
        else {
            return;
        };
        if fo.leader != Some(from) {
            return;
        }
        let next = f(fo, store, now, keys);
        self.follower_next(now, conn, slot, next);
    }

    fn follower_next(&mut self, now: Instant, conn: ConnId, slot: SlotId, next: Next) {
        let Some(fo) = self.following_mut(slot) else {
            return;
        };
        let epoch = fo.leader_epoch;
        match next {
            Next::Nothing => {}
            Next::Ack(n) => self.send(
                conn,
                0,
                OpLogAck {
                    slot,
                    leader_epoch: epoch,
                    next: n,
                },
            ),
            Next::Subscribe => {
                fo.phase = Phase::Subscribing;
                fo.since = now;
                let sub = OpLogSubscribe {
                    slot,
                    leader_epoch: fo.synced_epoch,
                    next: fo.next,
                };
                let id = self.request(conn, Pending::Replica { slot }, sub);
                self.set_follower_request(slot, conn, id);
            }
            Next::Fetch(fetch) => {
                fo.since = now;
                let id = self.request(conn, Pending::Replica { slot }, fetch);
                self.set_follower_request(slot, conn, id);
            }
        }
    }

    fn set_follower_request(&mut self, slot: SlotId, conn: ConnId, id: u64) {
        if let Some(fo) = self.following_mut(slot) {
            // The request it replaces is abandoned: forget it, so the pending map does not
            // grow with retries (answers to it are recognised as stale by their id).
            let old = std::mem::replace(&mut fo.request, (conn, id));
            self.pending.remove(&old);
        }
    }

    /// Subscribes every idle follower slot whose leader is connected; opens connections
    /// to leaders that are not.
    pub(super) fn subscribe_idle(&mut self, now: Instant) {
        let idle: Vec<(SlotId, ProcessId)> = self
            .slots
            .iter()
            .filter_map(|(id, s)| match &s.role {
                SlotRole::Follower(f) if f.phase == Phase::Idle => f.leader.map(|l| (*id, l)),
                _ => None,
            })
            .collect();
        for (slot, leader) in idle {
            match self.data_conns.get(&leader).copied() {
                Some(conn) => self.follower_next(now, conn, slot, Next::Subscribe),
                None => self.ensure_peer(leader),
            }
        }
    }

    /// Gives up follower requests unanswered for `request_timeout`: the slot goes back to
    /// idle and is subscribed again.
    pub(super) fn retry_followers(&mut self, now: Instant) {
        let timeout = self.cfg.request_timeout;
        for ls in self.slots.values_mut() {
            if let SlotRole::Follower(f) = &mut ls.role {
                if f.phase != Phase::Idle
                    && f.phase != Phase::Streaming
                    && now.saturating_since(f.since) >= timeout
                {
                    f.phase = Phase::Idle;
                }
            }
        }
    }
}
