//! The node's link to meta: heartbeats (which carry every held slot's status), following
//! `NotLeader` to the meta leader, installing a `ClusterView` (membership, session leases,
//! slot table, the newest switches), and applying a new slot table to the slots this node holds, taking up
//! leadership or following as the table says.

use super::peers::Dialed;
use super::slots::{Leading, LocalSlot, SlotRole, status};
use super::{DataEvent, DataNode, Peer, Pending};
use crate::data::oplog::OpLog;
use crate::data::reconcile::SlotReconcile;
use crate::data::replica::{Follower, Streams};
use crate::data::store::SlotStore;
use crate::io::{ConnId, Output};
use crate::model::{LeaderEpoch, ProcessId, Role, SlotId};
use crate::slot::{ReplicaRole, SlotTable};
use crate::time::Instant;
use crate::wire::{ClusterView, Heartbeat, NotLeader};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

impl DataNode {
    pub(super) fn heartbeat(&mut self) {
        let Some(conn) = self.dialer.up(Dialed::Meta) else {
            return;
        };
        let hb = Heartbeat {
            process: self.cfg.process,
            role: Role::Data,
            address: self.cfg.address.clone(),
            table_epoch: self.table.epoch(),
            members_version: self.members_version,
            slots: self.slots.iter().map(|(id, s)| status(*id, s)).collect(),
            switches_version: self.switches.version,
        };
        self.request(conn, Pending::Heartbeat, hb);
    }

    /// The meta node we reached does not lead: reconnect to the leader it names, or to the
    /// next address after a backoff if it knows none.
    pub(super) fn on_not_leader(&mut self, now: Instant, conn: ConnId, id: u64, n: NotLeader) {
        self.pending.remove(&(conn, id));
        if let Some(leader) = n.leader {
            let idx = self.cfg.meta_addresses.iter().position(|a| *a == leader);
            match idx {
                Some(i) => self.meta_index = i,
                None => {
                    self.cfg.meta_addresses.push(leader);
                    self.meta_index = self.cfg.meta_addresses.len() - 1;
                }
            }
            self.close(conn, "meta is not the leader".into());
            self.dialer.schedule(Dialed::Meta, Some(now));
        } else {
            // No leader known (an election is on): back off rather than spin.
            self.meta_index += 1;
            self.close(conn, "meta is not the leader".into());
            self.dialer.back_off(Dialed::Meta, now, &mut self.rng);
        }
    }

    pub(super) fn install_view(&mut self, now: Instant, v: ClusterView) {
        if v.switches.version > self.switches.version {
            self.switches = v.switches;
        }
        if v.members_version >= self.members_version {
            self.members_version = v.members_version;
            self.sessions_in_view = v
                .members
                .iter()
                .filter(|m| m.role == Role::Session)
                .map(|m| m.process)
                .collect();
            self.member_addresses = v
                .members
                .iter()
                .map(|m| (m.process, m.address.clone()))
                .collect();
            for p in self.sessions_in_view.clone() {
                self.leases.renew(p, now);
            }
            self.superseded_due = true;
        }
        if v.table.epoch > self.table.epoch() {
            if let Ok(t) = SlotTable::try_from(v.table) {
                if self.table.install(t).is_ok() {
                    self.stats.tables_installed += 1;
                    self.superseded_due = true;
                    self.apply_table(now);
                }
            }
        }
        // Membership may complete or extend reconciliation. A session new to the
        // membership (readmitted after a partition) is reconciled with at once if it is
        // connected: its publishers may be missing here, and the slot may already serve
        // reads (it became reconciled while the session was out of the membership).
        let sessions = self.sessions_in_view.clone();
        for slot in self.led_slots() {
            self.update_reconciled(slot, &sessions);
            let Some(l) = self.leading_mut(slot) else {
                continue;
            };
            let missing: Vec<ProcessId> = sessions
                .iter()
                .filter(|p| !l.reconcile.done.contains(p))
                .copied()
                .collect();
            for p in missing {
                self.start_run(now, slot, p);
            }
        }
        self.subscribe_idle(now);
    }

    fn apply_table(&mut self, now: Instant) {
        let me = self.cfg.process;
        let led_before: BTreeSet<SlotId> = self.led_slots().into_iter().collect();
        let mut keep = BTreeMap::new();
        let table = self.table.clone();
        for (id, s) in table.slots() {
            let role = s.role_of(me);
            let old = self.slots.remove(&id);
            let was_leading = matches!(&old, Some(LocalSlot { role: SlotRole::Leader(l), .. }) if l.epoch == s.leader_epoch);
            let led = matches!(
                &old,
                Some(LocalSlot {
                    role: SlotRole::Leader(_),
                    ..
                })
            );
            let leads = role == Some(ReplicaRole::Leader);
            self.stats.leaderships_gained += u64::from(leads && !was_leading);
            self.stats.leaderships_lost += u64::from(led && !(leads && was_leading));
            let next = match (role, old) {
                (None, _) => None,
                (Some(ReplicaRole::Leader), Some(mut ls)) if matches!(&ls.role, SlotRole::Leader(l) if l.epoch == s.leader_epoch) =>
                {
                    if let SlotRole::Leader(l) = &mut ls.role {
                        self.hold_writes_for_followers(id, l, &s.followers);
                    }
                    Some(ls)
                }
                (Some(ReplicaRole::Leader), old) => {
                    Some(self.become_leader(now, id, s.leader_epoch, old))
                }
                (Some(ReplicaRole::Follower), Some(ls)) if matches!(&ls.role, SlotRole::Follower(f) if f.leader == s.leader && f.leader_epoch == s.leader_epoch) => {
                    Some(ls)
                }
                (Some(ReplicaRole::Follower), old) => {
                    let (store, synced, next) = match old {
                        Some(LocalSlot {
                            store,
                            role: SlotRole::Follower(f),
                        }) => (store, f.synced_epoch, f.next),
                        Some(LocalSlot {
                            store,
                            role: SlotRole::Leader(l),
                        }) => (store, l.epoch, l.log.end()),
                        None => (SlotStore::default(), LeaderEpoch(0), 0),
                    };
                    let f = Follower::new(s.leader, s.leader_epoch, synced, next);
                    Some(LocalSlot {
                        store,
                        role: SlotRole::Follower(f),
                    })
                }
            };
            if let Some(ls) = next {
                keep.insert(id, ls);
            }
        }
        self.slots = keep;
        let led: BTreeSet<SlotId> = self.led_slots().into_iter().collect();
        let event = DataEvent::TableApplied {
            epoch: self.table.epoch(),
            leading: led.len(),
            following: self.slots.len() - led.len(),
            took_over: led.difference(&led_before).count(),
            handed_off: led_before.difference(&led).count(),
        };
        self.out.push_back(Output::Event(event));
        let sessions = self.sessions_in_view.clone();
        for slot in self.led_slots() {
            for &p in &sessions {
                self.start_run(now, slot, p);
            }
        }
    }

    /// Stops waiting on the streams of processes that no longer follow `slot`. A dropped
    /// follower stops acknowledging but its connection stays up (it still talks to us for
    /// other slots), so its stream would hold every write of the slot until
    /// `replication_ack_timeout`: a settled cluster would stall half a second per write.
    /// The stream itself goes on: the process may be listed again by a table it never saw
    /// drop it, and then still expects our appends.
    fn hold_writes_for_followers(
        &mut self,
        slot: SlotId,
        l: &mut Leading,
        followers: &[ProcessId],
    ) {
        let released = l
            .streams
            .hold_writes_of(|conn| self.is_follower(conn, followers));
        if released {
            // Writes that waited only on those streams are answered at the next flush.
            self.dirty.insert(slot);
        }
    }

    /// Whether `conn` is a data node among `followers`.
    pub(super) fn is_follower(&self, conn: ConnId, followers: &[ProcessId]) -> bool {
        matches!(self.conns.get(&conn), Some(Peer::Data(p)) if followers.contains(p))
    }

    fn become_leader(
        &mut self,
        now: Instant,
        _slot: SlotId,
        epoch: LeaderEpoch,
        old: Option<LocalSlot>,
    ) -> LocalSlot {
        let store = old.map(|o| o.store).unwrap_or_default();
        for owner in store.owners() {
            self.leases.track(owner, now);
        }
        let mut reconcile = SlotReconcile {
            next_periodic: now + self.cfg.reconcile_interval,
            ..SlotReconcile::default()
        };
        reconcile.update(&self.sessions_in_view);
        LocalSlot {
            store,
            role: SlotRole::Leader(Box::new(Leading {
                epoch,
                log: OpLog::new(self.cfg.oplog_capacity, 1),
                streams: Streams::default(),
                writes: VecDeque::new(),
                reconcile,
            })),
        }
    }
}
