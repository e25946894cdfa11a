//! The replicated state machine: membership, the slot table and the operator switches,
//! changed only by committed `Command`s, so every meta node that applied the same log holds
//! the same state.
//!
//! Encoding: one consensus entry holds one `CommandBatch`, written with the core's wire
//! codec (tag byte per command, fields in order, big-endian, as in `docs/protocol.md`);
//! a snapshot holds one `StateImage` in the same codec. Neither ever leaves the meta group
//! except inside `wire::Raft` payloads and persist records. A `StateImage` grows like a
//! message (appended fields, `docs/protocol.md` §9), so a snapshot written before a field
//! existed still reads, with that field's default; new commands get new tags.
//!
//! The image also holds the meta group's address book (`meta_peers`), replicated so that a
//! voter added at run time is known by address to every member (and to a member restarted
//! later) without anyone editing `--peers`. It is changed only by applied
//! configuration-change entries, whose context carries the address (see `consensus`); an
//! image from before it has none, and the configured peers stand in.

use super::drain::Ops;
use super::membership::Members;
use crate::model::{NodeId, ProcessId, SwitchChange, Switches, Text};
use crate::slot::{SlotCount, SlotTable};
use crate::wire::{
    BodyError, ClusterView, Decode, DecodeBody, Encode, Member, Reader, SlotTableView,
};
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

wire_enum! {
    /// One change to the replicated state.
    pub enum Command {
        /// A session or data process heartbeated: add it, update its address, or replace its
        /// node's earlier process.
        1 => MemberUp { member: Member },
        /// A process's lease ran out: it leaves.
        2 => MemberExpired { process: ProcessId },
        /// A new slot table (applied only if it is a valid successor of the current one).
        3 => TableInstalled { table: SlotTableView },
        /// Operator switches turned on or off, applied in order to the switches in force
        /// (`Switches::apply`); the switches' version grows if any of them changed them.
        4 => SwitchesChanged { changes: Vec<SwitchChange> },
        // Drains and decommissions (`super::drain`).
        /// An operator drains a session node (`draining`), or ends its drain.
        16 => SessionDrain { node: NodeId, draining: bool },
        /// An operator decommissions a data node (`leaving`), or takes it back.
        17 => DataDecommission { node: NodeId, leaving: bool },
    }
}

wire_struct! {
    /// The payload of one consensus entry.
    pub struct CommandBatch {
        /// Applied in order.
        pub commands: Vec<Command>,
    }
}

wire_struct! {
    /// One meta group member's address.
    pub struct PeerAddress {
        /// Consensus id.
        pub id: u64,
        /// Its listener.
        pub address: Text,
    }
}

wire_struct! {
    /// The whole state, as a snapshot holds it.
    pub struct StateImage {
        /// Membership version.
        pub members_version: u64,
        /// Every member.
        pub members: Vec<Member>,
        /// Recently replaced processes, oldest first.
        pub retired: Vec<ProcessId>,
        /// The slot table.
        pub table: SlotTableView,
    } appended {
        /// The operator switches (none in a snapshot older than them).
        pub switches: Switches = Switches::default(),
        /// The meta group's addresses by id, ascending (none in an older snapshot).
        pub meta_peers: Vec<PeerAddress> = Vec::new(),
        /// Session nodes being drained (absent from an older snapshot: none).
        pub draining: Vec<NodeId> = Vec::new(),
        /// Data nodes being decommissioned (absent from an older snapshot: none).
        pub leaving: Vec<NodeId> = Vec::new(),
    }
}

/// Encodes a wire-codec value into fresh bytes.
pub(crate) fn to_bytes<T: Encode>(value: &T) -> Bytes {
    let mut buf = BytesMut::with_capacity(value.encoded_len());
    value.encode(&mut buf);
    buf.freeze()
}

/// Decodes exactly one wire-codec value from `bytes`.
pub(crate) fn from_bytes<T: Decode>(bytes: &Bytes) -> Result<T, BodyError> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Decodes exactly one message-like value (one that may have appended fields) from `bytes`.
pub(crate) fn from_body<T: DecodeBody>(bytes: &Bytes) -> Result<T, BodyError> {
    let mut r = Reader::new(bytes);
    let v = T::decode_body(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Membership, slot table, switches, and the sessions and data nodes being emptied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaState {
    /// The members.
    pub members: Members,
    /// The slot table.
    pub table: SlotTable,
    /// The operator switches.
    pub switches: Switches,
    /// The meta group's addresses by consensus id: voters and learners (see module docs).
    pub meta_peers: BTreeMap<u64, Text>,
    /// Drained sessions and decommissioned data nodes.
    pub ops: Ops,
}

impl MetaState {
    /// The state of a new cluster: nobody, and an empty table of `count` slots.
    pub fn new(count: SlotCount) -> Self {
        MetaState {
            members: Members::default(),
            table: SlotTable::empty(count),
            switches: Switches::default(),
            meta_peers: BTreeMap::new(),
            ops: Ops::default(),
        }
    }

    /// Applies one command; returns whether the state changed. Commands that do not apply
    /// (a stale table, an unknown process) change nothing.
    pub fn apply(&mut self, command: &Command) -> bool {
        match command {
            Command::MemberUp { member } => self.members.up(member.clone()),
            Command::MemberExpired { process } => self.members.expire(*process),
            Command::TableInstalled { table } => SlotTable::try_from(table.clone())
                .and_then(|t| self.table.install(t))
                .is_ok(),
            Command::SwitchesChanged { changes } => self.switches.apply(changes),
            Command::SessionDrain { node, draining } => {
                // Every node learns of a drain through the view: the membership version
                // grows so a node whose heartbeat is otherwise current is sent it.
                let changed = self.ops.set_draining(*node, *draining);
                if changed {
                    self.members.bump();
                }
                changed
            }
            Command::DataDecommission { node, leaving } => self.ops.set_leaving(*node, *leaving),
        }
    }

    /// The state as a snapshot holds it.
    pub fn image(&self) -> StateImage {
        StateImage {
            members_version: self.members.version(),
            members: self.members.iter().cloned().collect(),
            retired: self.members.retired().collect(),
            table: self.table.to_view(),
            switches: self.switches.clone(),
            meta_peers: (self.meta_peers.iter())
                .map(|(&id, address)| PeerAddress {
                    id,
                    address: address.clone(),
                })
                .collect(),
            draining: self.ops.draining().collect(),
            leaving: self.ops.leaving().collect(),
        }
    }

    /// The snapshot bytes of this state.
    pub(crate) fn to_snapshot_data(&self) -> Bytes {
        to_bytes(&self.image())
    }

    /// The state snapshot bytes hold; `None` if they do not decode.
    pub(crate) fn from_snapshot_data(bytes: &Bytes) -> Option<Self> {
        from_body::<StateImage>(bytes)
            .ok()
            .and_then(MetaState::from_image)
    }

    /// The state a snapshot holds; `None` if its table is malformed.
    pub fn from_image(image: StateImage) -> Option<Self> {
        Some(MetaState {
            members: Members::from_parts(image.members_version, image.members, image.retired),
            table: SlotTable::try_from(image.table).ok()?,
            switches: image.switches,
            meta_peers: (image.meta_peers.into_iter())
                .map(|p| (p.id, p.address))
                .collect(),
            ops: Ops::from_parts(image.draining, image.leaving),
        })
    }

    /// What session and data nodes are told.
    pub fn cluster_view(&self) -> ClusterView {
        ClusterView {
            members_version: self.members.version(),
            members: self.members.iter().cloned().collect(),
            table: self.table.to_view(),
            switches: self.switches.clone(),
            draining: self.ops.draining().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, NodeId, Role, TableEpoch, Text};

    #[test]
    fn commands_and_images_roundtrip_and_apply() {
        let p = ProcessId {
            node: NodeId(4),
            incarnation: Incarnation(9),
        };
        let member = Member {
            process: p,
            role: Role::Data,
            address: Text::from("d:1"),
        };
        let mut table = SlotTable::empty(SlotCount::new(2).unwrap()).to_view();
        table.epoch = TableEpoch(1);
        table.slots[0].leader = Some(p);
        let batch = CommandBatch {
            commands: vec![
                Command::MemberUp { member },
                Command::TableInstalled { table },
                Command::MemberExpired { process: p },
                Command::SwitchesChanged {
                    changes: vec![SwitchChange::StopAllPushes { on: true }],
                },
            ],
        };
        let bytes = to_bytes(&batch);
        assert_eq!(from_bytes::<CommandBatch>(&bytes), Ok(batch.clone()));
        let mut s = MetaState::new(SlotCount::new(2).unwrap());
        let changed: Vec<bool> = batch.commands.iter().map(|c| s.apply(c)).collect();
        assert_eq!(changed, vec![true, true, true, true]);
        assert_eq!(s.members.version(), 2);
        assert_eq!((s.switches.version, s.switches.pushes_stopped), (1, true));
        assert!(!s.apply(&batch.commands[3]), "already in force");
        assert_eq!(
            s.table.slot(crate::model::SlotId(0)).map(|x| x.leader),
            Some(Some(p))
        );
        assert!(
            !s.apply(&batch.commands[1]),
            "the same table again is stale"
        );
        let image = from_body::<StateImage>(&to_bytes(&s.image())).unwrap();
        assert_eq!(MetaState::from_image(image), Some(s.clone()));
        // The address book rides after the switches (and before the operations); an image
        // from before it reads with none.
        s.meta_peers.insert(3, Text::from("m:3"));
        let data = s.to_snapshot_data();
        assert_eq!(MetaState::from_snapshot_data(&data), Some(s.clone()));
        let image = s.image();
        let book_len = image.meta_peers.encoded_len()
            + image.draining.encoded_len()
            + image.leaving.encoded_len();
        let old = MetaState::from_snapshot_data(&data.slice(..data.len() - book_len)).unwrap();
        assert!(old.meta_peers.is_empty());
        assert_eq!(old.switches, s.switches);
        assert_eq!(
            MetaState::from_snapshot_data(&data.slice(..data.len() - 1)),
            None
        );
    }

    #[test]
    fn an_image_from_before_the_switches_reads_with_none() {
        let s = MetaState::new(SlotCount::new(2).unwrap());
        let mut image = s.image();
        image
            .switches
            .apply(&[SwitchChange::StopAllPushes { on: true }]);
        let full = to_bytes(&image);
        // Before the switches there was no address book or operations after them either.
        let later = image.meta_peers.encoded_len()
            + image.draining.encoded_len()
            + image.leaving.encoded_len();
        let old_len = full.len() - image.switches.encoded_len() - later;
        let old = from_body::<StateImage>(&full.slice(..old_len)).unwrap();
        assert_eq!(old.switches, Switches::default());
        assert_eq!(MetaState::from_image(old), Some(s));
    }
}
