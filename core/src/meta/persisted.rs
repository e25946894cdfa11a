//! What meta makes durable: the [`Persist`] records consensus emits, and [`PersistedLog`],
//! what a sequence of them amounts to (hard state, latest snapshot, the entries after it).
//!
//! The core never writes a file. Whatever raft-rs needs made durable leaves the node as
//! `MetaEvent::Persist(Persist)`, in order; the driver makes each durable before it performs
//! any later output of the node (the byte format and compaction are `log_file`'s). At
//! restart the records come back and `MetaNode::restore` replays them into a `MetaStorage`,
//! through the same [`PersistedLog`] code the running node used.
//!
//! Record semantics:
//! - `HardState`: replaces the term, vote and commit index.
//! - `Entries`: overwrite the log from the first entry's index on (raft may replace an
//!   uncommitted suffix), then append.
//! - `Snapshot`: the replicated state at an index. A newer snapshot that agrees with the
//!   log (same term at its index) drops the entries up to it and keeps those after it; one
//!   that does not (received from a leader) replaces the whole log.
//!
//! Compaction ([`PersistedLog::records`]) must keep every entry after the snapshot: those
//! were reported durable to raft-rs, which counted them towards a quorum.

use raft::eraftpb::{Entry, HardState, Snapshot};
use std::fmt;

/// One thing to make durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Persist {
    /// Term, vote, commit index.
    HardState(HardState),
    /// Log entries, overwriting from the first one's index.
    Entries(Vec<Entry>),
    /// The replicated state at an index, replacing the log up to there.
    Snapshot(Snapshot),
}

/// A persist record that could not be read back or replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistError(pub String);

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "meta persist record: {}", self.0)
    }
}

impl std::error::Error for PersistError {}

/// An index the log no longer holds (compacted) or does not hold yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Before the snapshot.
    Compacted,
    /// After the last entry.
    Unavailable,
}

/// The hard state, the latest snapshot and the log after it, as records replay them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistedLog {
    hard_state: HardState,
    snapshot: Snapshot,
    /// `entries[i]` has index `snapshot index + 1 + i`.
    entries: Vec<Entry>,
}

impl PersistedLog {
    /// Replays records into an empty log.
    pub fn replay<'a>(
        records: impl IntoIterator<Item = &'a Persist>,
    ) -> Result<PersistedLog, PersistError> {
        let mut log = PersistedLog::default();
        for r in records {
            log.apply(r)?;
        }
        Ok(log)
    }

    /// Applies one record. A gap in the log is refused and changes nothing.
    pub fn apply(&mut self, record: &Persist) -> Result<(), PersistError> {
        match record {
            Persist::HardState(h) => self.hard_state = h.clone(),
            Persist::Entries(es) => self.append(es)?,
            Persist::Snapshot(s) => self.install_snapshot(s.clone()),
        }
        Ok(())
    }

    /// The fewest records that replay to this log: the snapshot, the hard state, then every
    /// entry after the snapshot. The hard state follows the snapshot because a snapshot
    /// raises the term and commit index; replayed in this order the hard state is exactly
    /// this log's.
    pub fn records(&self) -> Vec<Persist> {
        let mut out = Vec::with_capacity(3);
        if self.snap_index() > 0 {
            out.push(Persist::Snapshot(self.snapshot.clone()));
        }
        if self.hard_state != HardState::default() {
            out.push(Persist::HardState(self.hard_state.clone()));
        }
        if !self.entries.is_empty() {
            out.push(Persist::Entries(self.entries.clone()));
        }
        out
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The entries after the snapshot.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn snap_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    /// Index of the first entry after the snapshot.
    pub(crate) fn first(&self) -> u64 {
        self.snap_index() + 1
    }

    /// Index of the last entry (the snapshot's when there is none after it).
    pub(crate) fn last(&self) -> u64 {
        self.snap_index() + self.entries.len() as u64
    }

    /// The term of the entry at `index`.
    pub(crate) fn term(&self, index: u64) -> Result<u64, Missing> {
        if index == self.snap_index() {
            return Ok(self.snapshot.get_metadata().term);
        }
        if index < self.first() {
            return Err(Missing::Compacted);
        }
        self.entries
            .get((index - self.first()) as usize)
            .map(|e| e.term)
            .ok_or(Missing::Unavailable)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), PersistError> {
        let Some(first) = entries.first().map(|e| e.index) else {
            return Ok(());
        };
        if first > self.last() + 1 {
            return Err(PersistError(format!(
                "entries from {first} leave a gap after {}",
                self.last()
            )));
        }
        let keep = first.saturating_sub(self.first()) as usize;
        self.entries.truncate(keep);
        let start = self.first().saturating_sub(first) as usize;
        self.entries.extend(entries.iter().skip(start).cloned());
        Ok(())
    }

    /// Installs a snapshot newer than the current one (module docs); older ones are ignored.
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        let (index, term) = (meta.index, meta.term);
        if index <= self.snap_index() {
            return;
        }
        if self.term(index) == Ok(term) {
            let drop = (index - self.snap_index()) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.entries.clear();
        }
        self.hard_state.term = self.hard_state.term.max(term);
        self.hard_state.commit = self.hard_state.commit.max(index);
        self.snapshot = snapshot;
    }
}

/// Records for the tests of the meta log's modules.
#[cfg(test)]
pub(crate) mod test_records {
    use bytes::Bytes;
    use raft::eraftpb::{Entry, Snapshot};

    /// An entry whose data names its index.
    pub(crate) fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: Bytes::from(vec![index as u8]),
            ..Default::default()
        }
    }

    /// A snapshot whose data names its index.
    pub(crate) fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s.data = Bytes::from(format!("state at {index}"));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::test_records::{entry, snapshot};
    use super::*;

    fn hard_state(term: u64, commit: u64) -> HardState {
        HardState {
            term,
            vote: 1,
            commit,
            ..Default::default()
        }
    }

    #[test]
    fn compaction_keeps_the_entries_after_a_local_snapshot() {
        // A follower persisted entries 1..=5, learned commit 3, applied and snapshotted at 3,
        // then heard commit 5: entries 4 and 5 were acknowledged and must survive.
        let records = [
            Persist::Entries((1..=5).map(|i| entry(i, 1)).collect()),
            Persist::HardState(hard_state(1, 3)),
            Persist::Snapshot(snapshot(3, 1)),
            Persist::HardState(hard_state(1, 5)),
        ];
        let log = PersistedLog::replay(&records).unwrap();
        let compacted = log.records();
        assert_eq!(compacted.len(), 3);
        let again = PersistedLog::replay(&compacted).unwrap();
        assert_eq!(again, log);
        assert_eq!(again.last(), 5);
        assert_eq!(again.term(4), Ok(1));
        assert_eq!(again.hard_state().commit, 5);
        assert_eq!(again.term(2), Err(Missing::Compacted));
    }

    #[test]
    fn a_snapshot_that_disagrees_with_the_log_replaces_it() {
        let records = [
            Persist::Entries((1..=4).map(|i| entry(i, 1)).collect()),
            Persist::Snapshot(snapshot(3, 2)),
        ];
        let log = PersistedLog::replay(&records).unwrap();
        assert!(log.entries().is_empty());
        assert_eq!(log.last(), 3);
        assert_eq!(log.hard_state().term, 2, "a snapshot raises the term");
        assert_eq!(log.hard_state().commit, 3, "and the commit index");
        assert_eq!(PersistedLog::replay(&log.records()).unwrap(), log);
    }

    #[test]
    fn overwritten_suffixes_and_stale_snapshots_replay_as_they_ran() {
        let records = [
            Persist::Entries(vec![entry(1, 1), entry(2, 1), entry(3, 1)]),
            Persist::Entries(vec![entry(3, 2), entry(4, 2)]),
            Persist::Snapshot(snapshot(2, 1)),
            Persist::Snapshot(snapshot(1, 1)),
            Persist::HardState(hard_state(2, 2)),
        ];
        let log = PersistedLog::replay(&records).unwrap();
        assert_eq!(log.snap_index(), 2, "the older snapshot was ignored");
        assert_eq!(log.term(3), Ok(2), "the overwritten suffix won");
        assert_eq!(log.last(), 4);
        assert_eq!(PersistedLog::replay(&log.records()).unwrap(), log);
    }

    #[test]
    fn a_gap_is_refused_and_changes_nothing() {
        let mut log = PersistedLog::replay(&[Persist::Entries(vec![entry(1, 1)])]).unwrap();
        let before = log.clone();
        let err = log.apply(&Persist::Entries(vec![entry(7, 1)])).unwrap_err();
        assert!(err.0.contains("gap after 1"), "{err}");
        assert_eq!(log, before);
    }

    #[test]
    fn an_empty_log_compacts_to_no_records() {
        assert!(PersistedLog::default().records().is_empty());
    }
}
