//! Identities and epochs. Each is its own type so that a leader epoch can never be passed
//! where a table epoch is expected, nor a node where a process is.

wire_newtype! {
    /// A node's configured identity, stable across restarts.
    pub struct NodeId(pub u64);
}

wire_newtype! {
    /// Distinguishes one run of a node from the next: chosen anew (at random, by the shell
    /// or the simulator's seed) every time a node process starts.
    pub struct Incarnation(pub u64);
}

wire_newtype! {
    /// A hash slot. The slot count is a power of two of at most 65,536.
    pub struct SlotId(pub u16);
}

wire_newtype! {
    /// Version of the whole slot table; grows on every change meta makes to it.
    pub struct TableEpoch(pub u64);
}

wire_newtype! {
    /// Version of one slot's leadership; grows only when that slot's leader changes.
    pub struct LeaderEpoch(pub u64);
}

wire_struct! {
    /// One run of one node. Data recorded under a process (a session's publishers, a data
    /// node's slot copies) belongs to that run only: a restarted node is a new process.
    #[derive(Copy, PartialOrd, Ord, Hash)]
    pub struct ProcessId {
        /// The node.
        pub node: NodeId,
        /// Its current run.
        pub incarnation: Incarnation,
    }
}

wire_unit_enum! {
    /// What a server node is.
    pub enum Role {
        /// Holds client connections; the source of truth for its clients' registrations.
        Session = 1,
        /// Holds publishers, sharded by slot.
        Data = 2,
        /// Holds membership and the slot table.
        Meta = 3,
    }
}

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:x}", self.node.0, self.incarnation.0)
    }
}
