//! The in-memory test kit: scaffolding shared by the core's unit tests, integration tests,
//! benches and examples (feature `test-kit`; always on in this crate's own tests).
//!
//! It owns what every hand-driven test of a node needs and nothing that decides an
//! outcome: building identities, publishers, members and cluster views; passing frames
//! through the real codec the way a shell would; feeding frames to a [`Node`] and draining
//! what it produced; and [`SessionRig`], a session with its meta and data connections
//! already set up, for tests that play clients and data nodes by hand. The assertions, and
//! the in-memory networks whose routing is specific to one test file, stay with the tests.
//!
//! Like the rest of the core it reads no clock and draws no OS randomness (`core/clippy.toml`):
//! time is whatever the caller passes in, and every map iterates in a fixed order.

use crate::io::{ConnId, Input, Node, Output};
use crate::model::{
    Incarnation, LeaderEpoch, NodeId, ProcessId, Publisher, RegisterVersion, Role, TableEpoch, Text,
};
use crate::session::{Session, SessionConfig, SessionEvent};
use crate::time::Instant;
use crate::wire::{
    ClientHello, ClusterView, Frame, FrameDecoder, Member, Message, PeerHello, SlotAssignment,
    SlotTableView,
};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

// ---- values ------------------------------------------------------------------------------

/// The first incarnation of node `node`: a process that has not restarted.
pub const fn process(node: u64) -> ProcessId {
    ProcessId {
        node: NodeId(node),
        incarnation: Incarnation(1),
    }
}

/// A publisher with one payload element and no attributes.
pub fn publisher(
    register_id: impl Into<Text>,
    version: RegisterVersion,
    payload: impl Into<Bytes>,
) -> Publisher {
    Publisher {
        register_id: register_id.into(),
        version,
        payload: smallvec::smallvec![payload.into()],
        attributes: Vec::new(),
    }
}

/// A member of the cluster as meta announces it.
pub fn member(process: ProcessId, role: Role, address: impl Into<Text>) -> Member {
    Member {
        process,
        role,
        address: address.into(),
    }
}

/// The first frame of a peer connection.
pub fn peer_hello(role: Role, process: ProcessId, address: impl Into<Text>) -> PeerHello {
    PeerHello::new(role, process, address.into())
}

/// A table at epoch 1 of `slots` slots, every one led by `leader` at leader epoch 1, with
/// no followers.
pub fn all_slots_led_by(leader: ProcessId, slots: usize) -> SlotTableView {
    let slot = SlotAssignment {
        leader: Some(leader),
        leader_epoch: LeaderEpoch(1),
        followers: Vec::new(),
    };
    SlotTableView {
        epoch: TableEpoch(1),
        slots: vec![slot; slots],
    }
}

/// The view meta pushes: `members` (at members version 1) and `table`.
pub fn cluster_view(members: Vec<Member>, table: SlotTableView) -> ClusterView {
    ClusterView {
        members_version: 1,
        members,
        table,
        switches: Default::default(),
        draining: Vec::new(),
    }
}

// ---- frames as a shell handles them ------------------------------------------------------

/// `frame` encoded and decoded again, as it arrives at the other end of a connection.
pub fn through_codec(frame: Frame) -> Frame {
    Frame::decode(frame.to_bytes().expect("encodes")).expect("decodes")
}

/// `frames`, in the same order, each as read from its connection: encoded, appended to its
/// connection's byte stream and decoded back by a [`FrameDecoder`]. The frames of one
/// connection therefore share its read buffer, and their texts and payloads are views into
/// it, as they are behind a real shell (which matters to allocation counts).
pub fn as_read(frames: Vec<(ConnId, Frame)>) -> Vec<(ConnId, Frame)> {
    let mut streams: BTreeMap<ConnId, BytesMut> = BTreeMap::new();
    for (c, f) in &frames {
        let bytes = f.to_bytes().expect("encodes");
        streams.entry(*c).or_default().extend_from_slice(&bytes);
    }
    let decoder = FrameDecoder::default();
    let mut decoded: BTreeMap<ConnId, VecDeque<Frame>> = BTreeMap::new();
    for (c, mut buf) in streams {
        let queue = decoded.entry(c).or_default();
        while let Some(f) = decoder.decode(&mut buf).expect("decodes") {
            queue.push_back(f);
        }
    }
    frames
        .into_iter()
        .map(|(c, _)| {
            let f = decoded.get_mut(&c).and_then(VecDeque::pop_front);
            (c, f.expect("decoded"))
        })
        .collect()
}

// ---- driving a node ----------------------------------------------------------------------

/// Hands `node` the frame `(request_id, message)` on `conn`.
pub fn feed<N: Node>(
    node: &mut N,
    now: Instant,
    conn: ConnId,
    request_id: u64,
    message: impl Into<Message>,
) {
    let frame = Frame::new(request_id, message);
    node.handle_input(now, Input::Frame { conn, frame });
}

/// Everything `node` has to output, in order.
pub fn drain<N: Node>(node: &mut N) -> Vec<Output<N::Event>> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// The frames among `outputs`, with their connections.
pub fn sends<E>(outputs: Vec<Output<E>>) -> Vec<(ConnId, Frame)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { conn, frame } => Some((conn, frame)),
            _ => None,
        })
        .collect()
}

/// The first of `sent` whose message matches; panics, listing `sent`, if none does.
pub fn find_sent(sent: &[(ConnId, Frame)], matches: impl Fn(&Message) -> bool) -> (ConnId, Frame) {
    sent.iter()
        .find(|(_, fr)| matches(&fr.message))
        .cloned()
        .unwrap_or_else(|| panic!("not sent; sent: {sent:#?}"))
}

/// How many of `sent` have a matching message.
pub fn count_sent(sent: &[(ConnId, Frame)], matches: impl Fn(&Message) -> bool) -> usize {
    sent.iter().filter(|(_, fr)| matches(&fr.message)).count()
}

// ---- a session played against by hand ----------------------------------------------------

/// A [`Session`] (seed 1) that dialled meta (`meta:1`, its connection is
/// [`SessionRig::meta`]), installed the view meta answered with, and had every data
/// connection it asked for completed. The test then
/// plays clients and data nodes by hand; virtual time moves only through
/// [`SessionRig::advance`].
#[derive(Debug)]
pub struct SessionRig {
    /// The session under test.
    pub session: Session,
    /// Virtual time, passed with every input.
    pub now: Instant,
    /// The session's connection to each data process it dialled.
    pub data: BTreeMap<ProcessId, ConnId>,
    /// The session's connection to meta.
    pub meta: ConnId,
    /// Data processes by address, from the first view: resolves the session's `Connect`s.
    processes: BTreeMap<Text, ProcessId>,
}

impl SessionRig {
    /// The meta address the rig's sessions dial.
    pub const META_ADDRESS: &'static str = "meta:1";

    /// A session with `config`, at time zero, that installed `view` from meta and is
    /// connected to the data nodes it names.
    pub fn new(mut config: SessionConfig, view: ClusterView) -> SessionRig {
        config.meta_addresses = vec![Text::from(Self::META_ADDRESS)];
        let processes = view
            .members
            .iter()
            .filter(|m| m.role == Role::Data)
            .map(|m| (m.address.clone(), m.process))
            .collect();
        let mut rig = SessionRig {
            session: Session::new(config, 1).expect("valid session config"),
            now: Instant::ZERO,
            data: BTreeMap::new(),
            meta: ConnId(0),
            processes,
        };
        rig.session.handle_timeout(rig.now);
        let meta = rig
            .drain()
            .into_iter()
            .find_map(|o| match o {
                Output::Connect { conn, address } if address.as_str() == Self::META_ADDRESS => {
                    Some(conn)
                }
                _ => None,
            })
            .expect("a session dials meta first");
        rig.meta = meta;
        rig.input(Input::Connected { conn: meta });
        rig.frame(meta, 0, view);
        rig.connect_data();
        rig.drain();
        rig
    }

    /// Hands the session `input` at the current time.
    pub fn input(&mut self, input: Input<Infallible>) {
        self.session.handle_input(self.now, input);
    }

    /// Hands the session the frame `(request_id, message)` on `conn`.
    pub fn frame(&mut self, conn: ConnId, request_id: u64, message: impl Into<Message>) {
        feed(&mut self.session, self.now, conn, request_id, message);
    }

    /// Completes every `Connect` the session asked for and returns all it output meanwhile.
    pub fn connect_data(&mut self) -> Vec<Output<SessionEvent>> {
        let outs = self.drain();
        for o in &outs {
            if let Output::Connect { conn, address } = o {
                let p = *self
                    .processes
                    .get(address)
                    .unwrap_or_else(|| panic!("{address} is not a data node of the first view"));
                self.data.insert(p, *conn);
                self.input(Input::Connected { conn: *conn });
            }
        }
        outs
    }

    /// Everything the session has to output, in order.
    pub fn drain(&mut self) -> Vec<Output<SessionEvent>> {
        drain(&mut self.session)
    }

    /// The frames the session has to send, with their connections (other outputs dropped).
    pub fn sent(&mut self) -> Vec<(ConnId, Frame)> {
        sends(self.drain())
    }

    /// Advances virtual time by `d`, firing each timer at the instant it is due. Meta,
    /// played by the rig, answers every heartbeat: a `KeepAlive` on its link before each
    /// timer, so the session does not give up on a silent meta (`net::MetaWatch`).
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.session.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            let meta = self.meta;
            self.frame(meta, 0, crate::wire::KeepAlive {});
            self.session.handle_timeout(self.now);
        }
        self.now = end;
    }

    /// A client connection `n` that said hello as `"app"`, connect generation 1.
    pub fn client(&mut self, n: u64) -> ConnId {
        self.client_as(n, "app")
    }

    /// A client connection `n` that said hello as `client_id`, connect generation 1,
    /// announcing no optional feature: pushes to it are whole lists (a test of a feature
    /// says its own hello).
    pub fn client_as(&mut self, n: u64, client_id: impl Into<Text>) -> ConnId {
        let c = ConnId(n);
        self.input(Input::Accepted { conn: c });
        let hello = ClientHello {
            features: crate::wire::Features::NONE,
            ..ClientHello::new(client_id.into(), 1)
        };
        self.frame(c, 0, hello);
        c
    }
}
