//! Messages and field types used between every pair of roles: replies, keep-alive, the
//! opening of a node-to-node connection, and the vocabulary of slot-addressed requests.

use crate::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, Publisher, Role, SlotId, TableEpoch, Text,
};
use crate::wire::PublisherList;
use crate::wire::negotiate::{Features, UNVERSIONED};

wire_struct! {
    /// Success reply to a request; carries the request's id and nothing else.
    pub struct Ack {}
}

wire_unit_enum! {
    /// Why a request failed.
    pub enum ErrorCode {
        /// The request is invalid and will fail again if repeated unchanged.
        BadRequest = 1,
        /// The node cannot serve yet (no slot table, still starting); retry later.
        NotReady = 2,
        /// The node is shedding load; retry with backoff.
        Overloaded = 3,
        /// A fault inside the node.
        Internal = 4,
        /// The node does not speak what was asked: a protocol version older than it serves,
        /// or a request of a kind it does not define. Sent only to peers of version 2 on.
        Unsupported = 5,
        /// The session's access rules do not let this client do that (docs/security.md).
        /// Sent only on connections that agreed `Features::ACCESS_DENIED`; others get
        /// `BadRequest` with the same message.
        Forbidden = 6,
    }
}

wire_struct! {
    /// Failure reply to a request.
    pub struct ErrorReply {
        /// Machine-readable reason.
        pub code: ErrorCode,
        /// Human-readable detail, for logs.
        pub message: Text,
    }
}

wire_struct! {
    /// Sent by either side of an idle connection so the other knows it is alive. No reply.
    pub struct KeepAlive {}
}

wire_struct! {
    /// First frame on every node-to-node connection: who is calling. The receiver binds
    /// the connection to that process (a data node, for instance, files the session's
    /// writes under it and renews its lease on any traffic). One-way; from version 2 on the
    /// receiver answers `PeerWelcome`.
    pub struct PeerHello {
        /// The caller's role.
        pub role: Role,
        /// The caller's process.
        pub process: ProcessId,
        /// Address the caller's peer listener is reachable at.
        pub address: Text,
    } appended {
        /// The caller's protocol version (absent from a version 1 hello).
        pub version: u16 = UNVERSIONED,
        /// The caller's optional features.
        pub features: Features = Features::NONE,
    }
}

impl PeerHello {
    /// The hello of this build: its version and features.
    pub fn new(role: Role, process: ProcessId, address: Text) -> Self {
        PeerHello {
            role,
            process,
            address,
            version: crate::wire::negotiate::VERSION,
            features: Features::PEER_SUPPORTED,
        }
    }
}

wire_struct! {
    /// The answer to a `PeerHello` of version 2 or later, one-way (request id 0) from the
    /// side that accepted the connection: what both ends speak, and who answered.
    pub struct PeerWelcome {
        /// The agreed protocol version: the lower of both.
        pub version: u16,
        /// The agreed features: those both announced.
        pub features: Features,
        /// The answering node's role.
        pub role: Role,
        /// The answering node's process.
        pub process: ProcessId,
    }
}

/// A frame of a message kind this build does not define (a newer peer's). Only its kind
/// byte is kept; the body was skipped unread. Never decoded from a defined kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown {
    /// The frame's kind byte.
    pub kind: u8,
}

wire_struct! {
    /// Where a slot-addressed request was routed: the slot and the epochs of the table the
    /// sender used. The receiver refuses instead of applying anything when they disagree
    /// with its own table.
    #[derive(Copy)]
    pub struct SlotRoute {
        /// The slot.
        pub slot: SlotId,
        /// Epoch of the sender's slot table.
        pub table_epoch: TableEpoch,
        /// Leader epoch of the slot in that table.
        pub leader_epoch: LeaderEpoch,
    }
}

wire_enum! {
    /// Why a node refused a slot-addressed request. Nothing of the request was applied.
    pub enum SlotRefusal {
        /// This node does not lead the slot; `leader` is who does in its table, if anyone.
        1 => Moved { table_epoch: TableEpoch, leader: Option<ProcessId> },
        /// This node leads the slot but is still reconciling it and cannot serve reads.
        2 => Migrating { table_epoch: TableEpoch },
        /// The request's epochs differ from this node's table (either side may be behind).
        3 => EpochMismatch { table_epoch: TableEpoch, leader_epoch: LeaderEpoch },
    }
}

wire_struct! {
    /// A data info id and the version of its datum.
    pub struct DatumChange {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// Version of its datum.
        pub version: DatumVersion,
    }
}

wire_struct! {
    /// An order-independent summary of a set of publishers: their number and a combination
    /// of per-publisher hashes over `(register_id, version)`. Equal digests mean equal sets
    /// with overwhelming probability; the hash function is defined in `docs/protocol.md`.
    #[derive(Copy, Default, Hash)]
    pub struct Digest {
        /// Number of publishers.
        pub count: u32,
        /// Combined hash.
        pub hash: u64,
    }
}

wire_struct! {
    /// Where a paged listing resumes: after this publisher of this data info id.
    pub struct PageCursor {
        /// The data info id the previous page ended in.
        pub data_info_id: DataInfoId,
        /// The last register id the previous page held, in byte order.
        pub register_id: Text,
    }
}

wire_struct! {
    /// A publisher with the key it is filed under.
    pub struct PublisherEntry {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The publisher.
        pub publisher: Publisher,
    }
}

wire_struct! {
    /// The live publishers of one data info id at one version.
    pub struct Datum {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The datum's version.
        pub version: DatumVersion,
        /// Every live publisher, ordered by register id: the list a session caches and
        /// pushes as it came, encoded once on the data node and never rebuilt.
        pub publishers: PublisherList,
    }
}
