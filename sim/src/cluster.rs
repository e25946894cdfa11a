//! The nodes of a simulated cluster: the real core state machines behind one enum, their
//! names and addresses, and their life cycle. A crashed node loses its memory; a restarted
//! meta node is rebuilt from what its log file holds ([`MetaDisk`]: the records it emitted,
//! compacted exactly as the real shell's file is), a
//! restarted data or session node starts empty under a new incarnation, and a client process
//! that dies is replaced by a new one with new registrations. A paused node keeps its state
//! and connections but processes nothing until the pause ends.

use crate::config::SimConfig;
use roster_core::client::{Client, ClientConfig, Command, Event};
use roster_core::data::{DataConfig, DataNode};
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::meta::{
    LogWriter, MetaConfig, MetaEvent, MetaNode, MetaPeer, Persist, PersistedLog, apply_write,
};
use roster_core::model::{Incarnation, NodeId, ProcessId, Text};
use roster_core::rng::Rng;
use roster_core::session::{Session, SessionConfig};
use roster_core::slot::{SlotCount, SlotTable};
use roster_core::time::Instant;
use roster_core::wire::{Features, Frame};

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A meta node.
    Meta,
    /// A data node.
    Data,
    /// A session node.
    Session,
    /// A client process.
    Client,
}

/// A running state machine.
#[derive(Debug)]
pub enum Machine {
    /// Meta.
    Meta(Box<MetaNode>),
    /// Data.
    Data(Box<DataNode>),
    /// Session.
    Session(Box<Session>),
    /// Client.
    Client(Box<Client>),
}

/// What a machine asked for, role-neutral.
#[derive(Debug)]
pub enum Out {
    /// Send a frame.
    Send(ConnId, Frame),
    /// Open a connection.
    Connect(ConnId, Text),
    /// Close a connection; whether because its connect timed out.
    Close(ConnId, bool),
    /// A client's application event.
    Client(Event),
    /// A meta persist record.
    Persist(Persist),
    /// An event the simulator does not use.
    Other,
}

fn map_out<E>(o: Output<E>, event: impl FnOnce(E) -> Out) -> Out {
    match o {
        Output::Send { conn, frame } => Out::Send(conn, frame),
        Output::Connect { conn, address } => Out::Connect(conn, address),
        Output::Close { conn, reason } => {
            Out::Close(conn, reason.as_str() == roster_core::net::TIMED_OUT)
        }
        Output::Event(e) => event(e),
    }
}

fn map_in<C>(i: Input<()>) -> Input<C> {
    match i {
        Input::Connected { conn } => Input::Connected { conn },
        Input::Accepted { conn } => Input::Accepted { conn },
        Input::Closed { conn } => Input::Closed { conn },
        Input::Frame { conn, frame } => Input::Frame { conn, frame },
        Input::Command(()) => unreachable!("commands go through Machine::command"),
    }
}

impl Machine {
    /// Feeds a network input.
    pub fn input(&mut self, now: Instant, input: Input<()>) {
        match self {
            Machine::Meta(m) => m.handle_input(now, map_in(input)),
            Machine::Data(m) => m.handle_input(now, map_in(input)),
            Machine::Session(m) => m.handle_input(now, map_in(input)),
            Machine::Client(m) => m.handle_input(now, map_in(input)),
        }
    }

    /// A peer opened a connection from `address`.
    pub fn accepted_from(&mut self, now: Instant, conn: ConnId, address: std::net::IpAddr) {
        match self {
            Machine::Meta(m) => m.accepted_from(now, conn, address),
            Machine::Data(m) => m.accepted_from(now, conn, address),
            Machine::Session(m) => m.accepted_from(now, conn, address),
            Machine::Client(m) => m.accepted_from(now, conn, address),
        }
    }

    /// The operator asks a meta node to change switches (ignored by other roles; a
    /// refusal is retried by the operator).
    pub fn change_switches(&mut self, changes: Vec<roster_core::model::SwitchChange>) {
        if let Machine::Meta(m) = self {
            let _ = m.change_switches(changes);
        }
    }

    /// The switches a session applies, or a meta node holds (others: none).
    pub fn switches(&self) -> Option<&roster_core::model::Switches> {
        match self {
            Machine::Meta(m) => Some(&m.state().switches),
            Machine::Session(m) => Some(m.switches()),
            _ => None,
        }
    }

    /// Feeds a client command (ignored by servers).
    pub fn command(&mut self, now: Instant, c: Command) {
        if let Machine::Client(m) = self {
            m.handle_input(now, Input::Command(c));
        }
    }

    /// Runs due timers.
    pub fn timeout(&mut self, now: Instant) {
        match self {
            Machine::Meta(m) => m.handle_timeout(now),
            Machine::Data(m) => m.handle_timeout(now),
            Machine::Session(m) => m.handle_timeout(now),
            Machine::Client(m) => m.handle_timeout(now),
        }
    }

    /// The next output.
    pub fn poll(&mut self) -> Option<Out> {
        Some(match self {
            Machine::Meta(m) => map_out(m.poll_output()?, |e| match e {
                MetaEvent::Persist(p) => Out::Persist(p),
                MetaEvent::TableInstalled(_) => Out::Other,
            }),
            Machine::Data(m) => map_out(m.poll_output()?, |_| Out::Other),
            Machine::Session(m) => map_out(m.poll_output()?, |_| Out::Other),
            Machine::Client(m) => map_out(m.poll_output()?, Out::Client),
        })
    }

    /// When to call `timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Meta(m) => m.poll_timeout(),
            Machine::Data(m) => m.poll_timeout(),
            Machine::Session(m) => m.poll_timeout(),
            Machine::Client(m) => m.poll_timeout(),
        }
    }

    /// The slot table a data or session node has installed.
    pub fn table(&self) -> Option<&SlotTable> {
        match self {
            Machine::Meta(m) => Some(&m.state().table),
            Machine::Data(m) => Some(m.table()),
            Machine::Session(m) => Some(m.table()),
            Machine::Client(_) => None,
        }
    }
}

/// One node of the cluster and its life.
#[derive(Debug)]
pub struct NodeSlot {
    /// Its role.
    pub kind: Kind,
    /// Index among the nodes of its role.
    pub index: usize,
    /// Its incarnation (grows at every restart).
    pub inc: u64,
    /// The running machine; `None` while crashed.
    pub machine: Option<Machine>,
    /// Processing nothing until then.
    pub paused_until: Option<Instant>,
    /// The timer event currently scheduled for it.
    pub timer_at: Option<Instant>,
    /// Meta: its disk.
    pub disk: MetaDisk,
    /// Crashed with its host: connects to it are dropped, not refused.
    pub host_down: bool,
}

/// A meta node's disk: the bytes its log file holds, written and read back by the core's
/// `LogWriter` as the real shell does, compactions included.
#[derive(Debug, Default)]
pub struct MetaDisk {
    file: Vec<u8>,
    writer: LogWriter,
    /// What every record written amounts to, never compacted by a file: a restart must
    /// read back exactly this.
    truth: PersistedLog,
}

impl MetaDisk {
    /// Makes a record durable.
    pub fn write(&mut self, record: &Persist) {
        let write = self
            .writer
            .append(record)
            .expect("meta emits records that replay");
        apply_write(&mut self.file, write);
        self.truth
            .apply(record)
            .expect("meta emits records that replay");
    }

    /// Reads the file back, as a restarting shell does.
    pub fn recover(&mut self) -> Vec<Persist> {
        let r = LogWriter::recover(&self.file).expect("the sim reads back what meta wrote");
        if let Some(repair) = r.repair {
            apply_write(&mut self.file, repair);
        }
        assert_eq!(
            PersistedLog::replay(&r.records).ok().as_ref(),
            Some(&self.truth),
            "a meta node's file gives back every record it persisted"
        );
        self.writer = r.writer;
        r.records
    }
}

impl NodeSlot {
    /// The node's name in traces.
    pub fn name(&self) -> String {
        let k = match self.kind {
            Kind::Meta => "meta",
            Kind::Data => "data",
            Kind::Session => "session",
            Kind::Client => "client",
        };
        format!("{k}{}.{}", self.index, self.inc)
    }

    /// Whether it runs and is not paused at `now`.
    pub fn active(&self, now: Instant) -> bool {
        self.machine.is_some() && self.paused_until.is_none_or(|p| p <= now)
    }
}

/// Addresses and identities of a cluster's nodes.
#[derive(Debug)]
pub struct Layout {
    cfg: SimConfig,
}

/// Consensus id of meta `i` (also its node id).
fn meta_id(i: usize) -> u64 {
    i as u64 + 1
}

impl Layout {
    /// The layout of a run.
    pub fn new(cfg: &SimConfig) -> Self {
        Layout { cfg: cfg.clone() }
    }

    /// Meta `i`'s address.
    pub fn meta_address(i: usize) -> String {
        format!("meta-{}", meta_id(i))
    }

    /// Data `i`'s peer address.
    pub fn data_address(i: usize) -> String {
        format!("data-{i}")
    }

    /// Session `i`'s client address.
    pub fn session_client_address(i: usize) -> String {
        format!("session-{i}:client")
    }

    /// Session `i`'s peer address.
    pub fn session_peer_address(i: usize) -> String {
        format!("session-{i}:peer")
    }

    fn metas(&self) -> Vec<Text> {
        (0..self.cfg.metas)
            .map(|i| Text::from(Self::meta_address(i)))
            .collect()
    }

    fn meta_config(&self, i: usize, inc: u64) -> MetaConfig {
        let peers = (0..self.cfg.metas)
            .map(|j| MetaPeer {
                id: meta_id(j),
                address: Text::from(Self::meta_address(j)),
            })
            .collect();
        let mut c = MetaConfig::new(meta_id(i), Incarnation(inc), peers);
        c.slot_count = SlotCount::new(self.cfg.slots).expect("a power of two");
        c.replicas = self.cfg.replicas;
        c.snapshot_interval = self.cfg.meta_snapshot_interval;
        c.expected_data_nodes = self.cfg.datas;
        c.max_moves = self.cfg.arrange_max_moves;
        c
    }

    /// Process id of data `i` at incarnation `inc`.
    pub fn data_process(i: usize, inc: u64) -> ProcessId {
        ProcessId {
            node: NodeId(100 + i as u64),
            incarnation: Incarnation(inc),
        }
    }

    /// Process id of session `i` at incarnation `inc`.
    pub fn session_process(i: usize, inc: u64) -> ProcessId {
        ProcessId {
            node: NodeId(200 + i as u64),
            incarnation: Incarnation(inc),
        }
    }

    /// Starts (or restarts) a node. Meta restores from its disk.
    pub fn start(
        &self,
        kind: Kind,
        i: usize,
        inc: u64,
        disk: &mut MetaDisk,
        rng: &mut Rng,
        now: Instant,
    ) -> Machine {
        let seed = rng.next_u64();
        match kind {
            Kind::Meta => {
                let records = disk.recover();
                let node =
                    MetaNode::restore(self.meta_config(i, inc), Rng::seed_from_u64(seed), records)
                        .expect("meta starts");
                Machine::Meta(Box::new(node))
            }
            Kind::Data => {
                let mut c = DataConfig::new(
                    Self::data_process(i, inc),
                    Self::data_address(i),
                    self.metas(),
                );
                c.seed = seed;
                Machine::Data(Box::new(DataNode::new(c, now).expect("data config")))
            }
            Kind::Session => {
                let mut c = SessionConfig::new(
                    Self::session_process(i, inc),
                    Text::from(Self::session_client_address(i)),
                    Text::from(Self::session_peer_address(i)),
                );
                c.meta_addresses = self.metas();
                c.slot_count = SlotCount::new(self.cfg.slots).expect("a power of two");
                Machine::Session(Box::new(Session::new(c, seed).expect("session config")))
            }
            Kind::Client => {
                let sessions = (0..self.cfg.sessions)
                    .map(|s| Text::from(Self::session_client_address(s)))
                    .collect();
                let mut c = ClientConfig::new(Text::from(format!("client-{i}.{inc}")), sessions);
                let k = self.cfg.featureless_every;
                if k != 0 && i % k == 0 {
                    c.features = Features::NONE;
                }
                Machine::Client(Box::new(Client::new(c, seed).expect("client config")))
            }
        }
    }
}
