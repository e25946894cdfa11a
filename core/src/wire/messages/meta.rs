//! Node ↔ meta and meta ↔ meta messages: heartbeats with slot status, the cluster view
//! (membership and slot table) meta pushes, and the opaque consensus payload.

use crate::model::{LeaderEpoch, NodeId, ProcessId, Role, SlotId, Switches, TableEpoch, Text};
use bytes::Bytes;

wire_enum! {
    /// What a data node is doing with one slot, as its heartbeat reports it.
    pub enum SlotState {
        /// Leading the slot; `reconciled` once session reconciliation finished and reads are
        /// served; `log_end` is the next op-log position.
        1 => Leader { reconciled: bool, log_end: u64 },
        /// Following the slot; `applied` is the next position to apply; `caught_up` once the
        /// follower has applied everything the leader last told it of.
        2 => Follower { applied: u64, caught_up: bool },
    }
}

wire_struct! {
    /// One slot's status on a data node.
    pub struct SlotStatus {
        /// The slot.
        pub slot: SlotId,
        /// The leader epoch the node holds the slot at.
        pub leader_epoch: LeaderEpoch,
        /// Its state.
        pub state: SlotState,
    }
}

wire_struct! {
    /// Node → meta, every heartbeat interval: keeps the node's lease, reports what it knows.
    /// Answered by `HeartbeatAck`, `ClusterView` (when the node is behind), or `NotLeader`.
    pub struct Heartbeat {
        /// The node's current process.
        pub process: ProcessId,
        /// Its role.
        pub role: Role,
        /// Address its peer listener is reachable at (session: where clients connect too).
        pub address: Text,
        /// Epoch of the slot table the node has installed.
        pub table_epoch: TableEpoch,
        /// Version of the membership the node knows.
        pub members_version: u64,
        /// Data nodes: the status of every slot they hold. Others: empty.
        pub slots: Vec<SlotStatus>,
    } appended {
        /// Version of the operator switches the node applied (0 from an older node).
        pub switches_version: u64 = 0,
    }
}

wire_struct! {
    /// Meta leader → node: lease renewed; the node's view is current.
    pub struct HeartbeatAck {
        /// The current table epoch.
        pub table_epoch: TableEpoch,
        /// The current membership version.
        pub members_version: u64,
    }
}

wire_struct! {
    /// A meta follower's answer: send to the leader instead.
    pub struct NotLeader {
        /// The leader's client address, when known.
        pub leader: Option<Text>,
    }
}

wire_struct! {
    /// A member of the cluster.
    pub struct Member {
        /// Its process.
        pub process: ProcessId,
        /// Its role.
        pub role: Role,
        /// Its peer address.
        pub address: Text,
    }
}

wire_struct! {
    /// One slot's replicas. The slot is the assignment's index in the table.
    pub struct SlotAssignment {
        /// The leader, if the slot has one.
        pub leader: Option<ProcessId>,
        /// Grows whenever `leader` changes.
        pub leader_epoch: LeaderEpoch,
        /// The followers.
        pub followers: Vec<ProcessId>,
    }
}

wire_struct! {
    /// The slot table as transmitted: an epoch and one assignment per slot (the slot count
    /// is the number of assignments, a power of two).
    pub struct SlotTableView {
        /// The table's epoch.
        pub epoch: TableEpoch,
        /// Assignment of slot `i` at index `i`.
        pub slots: Vec<SlotAssignment>,
    }
}

wire_struct! {
    /// Meta leader → node: the membership and slot table, pushed on every change and sent
    /// in answer to a heartbeat from a node that is behind.
    pub struct ClusterView {
        /// Grows on every membership change.
        pub members_version: u64,
        /// Every live session and data node.
        pub members: Vec<Member>,
        /// The slot table.
        pub table: SlotTableView,
    } appended {
        /// The operator switches in force (none, at version 0, from an older meta).
        pub switches: Switches = Switches::default(),
        /// Session nodes an operator is draining: each tells its clients to move and
        /// refuses new ones. Absent from an older meta's view: none.
        pub draining: Vec<NodeId> = Vec::new(),
    }
}

wire_struct! {
    /// Meta ↔ meta: one consensus message, encoded by the consensus library.
    pub struct Raft {
        /// The encoded consensus message.
        pub payload: Bytes,
    }
}
