//! Consensus storage: raft-rs's `Storage` over memory, and the persist records through
//! which that memory reaches disk and comes back.
//!
//! The core never writes a file. Whatever raft-rs needs made durable leaves the node as
//! `MetaEvent::Persist(Persist)`, in order: the driver appends each record's
//! [`Persist::to_bytes`] to its file, durably, before it performs any later output of the
//! node. At restart it reads the records back ([`Persist::from_bytes`]) and hands them to
//! `MetaNode::restore`, which replays them into a `MetaStorage` exactly as the running node
//! built its own.
//!
//! Record semantics (replay is the same code that ran live):
//! - `HardState`: replaces the term, vote and commit index.
//! - `Entries`: overwrite the log from the first entry's index on (raft may replace an
//!   uncommitted suffix), then append.
//! - `Snapshot`: the replicated state at an index; the log up to that index is dropped.
//!   Once a snapshot is written, every record before it may be discarded by the driver
//!   except the last `HardState`.
//!
//! Byte format of a record: a tag byte (1 hard state, 2 entries, 3 snapshot), then for 1
//! and 3 one length-prefixed protobuf message (raft's `eraftpb`), for 2 a u32 count of
//! length-prefixed protobuf `Entry`s; lengths are u32 big-endian as in the wire codec.

use super::state::{from_bytes, to_bytes};
use crate::wire::BodyError;
use bytes::Bytes;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
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

#[allow(unreachable_pub, dead_code)]
mod layout {
    use bytes::Bytes;
    wire_enum! {
        /// The byte layout of a record.
        pub enum Record {
            1 => HardState { pb: Bytes },
            2 => Entries { pb: Vec<Bytes> },
            3 => Snapshot { pb: Bytes },
        }
    }
}
use layout::Record;

/// A persist record that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistError(pub String);

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "meta persist record: {}", self.0)
    }
}

impl std::error::Error for PersistError {}

fn pb<M: protobuf::Message>(m: &M) -> Bytes {
    // Writing a well-formed message to memory cannot fail.
    Bytes::from(m.write_to_bytes().unwrap_or_default())
}

fn parse<M: protobuf::Message>(b: &Bytes) -> Result<M, PersistError> {
    M::parse_from_bytes(b).map_err(|e| PersistError(e.to_string()))
}

impl Persist {
    /// The record's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let record = match self {
            Persist::HardState(h) => Record::HardState { pb: pb(h) },
            Persist::Entries(es) => Record::Entries {
                pb: es.iter().map(pb).collect(),
            },
            Persist::Snapshot(s) => Record::Snapshot { pb: pb(s) },
        };
        to_bytes(&record)
    }

    /// A record from its bytes.
    pub fn from_bytes(bytes: &Bytes) -> Result<Persist, PersistError> {
        let record: Record =
            from_bytes(bytes).map_err(|e: BodyError| PersistError(e.to_string()))?;
        Ok(match record {
            Record::HardState { pb } => Persist::HardState(parse(&pb)?),
            Record::Entries { pb } => {
                Persist::Entries(pb.iter().map(parse).collect::<Result<_, _>>()?)
            }
            Record::Snapshot { pb } => Persist::Snapshot(parse(&pb)?),
        })
    }
}

/// The consensus log and hard state in memory. Only meta's consensus writes to it.
#[derive(Debug, Clone)]
pub struct MetaStorage {
    hard_state: HardState,
    conf_state: ConfState,
    snapshot: Snapshot,
    /// `entries[i]` has index `snapshot index + 1 + i`.
    entries: Vec<Entry>,
}

impl MetaStorage {
    /// Storage of a new group whose voters are `voters`.
    pub fn new(voters: Vec<u64>) -> Self {
        let conf_state = ConfState {
            voters,
            ..Default::default()
        };
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().set_conf_state(conf_state.clone());
        MetaStorage {
            hard_state: HardState::default(),
            conf_state,
            snapshot,
            entries: Vec::new(),
        }
    }

    /// Replays persist records into the storage of a new group of `voters`.
    pub fn restore(
        voters: Vec<u64>,
        records: impl IntoIterator<Item = Persist>,
    ) -> Result<Self, PersistError> {
        let mut s = MetaStorage::new(voters);
        for r in records {
            s.persist(&r)?;
        }
        Ok(s)
    }

    /// Applies one record.
    pub fn persist(&mut self, record: &Persist) -> Result<(), PersistError> {
        match record {
            Persist::HardState(h) => self.hard_state = h.clone(),
            Persist::Entries(es) => self.append(es)?,
            Persist::Snapshot(s) => self.install_snapshot(s.clone()),
        }
        Ok(())
    }

    /// The latest snapshot.
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    fn snap_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    fn first(&self) -> u64 {
        self.snap_index() + 1
    }

    fn last(&self) -> u64 {
        self.snap_index() + self.entries.len() as u64
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

    /// Installs a snapshot: a received one replaces the log, a local one (taken at an index
    /// whose entry it agrees with) keeps the entries after it. Older snapshots are ignored.
    pub fn install_snapshot(&mut self, mut snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        let (index, term) = (meta.index, meta.term);
        if index <= self.snap_index() {
            return;
        }
        let agrees = raft::Storage::term(self, index).is_ok_and(|t| t == term);
        if agrees {
            let drop = (index - self.snap_index()) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.entries.clear();
        }
        self.hard_state.term = self.hard_state.term.max(term);
        self.hard_state.commit = self.hard_state.commit.max(index);
        snapshot
            .mut_metadata()
            .set_conf_state(self.conf_state.clone());
        self.snapshot = snapshot;
    }
}

impl raft::Storage for MetaStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.first()) as usize;
        let hi = (high - self.first()) as usize;
        let mut out = self.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snap_index() {
            return Ok(self.snapshot.get_metadata().term);
        }
        if idx < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        match self.entries.get((idx - self.first()) as usize) {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snap_index() < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage as _;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: Bytes::from(vec![index as u8]),
            ..Default::default()
        }
    }

    #[test]
    fn records_roundtrip_and_replay_to_the_same_storage() {
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 2;
        snap.mut_metadata().term = 1;
        snap.data = Bytes::from_static(b"state");
        let hs = HardState {
            term: 2,
            vote: 1,
            commit: 3,
            ..Default::default()
        };
        let records = vec![
            Persist::Entries(vec![entry(1, 1), entry(2, 1), entry(3, 1)]),
            Persist::Entries(vec![entry(3, 2), entry(4, 2)]),
            Persist::HardState(hs.clone()),
            Persist::Snapshot(snap),
        ];
        let decoded: Vec<Persist> = records
            .iter()
            .map(|r| Persist::from_bytes(&r.to_bytes()).unwrap())
            .collect();
        assert_eq!(decoded, records);
        let s = MetaStorage::restore(vec![1], decoded).unwrap();
        assert_eq!(s.first_index(), Ok(3));
        assert_eq!(s.last_index(), Ok(4));
        assert_eq!(s.term(3), Ok(2), "the overwritten suffix won");
        assert_eq!(s.term(2), Ok(1));
        assert!(s.term(1).is_err());
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
        assert_eq!(s.latest_snapshot().data, Bytes::from_static(b"state"));
        assert!(Persist::from_bytes(&Bytes::from_static(b"\x09")).is_err());
        assert!(MetaStorage::restore(vec![1], [Persist::Entries(vec![entry(7, 1)])]).is_err());
    }
}
