// The in-memory meta network the meta tests share (`include!`d by `meta_cluster.rs` and
// `meta_voters.rs`): meta nodes driven by a small deterministic driver that carries every
// frame through `Frame::to_bytes` and `Frame::decode`, advances virtual time to the earliest
// `poll_timeout`, keeps what each node persisted, and plays fake data nodes that heartbeat
// the meta leader.

use bytes::Bytes;
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::meta::{
    Installed, LogWriter, MetaConfig, MetaEvent, MetaNode, MetaPeer, MetaStorage, Persist,
    apply_write,
};
use roster_core::model::{Incarnation, NodeId, ProcessId, Role, Switches, Text};
use roster_core::rng::Rng;
use roster_core::slot::{SlotCount, SlotTable};
use roster_core::time::Instant;
use roster_core::wire::{ClusterView, Frame, Heartbeat, Message, PeerHello, SlotState, SlotStatus};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// A fake data node attached to one meta node.
struct Fake {
    process: ProcessId,
    meta: usize,
    conn: ConnId,
    alive: bool,
    next_request: u64,
    next_beat: Instant,
    table: Option<SlotTable>,
    members_version: u64,
    /// The newest switches meta sent.
    switches: Switches,
    /// Every view received: (request id, view). Request id 0 = pushed, not a reply.
    views: Vec<(u64, ClusterView)>,
}

struct Net {
    n: usize,
    seed: u64,
    nodes: Vec<Option<MetaNode>>,
    /// Every record each node emitted, in order.
    persisted: Vec<Vec<Persist>>,
    /// Each node's log file as the shell writes it (compacted at every snapshot).
    disks: Vec<(Vec<u8>, LogWriter)>,
    /// After every record, check that the file restores what all records restore.
    verify_files: bool,
    now: Instant,
    links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    next_accept: u64,
    queue: VecDeque<(usize, Input<roster_core::meta::MetaCommand>)>,
    cut: BTreeSet<usize>,
    trace: Vec<(u64, usize, usize, Bytes)>,
    fakes: Vec<Fake>,
    /// Every table install a node reported: (node, what).
    installs: Vec<(usize, Installed)>,
}

fn config(n: usize, id: u64, incarnation: u64) -> MetaConfig {
    let peers = (1..=n as u64)
        .map(|i| MetaPeer {
            id: i,
            address: Text::from(format!("meta-{i}")),
        })
        .collect();
    let mut c = MetaConfig::new(id, Incarnation(incarnation), peers);
    c.slot_count = SlotCount::new(16).unwrap();
    c.snapshot_interval = 3;
    c
}

impl Net {
    fn new(n: usize, seed: u64) -> Self {
        let nodes = (1..=n as u64)
            .map(|id| {
                let rng = Rng::seed_from_u64(seed * 1000 + id);
                Some(MetaNode::new(config(n, id, 1), rng).unwrap())
            })
            .collect();
        Net {
            n,
            seed,
            nodes,
            persisted: vec![Vec::new(); n],
            disks: (0..n).map(|_| (Vec::new(), LogWriter::default())).collect(),
            verify_files: false,
            now: Instant::ZERO,
            links: BTreeMap::new(),
            next_accept: 1,
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            trace: Vec::new(),
            fakes: Vec::new(),
            installs: Vec::new(),
        }
    }

    fn node(&self, i: usize) -> &MetaNode {
        self.nodes[i].as_ref().unwrap()
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.n)
            .filter(|&i| self.nodes[i].as_ref().is_some_and(|m| m.is_leader()))
            .collect()
    }

    fn leader(&self) -> usize {
        let l = self.leaders();
        assert_eq!(l.len(), 1, "exactly one leader expected, got {l:?}");
        l[0]
    }

    fn on_output(&mut self, src: usize, out: Output<MetaEvent>) {
        match out {
            Output::Connect { conn, address } => {
                let dst = address.as_str()["meta-".len()..].parse::<usize>().unwrap() - 1;
                if self.nodes[dst].is_none() {
                    self.queue.push_back((src, Input::Closed { conn }));
                    return;
                }
                let accepted = ConnId(self.next_accept);
                self.next_accept += 1;
                self.links.insert((src, conn), (dst, accepted));
                self.links.insert((dst, accepted), (src, conn));
                self.queue
                    .push_back((dst, Input::Accepted { conn: accepted }));
                self.queue.push_back((src, Input::Connected { conn }));
            }
            Output::Send { conn, frame } => {
                let bytes = frame.to_bytes().unwrap();
                let frame = Frame::decode(bytes.clone()).unwrap();
                if let Some(f) = self
                    .fakes
                    .iter()
                    .position(|f| f.meta == src && f.conn == conn)
                {
                    self.deliver_to_fake(f, frame);
                    return;
                }
                let Some(&(dst, dconn)) = self.links.get(&(src, conn)) else {
                    return;
                };
                if self.cut.contains(&src) || self.cut.contains(&dst) {
                    return;
                }
                self.trace.push((self.now.as_nanos(), src, dst, bytes));
                self.queue
                    .push_back((dst, Input::Frame { conn: dconn, frame }));
            }
            Output::Close { conn, .. } => self.unlink(src, conn),
            Output::Event(MetaEvent::TableInstalled(i)) => self.installs.push((src, i)),
            Output::Event(MetaEvent::Persist(p)) => {
                let (file, writer) = &mut self.disks[src];
                apply_write(file, writer.append(&p).unwrap());
                self.persisted[src].push(p);
                if self.verify_files {
                    let voters = (1..=self.n as u64).collect::<Vec<_>>();
                    let all = self.persisted[src].iter().cloned();
                    assert_eq!(
                        MetaStorage::restore(voters.clone(), self.recover(src)).unwrap(),
                        MetaStorage::restore(voters, all).unwrap(),
                        "node {src}'s file after record {}",
                        self.persisted[src].len()
                    );
                }
            }
        }
    }

    fn deliver_to_fake(&mut self, f: usize, frame: Frame) {
        let fake = &mut self.fakes[f];
        if let Message::ClusterView(view) = frame.message {
            fake.members_version = view.members_version;
            let t = SlotTable::try_from(view.table.clone()).unwrap();
            if fake
                .table
                .as_ref()
                .is_none_or(|old| t.epoch() > old.epoch())
            {
                fake.table = Some(t);
            }
            if view.switches.version > fake.switches.version {
                fake.switches = view.switches.clone();
            }
            fake.views.push((frame.request_id, view));
        }
    }

    /// Delivers everything pending until the whole net is quiet.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.n {
                while let Some(out) = self.nodes[i].as_mut().and_then(|m| m.poll_output()) {
                    any = true;
                    self.on_output(i, out);
                }
            }
            while let Some((dst, input)) = self.queue.pop_front() {
                any = true;
                let now = self.now;
                if let Some(m) = self.nodes[dst].as_mut() {
                    m.handle_input(now, input);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn deliver_to_meta(&mut self, meta: usize, conn: ConnId, frame: Frame) {
        let frame = Frame::decode(frame.to_bytes().unwrap()).unwrap();
        self.queue.push_back((meta, Input::Frame { conn, frame }));
    }

    fn beat(&mut self, f: usize) {
        let fake = &mut self.fakes[f];
        fake.next_beat = self.now + Duration::from_secs(1);
        if !fake.alive {
            return;
        }
        fake.next_request += 1;
        let mut slots = Vec::new();
        if let Some(t) = &fake.table {
            for (slot, s) in t.slots() {
                let state = if s.leader == Some(fake.process) {
                    SlotState::Leader {
                        reconciled: true,
                        log_end: 0,
                    }
                } else if s.followers.contains(&fake.process) {
                    SlotState::Follower {
                        applied: 0,
                        caught_up: true,
                    }
                } else {
                    continue;
                };
                slots.push(SlotStatus {
                    slot,
                    leader_epoch: s.leader_epoch,
                    state,
                });
            }
        }
        let hb = Heartbeat {
            process: fake.process,
            role: Role::Data,
            address: Text::from(format!("data-{}", fake.process.node.0)),
            table_epoch: fake
                .table
                .as_ref()
                .map_or(Default::default(), |t| t.epoch()),
            members_version: fake.members_version,
            slots,
            switches_version: fake.switches.version,
        };
        let (meta, conn, id) = (fake.meta, fake.conn, fake.next_request);
        self.deliver_to_meta(meta, conn, Frame::new(id, hb));
    }

    /// A fake data node connecting to meta `meta`.
    fn add_fake(&mut self, node: u64, meta: usize) -> usize {
        self.add_fake_incarnation(node, 1, meta)
    }

    /// A fake data node of incarnation `inc` connecting to meta `meta`.
    fn add_fake_incarnation(&mut self, node: u64, inc: u64, meta: usize) -> usize {
        let conn = ConnId(1_000_000 + node * 100 + inc);
        let process = ProcessId {
            node: NodeId(node),
            incarnation: Incarnation(inc),
        };
        self.queue.push_back((meta, Input::Accepted { conn }));
        let hello = PeerHello::new(Role::Data, process, Text::from(format!("data-{node}")));
        self.deliver_to_meta(meta, conn, Frame::new(0, hello));
        self.fakes.push(Fake {
            process,
            meta,
            conn,
            alive: true,
            next_request: 0,
            next_beat: self.now,
            table: None,
            members_version: 0,
            switches: Switches::default(),
            views: Vec::new(),
        });
        self.fakes.len() - 1
    }

    /// Runs until `until` (virtual time).
    fn run_until(&mut self, until: Instant) {
        loop {
            self.drain();
            let nodes = self.nodes.iter().flatten().filter_map(|m| m.poll_timeout());
            let fakes = self.fakes.iter().map(|f| f.next_beat);
            let Some(next) = nodes.chain(fakes).min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            for m in self.nodes.iter_mut().flatten() {
                if m.poll_timeout().is_some_and(|t| t <= now) {
                    m.handle_timeout(now);
                }
            }
            for f in 0..self.fakes.len() {
                if self.fakes[f].next_beat <= now {
                    self.beat(f);
                }
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
        let gone: Vec<_> = self.links.keys().filter(|k| k.0 == i).copied().collect();
        for (src, conn) in gone {
            self.unlink(src, conn);
        }
    }

    /// Ends a connection from `src`'s side; the other end hears `Closed`.
    fn unlink(&mut self, src: usize, conn: ConnId) {
        if let Some((dst, dconn)) = self.links.remove(&(src, conn)) {
            self.links.remove(&(dst, dconn));
            self.queue.push_back((dst, Input::Closed { conn: dconn }));
        }
    }

    /// Starts meta `id` (the next index) as a node that joins the group: it is configured
    /// with its own address only and no voters, and waits to be added.
    #[allow(dead_code)] // meta_voters.rs only
    fn add_joiner(&mut self, id: u64) -> usize {
        let i = self.nodes.len();
        assert_eq!(i as u64 + 1, id, "joiners take the next index");
        let mut c = config(self.n, id, 1);
        c.peers = vec![MetaPeer {
            id,
            address: Text::from(format!("meta-{id}")),
        }];
        c.join = true;
        let rng = Rng::seed_from_u64(self.seed * 1000 + id);
        self.nodes.push(Some(MetaNode::new(c, rng).unwrap()));
        self.persisted.push(Vec::new());
        self.disks.push((Vec::new(), LogWriter::default()));
        self.n += 1;
        i
    }

    /// What node `i`'s file gives back at a restart.
    fn recover(&self, i: usize) -> Vec<Persist> {
        LogWriter::recover(&self.disks[i].0).unwrap().records
    }

    /// Restarts node `i` from its file, as the shell does.
    fn restart(&mut self, i: usize) {
        let r = LogWriter::recover(&self.disks[i].0).unwrap();
        self.disks[i].1 = r.writer;
        let records = r.records;
        let rng = Rng::seed_from_u64(self.seed * 1000 + 500 + i as u64);
        let node = MetaNode::restore(config(self.n, i as u64 + 1, 2), rng, records).unwrap();
        self.nodes[i] = Some(node);
    }
}

/// Three voters with a leader, and three fake data nodes that joined through it; the table
/// has settled.
fn cluster_with_data(seed: u64) -> Net {
    let mut net = Net::new(3, seed);
    net.run_for(secs(5));
    let leader = net.leader();
    for node in 11..=13 {
        net.add_fake(node, leader);
    }
    net.run_for(secs(8));
    net
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

