//! Session ↔ data messages: forwarded writes, change notification, datum fetch, the
//! periodic version scan, and the reconciliation a data leader runs against each session.

use super::common::{
    Datum, DatumChange, Digest, PageCursor, PublisherEntry, SlotRefusal, SlotRoute,
};
use crate::model::{DataInfoId, LeaderEpoch, Publisher, RegisterVersion, SlotId, Text};

wire_enum! {
    /// One change a session forwards to a slot's leader.
    pub enum WriteOp {
        /// Add or replace a publisher (ignored if not newer than what the leader has).
        1 => Put { data_info_id: DataInfoId, publisher: Publisher },
        /// Remove a publisher, leaving a tombstone at `version`.
        2 => Remove { data_info_id: DataInfoId, register_id: Text, version: RegisterVersion },
    }
}

wire_struct! {
    /// Session → data leader: writes for one slot, in the order the session accepted them.
    /// Answered by `WriteAccepted` or `Refused`.
    pub struct WriteBatch {
        /// Slot and epochs the session routed with.
        pub route: SlotRoute,
        /// The writes, applied in order.
        pub ops: Vec<WriteOp>,
    }
}

wire_struct! {
    /// Data → session: every op of the batch was applied (or was already superseded).
    pub struct WriteAccepted {
        /// The batch's slot.
        pub slot: SlotId,
    }
}

wire_struct! {
    /// Reply to any slot-addressed request that the node will not serve.
    pub struct Refused {
        /// The request's slot.
        pub slot: SlotId,
        /// Why.
        pub refusal: SlotRefusal,
    }
}

wire_struct! {
    /// Data leader → every session: these datums changed. Sent at once when the previous
    /// notification was acknowledged; changes arriving meanwhile coalesce into the next.
    /// Answered by `Ack`.
    pub struct ChangeNotify {
        /// Changed datums with their new versions.
        pub changes: Vec<DatumChange>,
    } appended {
        /// For each change, in order, how long it waited at the leader between being applied
        /// and this notification leaving, in microseconds (saturating): the leader's part of
        /// the push latency. Absent from an older leader: none (the session counts 0).
        pub waits_micros: Vec<u32> = Vec::new(),
    }
}

wire_struct! {
    /// Session → data leader: send these datums. Answered by `Datums` or `Refused`.
    pub struct FetchDatums {
        /// Slot and epochs the session routed with.
        pub route: SlotRoute,
        /// The keys, all in the route's slot.
        pub data_info_ids: Vec<DataInfoId>,
    }
}

wire_struct! {
    /// Reply to `FetchDatums`: one datum per requested key, in request order. A key with no
    /// publishers comes back with an empty list.
    pub struct Datums {
        /// The datums.
        pub datums: Vec<Datum>,
    }
}

wire_struct! {
    /// Session → data leader, periodically per slot: the versions the session holds for
    /// the keys its subscribers watch. Answered by `VersionScanReply` or `Refused`.
    pub struct VersionScan {
        /// Slot and epochs the session routed with.
        pub route: SlotRoute,
        /// Keys and the version the session holds of each.
        pub known: Vec<DatumChange>,
    }
}

wire_struct! {
    /// Reply to `VersionScan`: the keys whose version on the leader differs, with it.
    pub struct VersionScanReply {
        /// Keys with the leader's version.
        pub changed: Vec<DatumChange>,
    }
}

wire_struct! {
    /// Data leader → session: digest your publishers of this slot. Answered by
    /// `ReconcileDigests` or `Refused` (if the session's table names another leader).
    pub struct ReconcileQuery {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch the data node leads it at.
        pub leader_epoch: LeaderEpoch,
    }
}

wire_struct! {
    /// A per-key digest of the publishers one session holds.
    pub struct IdDigest {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// Digest of the session's publishers under it.
        pub digest: Digest,
    }
}

wire_struct! {
    /// Reply to `ReconcileQuery`: every key of the slot under which the session has
    /// publishers, with their digest.
    pub struct ReconcileDigests {
        /// The slot.
        pub slot: SlotId,
        /// One entry per key, ordered by key.
        pub digests: Vec<IdDigest>,
    }
}

wire_struct! {
    /// Data leader → session: send your publishers of these keys, resuming after `after`.
    /// Answered by `ReconcilePage` or `Refused`.
    pub struct ReconcileFetch {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch the data node leads it at.
        pub leader_epoch: LeaderEpoch,
        /// The keys whose digests differed.
        pub data_info_ids: Vec<DataInfoId>,
        /// Where the previous page ended; `None` for the first page.
        pub after: Option<PageCursor>,
    }
}

wire_struct! {
    /// One page of a session's publishers, ordered by key then register id.
    pub struct ReconcilePage {
        /// The slot.
        pub slot: SlotId,
        /// The publishers.
        pub entries: Vec<PublisherEntry>,
        /// Where to resume; `None` when this page is the last.
        pub next: Option<PageCursor>,
    }
}
