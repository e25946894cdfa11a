//! The node's clock-driven work. Every `heartbeat_interval` a tick gives up on a silent
//! meta node, heartbeats, keeps quiet
//! session connections alive, gives up on unacknowledged notifications, expires session
//! leases (removing the publishers of sessions whose lease and failover grace ran out),
//! starts due
//! reconciliation runs and abandons stuck ones, retries stuck follower requests, and
//! compacts tombstones. After every input and timeout, `flush` sends what became sendable;
//! `next_deadline` is the earliest instant the node wants to be woken at.

use super::serve::release_writes;
use super::slots::{LocalSlot, SlotRole};
use super::{DataEvent, DataNode, Pending};
use crate::data::reconcile::Removal;
use crate::data::replica::{self, Pumped};
use crate::io::{ConnId, Output};
use crate::model::{Incarnation, NodeId, ProcessId};
use crate::time::Instant;
use crate::wire::{KeepAlive, Message, OpLogAppend};
use std::collections::{BTreeMap, BTreeSet};

impl DataNode {
    pub(super) fn tick(&mut self, now: Instant) {
        if let Some(conn) = self.meta_watch.silent(now, self.cfg.heartbeat_interval) {
            // Closed as if it had dropped: the next meta address, after the backoff.
            self.out.push_back(Output::Close {
                conn,
                reason: "meta answered no heartbeat".into(),
            });
            self.on_closed(now, conn);
        }
        self.heartbeat();
        self.keep_sessions_alive(now);
        self.notifier.expire(now, self.cfg.request_timeout);
        // Leases. A lapsed session's clients get the failover grace on top to replay their
        // publishers elsewhere before the owner-checked removal of what it still owns.
        let lease = self.cfg.session_lease + self.cfg.failover_grace;
        let members = self.sessions_in_view.clone();
        for p in members.iter() {
            self.leases.renew(*p, now);
        }
        for dead in self.leases.expire(now, lease, &members) {
            self.drop_owner(now, dead);
        }
        if std::mem::take(&mut self.superseded_due) {
            for dead in self.superseded_owners() {
                self.drop_owner(now, dead);
            }
        }
        self.reconcile_due(now, &members);
        // Followers: retry idle ones and stuck requests.
        self.retry_followers(now);
        self.subscribe_idle(now);
        // Tombstones.
        let retention = self.cfg.tombstone_retention;
        for ls in self.slots.values_mut() {
            ls.store.compact(now, retention);
        }
    }

    /// Removes every publisher `dead` owns in the slots this node leads.
    fn drop_owner(&mut self, now: Instant, dead: ProcessId) {
        let mut removed = 0;
        for slot in self.led_slots() {
            let removals: Vec<Removal> = self.slots.get(&slot).map_or_else(Vec::new, |ls| {
                ls.store
                    .keys_owned_by(dead)
                    .into_iter()
                    .flat_map(|k| {
                        ls.store
                            .owned_ids(&k, dead)
                            .into_iter()
                            .map(move |r| ((*k).clone(), r))
                    })
                    .collect()
            });
            removed += self.remove_owned(now, slot, dead, removals, true);
        }
        if removed > 0 {
            let event = DataEvent::OwnerDropped {
                session: dead,
                removed,
            };
            self.out.push_back(Output::Event(event));
        }
    }

    /// Owners of publishers in led slots that a newer incarnation of the same session node
    /// superseded (in the membership, or connected here): that process restarted, and its
    /// registrations died with it, so there is nothing to wait for. Without this, a
    /// crashed session's publishers stayed until its lease ran out (20 s) although its
    /// successor was up within seconds — the largest part of the simulator's convergence
    /// tail.
    fn superseded_owners(&self) -> Vec<ProcessId> {
        let mut newest: BTreeMap<NodeId, Incarnation> = BTreeMap::new();
        for p in self
            .sessions_in_view
            .iter()
            .chain(self.session_conns.keys())
        {
            let e = newest.entry(p.node).or_insert(p.incarnation);
            *e = (*e).max(p.incarnation);
        }
        let mut owners = BTreeSet::new();
        for slot in self.led_slots() {
            if let Some(ls) = self.slots.get(&slot) {
                owners.extend(ls.store.owners());
            }
        }
        owners
            .into_iter()
            .filter(|o| newest.get(&o.node).is_some_and(|n| *n > o.incarnation))
            .collect()
    }

    /// Sends `KeepAlive` on every session connection nothing was sent on for
    /// `keepalive_interval`, and forgets connections that are gone.
    fn keep_sessions_alive(&mut self, now: Instant) {
        let live: BTreeSet<ConnId> = self.session_conns.values().copied().collect();
        self.session_liveness.retain(|c, _| live.contains(c));
        let interval = self.cfg.keepalive_interval;
        let due: Vec<ConnId> = self
            .session_liveness
            .iter()
            .filter(|(_, l)| l.keepalive_due(now, interval))
            .map(|(c, _)| *c)
            .collect();
        for conn in due {
            self.send(conn, 0, KeepAlive {});
        }
    }

    /// Sends what became sendable: op-log streams, released write acks, notifications.
    pub(super) fn flush(&mut self, now: Instant) {
        let window = self.cfg.replication_window;
        let batch = self.cfg.append_batch;
        let dirty = std::mem::take(&mut self.dirty);
        let mut sends: Vec<(ConnId, u64, Message)> = Vec::new();
        for slot in dirty {
            let Some(LocalSlot {
                store,
                role: SlotRole::Leader(l),
            }) = self.slots.get_mut(&slot)
            else {
                continue;
            };
            for (conn, p) in l.streams.pump(&l.log, window, batch) {
                let m: Message = match p {
                    Pumped::Append(entries) => OpLogAppend {
                        slot,
                        leader_epoch: l.epoch,
                        entries,
                    }
                    .into(),
                    Pumped::Resync => replica::resync_digests(slot, l.epoch, store, &l.log).into(),
                };
                sends.push((conn, 0, m));
            }
            release_writes(l, now, slot, &mut sends);
        }
        for (conn, id, m) in sends {
            self.send(conn, id, m);
        }
        let bound = self.cfg.notify_batch;
        let mut next = self.next_request;
        let notes = self.notifier.flush(now, bound, || {
            next += 1;
            next
        });
        self.next_request = next;
        for (conn, id, n) in notes {
            self.stats.notifications_sent += 1;
            self.stats.changes_notified += n.changes.len() as u64;
            self.pending.insert((conn, id), Pending::Notify);
            self.send(conn, id, n);
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let mut t = Some(self.next_tick);
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.dialer.next_retry());
        min(self.dialer.next_dial_deadline());
        for ls in self.slots.values() {
            if let SlotRole::Leader(l) = &ls.role {
                min(l.writes.iter().map(|w| w.deadline).min());
            }
        }
        t
    }
}
