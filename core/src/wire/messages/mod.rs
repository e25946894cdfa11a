//! The message set: every message of every role pair, and its kind byte.
//!
//! Kinds are grouped by who talks: `0x0_` any pair, `0x1_` client ↔ session, `0x2_`
//! session ↔ data, `0x3_` data ↔ data, `0x4_` node ↔ meta, `0x5_` meta ↔ meta.

mod client;
mod common;
mod meta;
mod replica;
mod session_data;

pub use client::{
    ClientHello, ClientWelcome, Publish, Push, PushDelta, Redirect, Subscribe, Token, Unpublish,
    Unsubscribe,
};
pub use common::{
    Ack, Datum, DatumChange, Digest, ErrorCode, ErrorReply, KeepAlive, PageCursor, PeerHello,
    PeerWelcome, PublisherEntry, SlotRefusal, SlotRoute, Unknown,
};
pub use meta::{
    ClusterView, Heartbeat, HeartbeatAck, Member, NotLeader, Raft, SlotAssignment, SlotState,
    SlotStatus, SlotTableView,
};
pub use replica::{
    DatumDigest, OpLogAck, OpLogAppend, OpLogEntry, OpLogSubscribe, OwnedPublisher, ReplicaDatum,
    ReplicaOp, ReplicaTombstone, ResyncDigests, ResyncFetch, ResyncPage,
};
pub use session_data::{
    ChangeNotify, Datums, FetchDatums, IdDigest, ReconcileDigests, ReconcileFetch, ReconcilePage,
    ReconcileQuery, Refused, VersionScan, VersionScanReply, WriteAccepted, WriteBatch, WriteOp,
};

messages! {
    0x01 => Ack,
    0x02 => ErrorReply,
    0x03 => KeepAlive,
    0x04 => PeerHello,
    0x05 => PeerWelcome,

    0x10 => ClientHello,
    0x11 => Publish,
    0x12 => Unpublish,
    0x13 => Subscribe,
    0x14 => Unsubscribe,
    0x15 => Push,
    0x16 => ClientWelcome,
    0x17 => PushDelta,
    0x18 => Redirect,

    0x20 => WriteBatch,
    0x21 => WriteAccepted,
    0x22 => Refused,
    0x23 => ChangeNotify,
    0x24 => FetchDatums,
    0x25 => Datums,
    0x26 => VersionScan,
    0x27 => VersionScanReply,
    0x28 => ReconcileQuery,
    0x29 => ReconcileDigests,
    0x2A => ReconcileFetch,
    0x2B => ReconcilePage,

    0x30 => OpLogSubscribe,
    0x31 => OpLogAppend,
    0x32 => OpLogAck,
    0x33 => ResyncDigests,
    0x34 => ResyncFetch,
    0x35 => ResyncPage,

    0x40 => Heartbeat,
    0x41 => HeartbeatAck,
    0x42 => NotLeader,
    0x43 => ClusterView,

    0x50 => Raft,
}
