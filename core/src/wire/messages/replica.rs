//! Data ↔ data messages: the op-log stream from a slot's leader to its followers, and the
//! digest resync a follower runs when it cannot catch up from the log.

use super::common::{Digest, PageCursor};
use crate::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, Publisher, RegisterVersion, SlotId, Text,
};

wire_enum! {
    /// An effective change to a slot, as the op-log records it.
    pub enum ReplicaOp {
        /// A publisher was added or replaced; `owner` is the session process it belongs to.
        1 => Put { data_info_id: DataInfoId, owner: ProcessId, publisher: Publisher },
        /// A publisher was removed; a tombstone at `version` remains.
        2 => Remove { data_info_id: DataInfoId, register_id: Text, version: RegisterVersion },
    }
}

wire_struct! {
    /// One op-log entry. The datum it changes takes the version
    /// `(leader_epoch of the stream, position)`.
    pub struct OpLogEntry {
        /// Position in the slot's op-log; consecutive entries have consecutive positions.
        pub position: u64,
        /// The change.
        pub op: ReplicaOp,
    }
}

wire_struct! {
    /// Follower → leader: stream me the slot's entries from position `next`. Answered by
    /// `OpLogAppend` (then a continuous stream), `ResyncDigests` when `next` is before the
    /// log's start or from another leader epoch, or `Refused`.
    pub struct OpLogSubscribe {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch the follower believes current.
        pub leader_epoch: LeaderEpoch,
        /// First position the follower has not applied.
        pub next: u64,
    }
}

wire_struct! {
    /// Leader → follower: consecutive op-log entries.
    pub struct OpLogAppend {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch the entries were written at.
        pub leader_epoch: LeaderEpoch,
        /// The entries, in position order.
        pub entries: Vec<OpLogEntry>,
    }
}

wire_struct! {
    /// Follower → leader: every entry before `next` is applied. Also flow control: the
    /// leader keeps a bounded number of entries unacknowledged.
    pub struct OpLogAck {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch of the stream.
        pub leader_epoch: LeaderEpoch,
        /// First position not yet applied.
        pub next: u64,
    }
}

wire_struct! {
    /// One key's version and publisher digest on the leader.
    pub struct DatumDigest {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The datum's version.
        pub version: DatumVersion,
        /// Digest of its publishers.
        pub digest: Digest,
    }
}

wire_struct! {
    /// Leader → follower: the slot's state as of op-log position `position`, digested per
    /// key. The follower fetches the keys that differ, then streams from `position`.
    pub struct ResyncDigests {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch.
        pub leader_epoch: LeaderEpoch,
        /// The op-log position the digests describe (first position not included).
        pub position: u64,
        /// Every key of the slot, ordered by key.
        pub datums: Vec<DatumDigest>,
    } appended {
        /// Keys holding tombstones (recent removals), ordered by key, with or without a
        /// datum: the follower fetches them too, so it learns the removals it missed.
        /// Absent from an older leader's digests (then: none).
        pub tombstoned: Vec<DataInfoId> = Vec::new(),
    }
}

wire_struct! {
    /// Follower → leader: send the publishers of these keys, resuming after `after`.
    /// Answered by `ResyncPage` or `Refused`.
    pub struct ResyncFetch {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch.
        pub leader_epoch: LeaderEpoch,
        /// Keys whose digests differed.
        pub data_info_ids: Vec<DataInfoId>,
        /// Where the previous page ended; `None` for the first page.
        pub after: Option<PageCursor>,
    }
}

wire_struct! {
    /// A publisher together with the session process that owns it.
    pub struct OwnedPublisher {
        /// The owning session process.
        pub owner: ProcessId,
        /// The publisher.
        pub publisher: Publisher,
    }
}

wire_struct! {
    /// A datum as a replica needs it: version, and publishers with their owners. In a
    /// page, a datum that continues on the next page repeats its key there.
    pub struct ReplicaDatum {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The datum's version.
        pub version: DatumVersion,
        /// Its publishers (all of them, or this page's share), ordered by register id.
        pub publishers: Vec<OwnedPublisher>,
    }
}

wire_struct! {
    /// A removal a slot still remembers: `register_id` under `data_info_id` was removed at
    /// `version`, so a write of that register id at or below it is refused.
    pub struct ReplicaTombstone {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The removed publisher's register id.
        pub register_id: Text,
        /// The version it was removed at.
        pub version: RegisterVersion,
    }
}

wire_struct! {
    /// Leader → follower: one page of a resync.
    pub struct ResyncPage {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch.
        pub leader_epoch: LeaderEpoch,
        /// The datums of this page, ordered by key.
        pub datums: Vec<ReplicaDatum>,
        /// Where to resume; `None` when this page is the last.
        pub next: Option<PageCursor>,
    } appended {
        /// The tombstones of the keys this page finishes (a key's tombstones travel with
        /// its last share of publishers, so they land after the key was reset), ordered by
        /// key and register id. A key holding only tombstones appears here and in `datums`
        /// with the default version and no publishers. Absent from an older leader's page
        /// (then: none).
        pub tombstones: Vec<ReplicaTombstone> = Vec::new(),
    }
}
