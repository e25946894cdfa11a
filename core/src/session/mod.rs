//! The session node (docs/design.md §2, §4.3, §4.5, §4.6, §4.8): holds client connections, is
//! the source of truth for their publishers and subscribers, forwards publisher writes to
//! slot leaders, turns data leaders' change notifications into pushes, scans versions
//! periodically, and answers data leaders' reconciliation.
//!
//! [`Session`] only routes: each mechanism lives in its own file — [`config`],
//! `registry` (the registrations), `writes` (write forwarding), `fetch` (notifications,
//! fetches and the datum cache), `push` (pushes to clients), `reconcile` (answers to data
//! leaders), `peers` (connections to data and meta), `scan` (the version scan),
//! `switches` (the operator switches meta sends), `drain` (an operator's drain: clients
//! told to move, new ones refused). The
//! contract with the other roles is `docs/architecture.md`.
//!
//! Hellos (`docs/protocol.md` §9): a client's `ClientHello` is answered with the agreed
//! protocol version and features and the session's process (`ClientWelcome`; `Ack` to a
//! version 1 client, as version 1 defined), a peer's `PeerHello` of version 2 on with
//! `PeerWelcome`; a hello older than the session serves gets `ErrorReply` (`Unsupported`)
//! and its connection is closed. The `PeerWelcome` answering the session's own hellos is
//! recorded per link. [`Session::agreement`] tells what was agreed on a connection. A request
//! of a kind the session does not define is answered `Unsupported`; an unknown one-way
//! message is ignored. Anything else before the hello is a [`crate::net::Violation`]:
//! answered, reported as `ProtocolViolation`, and the connection closed, as in every role.
//!
//! Liveness ([`crate::liveness`]): client connections and the data links the session
//! opened get a `KeepAlive` when nothing was sent on them for `keepalive_interval`, and are
//! closed when nothing arrived for `idle_timeout` (then handled exactly as if the driver had
//! reported them closed: a client's publishers go through the disconnect path, a data link
//! reconnects). A sweep every half keep-alive interval checks them. A client connection's
//! liveness lives in its registry record (an instant and a one-byte [`SweepStamp`], with the
//! settings once in a [`Sweep`]); the few data links keep a [`Liveness`] each. Both measure
//! elapsed time: the first sweep after the session was stalled (a GC pause, `SIGSTOP`)
//! sends every keep-alive due at once, and — being late — closes nothing, since its
//! clients' frames of the stall are still unread in its sockets.
//!
//! A closed client connection's publishers stay for `disconnect_grace` (default 5 s) before
//! their removal is forwarded (docs/design.md §4.8): a client that failed over replays them
//! meanwhile, through this session (the registration moves to the new connection and the
//! removal finds nothing to remove) or another (the removal carries the old version, and
//! the data node keeps the replay's newer one), so subscribers never see them missing.

pub mod acl;
pub mod config;
mod conn_map;
mod delta;
mod drain;
mod fetch;
mod gate;
mod key_index;
pub mod limits;
mod outbox;
mod owned;
mod peers;
mod probe;
mod publishers;
mod push;
mod reconcile;
mod registry;
mod scan;
mod switches;
mod timers;
mod view;
mod writes;

pub use acl::{Access, Acl, Identity};
pub use config::SessionConfig;
pub use gate::AccessDenials;
use limits::{Admission, OverLimit};
pub use limits::{ClientLimits, LimitRefusals};
pub use outbox::{SessionEvent, SessionStats};
pub use view::{ClientView, SessionKeyView, SessionPublisherView, SubscriberView};

use crate::config::ConfigError;
use crate::io::{ConnId, Input, Node, Output};
#[cfg(doc)]
use crate::liveness::SweepStamp;
use crate::liveness::{Due, Liveness, Sweep};
use crate::model::{DataInfoId, Role, SlotId, Text};
use crate::net::{MetaWatch, Violation};
use crate::rng::Rng;
use crate::slot::SlotTable;
use crate::time::Instant;
use crate::wire::negotiate::{self, Agreement};
use crate::wire::{
    Ack, ClientHello, ClientWelcome, ClusterView, ErrorCode, Features, Frame, KeepAlive, Message,
    PeerHello, Publish, Refused, SlotRefusal, Subscribe, Unknown, Unpublish,
};
use fetch::{Announced, Fetcher};
use gate::{Gate, forbidden};
use outbox::Outbox;
use peers::{LinkConfig, Peer, Peers};
use push::{PushCtx, Pusher};
use registry::{Applied, Registry, TopicId};
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use switches::SwitchState;
use timers::Timers;
use writes::{Write, Writer};

/// What the session's timers stand for (validated when they fire).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Heartbeat,
    Scan,
    /// A one-off scan soon after a link to a server came up or a new table arrived.
    RepairScan,
    Reconnect,
    Writes(SlotId),
    Fetch(SlotId),
    PushRetry(ConnId, TopicId),
    BreakerClose(ConnId),
    Grace(ConnId),
    Liveness,
}

/// An inbound connection that is not (yet) a client's: known by its first frame. A
/// `ClientHello` moves it to the registry's client records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    Unknown,
    Peer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Write(SlotId),
    Fetch(SlotId),
    Scan(SlotId),
}

/// The session's state machine. Drive it through [`Node`].
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    rng: Rng,
    out: Outbox,
    table: SlotTable,
    members_version: Option<u64>,
    peers: Peers,
    registry: Registry,
    writer: Writer,
    fetcher: Fetcher,
    pusher: Pusher,
    timers: Timers<Timer>,
    requests: BTreeMap<u64, (ConnId, ReqKind)>,
    request_deadlines: VecDeque<(Instant, u64)>,
    inbound: BTreeMap<ConnId, Inbound>,
    graces: BTreeMap<ConnId, Vec<(TopicId, Text)>>,
    /// The data links the session opened, with their liveness (clients' is in the registry).
    links: BTreeMap<ConnId, Liveness>,
    /// Gives up on a meta node that stopped answering (`crate::net::MetaWatch`).
    meta_watch: MetaWatch,
    /// The counts client limits are checked against (`limits`).
    admission: Admission,
    /// The liveness sweep: its settings and count.
    sweep: Sweep,
    /// What was agreed on each connection whose hello was answered (by the session, or by
    /// the peer it said hello to).
    agreements: BTreeMap<ConnId, Agreement>,
    /// The latest `now` handed in, stamped on frames as they are drained.
    now: Instant,
    /// When the armed repair scan fires, if one is armed.
    repair_scan_at: Option<Instant>,
    /// The operator switches and what applying them needs.
    switches: SwitchState,
    /// Whether meta's view lists this session as draining (`drain`).
    draining: bool,
    /// The access rules and who each client is (`gate`, `acl`).
    gate: Gate,
}

/// How long a repair scan waits for the rest of a burst of link ups and table changes.
const REPAIR_SCAN_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl Session {
    /// A session with a validated configuration, drawing randomness from `seed`.
    pub fn new(config: SessionConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::seed_from_u64(seed);
        let hello = PeerHello::new(Role::Session, config.process, config.peer_address.clone());
        let links = LinkConfig {
            hello,
            backoff: config.reconnect_backoff,
            connect_timeout: config.connect_timeout,
        };
        let peers = Peers::new(links, config.meta_addresses.clone(), &mut rng);
        let mut timers = Timers::new();
        let sweep = Sweep::new(config.liveness);
        timers.arm(Instant::ZERO + config.scan_interval, Timer::Scan);
        timers.arm(sweep.next_at(Instant::ZERO), Timer::Liveness);
        if !config.meta_addresses.is_empty() {
            timers.arm(Instant::ZERO, Timer::Reconnect);
        }
        Ok(Session {
            table: SlotTable::empty(config.slot_count),
            registry: Registry::new(config.slot_count),
            config,
            rng,
            out: Outbox::default(),
            members_version: None,
            peers,
            writer: Writer::default(),
            fetcher: Fetcher::default(),
            pusher: Pusher::default(),
            timers,
            requests: BTreeMap::new(),
            request_deadlines: VecDeque::new(),
            inbound: BTreeMap::new(),
            graces: BTreeMap::new(),
            links: BTreeMap::new(),
            meta_watch: MetaWatch::default(),
            admission: Admission::default(),
            sweep,
            agreements: BTreeMap::new(),
            now: Instant::ZERO,
            repair_scan_at: None,
            switches: SwitchState::default(),
            draining: false,
            gate: Gate::default(),
        })
    }

    /// Counters of the session's work, with its gauges filled in (O(keys and clients):
    /// for a scrape, not for a hot path).
    pub fn stats(&self) -> SessionStats {
        let mut s = self.out.stats;
        let (publishers, subscribers) = self.registry.registration_counts();
        s.publishers = publishers as u64;
        s.subscribers = subscribers as u64;
        s.clients = self.registry.client_count() as u64;
        s.data_links = self.links.len() as u64;
        s.table_epoch = self.table.epoch().0;
        s.pushes_in_flight = self.pusher.in_flight() as u64;
        s.push_bytes_in_flight = self.pusher.bytes_in_flight() as u64;
        s
    }

    /// The installed slot table.
    pub fn table(&self) -> &SlotTable {
        &self.table
    }

    /// Writes queued or in flight for `slot`.
    pub fn queued_writes(&self, slot: SlotId) -> usize {
        self.writer.queued(slot)
    }

    /// Writes queued or in flight over every slot.
    pub fn queued_writes_total(&self) -> usize {
        self.writer.queued_total()
    }

    /// Bytes of the pushes in flight, against the write budget (`push_budget_bytes`).
    pub fn push_bytes_in_flight(&self) -> usize {
        self.pusher.bytes_in_flight()
    }

    /// Pushes awaiting an acknowledgement.
    pub fn pushes_in_flight(&self) -> usize {
        self.pusher.in_flight()
    }

    /// Publishers the session holds under `key`.
    pub fn publisher_count(&self, key: &DataInfoId) -> usize {
        self.registry
            .find(key)
            .and_then(|t| self.registry.topic(t))
            .map_or(0, |t| t.publishers.len())
    }

    fn push_cx(&mut self, now: Instant) -> (PushCtx<'_>, &mut Pusher, &mut Registry) {
        (
            PushCtx {
                now,
                config: &self.config,
                out: &mut self.out,
                switches: &self.switches.current,
            },
            &mut self.pusher,
            &mut self.registry,
        )
    }

    fn push_failed(&mut self, now: Instant, conn: ConnId, request: u64) {
        let mut cx = PushCtx {
            now,
            config: &self.config,
            out: &mut self.out,
            switches: &self.switches.current,
        };
        let (timers, rng) = (&mut self.timers, &mut self.rng);
        self.pusher
            .failed(&mut self.registry, conn, request, &mut cx, timers, rng);
    }

    fn fan_out(&mut self, now: Instant, tid: TopicId) {
        let (mut cx, pusher, reg) = self.push_cx(now);
        pusher.fan_out(reg, tid, &mut cx);
    }

    fn track(&mut self, now: Instant, id: u64, conn: ConnId, kind: ReqKind) {
        self.requests.insert(id, (conn, kind));
        self.request_deadlines
            .push_back((now + self.config.request_timeout, id));
    }

    // ---- routing to slot leaders -------------------------------------------------------

    fn leader_conn(&self, slot: SlotId) -> Option<ConnId> {
        let leader = self.table.slot(slot)?.leader?;
        self.peers.data_conn(leader)
    }

    fn pump_writes(&mut self, now: Instant, slot: SlotId) {
        if !self.writer.ready(slot, now) {
            return;
        }
        let (Some(route), Some(conn)) = (self.table.route(slot), self.leader_conn(slot)) else {
            return;
        };
        let max = self.config.max_batch_ops;
        if let Some(id) = self.writer.send(slot, route, conn, max, &mut self.out) {
            self.track(now, id, conn, ReqKind::Write(slot));
        }
    }

    fn pump_fetch(&mut self, now: Instant, slot: SlotId) {
        if !self.fetcher.ready(slot, now) {
            return;
        }
        let (Some(route), Some(conn)) = (self.table.route(slot), self.leader_conn(slot)) else {
            return;
        };
        if let Some(id) = self
            .fetcher
            .send(&self.registry, slot, route, conn, &mut self.out)
        {
            self.track(now, id, conn, ReqKind::Fetch(slot));
        }
    }

    fn pump_all(&mut self, now: Instant) {
        for slot in self.writer.pending_slots() {
            self.pump_writes(now, slot);
        }
        for slot in self.fetcher.pending_slots() {
            self.pump_fetch(now, slot);
        }
    }

    fn request_failed(&mut self, now: Instant, id: u64, kind: ReqKind) {
        match kind {
            ReqKind::Write(slot) => {
                let policy = (self.config.write_retry_limit, self.config.write_backoff);
                let at = self
                    .writer
                    .failed(slot, id, now, policy, &mut self.rng, &mut self.out);
                if let Some(at) = at {
                    self.timers.arm(at, Timer::Writes(slot));
                }
            }
            ReqKind::Fetch(slot) => {
                let policy = (self.config.write_retry_limit, self.config.write_backoff);
                match self.fetcher.failed(slot, id, now, policy, &mut self.rng) {
                    Some(at) => self.timers.arm(at, Timer::Fetch(slot)),
                    // Given up: keys wanted since the request left (a scan found them
                    // newer) start a new round now, instead of waiting for the next scan.
                    None => self.pump_fetch(now, slot),
                }
            }
            ReqKind::Scan(_) => {}
        }
    }

    // ---- client side -------------------------------------------------------------------

    /// A frame from client connection `conn`, which holds `registrations`.
    fn on_client_frame(&mut self, now: Instant, conn: ConnId, registrations: usize, frame: Frame) {
        let rid = frame.request_id;
        let data_id = match &frame.message {
            Message::Publish(p) => Some(&p.data_info_id.data_id),
            Message::Subscribe(s) => Some(&s.data_info_id.data_id),
            _ => None,
        };
        if let Some(id) = data_id.cloned()
            && self.refuse_blacklisted(conn, rid, &id)
        {
            return;
        }
        if self.refuse_by_rules(conn, rid, &frame.message) {
            return;
        }
        let registering = data_id.is_some();
        if registering && registrations >= self.config.max_registrations_per_conn {
            self.out.stats.limit_refusals.registrations += 1;
            let max = self.config.max_registrations_per_conn;
            let reason = format!(
                "too many registrations on this connection: {max} (max_registrations_per_conn)"
            );
            self.out.reject(conn, rid, ErrorCode::Overloaded, &reason);
            return;
        }
        if let Message::Publish(p) = &frame.message {
            let refusals = &mut self.out.stats.limit_refusals;
            let bytes = publisher_bytes(&p.publisher);
            if let Err(OverLimit(reason)) =
                limits::check_publisher(bytes, &self.config.limits, refusals)
            {
                self.out.reject(conn, rid, ErrorCode::BadRequest, &reason);
                return;
            }
        }
        match frame.message {
            Message::Publish(p) => self.publish(now, conn, p),
            Message::Unpublish(u) => self.unpublish(now, u),
            Message::Subscribe(s) => self.subscribe(now, conn, s),
            Message::Unsubscribe(u) => {
                if let Some(tid) = self.registry.find(&u.data_info_id) {
                    self.registry.unsubscribe(conn, tid, &u.register_id);
                }
            }
            Message::Ack(_) => {
                let (mut cx, pusher, reg) = self.push_cx(now);
                pusher.acked(reg, conn, rid, &mut cx);
                return;
            }
            Message::ErrorReply(_) => {
                self.push_failed(now, conn, rid);
                return;
            }
            Message::KeepAlive(_) => return,
            Message::Unknown(u) => return self.unknown(conn, rid, u),
            other => {
                let reason = format!("{} is not a client request", other.kind().name());
                self.out.reject(conn, rid, ErrorCode::BadRequest, &reason);
                return;
            }
        }
        self.out.send(conn, rid, Ack {});
    }

    fn publish(&mut self, now: Instant, conn: ConnId, p: Publish) {
        let tid = self.registry.intern(&p.data_info_id);
        let Some((key, slot, publisher)) = self.registry.publish(conn, tid, p.publisher) else {
            return;
        };
        self.forward(now, slot, Write::Put { key, publisher });
    }

    fn unpublish(&mut self, now: Instant, u: Unpublish) {
        let slot = self.registry.slot_count().slot_of(&u.data_info_id);
        let (applied, key) = match self.registry.find(&u.data_info_id) {
            Some(tid) => {
                let key = self.registry.topic(tid).map(|t| t.key.clone());
                let a = self.registry.unpublish(tid, &u.register_id, u.version);
                self.registry.release_if_unused(tid);
                (a, key)
            }
            None => (Applied::Changed, None),
        };
        if applied == Applied::Changed {
            let key = key.unwrap_or_else(|| Arc::new(u.data_info_id));
            let op = Write::remove(key, u.register_id, u.version);
            self.forward(now, slot, op);
        }
    }

    fn forward(&mut self, now: Instant, slot: SlotId, op: Write) {
        self.out.stats.writes_queued += 1;
        let bound = self.config.max_queued_writes_per_slot;
        if self.writer.enqueue(slot, op, bound, now, &mut self.out) {
            self.pump_writes(now, slot);
        }
    }

    fn subscribe(&mut self, now: Instant, conn: ConnId, s: Subscribe) {
        let tid = self.registry.intern(&s.data_info_id);
        self.registry.subscribe(conn, tid, &s.register_id, s.known);
        let Some(topic) = self.registry.topic(tid) else {
            return;
        };
        let pushed = topic.subscribers.get(&conn).and_then(|s| s.pushed());
        match &topic.datum {
            Some(d) if Some(d.version) > pushed => {
                let (mut cx, pusher, reg) = self.push_cx(now);
                pusher.offer(reg, tid, conn, &mut cx);
            }
            _ => {
                let slot = topic.slot;
                self.fetcher.want(slot, tid);
                self.pump_fetch(now, slot);
            }
        }
    }

    fn client_closed(&mut self, now: Instant, conn: ConnId) {
        let keys = self.registry.close(conn);
        let (mut cx, pusher, reg) = self.push_cx(now);
        pusher.close(reg, conn, &mut cx);
        if keys.is_empty() {
            return;
        }
        // A switched-off client is not expected back: no grace.
        if self.config.disconnect_grace.is_zero() || self.switches.is_off(conn) {
            self.remove_publishers(now, conn, keys);
        } else {
            self.graces.insert(conn, keys);
            let at = now + self.config.disconnect_grace;
            self.timers.arm(at, Timer::Grace(conn));
        }
    }

    /// Removes the publishers `conn` still owns among `keys`, forwarding each removal at
    /// the registration's own version (data removes a publisher whose stored version is
    /// not newer, so a replay elsewhere — a newer connect generation — survives it).
    fn remove_publishers(&mut self, now: Instant, conn: ConnId, keys: Vec<(TopicId, Text)>) {
        for (tid, register_id) in keys {
            let Some(version) = self.registry.remove_owned(conn, tid, &register_id) else {
                continue;
            };
            let Some(topic) = self.registry.topic(tid) else {
                continue;
            };
            let (slot, key) = (topic.slot, topic.key.clone());
            self.registry.release_if_unused(tid);
            self.forward(now, slot, Write::remove(key, register_id, version));
        }
    }
}

impl Session {
    // ---- server side -------------------------------------------------------------------

    fn on_peer_frame(&mut self, now: Instant, conn: ConnId, peer: Peer, frame: Frame) {
        let rid = frame.request_id;
        match frame.message {
            Message::ChangeNotify(n) => {
                self.out.send(conn, rid, Ack {});
                self.out.stats.notifications_received += 1;
                self.out.stats.changes_received += n.changes.len() as u64;
                self.announce_all(now, n.changes, Some(&n.waits_micros));
            }
            Message::ReconcileQuery(q) => {
                if let Some(refusal) = self.refuse_reconcile(peer, q.slot, q.leader_epoch) {
                    self.out.send(conn, rid, refusal);
                } else {
                    self.out.stats.reconcile_answers += 1;
                    let digests = reconcile::digests(&self.registry, q.slot);
                    let reply = crate::wire::ReconcileDigests {
                        slot: q.slot,
                        digests,
                    };
                    self.out.send(conn, rid, reply);
                }
            }
            Message::ReconcileFetch(f) => {
                if let Some(refusal) = self.refuse_reconcile(peer, f.slot, f.leader_epoch) {
                    self.out.send(conn, rid, refusal);
                } else {
                    self.out.stats.reconcile_answers += 1;
                    let size = self.config.reconcile_page_size;
                    let page =
                        reconcile::page(&self.registry, f.slot, f.data_info_ids, f.after, size);
                    self.out.send(conn, rid, page);
                }
            }
            Message::ClusterView(view) if peer == Peer::Meta => self.install(now, view),
            Message::NotLeader(n) if peer == Peer::Meta => {
                let retry =
                    self.peers
                        .not_leader(conn, n.leader, now, &mut self.rng, &mut self.out);
                if let Some(at) = retry {
                    self.timers.arm(at, Timer::Reconnect);
                }
            }
            Message::HeartbeatAck(_) | Message::KeepAlive(_) | Message::Ack(_) => {}
            Message::PeerHello(_) => {}
            Message::PeerWelcome(w) => {
                let agreement = Agreement {
                    version: w.version,
                    features: w.features,
                };
                self.agreements.insert(conn, agreement);
                // A link to a data node (or meta) is up again: what was notified while it
                // was down is lost, so scan now rather than at the next interval.
                self.repair_scan_soon(now);
            }
            Message::Unknown(u) => self.unknown(conn, rid, u),
            message => self.on_reply(now, conn, rid, message),
        }
    }

    /// Announces every change, then fetches what is wanted, one request per slot.
    /// `waits_micros`: for a notification, how long each change waited at its leader
    /// before it was notified (an older leader sends none: counted as 0); `None` for a
    /// scan's results, which are not timed (the change's instant is unknown).
    fn announce_all(
        &mut self,
        now: Instant,
        changes: Vec<crate::wire::DatumChange>,
        waits_micros: Option<&[u32]>,
    ) {
        let mut slots = Vec::new();
        for (i, change) in changes.into_iter().enumerate() {
            let origin = waits_micros.map(|w| {
                let wait = w.get(i).copied().unwrap_or(0);
                now - std::time::Duration::from_micros(u64::from(wait))
            });
            if let Some(slot) = self.announce(now, &change.data_info_id, change.version, origin) {
                slots.push(slot);
            }
        }
        slots.sort();
        slots.dedup();
        for slot in slots {
            if waits_micros.is_some() {
                self.fetcher.notified(slot);
            }
            self.pump_fetch(now, slot);
        }
    }

    /// A data node announced `version` of `key`: decide between nothing, a push from the
    /// cache and a fetch (returned as the slot to fetch from).
    fn announce(
        &mut self,
        now: Instant,
        key: &DataInfoId,
        version: crate::model::DatumVersion,
        origin: Option<Instant>,
    ) -> Option<SlotId> {
        let tid = self.registry.find(key)?;
        let announced = fetch::announce(&mut self.registry, tid, version);
        if let (Some(origin), false) = (origin, announced == Announced::Ignored) {
            if let Some(t) = self.registry.topic_mut(tid) {
                t.note_change(version, origin);
            }
        }
        match announced {
            Announced::Ignored => None,
            Announced::Cached => {
                self.fan_out(now, tid);
                None
            }
            Announced::Fetch(slot) => {
                self.fetcher.want(slot, tid);
                Some(slot)
            }
        }
    }

    /// A reconciliation request is refused when this session's table names another
    /// leader at the same or a newer leader epoch; an older table does not know better.
    fn refuse_reconcile(
        &self,
        peer: Peer,
        slot: SlotId,
        leader_epoch: crate::model::LeaderEpoch,
    ) -> Option<Refused> {
        let Peer::Data(process) = peer else {
            return Some(Refused {
                slot,
                refusal: SlotRefusal::Moved {
                    table_epoch: self.table.epoch(),
                    leader: None,
                },
            });
        };
        let ours = self.table.slot(slot)?;
        let newer = ours.leader_epoch > leader_epoch;
        let other = ours.leader_epoch == leader_epoch && ours.leader != Some(process);
        (newer || other).then(|| Refused {
            slot,
            refusal: SlotRefusal::Moved {
                table_epoch: self.table.epoch(),
                leader: ours.leader,
            },
        })
    }

    fn on_reply(&mut self, now: Instant, conn: ConnId, rid: u64, message: Message) {
        let Some(&(req_conn, kind)) = self.requests.get(&rid) else {
            return; // late (timed out) or unsolicited: nothing to do
        };
        if req_conn != conn {
            return;
        }
        self.requests.remove(&rid);
        match (kind, message) {
            (ReqKind::Write(slot), Message::WriteAccepted(_)) => {
                self.writer.accepted(slot, rid, now, &mut self.out.stats);
                self.pump_writes(now, slot);
            }
            (ReqKind::Fetch(slot), Message::Datums(d)) => {
                let touched =
                    self.fetcher
                        .arrived(&mut self.registry, slot, rid, d.datums, &mut self.out);
                for tid in touched {
                    self.fan_out(now, tid);
                }
                self.pump_fetch(now, slot);
            }
            (ReqKind::Scan(_), Message::VersionScanReply(r)) => {
                self.out.stats.scan_repairs += r.changed.len() as u64;
                self.announce_all(now, r.changed, None);
            }
            (kind, _) => self.request_failed(now, rid, kind),
        }
    }

    fn install(&mut self, now: Instant, view: ClusterView) {
        self.follow_drain(&view);
        let members_newer = self
            .members_version
            .is_none_or(|v| view.members_version > v);
        match SlotTable::try_from(view.table) {
            Ok(table) => match self.table.install(table) {
                Ok(()) => {
                    self.out.stats.tables_installed += 1;
                    let epoch = self.table.epoch();
                    self.registry.reindex(self.table.slot_count());
                    self.writer.reroute_all();
                    self.fetcher.reroute_all();
                    self.repair_scan_soon(now);
                    self.out.event(SessionEvent::TableInstalled { epoch });
                }
                Err(crate::slot::TableError::Stale { .. }) => {}
                Err(e) => self.out.event(SessionEvent::TableRejected {
                    reason: Text::from(e.to_string()),
                }),
            },
            Err(e) => self.out.event(SessionEvent::TableRejected {
                reason: Text::from(e.to_string()),
            }),
        }
        if members_newer {
            self.members_version = Some(view.members_version);
            // Requests in flight on a link closed here fail now, as if it had dropped,
            // rather than wait out their timeout (simulator seed 624: a fetch sent to a
            // data node just before it left the membership held its slot's fetches 3 s).
            for conn in self.peers.set_members(&view.members, now, &mut self.out) {
                self.conn_closed(now, conn);
            }
        }
        self.apply_switches(now, view.switches);
        self.pump_all(now);
    }

    /// Arms one repair scan shortly (link ups and tables come in bursts: one scan covers
    /// them), unless one is armed already. It does not move the periodic scan.
    fn repair_scan_soon(&mut self, now: Instant) {
        if self.repair_scan_at.is_none() {
            let at = now + REPAIR_SCAN_DELAY;
            self.repair_scan_at = Some(at);
            self.timers.arm(at, Timer::RepairScan);
        }
    }

    fn heartbeat(&mut self) {
        if let Some(conn) = self.peers.meta_conn() {
            let hb = self.peers.heartbeat(
                self.table.epoch(),
                self.members_version.unwrap_or(0),
                self.switches.current.version,
            );
            self.out.request(conn, hb);
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Heartbeat => {
                if let Some(conn) = self.meta_watch.silent(now, self.config.heartbeat_interval) {
                    // Closed as if it had dropped: the next meta address, after the backoff.
                    self.out.close(conn, "meta answered no heartbeat");
                    self.conn_closed(now, conn);
                }
                self.heartbeat();
                if self.peers.meta_conn().is_some() {
                    let at = now + self.config.heartbeat_interval;
                    self.timers.arm(at, Timer::Heartbeat);
                }
            }
            Timer::Scan => {
                self.scan(now);
                self.timers
                    .arm(now + self.config.scan_interval, Timer::Scan);
            }
            Timer::RepairScan => {
                self.repair_scan_at = None;
                self.scan(now);
            }
            Timer::Reconnect => {
                if let Some(at) = self.peers.reconnect_due(now, &mut self.out) {
                    self.timers.arm(at, Timer::Reconnect);
                }
            }
            Timer::Writes(slot) => self.pump_writes(now, slot),
            Timer::Fetch(slot) => self.pump_fetch(now, slot),
            Timer::PushRetry(conn, tid) => {
                let (mut cx, pusher, reg) = self.push_cx(now);
                pusher.retry(reg, conn, tid, &mut cx);
            }
            Timer::BreakerClose(conn) => {
                let (mut cx, pusher, reg) = self.push_cx(now);
                pusher.close_breaker(reg, conn, &mut cx);
            }
            Timer::Grace(conn) => {
                if let Some(keys) = self.graces.remove(&conn) {
                    self.remove_publishers(now, conn, keys);
                }
                self.switches.forget(conn);
            }
            Timer::Liveness => {
                self.close_silent_newcomers(now);
                self.sweep_liveness(now);
                let at = self.sweep.next_at(now);
                self.timers.arm(at, Timer::Liveness);
            }
        }
    }

    /// Closes the connections that said no hello within `hello_timeout` (checked every
    /// liveness sweep: a few seconds late at most).
    fn close_silent_newcomers(&mut self, now: Instant) {
        for conn in self.admission.hello_overdue(now) {
            if self.inbound.get(&conn) == Some(&Inbound::Unknown) {
                self.out.stats.limit_refusals.hello_timeouts += 1;
                self.inbound.remove(&conn);
                self.out.close(conn, "no hello within hello_timeout");
                self.conn_closed(now, conn);
            }
        }
    }

    /// Sends `KeepAlive` on idle client connections and data links and closes the silent
    /// ones.
    fn sweep_liveness(&mut self, now: Instant) {
        self.sweep.advance(now);
        let mut dead = Vec::new();
        let sweep = &self.sweep;
        for (conn, c) in self.registry.clients_mut() {
            match sweep.due(now, c.heard, c.sent) {
                Due::Dead => dead.push(conn),
                Due::KeepAlive => {
                    self.out.send(conn, 0, KeepAlive {});
                    c.sent = sweep.stamp(now);
                }
                Due::Nothing => {}
            }
        }
        let peers = &self.peers;
        // Drop links that ended another way (e.g. left the membership).
        self.links
            .retain(|conn, _| matches!(peers.peer(*conn), Some(Peer::Data(_))));
        let cfg = self.config.liveness;
        let late = self.sweep.late();
        for (&conn, l) in &self.links {
            match l.due(now, &cfg) {
                // A late sweep judges no link either: see `Sweep`.
                Due::Dead if late => {
                    if l.keepalive_due(now, cfg.keepalive_interval) {
                        self.out.send(conn, 0, KeepAlive {});
                    }
                }
                Due::Dead => dead.push(conn),
                Due::KeepAlive => self.out.send(conn, 0, KeepAlive {}),
                Due::Nothing => {}
            }
        }
        for conn in dead {
            self.out.close(conn, "idle timeout");
            self.conn_closed(now, conn);
        }
    }

    /// A connection ended (reported by the driver, or closed by the session itself).
    /// The protocol version and features agreed on `conn`: with a client or a peer that
    /// said hello to this session, once answered, or with a peer that answered this
    /// session's hello. `None` before that, or on a connection the session does not know.
    pub fn agreement(&self, conn: ConnId) -> Option<Agreement> {
        self.agreements.get(&conn).copied()
    }

    /// A client's hello: serve the connection if the session speaks its version, and tell
    /// it what was agreed.
    fn client_hello(&mut self, now: Instant, conn: ConnId, rid: u64, h: ClientHello) {
        let admitted = match self.gate.identify(conn, &h.token) {
            Ok(a) => a,
            Err(denied) => {
                self.out.stats.access_denials.hellos += 1;
                self.inbound.remove(&conn);
                self.switches.forget(conn);
                return self.refuse_hello(conn, rid, forbidden(h.features, denied));
            }
        };
        if self.refuse_off_client(conn, rid) {
            return;
        }
        self.inbound.remove(&conn);
        if self.refuse_while_draining(now, conn) {
            return;
        }
        let agreement = match negotiate::negotiate(h.version, h.features) {
            Ok(a) => a,
            Err(refusal) => return self.refuse_hello(conn, rid, refusal),
        };
        let address = self.switches.address(conn);
        let clients = self.registry.client_count();
        let refusals = &mut self.out.stats.limit_refusals;
        if let Err(OverLimit(reason)) =
            self.admission
                .admit(clients, address, &self.config.limits, refusals)
        {
            self.out.reject(conn, rid, ErrorCode::Overloaded, &reason);
            self.out.close(conn, &reason);
            self.switches.forget(conn);
            return;
        }
        self.admission.opened(conn, address);
        self.gate.admit(conn, admitted);
        self.registry.open(conn, now, self.sweep.stamp(now));
        self.agreements.insert(conn, agreement);
        let deltas = agreement.features.contains(Features::DELTA_PUSH);
        self.pusher.allow_deltas(conn, deltas);
        if agreement.welcomes() {
            let welcome = ClientWelcome {
                version: agreement.version,
                features: agreement.features,
                session: self.config.process,
            };
            self.out.send(conn, rid, welcome);
        } else {
            self.out.send(conn, rid, Ack {});
        }
    }

    /// A peer's hello: bind the connection to it if the session speaks its version, and
    /// (version 2 on) tell it what was agreed.
    fn peer_hello(&mut self, conn: ConnId, rid: u64, h: PeerHello) {
        let agreement = match negotiate::negotiate(h.version, h.features) {
            Ok(a) => a,
            Err(refusal) => {
                self.inbound.remove(&conn);
                return self.refuse_hello(conn, rid, refusal);
            }
        };
        self.inbound.insert(conn, Inbound::Peer);
        self.peers.accept(conn, &h);
        self.agreements.insert(conn, agreement);
        if let Some(welcome) = agreement.peer_welcome(Role::Session, self.config.process) {
            self.out.send(conn, 0, welcome);
        }
    }

    /// Refuses a hello the session cannot serve: says why, then closes the connection.
    fn refuse_hello(&mut self, conn: ConnId, rid: u64, refusal: crate::wire::ErrorReply) {
        let reason = refusal.message.clone();
        self.out.send(conn, rid, refusal);
        self.out.event(SessionEvent::ProtocolViolation {
            conn,
            reason: reason.clone(),
        });
        self.out.close(conn, &reason);
    }

    /// A connection broke the protocol ([`Violation`]): answered, reported, closed, and
    /// forgotten.
    fn violation(&mut self, conn: ConnId, rid: u64, violation: Violation) {
        self.inbound.remove(&conn);
        let [reply, close] = violation.outputs(conn, rid);
        self.out.push(reply);
        self.out.event(SessionEvent::ProtocolViolation {
            conn,
            reason: violation.reason().clone(),
        });
        self.out.push(close);
    }

    /// A frame of a kind the session does not define: a one-way message is ignored, a
    /// request answered `Unsupported`.
    fn unknown(&mut self, conn: ConnId, rid: u64, u: Unknown) {
        if rid != 0 {
            self.out
                .send(conn, rid, negotiate::unsupported_kind(u.kind));
        }
    }

    fn conn_closed(&mut self, now: Instant, conn: ConnId) {
        self.admission.closed(conn);
        self.gate.forget(conn);
        self.agreements.remove(&conn);
        self.links.remove(&conn);
        self.meta_watch.closed(conn);
        self.inbound.remove(&conn);
        if self.registry.is_client(conn) {
            self.client_closed(now, conn);
            if !self.graces.contains_key(&conn) {
                self.switches.forget(conn);
            }
            return;
        }
        self.switches.forget(conn);
        if let Some(at) = self.peers.closed(conn, now, &mut self.rng) {
            self.timers.arm(at, Timer::Reconnect);
        }
        let lost: Vec<(u64, ReqKind)> = self
            .requests
            .iter()
            .filter(|(_, (c, _))| *c == conn)
            .map(|(id, (_, k))| (*id, *k))
            .collect();
        for (id, kind) in lost {
            self.requests.remove(&id);
            self.request_failed(now, id, kind);
        }
    }
}

impl Node for Session {
    type Command = Infallible;
    type Event = SessionEvent;

    fn handle_input(&mut self, now: Instant, input: Input<Infallible>) {
        self.now = self.now.max(now);
        match input {
            Input::Accepted { conn } => {
                self.inbound.insert(conn, Inbound::Unknown);
                self.admission.accepted(conn, now, &self.config.limits);
            }
            Input::Connected { conn } => {
                let hb = self.peers.heartbeat(
                    self.table.epoch(),
                    self.members_version.unwrap_or(0),
                    self.switches.current.version,
                );
                match self.peers.connected(conn, &hb, &mut self.out) {
                    Some(Peer::Meta) => {
                        self.meta_watch.up(conn, now);
                        let at = now + self.config.heartbeat_interval;
                        self.timers.arm(at, Timer::Heartbeat);
                    }
                    Some(Peer::Data(_)) => {
                        self.links.insert(conn, Liveness::new(now));
                        self.pump_all(now);
                    }
                    None => {}
                }
            }
            Input::Closed { conn } => self.conn_closed(now, conn),
            Input::Frame { conn, frame } => self.on_frame(now, conn, frame),
            Input::Command(never) => match never {},
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(&(at, id)) = self.request_deadlines.front() {
            if at > now {
                break;
            }
            self.request_deadlines.pop_front();
            if let Some((_, kind)) = self.requests.remove(&id) {
                self.request_failed(now, id, kind);
            }
        }
        for conn in self.peers.expire_dials(now) {
            self.out.close(conn, crate::net::TIMED_OUT);
            self.conn_closed(now, conn);
        }
        let mut cx = PushCtx {
            now,
            config: &self.config,
            out: &mut self.out,
            switches: &self.switches.current,
        };
        let (timers, rng) = (&mut self.timers, &mut self.rng);
        self.pusher.expire(&mut self.registry, &mut cx, timers, rng);
        while let Some(timer) = self.timers.pop_due(now) {
            self.on_timer(now, timer);
        }
    }

    fn authenticated(&mut self, conn: ConnId, common_name: Text) {
        self.gate.certified(conn, common_name);
    }

    fn accepted_from(&mut self, now: Instant, conn: ConnId, address: std::net::IpAddr) {
        self.handle_input(now, Input::Accepted { conn });
        self.switches.remember(conn, address);
    }

    fn poll_output(&mut self) -> Option<Output<SessionEvent>> {
        // Stamped as it leaves, looked at in place rather than moved out and back.
        if let Some(conn) = self.out.next_send() {
            if let Some(c) = self.registry.client_mut(conn) {
                c.sent = self.sweep.stamp(self.now);
            } else if let Some(l) = self.links.get_mut(&conn) {
                l.sent(self.now);
            }
        }
        self.out.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.pusher.next_deadline(),
            self.request_deadlines.front().map(|(at, _)| *at),
            self.peers.next_dial_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Session {
    fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        if let Some(c) = self.registry.client_mut(conn) {
            c.heard = c.heard.max(now);
            let registrations = c.registrations();
            return self.on_client_frame(now, conn, registrations, frame);
        }
        if let Some(l) = self.links.get_mut(&conn) {
            l.received(now);
        }
        self.meta_watch.heard(conn, now);
        if let Some(peer) = self.peers.peer(conn) {
            return self.on_peer_frame(now, conn, peer, frame);
        }
        match self.inbound.get(&conn).copied() {
            Some(Inbound::Unknown) => match frame.message {
                Message::ClientHello(h) => self.client_hello(now, conn, frame.request_id, h),
                // Only data nodes dial a session; meta is dialled by the session itself, so a
                // "meta" on an inbound connection is refused rather than obeyed.
                Message::PeerHello(h) if h.role == Role::Data => {
                    self.peer_hello(conn, frame.request_id, h)
                }
                Message::PeerHello(h) => {
                    self.inbound.remove(&conn);
                    let reason = format!("a {:?} node does not dial a session", h.role);
                    self.out.close(conn, &reason);
                }
                Message::KeepAlive(_) => {}
                Message::Unknown(u) => self.unknown(conn, frame.request_id, u),
                other => {
                    let violation = Violation::before_hello(other.kind());
                    self.violation(conn, frame.request_id, violation);
                }
            },
            // A peer connection whose hello was bound elsewhere, or an unknown id.
            Some(Inbound::Peer) | None => {
                let reason = "frame on an unknown connection";
                self.out.event(SessionEvent::ProtocolViolation {
                    conn,
                    reason: Text::from(reason),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// Bytes of a publisher's payload and attributes, as `ClientLimits::max_publisher_bytes`
/// counts them.
fn publisher_bytes(p: &crate::model::Publisher) -> usize {
    let payload: usize = p.payload.iter().map(|b| b.len()).sum();
    let attributes: usize = p
        .attributes
        .iter()
        .map(|a| a.key.len() + a.value.len())
        .sum();
    payload + attributes
}
