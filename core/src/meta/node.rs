//! `MetaNode`: a meta process as an `io::Node`. It binds connections to callers by their
//! `PeerHello`, carries consensus messages between meta peers as `wire::Raft` frames,
//! answers heartbeats, and, while it leads, turns heartbeats and the clock into proposed
//! membership changes and slot tables.
//!
//! Meta peers: the lower id dials the higher one (one connection per pair, reused both
//! ways), reconnecting with `MetaConfig::reconnect_backoff` (100 ms doubling to 5 s,
//! jittered from the seed).
//! Session and data nodes dial meta, say `PeerHello`, then `Heartbeat`. A follower answers
//! `NotLeader{leader address}`; the leader renews the lease, records slot statuses, and
//! answers `ClusterView` if the node's table epoch or membership version differs from its
//! own, else `HeartbeatAck`. Whenever the applied state changes, the leader pushes
//! `ClusterView` to every connected node at once.
//!
//! Leader loop (every tick, and at once when a heartbeat brings a new member), only while the
//! log is settled (everything proposed has been applied, so the state is the whole truth):
//! propose in one entry the members to add or update, the expired leases that protection
//! mode lets go ([`Protection`]), and the table [`arrange`] computes from the resulting
//! membership (a new cluster's table only once the [`StartWindow`] allows). When a table
//! this node proposed is applied, it emits [`MetaEvent::TableInstalled`] once, so exactly
//! one meta node reports each installed table.
//!
//! Switches (`model::Switches`): [`MetaNode::change_switches`] (or
//! [`MetaCommand::ChangeSwitches`]) checks a change and proposes it as one
//! `SwitchesChanged` entry. The leader proposes it itself; a follower hands it to raft-rs,
//! which forwards it to the leader it knows (refused when it knows none). Either way the
//! change is applied to the switches in force when it commits, so a caller learns that it
//! took effect by watching [`MetaNode::state`] until its switches satisfy the change, and
//! may simply repeat a change that got lost with a leader: a repeat is a no-op. The switches
//! reach nodes like the table: in every `ClusterView`, pushed on change, and in answer to a
//! heartbeat that reports an older `switches_version`.
//!
//! Hellos (`docs/protocol.md` §9): a `PeerHello` is negotiated; a version meta does not
//! serve gets `ErrorReply` (`Unsupported`) and the connection is closed, version 2 on gets
//! `PeerWelcome` once bound. The `PeerWelcome` a higher meta peer answers this node's hello
//! with is recorded; [`MetaNode::agreement`] tells what was agreed on a connection. A request
//! of a kind meta does not define is answered `Unsupported`; an unknown one-way message is
//! ignored.
//!
//! Meta voters change at run time ([`MetaNode::change_voters`], planned by `voters`): the
//! links to meta peers follow the applied configuration (voters and learners, addressed by
//! the replicated address book). A node started with `MetaConfig::join` has no voters until
//! the leader's snapshot names them; until then it accepts any meta peer's hello and links to
//! the peers it was configured with.
//!
//! Nothing here panics on network input: frames before the hello are a
//! [`Violation`] (answered, then the connection closed, as in every role); frames from the
//! wrong role or with a process other than the hello's get `ErrorReply` (requests) or
//! `Close` (consensus traffic from a stranger, a retired process). Meta peers themselves are trusted: they
//! are named in the configuration, and raft-rs treats a peer that violates the protocol
//! (e.g. contradicts committed entries) as a fatal bug.

use super::arrange::{ArrangeConfig, arrange_leaving, is_cold};
use super::config::MetaConfig;
use super::consensus::{Consensus, Effect, StepError};
use super::membership::Leases;
use super::persisted::{Persist, PersistError};
use super::protection::Protection;
use super::reports::SlotReports;
use super::start::StartWindow;
use super::state::{Command, CommandBatch, MetaState};
use super::storage::MetaStorage;
use super::voters::{
    ConfView, MetaMember, Step, VoterChange, VoterChangeError, VoterOutcome, VoterPlan, VoterRole,
    check,
};
use crate::config::ConfigError;
use crate::io::{ConnId, ConnIds, Input, Node, Output};
use crate::model::{NodeId, ProcessId, Role, SwitchChange, SwitchError, TableEpoch, Text};
use crate::net::{Dials, Violation};
use crate::rng::Rng;
use crate::slot::SlotTable;
use crate::time::Instant;
use crate::wire::negotiate::{self, Agreement};
use crate::wire::{
    ErrorCode, ErrorReply, Frame, Heartbeat, HeartbeatAck, Member, Message, NotLeader, PeerHello,
    Raft,
};
use protobuf::Message as _;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// What an operator (through the admin API) asks of a meta node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// Turn switches on or off, as [`MetaNode::change_switches`] (a refusal is dropped).
    ChangeSwitches(Vec<SwitchChange>),
}

/// What became of a switch change asked of a meta node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// The change is in force already, at this switches version: nothing was proposed.
    InForce(u64),
    /// Proposed to the group (by the leader, or forwarded to it): in force once committed.
    Proposed,
}

/// What meta hands its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaEvent {
    /// Make this record durable before performing any later output (see `storage`).
    Persist(Persist),
    /// A table this node proposed as leader was applied (for the log; nothing to do).
    TableInstalled(Installed),
}

/// What an installed table changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// The new table's epoch.
    pub epoch: TableEpoch,
    /// Slots whose leader changed.
    pub leaders_moved: usize,
    /// Slots whose replica set (leader or followers) changed.
    pub slots_changed: usize,
    /// The fewest slots a live data process leads in the new table.
    pub fewest_leaders: usize,
    /// The most slots a live data process leads in the new table.
    pub most_leaders: usize,
}

/// Why a meta node could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaError {
    /// Invalid configuration.
    Config(ConfigError),
    /// Unreadable persisted state.
    Persist(PersistError),
    /// raft-rs refused to start.
    Consensus(String),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Config(e) => write!(f, "{e}"),
            MetaError::Persist(e) => write!(f, "{e}"),
            MetaError::Consensus(e) => write!(f, "meta consensus: {e}"),
        }
    }
}

impl std::error::Error for MetaError {}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// No hello yet.
    Unknown,
    /// A meta peer, by consensus id.
    Meta(u64),
    /// A session or data process.
    Node(ProcessId, Role),
}

/// The connection to one meta peer.
#[derive(Debug, Clone)]
struct Link {
    /// Where to dial it (unknown for a peer that said hello to a joining node first).
    address: Option<Text>,
    conn: Option<ConnId>,
    up: bool,
    retry_at: Instant,
    /// Failed connections in a row: the next retry's place in the backoff.
    attempts: u32,
}

/// A meta node.
#[derive(Debug)]
pub struct MetaNode {
    config: MetaConfig,
    address: Text,
    rng: Rng,
    consensus: Consensus,
    arrange: ArrangeConfig,
    conns: BTreeMap<ConnId, Peer>,
    /// What was agreed on each connection whose hello was answered (by this node, or by
    /// the meta peer it said hello to).
    agreements: BTreeMap<ConnId, Agreement>,
    links: BTreeMap<u64, Link>,
    ids: ConnIds,
    dials: Dials,
    leases: Leases,
    reports: SlotReports,
    joining: BTreeMap<NodeId, Member>,
    start: StartWindow,
    protection: Protection,
    /// The table this node proposed and has not yet seen applied, with what it changes.
    proposed: Option<(SlotTable, Installed)>,
    leading: bool,
    /// The voter change this leader carries out.
    voter_plan: Option<VoterPlan>,
    /// How the last voter change this node carried out ended.
    voter_outcome: Option<VoterOutcome>,
    /// `Consensus::conf_changes` when the links last followed the configuration.
    conf_seen: u64,
    next_tick: Instant,
    out: VecDeque<Output<MetaEvent>>,
}

impl MetaNode {
    /// A meta node of a new group.
    pub fn new(config: MetaConfig, rng: Rng) -> Result<Self, MetaError> {
        MetaNode::restore(config, rng, Vec::new())
    }

    /// A meta node restarted from the records it persisted, in the order it emitted them.
    pub fn restore(
        config: MetaConfig,
        mut rng: Rng,
        records: impl IntoIterator<Item = Persist>,
    ) -> Result<Self, MetaError> {
        config.validate().map_err(MetaError::Config)?;
        let connect_timeout = config.connect_timeout;
        // A joining node starts with no voters: it must not elect itself a group of one.
        let voters = if config.join {
            Vec::new()
        } else {
            config.peers.iter().map(|p| p.id).collect()
        };
        let storage = MetaStorage::restore(voters, records).map_err(MetaError::Persist)?;
        let consensus = Consensus::new(&config, &mut rng, storage)
            .map_err(|e| MetaError::Consensus(e.to_string()))?;
        let links = BTreeMap::new();
        let (start_window, expected) = (config.start_window, config.expected_data_nodes);
        let (lease, expel_percent) = (config.lease, config.max_expel_percent);
        let mut node = MetaNode {
            address: config.address_of(config.id).cloned().unwrap_or_default(),
            arrange: ArrangeConfig {
                replicas: config.replicas,
                max_moves: config.max_moves,
            },
            leases: Leases::new(config.lease),
            config,
            rng,
            consensus,
            conns: BTreeMap::new(),
            agreements: BTreeMap::new(),
            links,
            ids: ConnIds::default(),
            dials: Dials::new(connect_timeout),
            reports: SlotReports::default(),
            joining: BTreeMap::new(),
            start: StartWindow::new(start_window, expected),
            protection: Protection::new(lease, expel_percent),
            proposed: None,
            leading: false,
            voter_plan: None,
            voter_outcome: None,
            conf_seen: u64::MAX,
            next_tick: Instant::ZERO,
            out: VecDeque::new(),
        };
        node.flush_consensus();
        Ok(node)
    }

    /// Asks this node, which must lead, to change the meta voters (module docs of
    /// `voters`). `Ok` means accepted: the change then proceeds step by step;
    /// [`MetaNode::voter_change`] and [`MetaNode::voter_outcome`] tell how far it got.
    pub fn change_voters(
        &mut self,
        now: Instant,
        change: VoterChange,
    ) -> Result<(), VoterChangeError> {
        if !self.consensus.is_leader() {
            let leader = self.consensus.leader_id();
            return Err(VoterChangeError::NotLeader { leader });
        }
        if let Some(plan) = &self.voter_plan {
            let pending = Some(plan.change.clone());
            return Err(VoterChangeError::Busy { pending });
        }
        if self.consensus.conf_pending() {
            return Err(VoterChangeError::Busy { pending: None });
        }
        check(&change, &self.conf_view())?;
        let deadline = now + self.config.catch_up_timeout;
        self.voter_plan = Some(VoterPlan { change, deadline });
        self.advance_voters(now);
        self.flush_consensus();
        Ok(())
    }

    /// The voter change under way, if this node leads one.
    pub fn voter_change(&self) -> Option<&VoterChange> {
        self.voter_plan.as_ref().map(|p| &p.change)
    }

    /// How the last voter change this node carried out as leader ended.
    pub fn voter_outcome(&self) -> Option<&VoterOutcome> {
        self.voter_outcome.as_ref()
    }

    /// The meta group as this node's applied configuration has it, by id.
    pub fn meta_members(&self) -> Vec<MetaMember> {
        let conf = self.consensus.conf();
        let leader = self.consensus.leader_id();
        let roles = (conf.voters.iter().map(|&v| (v, VoterRole::Voter)))
            .chain(conf.learners.iter().map(|&l| (l, VoterRole::Learner)));
        let mut out: Vec<MetaMember> = roles
            .map(|(id, role)| {
                let progress = self.consensus.progress(id);
                MetaMember {
                    id,
                    address: self.peer_address(id),
                    role,
                    leader: leader == Some(id),
                    matched: progress.map(|p| p.0),
                    reachable: progress.map(|p| p.1),
                }
            })
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    /// The address of meta peer `id`: the replicated address book's, else the configured.
    fn peer_address(&self, id: u64) -> Option<Text> {
        let book = self.consensus.state().meta_peers.get(&id);
        book.or_else(|| self.config.address_of(id)).cloned()
    }

    fn conf_view(&self) -> ConfView {
        let mut view = ConfView::new(&self.consensus.conf());
        for &id in view.voters.clone().iter().chain(&view.learners.clone()) {
            if let Some(p) = self.consensus.progress(id) {
                view.progress.insert(id, p);
            }
        }
        view.committed = self.consensus.committed();
        view
    }

    /// Takes the next step of the voter plan, if one is due (see `voters`).
    fn advance_voters(&mut self, now: Instant) {
        let Some(plan) = self.voter_plan.clone() else {
            return;
        };
        if !self.consensus.is_leader() || self.consensus.conf_pending() {
            return;
        }
        let finish = |node: &mut MetaNode, result| {
            node.voter_plan = None;
            node.voter_outcome = Some(VoterOutcome {
                change: plan.change.clone(),
                result,
            });
        };
        match plan.next(&self.conf_view(), now) {
            Step::Wait => {}
            Step::Done => finish(self, Ok(())),
            Step::Propose(kind, id, address) => {
                self.consensus.propose_conf_change(kind, id, &address);
            }
            Step::Abandon(why, learner) => {
                if let Some(id) = learner {
                    let kind = raft::eraftpb::ConfChangeType::RemoveNode;
                    self.consensus
                        .propose_conf_change(kind, id, &Text::from(""));
                }
                finish(self, Err(why));
            }
        }
    }

    /// Makes the links to meta peers follow the applied configuration (module docs).
    fn sync_links(&mut self, now: Instant) {
        let changes = self.consensus.conf_changes();
        if changes == self.conf_seen {
            return;
        }
        self.conf_seen = changes;
        let conf = self.consensus.conf();
        let me = self.config.id;
        let mut want: Vec<u64> = conf.voters.iter().chain(&conf.learners).copied().collect();
        if want.is_empty() {
            want = self.config.peers.iter().map(|p| p.id).collect();
        }
        want.retain(|&id| id != me);
        let gone: Vec<u64> = (self.links.keys().copied())
            .filter(|id| !want.contains(id))
            .collect();
        for id in gone {
            if let Some(conn) = self.links.remove(&id).and_then(|l| l.conn) {
                self.close(conn, "no longer a member of the meta group");
            }
        }
        for id in want {
            let address = self.peer_address(id);
            let link = self.links.entry(id).or_insert(Link {
                address: None,
                conn: None,
                up: false,
                retry_at: now,
                attempts: 0,
            });
            link.address = address.or(link.address.take());
        }
    }

    /// The protocol version and features agreed on `conn` once its hello was answered (by
    /// this node, or by the meta peer it said hello to); `None` before, or on a connection
    /// the node does not know.
    pub fn agreement(&self, conn: ConnId) -> Option<Agreement> {
        self.agreements.get(&conn).copied()
    }

    /// This node's consensus id.
    pub fn id(&self) -> u64 {
        self.config.id
    }

    /// Whether this node leads the meta group.
    pub fn is_leader(&self) -> bool {
        self.consensus.is_leader()
    }

    /// The leader this node knows of.
    pub fn leader_id(&self) -> Option<u64> {
        self.consensus.leader_id()
    }

    /// The consensus term.
    pub fn term(&self) -> u64 {
        self.consensus.term()
    }

    /// What the node knows and did, as plain values (O(members)).
    pub fn stats(&self) -> MetaStats {
        let state = self.consensus.state();
        let role = |r: Role| state.members.iter().filter(|m| m.role == r).count() as u64;
        MetaStats {
            is_leader: self.is_leader(),
            leader_id: self.leader_id(),
            term: self.term(),
            commit_index: self.consensus.committed(),
            applied_index: self.consensus.applied(),
            members_version: state.members.version(),
            data_members: role(Role::Data),
            session_members: role(Role::Session),
            table_epoch: state.table.epoch().0,
            expelled: self.consensus.expelled(),
            protected: self.protection.held().len() as u64,
            connections: self.conns.len() as u64,
        }
    }

    /// The applied replicated state.
    pub fn state(&self) -> &MetaState {
        self.consensus.state()
    }

    /// When `process`'s lease runs out, as this node times it (only the leader does).
    pub fn lease_deadline(&self, process: ProcessId) -> Option<Instant> {
        if self.leading {
            self.leases.deadline(process)
        } else {
            None
        }
    }

    /// Protection mode: the processes whose lease ran out but that are kept as members,
    /// because expelling them too would exceed the share allowed per lease period (empty
    /// on followers).
    pub fn protection(&self) -> &[ProcessId] {
        self.protection.held()
    }

    /// The meta peer address of the leader this node knows of.
    pub(super) fn leader_address(&self) -> Option<Text> {
        let id = self.consensus.leader_id()?;
        self.config.address_of(id).cloned()
    }

    /// Proposes one operator command (`super::drain`) and hands out what consensus does
    /// about it; `false` if raft-rs dropped it.
    pub(super) fn propose_ops(&mut self, command: Command) -> bool {
        let proposed = self.consensus.propose(&CommandBatch {
            commands: vec![command],
        });
        self.flush_consensus();
        proposed
    }

    /// Checks `changes` and proposes them (module docs): `InForce` if they change nothing,
    /// `Proposed` once handed to consensus; an invalid change, or no leader to forward it
    /// to, is an error and proposes nothing.
    pub fn change_switches(
        &mut self,
        changes: Vec<SwitchChange>,
    ) -> Result<SwitchOutcome, SwitchError> {
        let switches = &self.consensus.state().switches;
        let changes = switches.admit(changes)?;
        if switches.satisfies(&changes) {
            return Ok(SwitchOutcome::InForce(switches.version));
        }
        let batch = CommandBatch {
            commands: vec![Command::SwitchesChanged { changes }],
        };
        let proposed = self.consensus.propose(&batch);
        self.flush_consensus();
        if proposed {
            Ok(SwitchOutcome::Proposed)
        } else {
            Err(SwitchError("no meta leader is known; retry shortly".into()))
        }
    }

    fn send(&mut self, conn: ConnId, frame: Frame) {
        self.out.push_back(Output::Send { conn, frame });
    }

    fn error(&mut self, conn: ConnId, request_id: u64, message: String) {
        let reply = ErrorReply {
            code: ErrorCode::BadRequest,
            message: Text::from(message),
        };
        self.send(conn, Frame::new(request_id, reply));
    }

    fn close(&mut self, conn: ConnId, reason: &str) {
        self.drop_conn(conn, Instant::ZERO);
        self.out.push_back(Output::Close {
            conn,
            reason: Text::from(reason),
        });
    }

    /// Forgets a connection; a meta link retries after its backoff.
    fn drop_conn(&mut self, conn: ConnId, now: Instant) {
        self.conns.remove(&conn);
        self.agreements.remove(&conn);
        let backoff = self.config.reconnect_backoff;
        for link in self.links.values_mut() {
            if link.conn == Some(conn) {
                link.conn = None;
                link.up = false;
                link.retry_at = now + backoff.after_failure(&mut link.attempts, &mut self.rng);
            }
        }
    }

    fn hello(&self) -> Frame {
        Frame::new(
            0,
            PeerHello::new(Role::Meta, self.config.process(), self.address.clone()),
        )
    }

    /// Dials the higher-id peers that have no connection and are due.
    fn dial(&mut self, now: Instant) {
        let me = self.config.id;
        let due: Vec<(u64, Text)> = self
            .links
            .iter()
            .filter(|&(&id, l)| id > me && l.conn.is_none() && l.retry_at <= now)
            .filter_map(|(&id, l)| Some((id, l.address.clone()?)))
            .collect();
        for (id, address) in due {
            let conn = self.ids.allocate();
            if let Some(link) = self.links.get_mut(&id) {
                link.conn = Some(conn);
            }
            self.conns.insert(conn, Peer::Meta(id));
            let connect = self.dials.dial(now, conn, address);
            self.out.push_back(connect);
        }
    }

    fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let Some(&peer) = self.conns.get(&conn) else {
            return;
        };
        let id = frame.request_id;
        match (peer, frame.message) {
            (_, Message::KeepAlive(_) | Message::Ack(_) | Message::ErrorReply(_)) => {}
            // Nothing to do with a one-way message of a kind meta does not define.
            (_, Message::Unknown(_)) if id == 0 => {}
            (_, Message::Unknown(u)) => {
                self.send(conn, Frame::new(id, negotiate::unsupported_kind(u.kind)));
            }
            (Peer::Unknown, Message::PeerHello(h)) => {
                match negotiate::negotiate(h.version, h.features) {
                    Ok(agreement) => self.on_hello(conn, h, agreement),
                    Err(refusal) => {
                        let reason = refusal.message.clone();
                        self.send(conn, Frame::new(id, refusal));
                        self.close(conn, &reason);
                    }
                }
            }
            (Peer::Meta(_), Message::PeerWelcome(w)) => {
                let agreement = Agreement {
                    version: w.version,
                    features: w.features,
                };
                self.agreements.insert(conn, agreement);
            }
            (Peer::Unknown, m) => {
                let violation = Violation::before_hello(m.kind());
                self.out.extend(violation.outputs(conn, id));
                self.drop_conn(conn, now);
            }
            (_, Message::PeerHello(_)) => self.error(conn, id, "second PeerHello".into()),
            (Peer::Meta(from), Message::Raft(r)) => self.on_raft(conn, from, r),
            (Peer::Node(process, role), Message::Heartbeat(hb)) => {
                if hb.process != process || hb.role != role {
                    self.error(conn, id, "heartbeat for another process".into());
                } else {
                    self.on_heartbeat(now, conn, id, hb);
                }
            }
            (_, m) => self.error(conn, id, format!("meta does not serve {:?}", m.kind())),
        }
    }

    fn on_hello(&mut self, conn: ConnId, hello: PeerHello, agreement: Agreement) {
        match hello.role {
            Role::Meta => {
                let from = hello.process.node.0;
                let conf = self.consensus.conf();
                let joining = conf.voters.is_empty() && conf.learners.is_empty();
                if joining && from != self.config.id && from != 0 {
                    // Whoever adds this node says hello first; links follow the snapshot.
                    self.links.entry(from).or_insert(Link {
                        address: Some(hello.address.clone()).filter(|a| !a.is_empty()),
                        conn: None,
                        up: false,
                        retry_at: Instant::ZERO,
                        attempts: 0,
                    });
                }
                if from == self.config.id || !self.links.contains_key(&from) {
                    return self.close(conn, "PeerHello from a meta node not in this group");
                }
                self.conns.insert(conn, Peer::Meta(from));
                if let Some(link) = self.links.get_mut(&from) {
                    link.conn = Some(conn);
                    link.up = true;
                }
            }
            role => {
                self.conns.insert(conn, Peer::Node(hello.process, role));
            }
        }
        self.agreements.insert(conn, agreement);
        if let Some(welcome) = agreement.peer_welcome(Role::Meta, self.config.process()) {
            self.send(conn, Frame::new(0, welcome));
        }
    }

    fn on_raft(&mut self, conn: ConnId, from: u64, raft: Raft) {
        let Ok(message) = raft::eraftpb::Message::parse_from_bytes(&raft.payload) else {
            return self.close(conn, "undecodable consensus message");
        };
        if message.from != from || message.to != self.config.id {
            return self.close(conn, "consensus message for another pair of peers");
        }
        // raft-rs refuses stale or foreign messages with an error; nothing to do about them.
        if let Err(StepError::Malformed(rule)) = self.consensus.step(message) {
            self.close(conn, &format!("malformed consensus message: {rule}"));
        }
    }

    fn on_heartbeat(&mut self, now: Instant, conn: ConnId, request_id: u64, hb: Heartbeat) {
        if !self.consensus.is_leader() {
            let leader = (self.consensus.leader_id()).and_then(|id| self.peer_address(id));
            return self.send(conn, Frame::new(request_id, NotLeader { leader }));
        }
        let state = self.consensus.state();
        if state.members.is_retired(hb.process) {
            return self.close(conn, "process replaced by a newer incarnation");
        }
        let member = Member {
            process: hb.process,
            role: hb.role,
            address: hb.address.clone(),
        };
        if state.members.get(hb.process.node) != Some(&member) {
            self.joining.insert(hb.process.node, member);
        }
        let current = hb.table_epoch == state.table.epoch()
            && hb.members_version == state.members.version()
            && hb.switches_version == state.switches.version;
        let reply = if current {
            Frame::new(
                request_id,
                HeartbeatAck {
                    table_epoch: state.table.epoch(),
                    members_version: state.members.version(),
                },
            )
        } else {
            Frame::new(request_id, state.cluster_view())
        };
        self.send(conn, reply);
        self.leases.renew(hb.process, now);
        if hb.role == Role::Data {
            self.reports.record(hb.process, &hb.slots);
        }
    }

    /// The leader loop (module docs).
    fn evaluate(&mut self, now: Instant) {
        if !self.consensus.is_leader() || !self.consensus.settled() {
            return;
        }
        let mut next = self.consensus.state().clone();
        let mut commands = Vec::new();
        let mut push = |next: &mut MetaState, c: Command| {
            if next.apply(&c) {
                commands.push(c);
            }
        };
        for (_, member) in std::mem::take(&mut self.joining) {
            push(&mut next, Command::MemberUp { member });
        }
        let expired = self.leases.expired(&next.members, now);
        for process in self.protection.admit(&next.members, expired, now) {
            self.reports.remove(process);
            push(&mut next, Command::MemberExpired { process });
        }
        let live = next.members.data_processes();
        let may_place = !is_cold(&next.table) || self.start.ready(now, live.len());
        let table = may_place
            .then(|| {
                let leaving = next.ops.leaving_processes(&live);
                arrange_leaving(&next.table, &live, &leaving, &self.reports, &self.arrange)
            })
            .flatten();
        if let Some(table) = table {
            let mut leads: BTreeMap<ProcessId, usize> = live.iter().map(|&p| (p, 0)).collect();
            for l in table.slots().filter_map(|(_, s)| s.leader) {
                *leads.entry(l).or_default() += 1;
            }
            let installed = Installed {
                epoch: table.epoch(),
                leaders_moved: changed(&next.table, &table, |s| s.leader),
                slots_changed: changed(&next.table, &table, |s| s.replicas().collect::<Vec<_>>()),
                fewest_leaders: leads.values().copied().min().unwrap_or(0),
                most_leaders: leads.values().copied().max().unwrap_or(0),
            };
            push(
                &mut next,
                Command::TableInstalled {
                    table: table.to_view(),
                },
            );
            self.proposed = Some((table, installed));
        }
        if !commands.is_empty() {
            self.consensus.propose(&CommandBatch { commands });
        }
    }

    /// Turns consensus effects into outputs and reacts to leadership and state changes.
    fn flush_consensus(&mut self) {
        while let Some(effect) = self.consensus.poll_effect() {
            match effect {
                Effect::Persist(p) => self.out.push_back(Output::Event(MetaEvent::Persist(p))),
                Effect::Send(m) => {
                    let conn = self.links.get(&m.to).filter(|l| l.up).and_then(|l| l.conn);
                    if let Some(conn) = conn {
                        let payload = m.write_to_bytes().unwrap_or_default().into();
                        self.send(conn, Frame::new(0, Raft { payload }));
                    }
                }
            }
        }
        let leading = self.consensus.is_leader();
        if leading != self.leading {
            self.leading = leading;
            if let Some(plan) = self.voter_plan.take() {
                // A leader that removed itself loses leadership as the change completes.
                let done = plan.next(&self.conf_view(), Instant::ZERO) == Step::Done;
                let result = if done {
                    Ok(())
                } else {
                    Err("leadership moved; ask the new leader again".into())
                };
                self.voter_outcome = Some(VoterOutcome {
                    change: plan.change,
                    result,
                });
            }
            self.leases.clear();
            self.reports.clear();
            self.joining.clear();
            self.start.reset();
            self.protection.clear();
        }
        // Reported once, by the proposer, when (and only if) its own table got applied.
        let table = &self.consensus.state().table;
        if let Some((proposed, installed)) = self.proposed.take() {
            if *table == proposed {
                let event = MetaEvent::TableInstalled(installed);
                self.out.push_back(Output::Event(event));
            } else if table.epoch() < proposed.epoch() {
                self.proposed = Some((proposed, installed));
            }
        }
        if self.consensus.take_changed() && leading {
            let view = self.consensus.state().cluster_view();
            let nodes: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, p)| matches!(p, Peer::Node(..)))
                .map(|(&c, _)| c)
                .collect();
            for conn in nodes {
                self.send(conn, Frame::new(0, view.clone()));
            }
        }
    }
}

/// How many slots differ between `a` and `b` in `what`.
fn changed<T: PartialEq>(
    a: &SlotTable,
    b: &SlotTable,
    what: impl Fn(&crate::slot::Slot) -> T,
) -> usize {
    a.slots()
        .zip(b.slots())
        .filter(|((_, x), (_, y))| what(x) != what(y))
        .count()
}

impl Node for MetaNode {
    type Command = MetaCommand;
    type Event = MetaEvent;

    fn handle_input(&mut self, now: Instant, input: Input<MetaCommand>) {
        if let Input::Connected { conn } | Input::Closed { conn } = input {
            self.dials.settle(conn);
        }
        match input {
            Input::Connected { conn } => {
                let hello = self.hello();
                if let Some(link) = self.links.values_mut().find(|l| l.conn == Some(conn)) {
                    link.up = true;
                    link.attempts = 0;
                    self.send(conn, hello);
                }
            }
            Input::Accepted { conn } => {
                self.conns.insert(conn, Peer::Unknown);
            }
            Input::Closed { conn } => self.drop_conn(conn, now),
            Input::Frame { conn, frame } => self.on_frame(now, conn, frame),
            Input::Command(MetaCommand::ChangeSwitches(changes)) => {
                let _ = self.change_switches(changes);
            }
        }
        self.flush_consensus();
        // Joins are proposed at once; leases and balancing are re-evaluated every tick.
        if !self.joining.is_empty() {
            self.evaluate(now);
            self.flush_consensus();
        }
        self.sync_links(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for conn in self.dials.expire(now) {
            self.out.push_back(Dials::abandon(conn));
            self.drop_conn(conn, now);
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.tick;
            self.consensus.tick();
            self.flush_consensus();
        }
        self.sync_links(now);
        self.advance_voters(now);
        self.flush_consensus();
        self.sync_links(now);
        self.dial(now);
        self.evaluate(now);
        self.flush_consensus();
    }

    fn poll_output(&mut self) -> Option<Output<MetaEvent>> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let retry = self
            .links
            .iter()
            .filter(|&(&id, l)| id > self.config.id && l.conn.is_none() && l.address.is_some())
            .map(|(_, l)| l.retry_at)
            .min();
        let next = retry.map_or(self.next_tick, |r| r.min(self.next_tick));
        Some(self.dials.next_deadline().map_or(next, |d| d.min(next)))
    }
}

/// A meta node's state and work as plain values ([`MetaNode::stats`]); see
/// docs/operations.md, "Metrics".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaStats {
    /// Whether this node leads the group.
    pub is_leader: bool,
    /// The leader it knows of.
    pub leader_id: Option<u64>,
    /// The consensus term.
    pub term: u64,
    /// The last log index known committed.
    pub commit_index: u64,
    /// The last log index applied.
    pub applied_index: u64,
    /// The membership's version.
    pub members_version: u64,
    /// Data processes in the membership.
    pub data_members: u64,
    /// Session processes in the membership.
    pub session_members: u64,
    /// The replicated slot table's epoch.
    pub table_epoch: u64,
    /// Members expelled by the entries this process applied (counter).
    pub expelled: u64,
    /// Processes whose lease ran out but that protection mode keeps (leader only).
    pub protected: u64,
    /// Connections open (nodes' heartbeats and meta peers).
    pub connections: u64,
}
