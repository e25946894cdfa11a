//! Leader ↔ session reconciliation (docs/design.md §4.6), per slot and session.
//!
//! A run: `ReconcileQuery` → the session's `ReconcileDigests` (its publishers of the slot,
//! digested per key). The leader compares them with the digests of the publishers *that
//! session owns* here (kept incrementally by the store, so a run whose digests all match
//! costs one ordered merge and fetches nothing). Keys the session no longer lists lose that
//! session's publishers at once; keys whose digests differ are fetched with
//! `ReconcileFetch` in pages, applied with the normal version rules under the session's
//! ownership, and, once the last page of a batch arrived, publishers of that session the
//! pages did not contain (and that the session did not write meanwhile) are removed. All
//! removals are owner-checked: a publisher since re-registered through another session is
//! not touched.
//!
//! A slot becomes *reconciled* once every session of the membership completed a run at the
//! current leader epoch; until then reads of it are refused as `Migrating`.

use super::store::SlotStore;
use crate::model::{DataInfoId, LeaderEpoch, ProcessId, SlotId, Text};
use crate::time::Instant;
use crate::wire::{IdDigest, ReconcileFetch, ReconcilePage};
use std::collections::{BTreeMap, BTreeSet};

/// One run against one session.
#[derive(Debug)]
pub(crate) enum Run {
    /// `ReconcileQuery` sent.
    AwaitDigests {
        /// When it was sent.
        since: Instant,
    },
    /// Fetching pages of differing keys.
    Fetching {
        /// When the current fetch was sent.
        since: Instant,
        /// Keys of the fetch in progress.
        batch: Vec<DataInfoId>,
        /// Keys still to fetch after it.
        rest: Vec<DataInfoId>,
        /// Register ids seen per key of the batch (pages, or writes during the run).
        seen: BTreeMap<DataInfoId, BTreeSet<Text>>,
    },
}

/// What the leader does after an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this fetch.
    Fetch(ReconcileFetch),
    /// The run is complete.
    Done,
}

/// Reconciliation state of one led slot.
#[derive(Debug, Default)]
pub(crate) struct SlotReconcile {
    /// Every session of the membership completed a run at this epoch.
    pub(crate) reconciled: bool,
    /// Sessions that completed a run at this epoch.
    pub(crate) done: BTreeSet<ProcessId>,
    /// Runs in progress, by session.
    pub(crate) runs: BTreeMap<ProcessId, Run>,
    /// When the next periodic run is due.
    pub(crate) next_periodic: Instant,
    /// Runs completed that fetched nothing (digests matched), for tests and metrics.
    pub(crate) cheap_runs: u64,
    /// Runs completed that had to fetch or remove.
    pub(crate) repair_runs: u64,
}

/// A removal of a session's publisher the leader must apply (owner-checked).
pub(crate) type Removal = (DataInfoId, Text);

impl SlotReconcile {
    /// Re-evaluates `reconciled` against the membership's sessions; returns whether this
    /// call made the slot reconciled (readable).
    pub(crate) fn update(&mut self, sessions: &BTreeSet<ProcessId>) -> bool {
        if !self.reconciled && sessions.iter().all(|s| self.done.contains(s)) {
            self.reconciled = true;
            return true;
        }
        false
    }

    /// Records a write by `session` during a run, so the run does not remove it.
    pub(crate) fn note_write(&mut self, session: ProcessId, key: &DataInfoId, register_id: &Text) {
        if let Some(Run::Fetching {
            seen, batch, rest, ..
        }) = self.runs.get_mut(&session)
        {
            if batch.contains(key) || rest.contains(key) {
                seen.entry(key.clone())
                    .or_default()
                    .insert(register_id.clone());
            }
        }
    }

    /// Handles the session's digests: returns removals for keys it no longer lists and
    /// the first fetch (or `Done` when every digest matched).
    pub(crate) fn on_digests(
        &mut self,
        store: &SlotStore,
        (slot, epoch): (SlotId, LeaderEpoch),
        session: ProcessId,
        digests: &[IdDigest],
        fetch_keys: usize,
        now: Instant,
    ) -> (Vec<Removal>, Step) {
        // Both sides are ordered by key (the session sends them so; sorted here if not):
        // one merge pass, no map.
        let mut theirs: Vec<&IdDigest> = digests.iter().collect();
        if !theirs.is_sorted_by(|a, b| a.data_info_id <= b.data_info_id) {
            theirs.sort_by(|a, b| a.data_info_id.cmp(&b.data_info_id));
        }
        let mut theirs = theirs.into_iter().peekable();
        let mut removals = Vec::new();
        let mut differing = Vec::new();
        for (key, datum) in store.datums() {
            // Keys the session has that this node has no datum for.
            while let Some(t) = theirs.next_if(|t| t.data_info_id < **key) {
                if t.digest.count > 0 {
                    differing.push(t.data_info_id.clone());
                }
            }
            let mine = datum.owner_digest(session);
            match theirs.next_if(|t| t.data_info_id == **key) {
                None if mine.count > 0 => {
                    for rid in store.owned_ids(key, session) {
                        removals.push(((**key).clone(), rid));
                    }
                }
                Some(t) if t.digest != mine => differing.push((**key).clone()),
                _ => {}
            }
        }
        differing.extend(
            theirs
                .filter(|t| t.digest.count > 0)
                .map(|t| t.data_info_id.clone()),
        );
        differing.sort();
        differing.dedup();
        if differing.is_empty() {
            if removals.is_empty() {
                self.cheap_runs += 1;
            } else {
                self.repair_runs += 1;
            }
            self.finish(session);
            return (removals, Step::Done);
        }
        let take = differing.len().min(fetch_keys);
        let rest = differing.split_off(take);
        let fetch = ReconcileFetch {
            slot,
            leader_epoch: epoch,
            data_info_ids: differing.clone(),
            after: None,
        };
        self.runs.insert(
            session,
            Run::Fetching {
                since: now,
                batch: differing,
                rest,
                seen: BTreeMap::new(),
            },
        );
        (removals, Step::Fetch(fetch))
    }

    /// Handles a page: returns the publishers to apply are the page's entries (the caller
    /// applies them); here it records what was seen and, after a batch's last page, which
    /// of the session's publishers to remove; then the next fetch or `Done`.
    pub(crate) fn on_page(
        &mut self,
        store: &SlotStore,
        epoch: LeaderEpoch,
        session: ProcessId,
        page: &ReconcilePage,
        fetch_keys: usize,
        now: Instant,
    ) -> Option<(Vec<Removal>, Step)> {
        let Some(Run::Fetching {
            since,
            batch,
            rest,
            seen,
        }) = self.runs.get_mut(&session)
        else {
            return None;
        };
        *since = now;
        for e in &page.entries {
            if batch.contains(&e.data_info_id) {
                seen.entry(e.data_info_id.clone())
                    .or_default()
                    .insert(e.publisher.register_id.clone());
            }
        }
        if let Some(after) = &page.next {
            let fetch = ReconcileFetch {
                slot: page.slot,
                leader_epoch: epoch,
                data_info_ids: batch.clone(),
                after: Some(after.clone()),
            };
            return Some((Vec::new(), Step::Fetch(fetch)));
        }
        let mut removals = Vec::new();
        for key in batch.iter() {
            let kept = seen.get(key);
            for rid in store.owned_ids(key, session) {
                if !kept.is_some_and(|k| k.contains(&rid)) {
                    removals.push((key.clone(), rid));
                }
            }
        }
        if rest.is_empty() {
            self.repair_runs += 1;
            self.finish(session);
            return Some((removals, Step::Done));
        }
        let take = rest.len().min(fetch_keys);
        let next: Vec<DataInfoId> = rest.drain(..take).collect();
        *batch = next.clone();
        seen.clear();
        let fetch = ReconcileFetch {
            slot: page.slot,
            leader_epoch: epoch,
            data_info_ids: next,
            after: None,
        };
        Some((removals, Step::Fetch(fetch)))
    }

    fn finish(&mut self, session: ProcessId) {
        self.runs.remove(&session);
        self.done.insert(session);
    }
}
