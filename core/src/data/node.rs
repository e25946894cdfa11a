//! `DataNode`: the data role as one sans-IO state machine. It owns the connections (bound
//! to a peer process by its `PeerHello`), the link to meta (heartbeats, `ClusterView`
//! install), the per-slot state (store plus leader or follower machinery), and the timers;
//! it dispatches every frame to the mechanism that owns it and queues what to send.
//!
//! Hellos (`docs/protocol.md` §9): an inbound connection's `PeerHello` is negotiated; a
//! version the node does not serve gets `ErrorReply` (`Unsupported`) and the connection is
//! closed, version 2 on gets `PeerWelcome`. The `PeerWelcome` answering the node's own
//! hellos is recorded; [`DataNode::agreement`] tells what was agreed on a connection. A
//! request of a kind the node does not define is answered `Unsupported`; an unknown one-way
//! message is ignored. Anything else before the hello is a [`crate::net::Violation`]:
//! answered, then the connection closed, as in every role.
//!
//! This file holds the node's state, its construction and accessors, the output helpers,
//! the dispatch of every input and the [`Node`] impl. Each concern the dispatch hands off
//! lives in its own submodule, as `impl DataNode` blocks over the same private state:
//!
//! - `peers`: connections to meta and data nodes, reconnect backoff, forgetting closed ones;
//! - `slots`: per-slot state (leader or follower), the leader-side change path, slot status;
//! - `serve`: session requests (admission, writes and their acknowledgement policy, fetches,
//!   version scans);
//! - `reconcile_runs`: reconciliation runs with sessions;
//! - `replication`: op-log subscriptions (leader side) and the follower's steps;
//! - `meta_link`: heartbeats, `NotLeader`, cluster view and slot table installation;
//! - `timers`: the periodic tick, session keep-alives, flushing, the next deadline.

mod meta_link;
mod peers;
mod reconcile_runs;
mod replication;
mod serve;
mod slots;
mod timers;
mod view;

pub use view::DataKeyView;

use super::config::DataConfig;
use super::lease::Leases;
use super::notify::Notifier;
use super::replica::Phase;
use super::stats::DataStats;
use crate::config::ConfigError;
use crate::io::{ConnId, Input, Node, Output};
use crate::liveness::Liveness;
use crate::model::{LeaderEpoch, ProcessId, Role, SlotId, Switches, TableEpoch, Text};
use crate::net::{Dialer, Dials, MetaWatch, Violation};
use crate::rng::Rng;
use crate::slot::{SlotCount, SlotTable};
use crate::time::Instant;
use crate::wire::negotiate::{self, Agreement};
use crate::wire::{ErrorCode, ErrorReply, Frame, Message, PeerHello, ReplicaDatum, SlotStatus};
use peers::Dialed;
use slots::{LocalSlot, SlotRole, status};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Application commands of a data node: none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataCommand {}

/// Events of a data node, for the operator's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEvent {
    /// A new slot table was applied: what this node now leads and follows.
    TableApplied {
        /// The table's epoch.
        epoch: TableEpoch,
        /// Slots it leads.
        leading: usize,
        /// Slots it follows.
        following: usize,
        /// Slots it took the leader role of with this table.
        took_over: usize,
        /// Slots it led before and no longer leads.
        handed_off: usize,
    },
    /// A reconciliation run with a session repaired a led slot.
    Reconciled {
        /// The slot.
        slot: SlotId,
        /// The session reconciled with.
        session: ProcessId,
        /// Publishers the session held that the slot lacked (or held older).
        added: usize,
        /// Publishers the slot held for the session that the session no longer holds.
        removed: usize,
    },
    /// A session's lease (and the failover grace) ran out, or a newer incarnation replaced
    /// it: the publishers it still owned in led slots were removed.
    OwnerDropped {
        /// The session process.
        session: ProcessId,
        /// Publishers removed.
        removed: usize,
    },
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Inbound, before its `PeerHello`.
    Unbound,
    /// A session process.
    Session(ProcessId),
    /// A data process (either direction: leader or follower of our slots).
    Data(ProcessId),
    /// Our link to meta.
    Meta,
}

/// One of our requests awaiting its reply.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Heartbeat,
    Notify,
    Reconcile {
        slot: SlotId,
        session: ProcessId,
        epoch: LeaderEpoch,
    },
    Replica {
        slot: SlotId,
    },
}

/// A data node. See the module docs and `docs/architecture.md`.
#[derive(Debug)]
pub struct DataNode {
    cfg: DataConfig,
    rng: Rng,
    table: SlotTable,
    members_version: u64,
    /// The operator switches meta last sent (applied by sessions; kept for operators).
    switches: Switches,
    sessions_in_view: BTreeSet<ProcessId>,
    member_addresses: BTreeMap<ProcessId, Text>,
    conns: BTreeMap<ConnId, Peer>,
    session_conns: BTreeMap<ProcessId, ConnId>,
    data_conns: BTreeMap<ProcessId, ConnId>,
    slots: BTreeMap<SlotId, LocalSlot>,
    leases: Leases,
    notifier: Notifier,
    out: VecDeque<Output<DataEvent>>,
    /// The links this node opens: to meta and to other data nodes.
    dialer: Dialer<Dialed>,
    next_request: u64,
    pending: BTreeMap<(ConnId, u64), Pending>,
    meta_index: usize,
    /// Gives up on a meta node that stopped answering (`crate::net::MetaWatch`).
    meta_watch: MetaWatch,
    next_tick: Instant,
    dirty: BTreeSet<SlotId>,
    /// Liveness of session connections: a quiet one gets a `KeepAlive` (the session
    /// idle-times-out its data links).
    session_liveness: BTreeMap<ConnId, Liveness>,
    /// What was agreed on each connection whose hello was answered (by this node, or by the
    /// peer it said hello to).
    agreements: BTreeMap<ConnId, Agreement>,
    /// The latest `now` handed in, stamped on frames as they are drained.
    now: Instant,
    /// A session process or a slot appeared since the last tick: look for owners that a
    /// newer incarnation of their node superseded.
    superseded_due: bool,
    /// Counters (the gauges of [`DataNode::stats`] are computed when read).
    stats: DataStats,
}

fn error(code: ErrorCode, message: String) -> ErrorReply {
    ErrorReply {
        code,
        message: Text::from(message),
    }
}

impl DataNode {
    /// A node that will connect to meta at its first `handle_timeout` (at `now`).
    pub fn new(cfg: DataConfig, now: Instant) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let mut dialer = Dialer::new(cfg.reconnect_backoff, cfg.connect_timeout);
        dialer.insert(Dialed::Meta, Some(now));
        Ok(DataNode {
            rng: Rng::seed_from_u64(cfg.seed),
            cfg,
            table: SlotTable::empty(SlotCount::DEFAULT),
            members_version: 0,
            switches: Switches::default(),
            sessions_in_view: BTreeSet::new(),
            member_addresses: BTreeMap::new(),
            conns: BTreeMap::new(),
            session_conns: BTreeMap::new(),
            data_conns: BTreeMap::new(),
            slots: BTreeMap::new(),
            leases: Leases::default(),
            notifier: Notifier::default(),
            out: VecDeque::new(),
            dialer,
            next_request: 0,
            pending: BTreeMap::new(),
            meta_index: 0,
            meta_watch: MetaWatch::default(),
            next_tick: now,
            dirty: BTreeSet::new(),
            session_liveness: BTreeMap::new(),
            agreements: BTreeMap::new(),
            now,
            superseded_due: false,
            stats: DataStats::default(),
        })
    }

    /// The protocol version and features agreed on `conn` once its hello was answered
    /// (by this node, or by the peer this node said hello to); `None` before, or on a
    /// connection the node does not know.
    pub fn agreement(&self, conn: ConnId) -> Option<Agreement> {
        self.agreements.get(&conn).copied()
    }

    /// The node's configuration.
    pub fn config(&self) -> &DataConfig {
        &self.cfg
    }

    /// The installed slot table.
    pub fn table(&self) -> &SlotTable {
        &self.table
    }

    /// The newest operator switches meta sent.
    pub fn switches(&self) -> &Switches {
        &self.switches
    }

    /// Every datum of a slot this node holds (leader or follower), with owners: for tests
    /// and the simulator's invariant checks.
    pub fn snapshot(&self, slot: SlotId) -> Option<Vec<ReplicaDatum>> {
        self.slots.get(&slot).map(|s| s.store.snapshot())
    }

    /// What the node did (counters) and holds (gauges, computed now: O(slots and
    /// connections), for a scrape, not for a hot path).
    pub fn stats(&self) -> DataStats {
        let mut s = self.stats;
        s.publishers = self.publisher_count() as u64;
        s.table_epoch = self.table.epoch().0;
        (s.led_publishers, s.slots_led, s.slots_followed) = (0, 0, 0);
        (s.follower_lag_entries, s.followed_slots_behind) = (0, 0);
        for ls in self.slots.values() {
            match &ls.role {
                SlotRole::Leader(l) => {
                    s.slots_led += 1;
                    s.led_publishers += ls.store.publisher_count() as u64;
                    let end = l.log.end();
                    for st in l.streams.by_conn.values() {
                        let lag = end.saturating_sub(st.acked);
                        s.follower_lag_entries = s.follower_lag_entries.max(lag);
                    }
                }
                SlotRole::Follower(f) => {
                    s.slots_followed += 1;
                    s.followed_slots_behind += u64::from(!f.caught_up());
                }
            }
        }
        s.session_connections = self.session_conns.len() as u64;
        s.data_connections = self
            .conns
            .values()
            .filter(|p| matches!(p, Peer::Data(_)))
            .count() as u64;
        s
    }

    /// Number of live publishers this node holds over every slot.
    pub fn publisher_count(&self) -> usize {
        self.slots.values().map(|s| s.store.publisher_count()).sum()
    }

    /// The slot's status as the heartbeat reports it, if the node holds it.
    pub fn slot_status(&self, slot: SlotId) -> Option<SlotStatus> {
        self.slots.get(&slot).map(|s| status(slot, s))
    }

    /// Reconciliation runs of a led slot that fetched nothing / that repaired something.
    pub fn reconcile_counts(&self, slot: SlotId) -> Option<(u64, u64)> {
        match &self.slots.get(&slot)?.role {
            SlotRole::Leader(l) => Some((l.reconcile.cheap_runs, l.reconcile.repair_runs)),
            SlotRole::Follower(_) => None,
        }
    }

    /// Drops op-log entries of a led slot before `position` (tests: forces resync).
    pub fn truncate_log(&mut self, slot: SlotId, position: u64) {
        if let Some(LocalSlot {
            role: SlotRole::Leader(l),
            ..
        }) = self.slots.get_mut(&slot)
        {
            l.log.truncate_before(position);
            self.dirty.insert(slot);
        }
    }

    // ----- output helpers -------------------------------------------------------------

    fn send(&mut self, conn: ConnId, request_id: u64, message: impl Into<Message>) {
        self.out.push_back(Output::Send {
            conn,
            frame: Frame::new(request_id, message),
        });
    }

    fn request(&mut self, conn: ConnId, pending: Pending, message: impl Into<Message>) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        self.pending.insert((conn, id), pending);
        self.send(conn, id, message);
        id
    }

    fn close(&mut self, conn: ConnId, reason: String) {
        self.out.push_back(Output::Close {
            conn,
            reason: Text::from(reason),
        });
        self.forget_conn(conn);
    }

    // ----- dispatch -------------------------------------------------------------------

    fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let Some(peer) = self.conns.get(&conn).copied() else {
            return;
        };
        self.meta_watch.heard(conn, now);
        let id = frame.request_id;
        match (peer, frame.message) {
            (_, Message::KeepAlive(_)) => self.renew(peer, now),
            // Nothing to do with a one-way message of a kind this node does not define.
            (_, Message::Unknown(_)) if id == 0 => self.renew(peer, now),
            (_, Message::Unknown(u)) => {
                self.renew(peer, now);
                self.send(conn, id, negotiate::unsupported_kind(u.kind));
            }
            (Peer::Unbound, Message::PeerHello(h)) => {
                match negotiate::negotiate(h.version, h.features) {
                    Ok(agreement) => self.on_hello(now, conn, h, agreement),
                    Err(refusal) => {
                        let reason = refusal.message.to_string();
                        self.send(conn, id, refusal);
                        self.close(conn, reason);
                    }
                }
            }
            (Peer::Meta | Peer::Data(_), Message::PeerWelcome(w)) => {
                let agreement = Agreement {
                    version: w.version,
                    features: w.features,
                };
                self.agreements.insert(conn, agreement);
            }
            (Peer::Unbound, m) => {
                let violation = Violation::before_hello(m.kind());
                self.out.extend(violation.outputs(conn, id));
                self.forget_conn(conn);
            }
            (Peer::Session(p), m) => {
                self.leases.renew(p, now);
                self.on_session_message(now, conn, p, id, m);
            }
            (Peer::Data(p), m) => self.on_data_message(now, conn, p, id, m),
            (Peer::Meta, m) => self.on_meta_message(now, conn, id, m),
        }
    }

    fn renew(&mut self, peer: Peer, now: Instant) {
        if let Peer::Session(p) = peer {
            self.leases.renew(p, now);
        }
    }

    fn unexpected(&mut self, conn: ConnId, id: u64, m: &Message) {
        let msg = format!("unexpected {} on this connection", m.kind().name());
        self.send(conn, id, error(ErrorCode::BadRequest, msg));
    }

    fn on_hello(&mut self, now: Instant, conn: ConnId, h: PeerHello, agreement: Agreement) {
        if h.role != Role::Meta {
            self.agreements.insert(conn, agreement);
            if let Some(welcome) = agreement.peer_welcome(Role::Data, self.cfg.process) {
                self.send(conn, 0, welcome);
            }
        }
        match h.role {
            Role::Session => {
                self.conns.insert(conn, Peer::Session(h.process));
                if let Some(old) = self.session_conns.insert(h.process, conn) {
                    self.notifier.remove_session(old);
                }
                self.notifier.add_session(conn);
                self.session_liveness.insert(conn, Liveness::new(now));
                self.leases.renew(h.process, now);
                self.superseded_due = true;
                // A (re)connected member session: reconcile the slots we lead with it.
                if self.sessions_in_view.contains(&h.process) {
                    for s in self.led_slots() {
                        self.start_run(now, s, h.process);
                    }
                }
            }
            Role::Data => {
                self.conns.insert(conn, Peer::Data(h.process));
                self.data_conns.entry(h.process).or_insert(conn);
                self.member_addresses.entry(h.process).or_insert(h.address);
                self.subscribe_idle(now);
            }
            Role::Meta => self.close(conn, "meta does not open connections to data nodes".into()),
        }
    }

    fn on_meta_message(&mut self, now: Instant, conn: ConnId, id: u64, m: Message) {
        match m {
            Message::ClusterView(v) => {
                self.pending.remove(&(conn, id));
                self.install_view(now, v);
            }
            Message::HeartbeatAck(_) | Message::ErrorReply(_) => {
                self.pending.remove(&(conn, id));
            }
            Message::NotLeader(n) => self.on_not_leader(now, conn, id, n),
            other => self.unexpected(conn, id, &other),
        }
    }

    fn on_session_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        p: ProcessId,
        id: u64,
        m: Message,
    ) {
        match m {
            Message::WriteBatch(b) => self.on_write_batch(now, conn, p, id, b),
            Message::FetchDatums(f) => self.on_fetch(conn, id, f),
            Message::VersionScan(v) => self.on_version_scan(conn, id, v),
            Message::ReconcileDigests(d) => self.on_reconcile_digests(now, conn, p, id, d),
            Message::ReconcilePage(pg) => self.on_reconcile_page(now, conn, p, id, pg),
            Message::Refused(_) | Message::ErrorReply(_) => {
                if let Some(Pending::Reconcile { slot, session, .. }) =
                    self.pending.remove(&(conn, id))
                {
                    // Retried by the tick.
                    if let Some(l) = self.leading_mut(slot) {
                        l.reconcile.runs.remove(&session);
                    }
                } else {
                    self.notifier.on_reply(conn, id);
                }
            }
            Message::Ack(_) => {
                self.pending.remove(&(conn, id));
                self.notifier.on_reply(conn, id);
            }
            other => self.unexpected(conn, id, &other),
        }
    }

    fn on_data_message(&mut self, now: Instant, conn: ConnId, p: ProcessId, id: u64, m: Message) {
        match m {
            // Leader side.
            Message::OpLogSubscribe(s) => self.on_subscribe(conn, id, s),
            Message::OpLogAck(a) => self.on_oplog_ack(conn, a),
            Message::ResyncFetch(f) => self.on_resync_fetch(conn, id, f),
            // Follower side.
            Message::OpLogAppend(a) => {
                self.pending.remove(&(conn, id));
                let slot = a.slot;
                self.follower_step(now, conn, p, slot, |f, store, now, _| {
                    f.on_append(store, a, now)
                });
            }
            Message::ResyncDigests(d) => {
                self.pending.remove(&(conn, id));
                let slot = d.slot;
                self.follower_step(now, conn, p, slot, |f, store, _, keys| {
                    f.on_digests(slot, store, (id, d), keys)
                });
            }
            Message::ResyncPage(pg) => {
                self.pending.remove(&(conn, id));
                let slot = pg.slot;
                self.follower_step(now, conn, p, slot, |f, store, now, keys| {
                    f.on_page(store, (id, pg), keys, now)
                });
            }
            Message::Refused(_) | Message::ErrorReply(_) => {
                if let Some(Pending::Replica { slot }) = self.pending.remove(&(conn, id)) {
                    if let Some(f) = self.following_mut(slot).filter(|f| f.request.1 == id) {
                        f.phase = Phase::Idle;
                    }
                }
            }
            other => self.unexpected(conn, id, &other),
        }
    }
}

impl Node for DataNode {
    type Command = DataCommand;
    type Event = DataEvent;

    fn handle_input(&mut self, now: Instant, input: Input<DataCommand>) {
        self.now = self.now.max(now);
        match input {
            Input::Accepted { conn } => {
                self.conns.insert(conn, Peer::Unbound);
            }
            Input::Connected { conn } => self.on_connected(now, conn),
            Input::Closed { conn } => self.on_closed(now, conn),
            Input::Frame { conn, frame } => self.on_frame(now, conn, frame),
            Input::Command(c) => match c {},
        }
        self.flush(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for conn in self.dialer.expire(now) {
            self.out.push_back(Dials::abandon(conn));
            self.on_closed(now, conn);
        }
        for due in self.dialer.due(now) {
            match due {
                Dialed::Meta => self.connect_meta(now),
                Dialed::Data(p) => self.ensure_peer(p),
            }
        }
        if now >= self.next_tick {
            self.next_tick = now + self.cfg.heartbeat_interval;
            self.tick(now);
        }
        for slot in self.led_slots() {
            self.dirty.insert(slot);
        }
        self.flush(now);
    }

    fn poll_output(&mut self) -> Option<Output<DataEvent>> {
        let o = self.out.pop_front()?;
        if let Output::Send { conn, .. } = &o
            && let Some(l) = self.session_liveness.get_mut(conn)
        {
            l.sent(self.now);
        }
        Some(o)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }
}
