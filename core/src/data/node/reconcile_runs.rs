//! The node's driving of reconciliation runs with sessions (the per-slot state and the
//! digest comparison are `data::reconcile`): a run starts for every member session when
//! this node becomes a slot's leader, when a member session (re)connects or a connected
//! session joins the membership, at every tick for a member that has not completed one at
//! the slot's leader epoch, and for all members every `reconcile_interval`; this file sends the `ReconcileQuery` and each
//! `ReconcileFetch`, applies what the answers say, and retries or abandons stuck runs.

use super::slots::{LocalSlot, SlotRole};
use super::{DataEvent, DataNode, Pending};
use crate::data::reconcile::{Run, Step};
use crate::io::{ConnId, Output};
use crate::model::{LeaderEpoch, ProcessId, SlotId};
use crate::time::Instant;
use crate::wire::{ReconcileDigests, ReconcilePage, ReconcileQuery};
use std::collections::BTreeSet;

impl DataNode {
    pub(super) fn start_run(&mut self, now: Instant, slot: SlotId, session: ProcessId) {
        let Some(&conn) = self.session_conns.get(&session) else {
            return;
        };
        let Some(l) = self.leading_mut(slot) else {
            return;
        };
        if l.reconcile.runs.contains_key(&session) {
            return;
        }
        l.reconcile
            .runs
            .insert(session, Run::AwaitDigests { since: now });
        let epoch = l.epoch;
        self.stats.reconcile_runs += 1;
        self.request(
            conn,
            Pending::Reconcile {
                slot,
                session,
                epoch,
            },
            ReconcileQuery {
                slot,
                leader_epoch: epoch,
            },
        );
    }

    pub(super) fn on_reconcile_digests(
        &mut self,
        now: Instant,
        conn: ConnId,
        session: ProcessId,
        id: u64,
        d: ReconcileDigests,
    ) {
        let Some(Pending::Reconcile { slot, epoch, .. }) = self.pending.remove(&(conn, id)) else {
            return;
        };
        let keys = self.cfg.fetch_keys;
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&slot)
        else {
            return;
        };
        if l.epoch != epoch
            || d.slot != slot
            || !matches!(
                l.reconcile.runs.get(&session),
                Some(Run::AwaitDigests { .. })
            )
        {
            return;
        }
        let (removals, step) =
            l.reconcile
                .on_digests(store, (slot, epoch), session, &d.digests, keys, now);
        let removed = self.remove_owned(now, slot, session, removals, false);
        self.log_repair(slot, session, 0, removed);
        self.reconcile_step(slot, conn, session, epoch, step);
    }

    pub(super) fn on_reconcile_page(
        &mut self,
        now: Instant,
        conn: ConnId,
        session: ProcessId,
        id: u64,
        pg: ReconcilePage,
    ) {
        let Some(Pending::Reconcile { slot, epoch, .. }) = self.pending.remove(&(conn, id)) else {
            return;
        };
        if pg.slot != slot || self.leading_mut(slot).is_none_or(|l| l.epoch != epoch) {
            return;
        }
        let count = self.table.slot_count();
        let mut added = 0;
        for e in &pg.entries {
            if count.slot_of(&e.data_info_id) != slot {
                continue;
            }
            let (key, publisher) = (&e.data_info_id, e.publisher.clone());
            let changed = self.apply(slot, |s, v| s.put(key.clone(), session, publisher, v));
            self.stats.reconcile_added += u64::from(changed);
            added += usize::from(changed);
        }
        let keys = self.cfg.fetch_keys;
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&slot)
        else {
            return;
        };
        let Some((removals, step)) = l.reconcile.on_page(store, epoch, session, &pg, keys, now)
        else {
            self.log_repair(slot, session, added, 0);
            return;
        };
        let removed = self.remove_owned(now, slot, session, removals, false);
        self.log_repair(slot, session, added, removed);
        self.reconcile_step(slot, conn, session, epoch, step);
    }

    /// Tells the log what a reconciliation step repaired, if anything.
    fn log_repair(&mut self, slot: SlotId, session: ProcessId, added: usize, removed: usize) {
        if added + removed > 0 {
            let event = DataEvent::Reconciled {
                slot,
                session,
                added,
                removed,
            };
            self.out.push_back(Output::Event(event));
        }
    }

    fn reconcile_step(
        &mut self,
        slot: SlotId,
        conn: ConnId,
        session: ProcessId,
        epoch: LeaderEpoch,
        step: Step,
    ) {
        match step {
            Step::Fetch(f) => {
                self.request(
                    conn,
                    Pending::Reconcile {
                        slot,
                        session,
                        epoch,
                    },
                    f,
                );
            }
            Step::Done => {
                self.stats.reconcile_runs_completed += 1;
                let sessions = self.sessions_in_view.clone();
                self.update_reconciled(slot, &sessions);
            }
        }
    }

    /// Re-evaluates whether `slot` is reconciled with `sessions`. When it becomes readable,
    /// every key it holds is notified at its current version: a session whose fetch or
    /// scan was refused as `Migrating` meanwhile would otherwise wait for its next version
    /// scan (5 s) to learn what the reconciliation rebuilt.
    pub(super) fn update_reconciled(&mut self, slot: SlotId, sessions: &BTreeSet<ProcessId>) {
        let now = self.now;
        let Some(LocalSlot {
            store,
            role: SlotRole::Leader(l),
        }) = self.slots.get_mut(&slot)
        else {
            return;
        };
        if !l.reconcile.update(sessions) {
            return;
        }
        for (key, _) in store.datums() {
            self.notifier
                .record(key, store.read_version(key, l.epoch), now);
        }
    }

    /// At each tick: retries the runs a member session is missing, starts the periodic
    /// ones, and gives up stuck ones.
    pub(super) fn reconcile_due(&mut self, now: Instant, members: &BTreeSet<ProcessId>) {
        let timeout = self.cfg.request_timeout;
        let interval = self.cfg.reconcile_interval;
        for slot in self.led_slots() {
            let Some(l) = self.leading_mut(slot) else {
                continue;
            };
            let mut abandoned = Vec::new();
            l.reconcile.runs.retain(|&session, r| {
                let since = match r {
                    Run::AwaitDigests { since } | Run::Fetching { since, .. } => *since,
                };
                let live = now.saturating_since(since) < timeout;
                if !live {
                    abandoned.push(session);
                }
                live
            });
            // A member that never completed a run at this epoch is due at every tick, even
            // once the slot is reconciled: a session that joined the membership after the
            // slot became readable (meta had expelled it during a partition, say) holds
            // publishers this leader may never have seen, and the periodic run would leave
            // them out of every list for up to `reconcile_interval`.
            let due: Vec<ProcessId> = if now >= l.reconcile.next_periodic {
                l.reconcile.next_periodic = now + interval;
                members.iter().copied().collect()
            } else {
                members
                    .iter()
                    .filter(|p| !l.reconcile.done.contains(p))
                    .copied()
                    .collect()
            };
            if !abandoned.is_empty() {
                // A late answer to an abandoned run must not be taken for the next run's:
                // digests or a last page taken before writes the session made since would
                // remove those publishers.
                self.pending.retain(|_, p| {
                    !matches!(p, Pending::Reconcile { slot: s, session, .. }
                        if *s == slot && abandoned.contains(session))
                });
            }
            for p in due {
                self.start_run(now, slot, p);
            }
        }
    }
}
