//! Mechanisms 7 and 10 (leases, meta consensus), end to end in memory: meta nodes driven
//! by a small deterministic driver that carries every frame through `Frame::to_bytes` and
//! `Frame::decode`, advances virtual time to the earliest `poll_timeout`, keeps what each
//! node persisted, and plays fake data nodes that heartbeat the meta leader.

use bytes::Bytes;
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::meta::{
    Installed, LogWriter, MetaConfig, MetaEvent, MetaNode, MetaPeer, MetaStorage, OpsRefusal,
    OpsRequest, Persist, SwitchOutcome, apply_write,
};
use roster_core::model::{Incarnation, NodeId, ProcessId, Role, SwitchChange, Switches, Text};
use roster_core::rng::Rng;
use roster_core::slot::{SlotCount, SlotTable};
use roster_core::time::Instant;
use roster_core::wire::negotiate;
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

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn three_meta_nodes_elect_one_leader_that_all_of_them_know() {
    let mut net = Net::new(3, 1);
    net.run_for(secs(5));
    let leader = net.leader();
    let id = net.node(leader).id();
    for i in 0..3 {
        assert_eq!(
            net.node(i).leader_id(),
            Some(id),
            "node {i} knows the leader"
        );
    }
    // Stable afterwards: no new election.
    let term = net.node(leader).term();
    net.run_for(secs(10));
    assert_eq!(net.leader(), leader);
    assert_eq!(net.node(leader).term(), term);
}

#[test]
fn leadership_moves_when_the_leader_is_cut_off() {
    let mut net = Net::new(3, 2);
    net.run_for(secs(5));
    let old = net.leader();
    let term = net.node(old).term();
    net.cut.insert(old);
    net.run_for(secs(5));
    let leaders = net.leaders();
    assert_eq!(
        leaders.len(),
        1,
        "the cut-off leader stepped down (check quorum)"
    );
    let new = leaders[0];
    assert_ne!(new, old);
    assert!(net.node(new).term() > term);
    net.cut.clear();
    net.run_for(secs(5));
    assert_eq!(net.leader(), new, "the old leader rejoins as a follower");
    assert_eq!(net.node(old).leader_id(), Some(net.node(new).id()));
}

/// Three fake data nodes join through the leader and the table settles.
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

#[test]
fn a_data_node_whose_lease_expires_leaves_and_its_followers_are_promoted() {
    let mut net = cluster_with_data(3);
    let leader = net.leader();
    let state = net.node(leader).state().clone();
    assert_eq!(state.members.data_processes().len(), 3);
    for (_, s) in state.table.slots() {
        assert!(s.leader.is_some() && s.followers.len() == 1, "{s:?}");
    }
    let dead = net.fakes[0].process;
    net.fakes[0].alive = false;
    net.run_for(secs(12));
    let after = net.node(leader).state().clone();
    assert!(!after.members.contains(dead), "lease expired");
    // The first view without the dead node, pushed (request id 0) to a survivor at once.
    let views = &net.fakes[1].views;
    let k = views
        .iter()
        .position(|(_, v)| v.members.iter().all(|m| m.process != dead))
        .unwrap();
    assert_eq!(views[k].0, 0, "the new table was pushed, not waited for");
    let before = SlotTable::try_from(views[k - 1].1.table.clone()).unwrap();
    let next = SlotTable::try_from(views[k].1.table.clone()).unwrap();
    let mut promoted = 0;
    for ((_, b), (_, n)) in before.slots().zip(next.slots()) {
        assert!(n.replicas().all(|p| p != dead));
        if b.leader == Some(dead) {
            assert_eq!(n.leader, Some(b.followers[0]), "its follower leads");
            assert!(n.leader_epoch > b.leader_epoch);
            promoted += 1;
        }
    }
    assert!(promoted > 0);
}

#[test]
fn a_new_cluster_is_placed_once_and_each_install_is_reported_once_by_its_proposer() {
    let mut net = cluster_with_data(4);
    let leader = net.leader();
    let table = net.node(leader).state().table.clone();
    assert_eq!(net.installs.len(), 1, "one table: {:?}", net.installs);
    let (by, first) = net.installs[0];
    assert_eq!(by, leader);
    assert_eq!(first.epoch, table.epoch());
    assert_eq!(first.slots_changed, 16, "every slot placed at once");
    assert_eq!((first.fewest_leaders, first.most_leaders), (5, 6));
    let mut leads = BTreeMap::new();
    for (_, s) in table.slots() {
        *leads.entry(s.leader.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(leads.values().copied().collect::<Vec<_>>(), vec![6, 5, 5]);
    // Steady: nothing moves, however long.
    net.run_for(secs(30));
    assert_eq!(net.installs.len(), 1, "{:?}", net.installs);
    // A restart (new incarnation) gets its share back in at most 3 tables, each reported
    // once.
    let old = net.fakes[2].process;
    net.fakes[2].alive = false;
    let f = net.add_fake_incarnation(old.node.0, 2, leader);
    net.run_for(secs(15));
    let epochs: Vec<_> = net.installs.iter().map(|(_, i)| i.epoch).collect();
    let mut unique = epochs.clone();
    unique.dedup();
    assert_eq!(unique, epochs, "once per epoch");
    assert!(
        epochs.len() - 1 <= 3,
        "restart took {} tables",
        epochs.len() - 1
    );
    let table = net.node(leader).state().table.clone();
    let back = table
        .slots()
        .filter(|(_, s)| s.leader == Some(net.fakes[f].process))
        .count();
    assert!(back >= 5, "the restarted node leads {back}");
}

#[test]
fn protection_expels_at_most_half_the_data_nodes_per_lease_period() {
    let mut net = cluster_with_data(6);
    let leader = net.leader();
    net.add_fake(14, leader);
    net.run_for(secs(5));
    assert_eq!(net.node(leader).state().members.data_processes().len(), 4);
    // A blip silences three of the four at once.
    for f in 0..3 {
        net.fakes[f].alive = false;
    }
    net.run_for(secs(12));
    let members = net.node(leader).state().members.data_processes();
    assert_eq!(
        members.len(),
        2,
        "half of four expelled in one lease period"
    );
    assert_eq!(net.node(leader).protection().len(), 1, "one held back");
    assert!(members.contains(&net.node(leader).protection()[0]));
    // The held one heartbeats again: it stays, no longer held.
    let held = net.node(leader).protection()[0];
    let f = net.fakes.iter().position(|x| x.process == held).unwrap();
    net.fakes[f].alive = true;
    net.run_for(secs(3));
    assert!(net.node(leader).protection().is_empty());
    assert!(net.node(leader).state().members.contains(held));
    // Silent again past a full period: it leaves.
    net.fakes[f].alive = false;
    net.run_for(secs(25));
    assert!(!net.node(leader).state().members.contains(held));
    assert_eq!(net.node(leader).state().members.data_processes().len(), 1);
}

#[test]
fn the_compacted_log_file_restores_what_every_record_restores() {
    let mut net = Net::new(3, 5);
    net.verify_files = true;
    net.run_for(secs(5));
    let leader = net.leader();
    for node in 11..=13 {
        net.add_fake(node, leader);
    }
    net.run_for(secs(8));
    net.fakes[0].alive = false;
    net.run_for(secs(8));
    // Placement takes few entries; joins and rebalancing add some.
    for node in 14..=15 {
        net.add_fake(node, leader);
        net.run_for(secs(4));
    }
    for i in 0..3 {
        let snapshots = net.persisted[i]
            .iter()
            .filter(|p| matches!(p, Persist::Snapshot(_)))
            .count();
        assert!(
            snapshots >= 2,
            "node {i} compacted its file {snapshots} times"
        );
        assert!(net.recover(i).len() < net.persisted[i].len());
    }
}

#[test]
fn a_restarted_meta_node_recovers_what_it_persisted() {
    let mut net = cluster_with_data(4);
    let leader = net.leader();
    let victim = (leader + 1) % 3;
    let state = net.node(victim).state().clone();
    assert_eq!(state.members.data_processes().len(), 3);
    assert!(
        net.persisted[victim]
            .iter()
            .any(|p| matches!(p, Persist::Snapshot(_))),
        "the log was compacted into a snapshot at least once"
    );
    net.kill(victim);
    net.restart(victim);
    assert_eq!(
        net.node(victim).state(),
        &state,
        "recovered before any message"
    );
    net.run_for(secs(5));
    assert_eq!(net.node(victim).state(), net.node(net.leader()).state());
    // The whole group restarting from disk keeps the state too.
    for i in 0..3 {
        net.kill(i);
    }
    for i in 0..3 {
        net.restart(i);
        assert_eq!(net.node(i).state().table, state.table);
    }
}

fn blacklist(id: &str, on: bool) -> SwitchChange {
    SwitchChange::Blacklist {
        data_id: Text::from(id),
        on,
    }
}

#[test]
fn a_switch_set_on_a_follower_reaches_every_node_and_survives_restarts() {
    let mut net = cluster_with_data(6);
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    let now = net.now;
    let changes = vec![
        blacklist("bad.service", true),
        SwitchChange::ClientOff {
            address: Text::from("::ffff:10.0.0.9"),
            on: true,
        },
    ];
    let m = net.nodes[follower].as_mut().unwrap();
    assert_eq!(
        m.change_switches(changes.clone()),
        Ok(SwitchOutcome::Proposed)
    );
    // Forwarded to the leader, committed and applied everywhere.
    net.run_for(secs(2));
    let expected = net.node(leader).state().switches.clone();
    assert_eq!(expected.version, 1);
    assert!(expected.is_blacklisted("bad.service"));
    assert!(expected.clients_off.contains("10.0.0.9"), "canonical form");
    for i in 0..3 {
        assert_eq!(net.node(i).state().switches, expected, "node {i}");
    }
    // Every data node heard of it: pushed, or in answer to its heartbeat.
    for f in &net.fakes {
        assert_eq!(f.switches, expected, "fake {:?}", f.process);
    }
    // Asking again changes nothing and proposes nothing.
    let m = net.nodes[follower].as_mut().unwrap();
    assert_eq!(m.change_switches(changes), Ok(SwitchOutcome::InForce(1)));
    // Bad input is refused and changes nothing.
    let bad = vec![
        blacklist("fine", true),
        SwitchChange::ClientOff {
            address: Text::from("10.0.0.9:80"),
            on: true,
        },
    ];
    assert!(m.change_switches(bad).is_err());
    let _ = now;
    // Enough entries to compact the log into a snapshot that holds the switches.
    let n = net.leader();
    for i in 0..4 {
        let m = net.nodes[n].as_mut().unwrap();
        let id = format!("s{i}");
        assert_eq!(
            m.change_switches(vec![blacklist(&id, true)]),
            Ok(SwitchOutcome::Proposed)
        );
        net.run_for(secs(1));
    }
    let state = net.node(n).state().clone();
    assert_eq!(state.switches.version, 5);
    assert!(
        net.persisted[follower]
            .iter()
            .any(|p| matches!(p, Persist::Snapshot(s) if s.get_metadata().index > 0))
    );
    for i in 0..3 {
        net.kill(i);
    }
    for i in 0..3 {
        net.restart(i);
        assert_eq!(net.node(i).state().switches, state.switches, "node {i}");
    }
}

#[test]
fn a_switch_change_with_no_leader_known_is_refused() {
    let mut net = Net::new(3, 21);
    // Nobody has ticked: no election yet, so no leader to forward to.
    let m = net.nodes[0].as_mut().unwrap();
    let err = m.change_switches(vec![blacklist("x", true)]).unwrap_err();
    assert!(err.0.contains("no meta leader"), "{err}");
    net.run_for(secs(5));
    assert_eq!(net.node(0).state().switches, Switches::default());
}

fn trace(seed: u64) -> Vec<(u64, usize, usize, Bytes)> {
    let mut net = Net::new(3, seed);
    net.run_for(secs(5));
    let leader = net.leader();
    net.cut.insert(leader);
    net.run_for(secs(5));
    net.cut.clear();
    net.run_for(secs(3));
    net.trace
}

#[test]
fn the_same_election_scenario_twice_gives_identical_traces() {
    let a = trace(7);
    let b = trace(7);
    assert!(a.len() > 50, "a real exchange: {} frames", a.len());
    assert!(a == b, "traces differ");
    assert!(trace(8) != a, "another seed, another run");
}

#[test]
fn one_and_five_meta_nodes_elect_and_commit() {
    for n in [1, 5] {
        let mut net = Net::new(n, 9);
        net.run_for(secs(5));
        let leader = net.leader();
        net.add_fake(21, leader);
        net.run_for(secs(3));
        for i in 0..n {
            let s = net.node(i).state();
            assert_eq!(s.members.data_processes().len(), 1, "{n} nodes: node {i}");
            assert!(s.table.slots().all(|(_, x)| x.leader.is_some()));
        }
    }
}

/// The first message `m` sends on `conn`.
fn reply_on(m: &mut MetaNode, conn: ConnId) -> Message {
    std::iter::from_fn(|| m.poll_output())
        .find_map(|o| match o {
            Output::Send { conn: c, frame } if c == conn => Some(frame.message),
            _ => None,
        })
        .expect("a reply")
}

#[test]
fn bad_input_to_a_meta_node_is_answered_not_obeyed() {
    let mut net = Net::new(3, 11);
    net.run_for(secs(5));
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    let conn = ConnId(42);
    let now = net.now;
    let m = net.nodes[follower].as_mut().unwrap();
    let before = m.state().clone();
    m.handle_input(now, Input::Accepted { conn });
    let hb = Heartbeat {
        process: ProcessId {
            node: NodeId(5),
            incarnation: Incarnation(1),
        },
        role: Role::Data,
        address: Text::from("d"),
        table_epoch: Default::default(),
        members_version: 0,
        slots: vec![],
        switches_version: 0,
    };
    let frame = |message: Message| Input::Frame {
        conn,
        frame: Frame::new(3, message),
    };
    // Anything but a hello first is answered, then the connection is closed.
    let rude = ConnId(41);
    m.handle_input(now, Input::Accepted { conn: rude });
    let early = Frame::new(3, Message::from(hb.clone()));
    m.handle_input(
        now,
        Input::Frame {
            conn: rude,
            frame: early,
        },
    );
    let outs: Vec<_> = std::iter::from_fn(|| m.poll_output()).collect();
    assert!(
        matches!(&outs[..], [
            Output::Send { conn: a, frame },
            Output::Close { conn: b, reason },
        ] if *a == rude && *b == rude && frame.request_id == 3
            && matches!(&frame.message, Message::ErrorReply(e) if e.message == *reason)),
        "before the hello: {outs:?}"
    );
    let hello = PeerHello {
        role: Role::Data,
        process: hb.process,
        address: Text::from("d"),
        version: roster_core::wire::negotiate::VERSION,
        features: roster_core::wire::Features::SUPPORTED,
    };
    m.handle_input(now, frame(hello.into()));
    // A version 2 hello is answered, one-way, with what was agreed.
    match reply_on(m, conn) {
        Message::PeerWelcome(w) => {
            assert_eq!((w.version, w.role), (negotiate::VERSION, Role::Meta));
            assert_eq!(w.process.node, NodeId(m.id()));
        }
        other => panic!("no welcome: {other:?}"),
    }
    let agreed = m.agreement(conn).expect("recorded");
    assert_eq!(agreed.version, negotiate::VERSION);
    // A request of a kind meta does not define is answered, and the connection stays.
    let unknown = Message::Unknown(roster_core::wire::Unknown { kind: 0xA0 });
    m.handle_input(now, frame(unknown));
    match reply_on(m, conn) {
        Message::ErrorReply(e) => assert_eq!(e.code, roster_core::wire::ErrorCode::Unsupported),
        other => panic!("{other:?}"),
    }
    m.handle_input(now, frame(hb.into()));
    let reply = reply_on(m, conn);
    match reply {
        Message::NotLeader(n) => {
            assert_eq!(n.leader, Some(Text::from(format!("meta-{}", leader + 1))))
        }
        other => panic!("{other:?}"),
    }
    // A stranger claiming to be a meta peer, and garbage consensus bytes, are closed.
    let conn2 = ConnId(43);
    m.handle_input(now, Input::Accepted { conn: conn2 });
    let raft = roster_core::wire::Raft {
        payload: Bytes::from_static(&[0xff, 0xff, 0xff]),
    };
    m.handle_input(
        now,
        Input::Frame {
            conn: conn2,
            frame: Frame::new(
                0,
                PeerHello::new(
                    Role::Meta,
                    ProcessId {
                        node: NodeId(9),
                        incarnation: Incarnation(1),
                    },
                    Text::from("x"),
                ),
            ),
        },
    );
    m.handle_input(
        now,
        Input::Frame {
            conn: conn2,
            frame: Frame::new(0, raft),
        },
    );
    let closed = std::iter::from_fn(|| m.poll_output())
        .any(|o| matches!(o, Output::Close { conn: c, .. } if c == conn2));
    assert!(closed);
    assert_eq!(m.state(), &before, "nothing changed");
}

/// An operator's request to meta node `i`, with what it emits delivered.
fn ask(net: &mut Net, i: usize, request: OpsRequest) -> Result<bool, OpsRefusal> {
    let r = net.nodes[i].as_mut().unwrap().request(request);
    net.drain();
    r
}

#[test]
fn a_decommissioned_data_node_is_emptied_and_the_request_survives_restarts() {
    let mut net = cluster_with_data(5);
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    let leaving = NodeId(11);
    assert!(matches!(
        ask(&mut net, follower, OpsRequest::Decommission(leaving)),
        Err(OpsRefusal::NotLeader { leader: Some(_) })
    ));
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Drain(leaving)),
        Err(OpsRefusal::WrongRole {
            node: leaving,
            role: Role::Data
        })
    );
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Decommission(NodeId(99))),
        Err(OpsRefusal::UnknownNode(NodeId(99)))
    );
    assert!(net.node(leader).ops_report().decommissions.is_empty());
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Decommission(leaving)),
        Ok(true)
    );
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Decommission(leaving)),
        Ok(false),
        "already leaving: nothing proposed"
    );
    net.run_for(secs(10));
    for i in 0..3 {
        let report = net.node(i).ops_report();
        assert_eq!(report.decommissions.len(), 1, "meta node {i}: {report:?}");
        let d = report.decommissions[0];
        assert!(d.is_empty(), "meta node {i}: {d:?}");
        let table = &net.node(i).state().table;
        for (_, s) in table.slots() {
            assert!(s.leader.is_some_and(|l| l.node != leaving), "{s:?}");
            assert!(s.replicas().all(|p| p.node != leaving));
        }
    }
    // The others cannot both leave: one must hold the slots.
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Decommission(NodeId(12))),
        Ok(true)
    );
    net.run_for(secs(2));
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Decommission(NodeId(13))),
        Err(OpsRefusal::LastDataNode(NodeId(13)))
    );
    // Taken back: the arrangement places slots on node 11 again.
    assert_eq!(
        ask(&mut net, leader, OpsRequest::Recommission(leaving)),
        Ok(true)
    );
    net.run_for(secs(10));
    let d = roster_core::meta::holdings(&net.node(leader).state().table, leaving);
    assert!(d.leaders > 0, "{d:?}");
    // Every meta node restarted from its file keeps the requests (through snapshots: the
    // log is compacted every 3 entries here).
    for i in 0..3 {
        net.kill(i);
        net.restart(i);
        let recovered: Vec<NodeId> = net.node(i).state().ops.leaving().collect();
        assert_eq!(
            recovered,
            vec![NodeId(12)],
            "meta node {i} recovered from its file"
        );
    }
    net.run_for(secs(10));
    let report = net.node(net.leader()).ops_report();
    assert_eq!(report.decommissions[0].node, NodeId(12), "{report:?}");
}
