//! The simulated world: the cluster's nodes, the network, the workload, the fault schedule
//! and the checker, advanced one event at a time in virtual time. Every frame goes through
//! `Frame::to_bytes` when sent and `Frame::decode` when delivered.
//!
//! A run: the workload and the faults run for the configured fault phase; then every fault
//! is healed (partitions end, message faults stop, crashed nodes restart, pauses end) and the
//! workload stops; the run ends when the liveness condition holds, or fails when it does not
//! within the configured bound.

use crate::check::{Checker, Violation, Who};
use crate::cluster::{Kind, Layout, Machine, MetaDisk, NodeSlot, Out};
use crate::config::SimConfig;
use crate::felt::{Felt, Window, Windows};
use crate::net::{Fate, Net, NodeIx, Weather};
use crate::operator::{self, Operator};
use crate::queue::Queue;
use crate::trace::{Record, Trace};
use crate::workload::Workload;
use bytes::Bytes;
use roster_core::client::Command;
use roster_core::io::{ConnId, Input};
use roster_core::meta::{VoterChange, VoterRole};
use roster_core::model::{DataInfoId, DatumVersion, Text};
use roster_core::rng::Rng;
use roster_core::time::Instant;
use roster_core::wire::{Frame, Message};
use std::collections::BTreeMap;
use std::time::Duration;

mod ghosts;
mod metrics;
pub mod ops;

/// Something scheduled.
#[derive(Debug)]
enum Ev {
    Timer {
        node: NodeIx,
        inc: u64,
    },
    Deliver {
        conn: usize,
        to: usize,
        bytes: Bytes,
    },
    Accept {
        conn: usize,
    },
    Connected {
        conn: usize,
    },
    Refused {
        node: NodeIx,
        inc: u64,
        conn: ConnId,
    },
    HangUp {
        conn: usize,
        to: usize,
    },
    Op {
        node: NodeIx,
        inc: u64,
    },
    Fault,
    Restart {
        node: NodeIx,
    },
    Heal {
        partition: u64,
    },
    EndFaults,
    Probe,
    /// Ask the meta leader to replace a voter by the joiner (`replace_meta_voter`).
    ReplaceVoter,
    Resume {
        node: NodeIx,
    },
    /// A stalled client reads again.
    ResumeReads {
        node: NodeIx,
        inc: u64,
    },
    /// The operator carries out step `step` of its plan (`operator`).
    Operator {
        step: usize,
    },
    /// Whether step `step` has committed yet (asked again if not).
    OperatorCheck {
        step: usize,
    },
    /// Switches `version` committed the operator bound ago: its checks.
    OperatorBound {
        version: u64,
    },
    /// Pause whichever meta node leads for this long (`meta_leader_stalls`).
    StallMetaLeader {
        pause: Duration,
    },
    /// The operator asks for drain or decommission step `step` (`ops`).
    Ops {
        step: usize,
    },
    /// Whether ops step `step` has committed yet (asked again if not).
    OpsCheck {
        step: usize,
    },
    /// Ops step `step` committed the bound ago: its checks.
    OpsBound {
        step: usize,
    },
}

/// Counts of what a run did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Frames delivered.
    pub delivered: u64,
    /// Connections broken by loss or partitions.
    pub breaks: u64,
    /// Frames duplicated.
    pub duplicated: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Connects that nothing answered (a partition, a host down): ended by the dialer's
    /// connect deadline.
    pub black_holed: u64,
    /// Node pauses.
    pub pauses: u64,
    /// Partitions.
    pub partitions: u64,
    /// Client connection cuts.
    pub client_cuts: u64,
    /// Client process deaths.
    pub client_deaths: u64,
    /// Clients that stopped reading for a while.
    pub read_stalls: u64,
    /// Workload operations.
    pub ops: u64,
    /// Pushes delivered to clients, whole lists and deltas.
    pub pushes: u64,
    /// Of `pushes`, the deltas.
    pub delta_pushes: u64,
    /// Virtual time at the end.
    pub end: Duration,
    /// Time from healing to convergence.
    pub converged_after: Option<Duration>,
    /// Slot tables installed per phase (check (d)).
    pub epochs: crate::epochs::EpochCounts,
    /// Meta voter changes a leader accepted (`replace_meta_voter`).
    pub voter_changes: u64,
    /// The meta leader's voters at the end, if one leads.
    pub meta_voters: Option<Vec<u64>>,
    /// Operator steps committed (`operator`).
    pub operator_steps: usize,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Outcome {
    /// The configuration.
    pub config: SimConfig,
    /// Counts.
    pub stats: Stats,
    /// The trace hash.
    pub hash: u64,
    /// The first violated property, with the last events before it.
    pub failure: Option<(Violation, Vec<String>)>,
}

/// The world of one run.
#[derive(Debug)]
pub struct World {
    cfg: SimConfig,
    now: Instant,
    rng: Rng,
    queue: Queue<Ev>,
    nodes: Vec<NodeSlot>,
    addresses: BTreeMap<String, NodeIx>,
    layout: Layout,
    net: Net,
    workload: Workload,
    checker: Checker,
    epochs: crate::epochs::Epochs,
    /// Checks (a)–(c): what users feel while the run goes.
    felt: Felt,
    windows: Windows,
    /// Closed client connections' publishers, listed for the documented grace.
    ghosts: ghosts::Ghosts,
    /// What the liveness probes saw since the heal.
    measure: ghosts::Measure,
    trace: Trace,
    stats: Stats,
    /// Connections whose opener was told `Connected`: (node, incarnation, its id).
    established: std::collections::BTreeSet<(NodeIx, u64, ConnId)>,
    partitions: BTreeMap<u64, Vec<(NodeIx, NodeIx)>>,
    next_partition: u64,
    faulty: bool,
    healed_at: Option<Instant>,
    /// Per paused node, the events that reached it, in order.
    deferred: BTreeMap<NodeIx, std::collections::VecDeque<Ev>>,
    /// Per client that stopped reading: until when, and what arrived on its connections
    /// meanwhile (frames and hang-ups, which a reader only notices when it reads), in order.
    unread: BTreeMap<NodeIx, (Instant, std::collections::VecDeque<Ev>)>,
    done: bool,
    failure: Option<Violation>,
    /// The simulated operator's progress (`operator`).
    operator: Operator,
    /// What crashed sessions counted (check (m), `metrics`).
    retired_sessions: metrics::Retired,
    /// Pushes delivered to clients, each once (check (m)).
    delivered_pushes: metrics::Delivered,
}

fn exp(rng: &mut Rng, mean: Duration) -> Duration {
    let u = (rng.below(1 << 30) as f64 + 1.0) / (1u64 << 30) as f64;
    Duration::from_nanos((-u.ln() * mean.as_nanos() as f64).min(1e13) as u64)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl World {
    /// The world of `cfg`; `full_trace` prints every event.
    pub fn new(cfg: SimConfig, full_trace: bool) -> Self {
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let weather = Weather {
            loss: cfg.faults.loss,
            duplicate: cfg.faults.duplicate,
            reorder: cfg.faults.reorder,
        };
        let mut w = World {
            net: Net::new(cfg.latency_min, cfg.latency_tail, weather),
            layout: Layout::new(&cfg),
            workload: Workload::new(cfg.keys, cfg.hot, cfg.clients),
            checker: Checker::new(),
            epochs: Default::default(),
            felt: Felt::default(),
            windows: Windows::defaults(),
            ghosts: ghosts::Ghosts::default(),
            measure: ghosts::Measure::default(),
            trace: Trace::new(64, full_trace),
            now: Instant::ZERO,
            queue: Queue::default(),
            nodes: Vec::new(),
            addresses: BTreeMap::new(),
            stats: Stats::default(),
            established: std::collections::BTreeSet::new(),
            partitions: BTreeMap::new(),
            next_partition: 0,
            faulty: true,
            healed_at: None,
            deferred: BTreeMap::new(),
            retired_sessions: metrics::Retired::default(),
            delivered_pushes: metrics::Delivered::default(),
            unread: BTreeMap::new(),
            done: false,
            failure: None,
            operator: Operator::default(),
            rng: rng.fork(),
            cfg,
        };
        let _ = rng.next_u64();
        let counts = [
            (Kind::Meta, w.layout.meta_nodes()),
            (Kind::Data, w.cfg.datas),
            (Kind::Session, w.cfg.sessions),
            (Kind::Client, w.cfg.clients),
        ];
        for (kind, n) in counts {
            for i in 0..n {
                let ix = w.nodes.len();
                match kind {
                    Kind::Meta => {
                        w.addresses.insert(Layout::meta_address(i), ix);
                    }
                    Kind::Data => {
                        w.addresses.insert(Layout::data_address(i), ix);
                    }
                    Kind::Session => {
                        w.addresses.insert(Layout::session_client_address(i), ix);
                        w.addresses.insert(Layout::session_peer_address(i), ix);
                    }
                    Kind::Client => {}
                }
                w.nodes.push(NodeSlot {
                    kind,
                    index: i,
                    inc: 0,
                    machine: None,
                    paused_until: None,
                    timer_at: None,
                    disk: MetaDisk::default(),
                    host_down: false,
                });
                w.start(ix);
            }
        }
        if w.cfg.faults.mean_gap.is_some() {
            let gap = exp(&mut w.rng, w.cfg.faults.mean_gap.unwrap_or(ms(1000)));
            w.queue.push(Instant::ZERO + ms(2_000) + gap, Ev::Fault);
        }
        let end = Instant::ZERO + w.cfg.fault_phase;
        w.queue.push(end, Ev::EndFaults);
        if w.cfg.replace_meta_voter {
            w.queue.push(Instant::ZERO + ms(3_000), Ev::ReplaceVoter);
        }
        for (step, s) in w.cfg.ops.iter().enumerate() {
            w.queue.push(Instant::ZERO + s.at, Ev::Ops { step });
        }
        for &(at, pause) in &w.cfg.meta_leader_stalls {
            w.queue
                .push(Instant::ZERO + at, Ev::StallMetaLeader { pause });
        }
        for (step, s) in w.cfg.operator.iter().enumerate() {
            w.queue.push(Instant::ZERO + s.at, Ev::Operator { step });
        }
        w
    }

    fn name(&self, ix: usize) -> String {
        self.nodes
            .get(ix)
            .map_or_else(|| "-".into(), NodeSlot::name)
    }

    fn record(
        &mut self,
        what: &'static str,
        node: usize,
        frame: Option<&Frame>,
        detail: Option<String>,
    ) {
        let kind = frame.map(|f| f.message.kind());
        let extra = frame.map_or(0, |f| f.request_id);
        let r = Record {
            at: self.now,
            what,
            node,
            kind,
            detail,
        };
        let nodes = &self.nodes;
        let names = |i: usize| nodes.get(i).map_or_else(|| "-".into(), NodeSlot::name);
        self.trace.record(r, &names, extra);
    }

    fn fail(&mut self, v: Violation) {
        if self.failure.is_none() {
            self.failure = Some(v);
            self.done = true;
        }
    }

    /// Starts (or restarts) node `ix` under a new incarnation.
    fn start(&mut self, ix: NodeIx) {
        let now = self.now;
        let slot = &mut self.nodes[ix];
        slot.inc += 1;
        slot.host_down = false;
        slot.paused_until = None;
        slot.timer_at = None;
        let m = self.layout.start(
            slot.kind,
            slot.index,
            slot.inc,
            &mut slot.disk,
            &mut self.rng,
            now,
        );
        self.nodes[ix].machine = Some(m);
        let inc = self.nodes[ix].inc;
        if self.nodes[ix].kind == Kind::Client {
            let first = exp(&mut self.rng, self.cfg.op_gap / 4);
            self.queue.push(now + first, Ev::Op { node: ix, inc });
        }
        self.record("start", ix, None, None);
        self.after_step(ix);
    }

    /// Crashes node `ix`: its memory is gone, its peers hear `Closed` (a reset).
    fn crash(&mut self, ix: NodeIx) {
        self.record("crash", ix, None, None);
        let who = Who {
            node: ix,
            inc: self.nodes[ix].inc,
        };
        if let Some(Machine::Session(s)) = &self.nodes[ix].machine {
            self.retired_sessions.add(&s.stats());
        }
        self.nodes[ix].machine = None;
        self.nodes[ix].timer_at = None;
        self.nodes[ix].paused_until = None;
        self.deferred.remove(&ix);
        self.unread.remove(&ix);
        if self.nodes[ix].kind == Kind::Client {
            self.workload.reset(ix);
            self.checker.forget_client(who);
            self.felt.forget_client(who);
        }
        let unaccepted = self.net.unaccepted_to(ix, who.inc);
        for c in unaccepted {
            self.net.break_conn(c);
            let lat = self.net.latency(&mut self.rng);
            self.queue
                .push(self.now + lat, Ev::HangUp { conn: c, to: 0 });
        }
        for (c, end) in self.net.conns_of(ix) {
            self.net.hang_up(c, end);
            self.net.break_conn(c);
            let lat = self.net.latency(&mut self.rng);
            self.queue.push(
                self.now + lat,
                Ev::HangUp {
                    conn: c,
                    to: 1 - end,
                },
            );
        }
    }

    /// Runs `f` on node `ix`'s machine, then drains its outputs.
    fn step(&mut self, ix: NodeIx, f: impl FnOnce(&mut Machine, Instant)) {
        let now = self.now;
        let Some(m) = self.nodes[ix].machine.as_mut() else {
            return;
        };
        f(m, now);
        self.after_step(ix);
    }

    fn who(&self, ix: NodeIx) -> Who {
        Who {
            node: ix,
            inc: self.nodes[ix].inc,
        }
    }

    fn after_step(&mut self, ix: NodeIx) {
        let who = self.who(ix);
        let kind = self.nodes[ix].kind;
        while let Some(out) = self.nodes[ix].machine.as_mut().and_then(Machine::poll) {
            self.output(ix, kind, who, out);
        }
        let Some(m) = self.nodes[ix].machine.as_ref() else {
            return;
        };
        // Safety checks that look at the node itself.
        let mut result = Ok(());
        if let Some(t) = m.table() {
            result = self.checker.on_table(who, t, kind == Kind::Meta);
        }
        if let (Ok(()), Machine::Meta(meta)) = (&result, m) {
            self.epochs
                .on_meta_table(self.now, meta.state().table.epoch().0);
            result = self
                .checker
                .on_meta(meta.id(), meta.is_leader(), meta.term());
        }
        let t = m.poll_timeout();
        if let Err(v) = result {
            self.fail(v);
        }
        if t.is_some() && t != self.nodes[ix].timer_at {
            let at = t.unwrap_or(self.now).max(self.now);
            self.nodes[ix].timer_at = t;
            self.queue.push(
                at,
                Ev::Timer {
                    node: ix,
                    inc: who.inc,
                },
            );
        }
    }

    fn process_of(&self, ix: NodeIx) -> roster_core::model::ProcessId {
        let s = &self.nodes[ix];
        match s.kind {
            Kind::Data => Layout::data_process(s.index, s.inc),
            _ => Layout::session_process(s.index, s.inc),
        }
    }

    fn output(&mut self, ix: NodeIx, kind: Kind, who: Who, out: Out) {
        match out {
            Out::Send(conn, frame) => {
                if kind == Kind::Data {
                    let p = self.process_of(ix);
                    if let Err(v) = self.checker.on_data_send(who, p, conn, &frame) {
                        self.fail(v);
                    }
                }
                if let Err(v) = self.felt_on_send(kind, who, conn, &frame) {
                    self.fail(v);
                }
                if let Err(v) = self.operator_on_send(ix, &frame) {
                    self.fail(v);
                }
                let Some((c, end)) = self.net.lookup(ix, conn) else {
                    return;
                };
                let bytes = frame
                    .to_bytes()
                    .expect("every frame the core builds encodes");
                match self.net.send(c, end, self.now, &mut self.rng) {
                    Fate::Dropped => {}
                    Fate::Break => {
                        self.stats.breaks += 1;
                        self.record("break", ix, Some(&frame), None);
                        for e in [0, 1] {
                            let d = self.net.detect_delay(&mut self.rng);
                            self.queue.push(self.now + d, Ev::HangUp { conn: c, to: e });
                        }
                    }
                    Fate::Deliver(at, dup) => {
                        let dup = dup.map(|at2| (at2, bytes.clone()));
                        self.queue.push(
                            at,
                            Ev::Deliver {
                                conn: c,
                                to: 1 - end,
                                bytes,
                            },
                        );
                        if let Some((at2, bytes)) = dup {
                            self.stats.duplicated += 1;
                            self.queue.push(
                                at2,
                                Ev::Deliver {
                                    conn: c,
                                    to: 1 - end,
                                    bytes,
                                },
                            );
                        }
                    }
                }
            }
            Out::Connect(conn, address) => self.connect(ix, who.inc, conn, &address),
            Out::Close(conn, timed_out) => {
                if timed_out && self.established.contains(&(ix, who.inc, conn)) {
                    self.fail(Violation {
                        property: "connect deadline",
                        detail: format!(
                            "{} abandoned {conn} as a connect that timed out after it connected",
                            self.name(ix)
                        ),
                    });
                }
                if let Some((c, end)) = self.net.lookup(ix, conn) {
                    self.excuse_clients_of(c, self.now);
                    self.note_closed(c);
                    let at = self.net.close(c, end, self.now, &mut self.rng);
                    self.queue.push(
                        at,
                        Ev::HangUp {
                            conn: c,
                            to: 1 - end,
                        },
                    );
                }
            }
            Out::Client(e) => {
                if !matches!(e, roster_core::client::Event::Update { .. }) {
                    self.record("app-event", ix, None, Some(format!("{e:?}")));
                }
                if let Err(v) = self.checker.on_client_event(who, &e) {
                    self.fail(v);
                }
                if let roster_core::client::Event::Update {
                    data_info_id,
                    version,
                    publishers,
                    ..
                } = &e
                {
                    let now = self.now;
                    if let Err(v) =
                        self.felt
                            .on_delivered(who, now, data_info_id, *version, publishers)
                    {
                        self.fail(v);
                    }
                    let ids = publishers.iter().map(|p| p.register_id());
                    let bound = self.cfg.operator_bound;
                    let whose = self.name(ix);
                    if let Err(v) = self.operator.on_list(now, bound, &whose, ids) {
                        self.fail(v);
                    }
                }
            }
            Out::Persist(p) => self.nodes[ix].disk.write(&p),
            Out::Other => {}
        }
    }

    /// Checks (a)–(c) on a frame a node sends.
    fn felt_on_send(
        &mut self,
        kind: Kind,
        who: Who,
        conn: ConnId,
        frame: &Frame,
    ) -> Result<(), Violation> {
        match (&frame.message, kind) {
            (Message::Publish(p), Kind::Client) => {
                let id = &p.publisher.register_id;
                let at = (conn, frame.request_id);
                self.felt
                    .on_publish(who, at, &p.data_info_id, id, p.publisher.version);
            }
            (Message::Unpublish(u), Kind::Client) => {
                self.felt
                    .on_unpublish(&u.data_info_id, &u.register_id, u.version);
            }
            (Message::Push(p), Kind::Session) => {
                self.felt_on_wire_push(who, conn, frame.request_id, &p.data_info_id, p.version)?;
            }
            (Message::PushDelta(p), Kind::Session) => {
                self.felt_on_wire_push(who, conn, frame.request_id, &p.data_info_id, p.version)?;
            }
            (Message::WriteAccepted(_), Kind::Data) => {
                self.felt.on_write_answer(who, conn, frame.request_id, true);
            }
            (Message::Refused(_) | Message::ErrorReply(_), Kind::Data) => {
                self.felt
                    .on_write_answer(who, conn, frame.request_id, false);
            }
            (Message::Datums(d), Kind::Data) => {
                for datum in &d.datums {
                    self.felt
                        .on_served(&datum.data_info_id, datum.version, &datum.publishers);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A session pushed `key` at `version` on `conn` (check (c)), if the connection is known.
    fn felt_on_wire_push(
        &mut self,
        who: Who,
        conn: ConnId,
        request: u64,
        key: &DataInfoId,
        version: DatumVersion,
    ) -> Result<(), Violation> {
        match self.net.lookup(who.node, conn) {
            Some((c, _)) => self
                .felt
                .on_wire_push((who, conn), (c, request), key, version),
            None => Ok(()),
        }
    }

    /// A connection closes or breaks: a client at either end may fail over, and losses of
    /// its publishers are excused until `until` and a failover window after.
    fn excuse_clients_of(&mut self, conn: usize, until: Instant) {
        let until = until + self.windows.failover;
        for e in self.net.conn(conn).ends {
            if self.nodes[e.node].kind == Kind::Client && self.nodes[e.node].inc == e.inc {
                let who = Who {
                    node: e.node,
                    inc: e.inc,
                };
                self.felt.excuse_client(who, until, Window::Connection);
            }
        }
    }

    /// A connection closes or breaks at one end: a client at either end (alive or not)
    /// may keep the publishers it had on it listed for the documented grace.
    fn note_closed(&mut self, conn: usize) {
        for e in self.net.conn(conn).ends {
            if self.nodes[e.node].kind == Kind::Client {
                let who = Who {
                    node: e.node,
                    inc: e.inc,
                };
                self.ghosts.closed(who, self.now);
            }
        }
    }

    /// A session stalls until `until`: its clients' losses are excused until then and a
    /// failover window after.
    fn excuse_clients_of_session(&mut self, session: NodeIx, until: Instant) {
        for (c, _) in self.net.conns_of(session) {
            self.excuse_clients_of(c, until);
        }
    }

    fn connect(&mut self, ix: NodeIx, inc: u64, conn: ConnId, address: &Text) {
        let target = self.addresses.get(address.as_str()).copied();
        let lat = self.net.latency(&mut self.rng);
        let Some(t) = target.filter(|&t| {
            self.nodes[t].machine.is_some()
                && !self.net.is_blocked(ix, t)
                && !self.net.is_blocked(t, ix)
        }) else {
            // Across a partition, or to a host that is down, the SYN is dropped: nothing
            // answers, and only the dialer's own connect deadline ends the attempt. A
            // crashed process on a live host (or no host at the address) is refused at once.
            let black_hole = target.is_some_and(|t| {
                self.nodes[t].host_down || self.net.is_blocked(ix, t) || self.net.is_blocked(t, ix)
            });
            if black_hole {
                self.stats.black_holed += 1;
            } else {
                self.queue.push(
                    self.now + lat * 2,
                    Ev::Refused {
                        node: ix,
                        inc,
                        conn,
                    },
                );
            }
            return;
        };
        let accept_at = self.now + lat;
        let connected_at = accept_at + self.net.latency(&mut self.rng);
        let c = self.net.open(
            (ix, inc, conn),
            (t, self.nodes[t].inc),
            accept_at,
            connected_at,
        );
        self.queue.push(accept_at, Ev::Accept { conn: c });
        self.queue.push(connected_at, Ev::Connected { conn: c });
    }

    /// The node an event is for, if it must wait for a pause to end.
    fn target(&self, ev: &Ev) -> Option<NodeIx> {
        match ev {
            Ev::Timer { node, .. } | Ev::Refused { node, .. } | Ev::Op { node, .. } => Some(*node),
            Ev::Deliver { conn, to, .. } | Ev::HangUp { conn, to } => {
                Some(self.net.conn(*conn).ends[*to].node)
            }
            Ev::Accept { conn } => Some(self.net.conn(*conn).ends[1].node),
            Ev::Connected { conn } => Some(self.net.conn(*conn).ends[0].node),
            _ => None,
        }
    }

    fn alive(&self, ix: NodeIx, inc: u64) -> bool {
        self.nodes[ix].inc == inc && self.nodes[ix].machine.is_some()
    }

    fn handle(&mut self, ev: Ev) {
        if let Some(n) = self.target(&ev) {
            if self.nodes[n].paused_until.is_some() {
                // Held in arrival order until the pause ends.
                self.deferred.entry(n).or_default().push_back(ev);
                return;
            }
            if let Some((_, held)) = self.unread.get_mut(&n)
                && matches!(ev, Ev::Deliver { .. } | Ev::HangUp { .. })
            {
                // Its kernel keeps what arrives; the client sees it when it reads again.
                held.push_back(ev);
                return;
            }
        }
        match ev {
            Ev::Timer { node, inc } => {
                if !self.alive(node, inc) {
                    return;
                }
                let due = self.nodes[node]
                    .machine
                    .as_ref()
                    .and_then(Machine::poll_timeout);
                if due.is_some_and(|t| t <= self.now) {
                    self.nodes[node].timer_at = None;
                    self.step(node, |m, now| m.timeout(now));
                } else if due.is_some() && due != self.nodes[node].timer_at {
                    self.after_step(node);
                }
            }
            Ev::Deliver { conn, to, bytes } => {
                let e = self.net.conn(conn).ends[to];
                if !self.net.deliverable(conn, to) || !self.alive(e.node, e.inc) {
                    return;
                }
                let frame = Frame::decode(bytes).expect("the codec reads what it wrote");
                self.stats.delivered += 1;
                match frame.message {
                    Message::Push(_) => {
                        self.stats.pushes += 1;
                        self.delivered_pushes.push(conn, frame.request_id, false);
                    }
                    Message::PushDelta(_) => {
                        self.stats.pushes += 1;
                        self.stats.delta_pushes += 1;
                        self.delivered_pushes.push(conn, frame.request_id, true);
                    }
                    _ => {}
                }
                self.record("deliver", e.node, Some(&frame), None);
                if self.trace.full {
                    // The full trace shows what was delivered and from whom; it is printed
                    // beside the record, not hashed, so `--trace` keeps the run's hash.
                    let from = self.net.conn(conn).ends[1 - to].node;
                    let mut body = format!("{:?}", frame.message);
                    crate::trace::clip(&mut body, 1500);
                    println!(
                        "{:>26} <- {} #{} {body}",
                        "",
                        self.name(from),
                        frame.request_id
                    );
                }
                if self.nodes[e.node].kind == Kind::Data {
                    self.checker
                        .on_data_receive(self.who(e.node), e.conn, &frame);
                    if let Message::WriteBatch(b) = &frame.message {
                        self.felt
                            .on_write_batch(self.who(e.node), e.conn, frame.request_id, b);
                    }
                }
                if self.nodes[e.node].kind == Kind::Session {
                    match &frame.message {
                        Message::Subscribe(s) => {
                            self.felt
                                .on_subscription(conn, &s.data_info_id, &s.register_id, true)
                        }
                        Message::Unsubscribe(s) => {
                            self.felt
                                .on_subscription(conn, &s.data_info_id, &s.register_id, false)
                        }
                        Message::Ack(_) => self.felt.on_push_ack(conn, frame.request_id),
                        _ => {}
                    }
                }
                if self.nodes[e.node].kind == Kind::Client
                    && matches!(frame.message, Message::Ack(_))
                {
                    self.felt.on_ack(self.who(e.node), e.conn, frame.request_id);
                }
                self.step(e.node, |m, now| {
                    m.input(
                        now,
                        Input::Frame {
                            conn: e.conn,
                            frame,
                        },
                    )
                });
            }
            Ev::Accept { conn } => {
                let e = self.net.conn(conn).ends[1];
                if !self.alive(e.node, e.inc) {
                    self.net.break_conn(conn);
                    let lat = self.net.latency(&mut self.rng);
                    self.queue.push(self.now + lat, Ev::HangUp { conn, to: 0 });
                    return;
                }
                if let Some(e) = self.net.accept(conn) {
                    self.record("accept", e.node, None, None);
                    let from = operator::address_of(self.net.conn(conn).ends[0].node);
                    self.step(e.node, |m, now| m.accepted_from(now, e.conn, from));
                }
            }
            Ev::Connected { conn } => {
                let e = self.net.conn(conn).ends[0];
                if self.net.deliverable(conn, 0) && self.alive(e.node, e.inc) {
                    self.record("connected", e.node, None, None);
                    self.established.insert((e.node, e.inc, e.conn));
                    self.step(e.node, |m, now| {
                        m.input(now, Input::Connected { conn: e.conn })
                    });
                }
            }
            Ev::Refused { node, inc, conn } => {
                if self.alive(node, inc) {
                    self.record("refused", node, None, None);
                    self.step(node, |m, now| m.input(now, Input::Closed { conn }));
                }
            }
            Ev::HangUp { conn, to } => {
                self.excuse_clients_of(conn, self.now);
                self.note_closed(conn);
                if let Some(e) = self.net.hang_up(conn, to) {
                    if self.alive(e.node, e.inc) {
                        self.record("closed", e.node, None, None);
                        self.step(e.node, |m, now| {
                            m.input(now, Input::Closed { conn: e.conn })
                        });
                    }
                }
            }
            Ev::Op { node, inc } => {
                if !self.alive(node, inc) || !self.faulty {
                    return;
                }
                let cmd: Command = self.workload.next_op(node, inc, &mut self.rng);
                if let Command::Unpublish {
                    data_info_id,
                    register_id,
                } = &cmd
                {
                    self.felt.on_unregister(data_info_id, register_id);
                }
                self.stats.ops += 1;
                let detail = self.trace.full.then(|| format!("{cmd:?}"));
                self.record("op", node, None, detail);
                self.step(node, |m, now| m.command(now, cmd));
                let gap = exp(&mut self.rng, self.cfg.op_gap);
                self.queue.push(self.now + gap, Ev::Op { node, inc });
            }
            Ev::Fault => {
                if !self.faulty {
                    return;
                }
                self.fault();
                let gap = exp(&mut self.rng, self.cfg.faults.mean_gap.unwrap_or(ms(1000)));
                self.queue.push(self.now + gap, Ev::Fault);
            }
            Ev::Restart { node } => {
                if self.nodes[node].machine.is_none() {
                    self.start(node);
                }
            }
            Ev::Heal { partition } => {
                if let Some(pairs) = self.partitions.remove(&partition) {
                    for (a, b) in pairs {
                        self.net.unblock(a, b);
                    }
                    self.record("heal", 0, None, Some(format!("partition {partition}")));
                }
            }
            Ev::EndFaults => self.end_faults(),
            Ev::Operator { step } => self.operate(step),
            Ev::OperatorCheck { step } => self.operator_check(step),
            Ev::OperatorBound { version } => self.operator_bound(version),
            Ev::Ops { step } => self.ops_start(step),
            Ev::OpsCheck { step } => self.ops_check(step),
            Ev::OpsBound { step } => self.ops_bound(step),
            Ev::Resume { node } => {
                if self.nodes[node].paused_until.is_some_and(|u| u <= self.now) {
                    self.resume(node);
                }
            }
            Ev::ResumeReads { node, inc } => {
                let due = self.unread.get(&node).is_some_and(|(u, _)| *u <= self.now);
                if self.alive(node, inc) && due {
                    self.resume_reads(node);
                }
            }
            Ev::Probe => self.probe(),
            Ev::ReplaceVoter => self.replace_voter(),
            Ev::StallMetaLeader { pause } => {
                if let Some(n) = self.meta_leader_ix() {
                    self.pause(n, pause);
                }
            }
        }
    }

    fn servers(&self) -> Vec<NodeIx> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].kind != Kind::Client)
            .collect()
    }

    fn clients(&self) -> Vec<NodeIx> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].kind == Kind::Client)
            .collect()
    }

    fn pick(&mut self, from: &[NodeIx]) -> Option<NodeIx> {
        if from.is_empty() {
            None
        } else {
            Some(from[self.rng.below(from.len() as u64) as usize])
        }
    }

    /// One fault action, chosen by the run's weights.
    fn fault(&mut self) {
        let f = self.cfg.faults.clone();
        let total = f.crash + f.pause + f.partition + f.client + f.stall;
        if total == 0 {
            return;
        }
        self.epochs.on_fault();
        let mut r = self.rng.below(u64::from(total)) as u32;
        let servers = self.servers();
        if r < f.crash {
            let alive: Vec<_> = servers
                .into_iter()
                .filter(|&i| self.nodes[i].machine.is_some())
                .collect();
            if let Some(n) = self.pick(&alive) {
                self.stats.crashes += 1;
                self.crash(n);
                // Half the crashes take the host down with the process.
                self.nodes[n].host_down = self.rng.chance(0.5);
                let d = ms(self.rng.range_inclusive(200, 12_000));
                self.queue.push(self.now + d, Ev::Restart { node: n });
                if self.nodes[n].kind == Kind::Data {
                    // Its slots' only up-to-date copy may be gone with it.
                    self.felt
                        .excuse_servers(self.now + d + self.windows.servers);
                }
            }
            return;
        }
        r -= f.crash;
        if r < f.pause {
            if let Some(n) = self.pick(&servers) {
                let d = ms(self.rng.range_inclusive(100, 15_000));
                self.pause(n, d);
            }
            return;
        }
        r -= f.pause;
        if r < f.partition {
            self.partition(&servers);
            return;
        }
        r -= f.partition;
        let clients = self.clients();
        if r >= f.client {
            self.stall_reads(&clients);
            return;
        }
        if let Some(c) = self.pick(&clients) {
            if self.rng.chance(0.7) {
                self.stats.client_cuts += 1;
                self.record("cut", c, None, None);
                for (conn, _) in self.net.conns_of(c) {
                    self.net.break_conn(conn);
                    for e in [0, 1] {
                        let d = self.net.detect_delay(&mut self.rng);
                        self.queue.push(self.now + d, Ev::HangUp { conn, to: e });
                    }
                }
            } else if self.nodes[c].machine.is_some() {
                self.stats.client_deaths += 1;
                self.crash(c);
                let d = ms(self.rng.range_inclusive(100, 5_000));
                self.queue.push(self.now + d, Ev::Restart { node: c });
            }
        }
    }

    /// Starts a partition among servers: symmetric or asymmetric between two groups, one
    /// node isolated, or random halves; it heals after a while.
    fn partition(&mut self, servers: &[NodeIx]) {
        if servers.len() < 2 {
            return;
        }
        let kind = self.rng.below(4);
        let side: Vec<NodeIx> = match kind {
            0 => servers
                .iter()
                .copied()
                .filter(|_| self.rng.chance(0.5))
                .collect(),
            1 => {
                let n = self.rng.below(servers.len() as u64) as usize;
                vec![servers[n]]
            }
            _ => servers
                .iter()
                .copied()
                .filter(|_| self.rng.chance(0.3))
                .collect(),
        };
        let other: Vec<NodeIx> = servers
            .iter()
            .copied()
            .filter(|s| !side.contains(s))
            .collect();
        if side.is_empty() || other.is_empty() {
            return;
        }
        let asymmetric = kind == 3;
        let mut pairs = Vec::new();
        for &a in &side {
            for &b in &other {
                pairs.push((a, b));
                if !asymmetric {
                    pairs.push((b, a));
                }
            }
        }
        for &(a, b) in &pairs {
            self.net.block(a, b);
        }
        self.stats.partitions += 1;
        let id = self.next_partition;
        self.next_partition += 1;
        let names: Vec<String> = side.iter().map(|&s| self.name(s)).collect();
        let how = ["halves", "isolate", "symmetric", "asymmetric"][kind as usize];
        self.record(
            "partition",
            side[0],
            None,
            Some(format!("{id} {how} {names:?}")),
        );
        self.partitions.insert(id, pairs);
        let d = ms(self.rng.range_inclusive(500, 15_000));
        self.queue.push(self.now + d, Ev::Heal { partition: id });
        self.felt
            .excuse_servers(self.now + d + self.windows.servers);
    }

    /// A client stops reading its connections for 0.5–12 s (past its own idle timeout it
    /// gives the connection up, as a real one would). It still runs its timers and writes,
    /// so the session keeps hearing from it while its pushes go unacknowledged and time
    /// out; then it reads and acknowledges everything that arrived.
    fn stall_reads(&mut self, clients: &[NodeIx]) {
        let reading: Vec<NodeIx> = clients
            .iter()
            .copied()
            .filter(|c| self.nodes[*c].machine.is_some() && !self.unread.contains_key(c))
            .collect();
        let Some(c) = self.pick(&reading) else {
            return;
        };
        let d = ms(self.rng.range_inclusive(500, 12_000));
        self.stats.read_stalls += 1;
        self.unread.insert(c, (self.now + d, Default::default()));
        let who = self.who(c);
        self.felt
            .excuse_client(who, self.now + d + self.windows.failover, Window::ReadStall);
        let inc = self.nodes[c].inc;
        self.queue
            .push(self.now + d, Ev::ResumeReads { node: c, inc });
        self.record("stall-reads", c, None, Some(format!("{d:?}")));
    }

    /// A stalled client reads again: what arrived meanwhile, in order.
    fn resume_reads(&mut self, node: NodeIx) {
        let Some((_, held)) = self.unread.remove(&node) else {
            return;
        };
        self.record(
            "resume-reads",
            node,
            None,
            Some(format!("{} held", held.len())),
        );
        for ev in held {
            self.handle(ev);
        }
    }

    /// Pauses node `n` for `d`: it keeps its state and connections and processes nothing.
    fn pause(&mut self, n: NodeIx, d: Duration) {
        self.stats.pauses += 1;
        let until = (self.now + d).max(self.nodes[n].paused_until.unwrap_or(self.now));
        self.nodes[n].paused_until = Some(until);
        self.queue.push(until, Ev::Resume { node: n });
        match self.nodes[n].kind {
            Kind::Data => self.felt.excuse_servers(until + self.windows.servers),
            Kind::Session => self.excuse_clients_of_session(n, until),
            _ => {}
        }
        self.record("pause", n, None, Some(format!("{d:?}")));
    }

    /// Ends a node's pause: it handles what reached it meanwhile, in order.
    fn resume(&mut self, node: NodeIx) {
        self.nodes[node].paused_until = None;
        let held = self.deferred.remove(&node).unwrap_or_default();
        for ev in held {
            self.handle(ev);
        }
    }

    fn end_faults(&mut self) {
        self.faulty = false;
        self.net.weather = Weather::default();
        self.net.heal();
        self.partitions.clear();
        for ix in 0..self.nodes.len() {
            self.resume(ix);
            self.resume_reads(ix);
            if self.nodes[ix].machine.is_none() {
                self.start(ix);
            }
        }
        self.healed_at = Some(self.now);
        self.epochs.on_heal();
        self.record("healed", 0, None, None);
        self.queue.push(self.now + ms(200), Ev::Probe);
    }

    /// Liveness: whether the cluster has converged; fails past the bound.
    fn probe(&mut self) {
        let healed = self.healed_at.unwrap_or(self.now);
        let probe = self.converged();
        match &probe {
            Ok(ghosts::Probe::Excused(end)) => self.measure.excused(self.now, *end),
            Ok(ghosts::Probe::Converged) => {}
            Err(_) => self.measure.not_converged(),
        }
        let probe = probe.and_then(|p| match p {
            ghosts::Probe::Converged => Ok(()),
            ghosts::Probe::Excused(end) => Err(format!(
                "only publishers of closed client connections, listed until {end:?} by design"
            )),
        });
        match probe {
            Ok(()) => {
                let after = self.measure.converged(healed, self.now);
                let first = self.stats.converged_after.unwrap_or(after);
                self.stats.converged_after = Some(first);
                // Check (d): the run goes on quietly for a while, then the bounds.
                match self.epochs.on_converged(self.now) {
                    Some(at) => self.queue.push(at, Ev::Probe),
                    None => match self.epochs.check() {
                        Ok(()) => match self.metrics_agree() {
                            Ok(()) => self.done = true,
                            Err(detail) => self.fail(Violation {
                                property: "metrics: the nodes' counters agree with the run",
                                detail,
                            }),
                        },
                        Err(v) => self.fail(v),
                    },
                }
            }
            Err(why) => {
                // Once converged, the settle and quiet periods only wait (workload churn).
                if self.now - healed > self.cfg.converge_bound
                    && self.stats.converged_after.is_none()
                {
                    self.fail(Violation {
                        property: "liveness: converged within the bound after healing",
                        detail: format!(
                            "not converged {:?} after healing: {why}",
                            self.cfg.converge_bound
                        ),
                    });
                } else {
                    self.queue.push(self.now + ms(200), Ev::Probe);
                }
            }
        }
    }

    /// Liveness: `Converged` when every list equals the truth, `Excused` when the only
    /// differences are publishers of closed client connections still in their documented
    /// window (`ghosts`), else what is wrong.
    fn converged(&self) -> Result<ghosts::Probe, String> {
        let clients = self.clients();
        for &c in &clients {
            if let Some(Machine::Client(m)) = &self.nodes[c].machine {
                if !m.is_connected() {
                    return Err(format!("{} is not connected", self.name(c)));
                }
            }
        }
        let live: Vec<NodeIx> = clients
            .iter()
            .copied()
            .filter(|&c| self.nodes[c].machine.is_some())
            .collect();
        let expected = self.workload.expected(&live);
        let none = Vec::new();
        let mut excused: Option<Instant> = None;
        for &c in &live {
            let Some(model) = self.workload.models.get(&c) else {
                continue;
            };
            for (sub, &k) in &model.subs {
                let want = expected.get(&k).unwrap_or(&none);
                let (version, got) = self
                    .checker
                    .list(self.who(c), sub)
                    .cloned()
                    .unwrap_or_default();
                if &got != want {
                    // Only extra publishers, each of a closed connection in its window?
                    let extra: Vec<_> = got.iter().filter(|p| !want.contains(p)).collect();
                    let ends: Option<Vec<Instant>> = extra
                        .iter()
                        .map(|(id, _)| {
                            let live_id = want.iter().any(|(w, _)| w == id);
                            let end = self.ghosts.excused(id, self.now);
                            end.filter(|_| !live_id)
                        })
                        .collect();
                    let complete = want.iter().all(|p| got.contains(p));
                    if let (true, Some(ends)) = (complete, ends) {
                        excused = ends.into_iter().chain(excused).max();
                        continue;
                    }
                    let ids = |l: &[(Text, Vec<Bytes>)]| {
                        l.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>()
                    };
                    return Err(format!(
                        "{} subscription {sub} on {} holds {:?} at {version:?}, expected {:?}; {}",
                        self.name(c),
                        self.workload.key(k),
                        ids(&got),
                        ids(want),
                        self.explain(k)
                    ));
                }
            }
        }
        self.followers_hold_leader_datums()?;
        Ok(excused.map_or(ghosts::Probe::Converged, ghosts::Probe::Excused))
    }

    /// Where each server stands on key `k`, for a liveness failure report.
    fn explain(&self, k: usize) -> String {
        let key = self.workload.key(k);
        let mut parts = Vec::new();
        for s in &self.nodes {
            match &s.machine {
                Some(Machine::Session(m)) => {
                    parts.push(format!(
                        "{} holds {} publishers",
                        s.name(),
                        m.publisher_count(key)
                    ));
                }
                Some(Machine::Data(d)) => {
                    let slot = d.table().slot_of(key);
                    let role = d
                        .table()
                        .slot(slot)
                        .and_then(|x| x.role_of(Layout::data_process(s.index, s.inc)));
                    let datum = d
                        .snapshot(slot)
                        .unwrap_or_default()
                        .into_iter()
                        .find(|r| &r.data_info_id == key);
                    let what = datum.map_or_else(
                        || "nothing".to_string(),
                        |r| {
                            format!(
                                "{:?} {:?}",
                                r.version,
                                r.publishers
                                    .iter()
                                    .map(|p| p.publisher.register_id.to_string())
                                    .collect::<Vec<_>>()
                            )
                        },
                    );
                    parts.push(format!(
                        "{} ({role:?} of {slot:?}, table {:?}) has {what}",
                        s.name(),
                        d.table().epoch()
                    ));
                }
                _ => {}
            }
        }
        parts.join("; ")
    }

    fn data_node_of(
        &self,
        p: roster_core::model::ProcessId,
    ) -> Option<&roster_core::data::DataNode> {
        self.nodes.iter().find_map(|s| match &s.machine {
            Some(Machine::Data(d))
                if s.kind == Kind::Data && Layout::data_process(s.index, s.inc) == p =>
            {
                Some(&**d)
            }
            _ => None,
        })
    }

    fn followers_hold_leader_datums(&self) -> Result<(), String> {
        let meta = self.nodes.iter().find_map(|s| match &s.machine {
            Some(Machine::Meta(m)) if m.is_leader() => Some(m),
            _ => None,
        });
        let Some(meta) = meta else {
            return Err("no meta leader".into());
        };
        let table = &meta.state().table;
        for (slot, s) in table.slots() {
            let Some(leader) = s.leader else {
                return Err(format!("slot {slot:?} has no leader"));
            };
            let Some(l) = self.data_node_of(leader) else {
                return Err(format!("slot {slot:?}'s leader {leader} is not running"));
            };
            let want = l.snapshot(slot).unwrap_or_default();
            for f in &s.followers {
                let Some(fnode) = self.data_node_of(*f) else {
                    return Err(format!("slot {slot:?}'s follower {f} is not running"));
                };
                let got = fnode.snapshot(slot).unwrap_or_default();
                if got != want {
                    // Name the first datum that differs, as each side holds it.
                    let first = want
                        .iter()
                        .zip(got.iter())
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| format!("leader has {a:?}; follower has {b:?}"))
                        .unwrap_or_else(|| {
                            format!("leader holds {} datums, follower {}", want.len(), got.len())
                        });
                    let mut first = first;
                    crate::trace::clip(&mut first, 1200);
                    return Err(format!(
                        "follower {f} of slot {slot:?} differs from leader {leader}: {first}; \
                         follower status {:?}, leader status {:?}",
                        fnode.slot_status(slot),
                        l.slot_status(slot)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Drives the replacement of a meta voter by the joiner (the last meta node): every
    /// 500 ms, while it is not done, asks the meta leader (if it has no change under way) to
    /// replace the lowest-id voter other than itself, or, once the joiner votes, to remove
    /// it (a leader change abandons a change half-way). Stops 20 s after the faults end.
    fn replace_voter(&mut self) {
        let joiner = self.layout.meta_nodes() - 1;
        let id = joiner as u64 + 1;
        let now = self.now;
        let metas = self.cfg.metas;
        let leader = (0..self.nodes.len())
            .find(|&ix| matches!(&self.nodes[ix].machine, Some(Machine::Meta(m)) if m.is_leader()));
        if let Some(ix) = leader
            && let Some(Machine::Meta(m)) = self.nodes[ix].machine.as_mut()
        {
            let voters: Vec<u64> = (m.meta_members().into_iter())
                .filter(|v| v.role == VoterRole::Voter)
                .map(|v| v.id)
                .collect();
            if voters.contains(&id) && voters.len() == metas {
                return;
            }
            if m.voter_change().is_none() {
                let me = m.id();
                let old = (voters.iter().copied())
                    .find(|&v| v != me && v != id)
                    .unwrap_or(me);
                let change = if voters.contains(&id) {
                    VoterChange::Remove { id: old }
                } else {
                    let address = Text::from(Layout::meta_address(joiner));
                    VoterChange::Replace { old, id, address }
                };
                let result = m.change_voters(now, change.clone());
                if result.is_ok() {
                    self.stats.voter_changes += 1;
                }
                self.record(
                    "voter change",
                    ix,
                    None,
                    Some(format!("{change}: {result:?}")),
                );
                self.after_step(ix);
            }
        }
        if now < Instant::ZERO + self.cfg.fault_phase + ms(20_000) {
            self.queue.push(now + ms(500), Ev::ReplaceVoter);
        }
    }

    /// The voters the meta leader has at the end, if one leads.
    fn final_voters(&self) -> Option<Vec<u64>> {
        self.nodes.iter().find_map(|n| match &n.machine {
            Some(Machine::Meta(m)) if m.is_leader() => Some(
                (m.meta_members().into_iter())
                    .filter(|v| v.role == VoterRole::Voter)
                    .map(|v| v.id)
                    .collect(),
            ),
            _ => None,
        })
    }

    /// Runs to the end; the outcome.
    pub fn run(mut self) -> Outcome {
        while !self.done {
            let Some((at, ev)) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(at);
            self.handle(ev);
        }
        self.stats.end = self.now - Instant::ZERO;
        self.stats.epochs = self.epochs.counts;
        self.stats.meta_voters = self.final_voters();
        let failure = self.failure.take().map(|v| {
            let nodes = &self.nodes;
            let names = |i: usize| nodes.get(i).map_or_else(|| "-".into(), NodeSlot::name);
            (v, self.trace.last(&names))
        });
        Outcome {
            config: self.cfg,
            stats: self.stats,
            hash: self.trace.hash(),
            failure,
        }
    }
}

/// The simulated operator (`operator`): carrying out its plan, and the checks at the
/// world's level.
impl World {
    /// The change step `i` asks for, and the client node it names, if any.
    fn step_change(&self, i: usize) -> (roster_core::model::SwitchChange, Option<NodeIx>) {
        let step = self.cfg.operator[i];
        let clients = self.clients();
        let client = |c: usize| clients[c % clients.len().max(1)];
        let data_id = |k: usize| {
            let k = k % self.cfg.keys.max(1);
            self.workload.key(k).data_id.clone()
        };
        let change = Operator::change(&step, data_id, client);
        let named = match step.action {
            operator::Action::ClientOff { client: c } if !clients.is_empty() => Some(client(c)),
            _ => None,
        };
        (change, named)
    }

    /// Asks a random live meta node for step `i`'s change, and checks on it later.
    fn operate(&mut self, i: usize) {
        let (change, client) = self.step_change(i);
        let step = self.cfg.operator[i];
        self.operator.asked(&step, client);
        let metas: Vec<NodeIx> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].kind == Kind::Meta)
            .filter(|&n| self.nodes[n].machine.is_some() && self.nodes[n].paused_until.is_none())
            .collect();
        if let Some(ix) = self.pick(&metas) {
            self.record("operator", ix, None, Some(format!("{change:?}")));
            self.step(ix, |m, _| m.change_switches(vec![change]));
        }
        self.queue
            .push(self.now + ms(200), Ev::OperatorCheck { step: i });
    }

    /// Step `i` holds on the meta leader: committed. Otherwise ask again.
    fn operator_check(&mut self, i: usize) {
        let (change, client) = self.step_change(i);
        let leader = self.nodes.iter().find_map(|n| match &n.machine {
            Some(Machine::Meta(m)) if m.is_leader() => Some(m.state().switches.clone()),
            _ => None,
        });
        match leader {
            Some(switches) if switches.satisfies(std::slice::from_ref(&change)) => {
                let step = self.cfg.operator[i];
                self.operator.committed(&step, client, self.now);
                self.stats.operator_steps += 1;
                let at = self.now + self.cfg.operator_bound;
                let version = switches.version;
                self.queue.push(at, Ev::OperatorBound { version });
            }
            _ => self.operate(i),
        }
    }

    /// The operator bound after switches `version` committed: every session applied it
    /// (runs whose faults cannot keep a session from meta), and no connected subscriber's
    /// list holds a publisher of a switched-off client.
    fn operator_bound(&mut self, version: u64) {
        let f = &self.cfg.faults;
        if f.crash == 0 && f.pause == 0 && f.partition == 0 {
            let laggards: Vec<String> = (0..self.nodes.len())
                .filter(|&n| self.nodes[n].kind == Kind::Session)
                .filter(|&n| {
                    self.nodes[n]
                        .machine
                        .as_ref()
                        .and_then(Machine::switches)
                        .is_some_and(|s| s.version < version)
                })
                .map(|n| self.name(n))
                .collect();
            if let Err(v) = Operator::on_bound(version, &laggards) {
                return self.fail(v);
            }
        }
        for c in self.clients() {
            let Some(Machine::Client(m)) = &self.nodes[c].machine else {
                continue;
            };
            if !m.is_connected() {
                continue;
            }
            let Some(model) = self.workload.models.get(&c) else {
                continue;
            };
            for sub in model.subs.keys() {
                let Some((_, list)) = self.checker.list(self.who(c), sub) else {
                    continue;
                };
                let ids = list.iter().map(|(id, _)| id.as_str());
                let whose = format!("{} subscription {sub}", self.name(c));
                let bound = self.cfg.operator_bound;
                if let Err(v) = self.operator.on_list(self.now, bound, &whose, ids) {
                    return self.fail(v);
                }
            }
        }
    }

    /// Check "stop push holds" on a frame node `ix` sends.
    fn operator_on_send(&self, ix: NodeIx, frame: &Frame) -> Result<(), Violation> {
        let key = match &frame.message {
            Message::Push(p) => &p.data_info_id,
            Message::PushDelta(p) => &p.data_info_id,
            _ => return Ok(()),
        };
        let Some(switches) = self.nodes[ix].machine.as_ref().and_then(Machine::switches) else {
            return Ok(());
        };
        Operator::on_push(&self.name(ix), switches, key.data_id.as_str())
    }
}
