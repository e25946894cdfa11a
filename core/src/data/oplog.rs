//! The op-log of one slot: a bounded sequence of the slot's effective changes, numbered by
//! consecutive positions. The leader appends one entry per effective change (the datum it
//! changes takes the version `(leader_epoch, position)`); followers stream the entries after
//! their last applied position. When full, the oldest entries are truncated; a follower
//! that needs a truncated position resynchronises by digests instead.
//!
//! Entries share the stored publisher (`Arc`) with the slot's store, so the log costs a few
//! words per entry, not a copy of the publisher.

use super::store::{Key, Stored};
use crate::model::{RegisterVersion, Text};
use crate::wire::{OpLogEntry, ReplicaOp};
use std::collections::VecDeque;
use std::sync::Arc;

/// One effective change, as the log keeps it.
#[derive(Debug, Clone)]
pub(crate) enum LogOp {
    /// A publisher was added or replaced.
    Put {
        /// Its key.
        key: Key,
        /// The publisher and its owner, shared with the store.
        entry: Arc<Stored>,
    },
    /// A publisher was removed; a tombstone at the version remains.
    Remove {
        /// Its key.
        key: Key,
        /// Register id and removed version (boxed: removals are the rarer entries).
        removed: Box<(Text, RegisterVersion)>,
    },
}

impl LogOp {
    /// A removal entry.
    pub(crate) fn remove(key: Key, register_id: Text, version: RegisterVersion) -> Self {
        LogOp::Remove {
            key,
            removed: Box::new((register_id, version)),
        }
    }

    /// The key the change is filed under.
    pub(crate) fn key(&self) -> &Key {
        match self {
            LogOp::Put { key, .. } | LogOp::Remove { key, .. } => key,
        }
    }

    /// The change as the wire carries it.
    pub(crate) fn to_wire(&self) -> ReplicaOp {
        match self {
            LogOp::Put { key, entry } => ReplicaOp::Put {
                data_info_id: (**key).clone(),
                owner: entry.owner,
                publisher: entry.publisher.clone(),
            },
            LogOp::Remove { key, removed } => ReplicaOp::Remove {
                data_info_id: (**key).clone(),
                register_id: removed.0.clone(),
                version: removed.1,
            },
        }
    }
}

/// A bounded, positioned log of a slot's changes.
#[derive(Debug)]
pub(crate) struct OpLog {
    /// Position of the first entry held.
    start: u64,
    entries: VecDeque<LogOp>,
    capacity: usize,
}

impl OpLog {
    /// An empty log whose first entry will have position `start`.
    pub(crate) fn new(capacity: usize, start: u64) -> Self {
        OpLog {
            start,
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Position of the oldest entry still held (equals `end` when empty).
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Position the next entry will take.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    /// Appends an entry, truncating the oldest if the log is full; returns its position.
    pub(crate) fn append(&mut self, op: LogOp) -> u64 {
        let position = self.end();
        self.entries.push_back(op);
        if self.entries.len() > self.capacity {
            self.entries.pop_front();
            self.start += 1;
        }
        position
    }

    /// Drops every entry before `position` (testing and memory pressure).
    pub(crate) fn truncate_before(&mut self, position: u64) {
        while self.start < position && !self.entries.is_empty() {
            self.entries.pop_front();
            self.start += 1;
        }
    }

    /// Whether a follower whose next position is `next` can stream from this log.
    pub(crate) fn can_serve(&self, next: u64) -> bool {
        next >= self.start && next <= self.end()
    }

    /// Up to `max` entries from position `from`, in order; empty if `from` is outside the
    /// log.
    pub(crate) fn read(&self, from: u64, max: usize) -> Vec<OpLogEntry> {
        if !self.can_serve(from) {
            return Vec::new();
        }
        let skip = (from - self.start) as usize;
        self.entries
            .iter()
            .skip(skip)
            .take(max)
            .zip(from..)
            .map(|(op, position)| OpLogEntry {
                position,
                op: op.to_wire(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DataInfoId;

    fn rm(i: u64) -> LogOp {
        LogOp::remove(
            Arc::new(DataInfoId::new("k", "i", "g")),
            Text::from(format!("r{i}")),
            RegisterVersion::new(i, 1),
        )
    }

    #[test]
    fn oplog_positions_are_consecutive_and_reads_follow_them() {
        let mut log = OpLog::new(8, 1);
        assert_eq!((log.start(), log.end()), (1, 1));
        for i in 0..5 {
            assert_eq!(log.append(rm(i)), i + 1);
        }
        let read = log.read(3, 10);
        assert_eq!(
            read.iter().map(|e| e.position).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(log.read(2, 2).len(), 2);
        assert!(log.read(6, 10).is_empty(), "nothing after the end");
        assert!(log.can_serve(6) && !log.can_serve(7) && !log.can_serve(0));
    }

    #[test]
    fn oplog_is_bounded_and_truncates_its_oldest_entries() {
        let mut log = OpLog::new(3, 1);
        for i in 0..10 {
            log.append(rm(i));
        }
        assert_eq!((log.start(), log.end()), (8, 11));
        assert!(!log.can_serve(7), "a truncated position cannot be streamed");
        assert!(log.read(7, 10).is_empty());
        assert_eq!(log.read(8, 10).len(), 3);
        log.truncate_before(10);
        assert_eq!(log.start(), 10);
        match &log.read(10, 1)[0].op {
            ReplicaOp::Remove { register_id, .. } => assert_eq!(register_id, "r9"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
