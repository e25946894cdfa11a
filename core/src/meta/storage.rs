//! Consensus storage: raft-rs's `Storage` over the [`PersistedLog`] consensus builds in
//! memory, plus the group's configuration (`ConfState`: voters and learners).
//!
//! The configuration is durable through snapshots: consensus stamps the current one on
//! every snapshot it takes (and takes one whenever a configuration change is applied), and
//! a snapshot that carries one (taken here, received from the leader, or replayed at a
//! restart) sets it. Configuration changes committed after the latest snapshot are applied
//! again when raft-rs hands their entries back at restart. Only a log without a snapshot
//! starts from the configured voters (or none, for a node that joins an existing group).
//!
//! Every change reaches the storage as a [`Persist`] record, live and at restart alike, so
//! the storage a restarted node rebuilds from its records is the one it ran with.

use super::persisted::{Missing, Persist, PersistError, PersistedLog};
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

/// The consensus log and hard state in memory. Only meta's consensus writes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaStorage {
    conf_state: ConfState,
    log: PersistedLog,
}

impl MetaStorage {
    /// Storage of a new group whose voters are `voters`.
    pub fn new(voters: Vec<u64>) -> Self {
        MetaStorage {
            conf_state: ConfState {
                voters,
                ..Default::default()
            },
            log: PersistedLog::default(),
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
            Persist::Snapshot(s) => {
                self.install_snapshot(s.clone());
                Ok(())
            }
            other => self.log.apply(other),
        }
    }

    /// The latest snapshot.
    pub fn latest_snapshot(&self) -> &Snapshot {
        self.log.snapshot()
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        self.log.hard_state()
    }

    /// Installs a snapshot (see `persisted` for which entries it keeps). A snapshot with a
    /// configuration sets this storage's; one without gets this storage's stamped on.
    pub fn install_snapshot(&mut self, mut snapshot: Snapshot) {
        let conf = snapshot.get_metadata().get_conf_state();
        if conf.voters.is_empty() && conf.learners.is_empty() {
            snapshot
                .mut_metadata()
                .set_conf_state(self.conf_state.clone());
        } else if snapshot.get_metadata().index > self.log.snap_index() {
            self.conf_state = conf.clone();
        }
        self.log.install_snapshot(snapshot);
    }

    /// The configuration raft-rs starts from (see the module docs).
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// Records the configuration a change just applied produced.
    pub fn set_conf_state(&mut self, conf: ConfState) {
        self.conf_state = conf;
    }
}

fn store_error(m: Missing) -> raft::Error {
    raft::Error::Store(match m {
        Missing::Compacted => StorageError::Compacted,
        Missing::Unavailable => StorageError::Unavailable,
    })
}

impl raft::Storage for MetaStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.log.hard_state().clone(),
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
        if low < self.log.first() {
            return Err(store_error(Missing::Compacted));
        }
        if high > self.log.last() + 1 || low > high {
            return Err(store_error(Missing::Unavailable));
        }
        let lo = (low - self.log.first()) as usize;
        let hi = (high - self.log.first()) as usize;
        let mut out = self.log.entries()[lo..hi].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.log.term(idx).map_err(store_error)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.log.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.log.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.log.snap_index() < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.log.snapshot().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::persisted::test_records::entry;
    use super::*;
    use bytes::Bytes;
    use raft::Storage as _;

    #[test]
    fn records_replay_to_the_storage_raft_reads() {
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
        let s = MetaStorage::restore(vec![1], records).unwrap();
        assert_eq!(s.first_index(), Ok(3));
        assert_eq!(s.last_index(), Ok(4));
        assert_eq!(s.term(3), Ok(2), "the overwritten suffix won");
        assert_eq!(s.term(2), Ok(1));
        assert!(s.term(1).is_err());
        assert_eq!(
            s.entries(3, 5, None, GetEntriesContext::empty(false))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
        assert_eq!(s.latest_snapshot().data, Bytes::from_static(b"state"));
        assert_eq!(
            s.latest_snapshot().get_metadata().get_conf_state().voters,
            vec![1],
            "a snapshot without a configuration gets the storage's"
        );
        let mut later = Snapshot::default();
        later.mut_metadata().index = 4;
        later.mut_metadata().term = 2;
        later.mut_metadata().mut_conf_state().voters = vec![1, 4];
        let mut s = s;
        s.persist(&Persist::Snapshot(later)).unwrap();
        assert_eq!(
            s.conf_state().voters,
            vec![1, 4],
            "a snapshot's configuration wins"
        );
        assert_eq!(s.initial_state().unwrap().conf_state.voters, vec![1, 4]);
        assert!(MetaStorage::restore(vec![1], [Persist::Entries(vec![entry(7, 1)])]).is_err());
    }
}
