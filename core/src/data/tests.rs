//! Tests of the data node driven as a whole: an in-memory network of `DataNode`s (every
//! frame goes through the codec, `testkit::through_codec`), fake sessions answering from
//! the test, and meta played by the test pushing `ClusterView`s. Each test names the
//! mechanism it covers.

use super::*;
use crate::io::{ConnId, Input, Node, Output};
use crate::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, Publisher, RegisterVersion, Role, SlotId,
    TableEpoch, Text,
};
use crate::slot::{Slot, SlotTable};
use crate::testkit::{self, member, peer_hello, through_codec};
use crate::time::Instant;
use crate::wire::{
    Ack, ChangeNotify, ClusterView, DatumChange, Datums, Digest, FetchDatums, Frame, IdDigest,
    KeepAlive, Member, Message, PeerHello, PublisherEntry, ReconcileDigests, ReconcilePage,
    Refused, ReplicaDatum, SlotRefusal, SlotRoute, SlotState, WriteBatch, WriteOp,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

pub(super) use crate::testkit::process as pid;

pub(super) fn key(i: u64) -> DataInfoId {
    DataInfoId::new(format!("svc-{i}"), "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP")
}

pub(super) fn publisher(rid: &str, cv: u64, cg: u64) -> Publisher {
    let payload = format!("10.0.0.1:{cv}{cg}");
    testkit::publisher(rid, RegisterVersion::new(cv, cg), payload)
}

const META: &str = "meta:1";

fn addr(n: usize) -> Text {
    Text::from(format!("data-{n}:1"))
}

/// Data nodes wired in memory. Node `i` has process `pid(i + 1)`.
pub(super) struct Net {
    pub(super) now: Instant,
    pub(super) nodes: Vec<DataNode>,
    /// (node, conn) → (node, conn) for data ↔ data connections.
    links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    meta_conn: BTreeMap<usize, ConnId>,
    /// Frames the nodes sent to fake sessions, by (node, conn).
    pub(super) session_inbox: BTreeMap<(usize, ConnId), Vec<Frame>>,
    /// Frames sent to meta, by node.
    pub(super) meta_inbox: BTreeMap<usize, Vec<Frame>>,
    next_accept: u64,
    /// While set, frames between data nodes are dropped (a silent partition).
    pub(super) partitioned: bool,
    queue: VecDeque<(usize, Input<DataCommand>)>,
    /// Every event the nodes emitted, by node.
    pub(super) events: Vec<(usize, DataEvent)>,
}

impl Net {
    pub(super) fn new(n: usize, tweak: impl Fn(&mut DataConfig)) -> Net {
        let now = Instant::from_millis(1);
        let nodes = (0..n)
            .map(|i| {
                let mut c = DataConfig::new(pid(i as u64 + 1), addr(i), vec![Text::from(META)]);
                c.seed = i as u64;
                tweak(&mut c);
                DataNode::new(c, now).unwrap()
            })
            .collect();
        let mut net = Net {
            now,
            nodes,
            links: BTreeMap::new(),
            meta_conn: BTreeMap::new(),
            session_inbox: BTreeMap::new(),
            meta_inbox: BTreeMap::new(),
            next_accept: 100,
            partitioned: false,
            events: Vec::new(),
            queue: VecDeque::new(),
        };
        for i in 0..n {
            net.nodes[i].handle_timeout(now);
        }
        net.pump();
        net
    }

    fn node_of(&self, address: &Text) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| addr(i) == *address)
    }

    /// Delivers everything until no node has output.
    pub(super) fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some((i, input)) = self.queue.pop_front() {
                self.nodes[i].handle_input(self.now, input);
                progressed = true;
            }
            for i in 0..self.nodes.len() {
                while let Some(o) = self.nodes[i].poll_output() {
                    progressed = true;
                    self.route(i, o);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn route(&mut self, i: usize, o: Output<DataEvent>) {
        match o {
            Output::Send { conn, frame } => {
                let frame = through_codec(frame);
                if let Some(&(j, c)) = self.links.get(&(i, conn)) {
                    if !self.partitioned {
                        self.queue.push_back((j, Input::Frame { conn: c, frame }));
                    }
                } else if self.meta_conn.get(&i) == Some(&conn) {
                    self.meta_inbox.entry(i).or_default().push(frame);
                } else {
                    self.session_inbox.entry((i, conn)).or_default().push(frame);
                }
            }
            Output::Connect { conn, address } => {
                if address == META {
                    self.meta_conn.insert(i, conn);
                    self.queue.push_back((i, Input::Connected { conn }));
                } else if let Some(j) = self.node_of(&address) {
                    self.next_accept += 1;
                    let c = ConnId(self.next_accept);
                    self.links.insert((i, conn), (j, c));
                    self.links.insert((j, c), (i, conn));
                    self.queue.push_back((j, Input::Accepted { conn: c }));
                    self.queue.push_back((i, Input::Connected { conn }));
                } else {
                    self.queue.push_back((i, Input::Closed { conn }));
                }
            }
            Output::Close { conn, .. } => {
                if let Some((j, c)) = self.links.remove(&(i, conn)) {
                    self.links.remove(&(j, c));
                    self.queue.push_back((j, Input::Closed { conn: c }));
                }
            }
            Output::Event(e) => self.events.push((i, e)),
        }
    }

    /// Breaks every data ↔ data connection (both sides see `Closed`).
    pub(super) fn cut_links(&mut self) {
        let links: Vec<_> = self.links.keys().copied().collect();
        for (i, c) in links {
            self.links.remove(&(i, c));
            self.queue.push_back((i, Input::Closed { conn: c }));
        }
        self.pump();
    }

    /// Advances time by `d`, firing due timers (in steps of at most 100 ms).
    pub(super) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let step = (end - self.now).min(Duration::from_millis(100));
            self.now += step;
            for i in 0..self.nodes.len() {
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[i].handle_timeout(self.now);
                }
            }
            self.pump();
        }
    }

    /// Meta pushes a view to every node.
    pub(super) fn view(&mut self, members_version: u64, sessions: &[ProcessId], table: &SlotTable) {
        let mut members: Vec<Member> = (0..self.nodes.len())
            .map(|i| member(pid(i as u64 + 1), Role::Data, addr(i)))
            .collect();
        members.extend(
            sessions
                .iter()
                .map(|p| member(*p, Role::Session, "session:1")),
        );
        let view = ClusterView {
            members_version,
            members,
            table: table.to_view(),
            switches: Default::default(),
            draining: Vec::new(),
        };
        for i in 0..self.nodes.len() {
            let conn = self.meta_conn[&i];
            self.queue.push_back((
                i,
                Input::Frame {
                    conn,
                    frame: Frame::new(0, view.clone()),
                },
            ));
        }
        self.pump();
    }

    /// A fake session process connects to node `i` on `conn`.
    pub(super) fn session(&mut self, i: usize, conn: ConnId, process: ProcessId) {
        self.queue.push_back((i, Input::Accepted { conn }));
        self.to(i, conn, 0, peer_hello(Role::Session, process, "session:1"));
        // The node answers the hello before anything else; the fake session reads past it.
        let inbox = self.session_inbox.entry((i, conn)).or_default();
        assert!(
            matches!(inbox.first(), Some(f) if matches!(&f.message,
                Message::PeerWelcome(w) if w.version == crate::wire::negotiate::VERSION)),
            "no PeerWelcome first: {inbox:?}"
        );
        inbox.remove(0);
    }

    /// A frame from a fake session (or anyone) to node `i`.
    pub(super) fn to(&mut self, i: usize, conn: ConnId, id: u64, m: impl Into<Message>) {
        let frame = through_codec(Frame::new(id, m));
        self.queue.push_back((i, Input::Frame { conn, frame }));
        self.pump();
    }

    /// Takes the frames node `i` sent on `conn` to a fake session.
    pub(super) fn take(&mut self, i: usize, conn: ConnId) -> Vec<Frame> {
        self.session_inbox.remove(&(i, conn)).unwrap_or_default()
    }
}

/// A table of `count` slots all led by `leader` at `leader_epoch`, followed by `followers`.
pub(super) fn table(
    epoch: u64,
    count: usize,
    leader: ProcessId,
    leader_epoch: u64,
    followers: &[ProcessId],
) -> SlotTable {
    let slot = Slot {
        leader: Some(leader),
        leader_epoch: LeaderEpoch(leader_epoch),
        followers: followers.to_vec(),
    };
    SlotTable::new(TableEpoch(epoch), vec![slot; count]).unwrap()
}

pub(super) fn route(slot: u16, table_epoch: u64, leader_epoch: u64) -> SlotRoute {
    SlotRoute {
        slot: SlotId(slot),
        table_epoch: TableEpoch(table_epoch),
        leader_epoch: LeaderEpoch(leader_epoch),
    }
}

pub(super) fn put(k: u64, rid: &str, cv: u64, cg: u64) -> WriteOp {
    WriteOp::Put {
        data_info_id: key(k),
        publisher: publisher(rid, cv, cg),
    }
}

pub(super) fn remove(k: u64, rid: &str, cv: u64, cg: u64) -> WriteOp {
    WriteOp::Remove {
        data_info_id: key(k),
        register_id: Text::from(rid),
        version: RegisterVersion::new(cv, cg),
    }
}

pub(super) fn batch(route: SlotRoute, ops: Vec<WriteOp>) -> WriteBatch {
    WriteBatch { route, ops }
}

/// A session's digests: one publisher at version (1, 1) per `(key, register id)`.
fn digests_of(entries: &[(u64, &str)]) -> Vec<IdDigest> {
    let v = RegisterVersion::new(1, 1);
    entries
        .iter()
        .map(|(k, rid)| IdDigest {
            data_info_id: key(*k),
            digest: Digest::of([(&Text::from(*rid), v)]),
        })
        .collect()
}

/// The session on `S1` answers node 0's pending `ReconcileQuery` with `digests`.
fn answer_periodic_query(net: &mut Net, digests: Vec<IdDigest>) {
    let frames = net.take(0, S1);
    let q = frames
        .iter()
        .find(|f| matches!(f.message, Message::ReconcileQuery(_)))
        .expect("periodic query");
    let slot = SlotId(0);
    net.to(0, S1, q.request_id, ReconcileDigests { slot, digests });
}

const S1: ConnId = ConnId(7);
const S2: ConnId = ConnId(8);

fn ids(snapshot: &[ReplicaDatum]) -> Vec<(String, Vec<String>)> {
    snapshot
        .iter()
        .map(|d| {
            (
                d.data_info_id.data_id.to_string(),
                d.publishers
                    .iter()
                    .map(|p| p.publisher.register_id.to_string())
                    .collect(),
            )
        })
        .collect()
}

/// One leader (node 0) of a single-slot table, no follower, sessions `s` in membership.
fn single(sessions: &[ProcessId]) -> Net {
    let mut net = Net::new(1, |_| {});
    net.view(1, sessions, &table(1, 1, pid(1), 1, &[]));
    net
}

#[test]
fn admission_refusals_change_nothing() {
    let mut net = Net::new(2, |_| {});
    net.view(1, &[], &table(1, 1, pid(1), 3, &[pid(2)]));
    net.session(0, S1, pid(50));
    net.session(1, S1, pid(50));
    net.to(0, S1, 1, batch(route(0, 1, 3), vec![put(1, "a", 1, 1)]));
    let before = net.nodes[0].snapshot(SlotId(0));
    let log_end = net.nodes[0].slot_status(SlotId(0));
    net.take(0, S1);
    // Wrong leader epoch.
    net.to(0, S1, 2, batch(route(0, 1, 2), vec![put(1, "b", 1, 1)]));
    // Not the leader.
    net.to(1, S1, 3, batch(route(0, 1, 3), vec![put(1, "c", 1, 1)]));
    let f0 = net.take(0, S1);
    assert!(matches!(
        f0[0].message,
        Message::Refused(Refused {
            refusal: SlotRefusal::EpochMismatch {
                leader_epoch: LeaderEpoch(3),
                ..
            },
            ..
        })
    ));
    let f1 = net.take(1, S1);
    assert!(matches!(
        f1[0].message,
        Message::Refused(Refused {
            refusal: SlotRefusal::Moved { leader: Some(l), .. },
            ..
        }) if l == pid(1)
    ));
    assert_eq!(net.nodes[0].snapshot(SlotId(0)), before, "nothing applied");
    assert_eq!(
        net.nodes[0].slot_status(SlotId(0)),
        log_end,
        "nothing logged"
    );
    assert_eq!(
        net.nodes[1].publisher_count(),
        1,
        "the follower only has the replicated a"
    );
}

#[test]
fn admission_reads_wait_for_reconciliation_but_writes_do_not() {
    let session = pid(50);
    let mut net = Net::new(1, |_| {});
    net.session(0, S1, session);
    net.view(1, &[session], &table(1, 1, pid(1), 1, &[]));
    let query = net.take(0, S1);
    assert!(matches!(query[0].message, Message::ReconcileQuery(_)));
    // Reads refused as Migrating, writes accepted.
    net.to(
        0,
        S1,
        5,
        FetchDatums {
            route: route(0, 1, 1),
            data_info_ids: vec![key(1)],
        },
    );
    net.to(0, S1, 6, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    let f = net.take(0, S1);
    assert!(matches!(
        f[0].message,
        Message::Refused(Refused {
            refusal: SlotRefusal::Migrating { .. },
            ..
        })
    ));
    assert!(matches!(f[1].message, Message::WriteAccepted(_)));
    // The session answers: it has a, so digests match and nothing is fetched.
    let digest = Digest::of([(&Text::from("a"), RegisterVersion::new(1, 1))]);
    let reply = ReconcileDigests {
        slot: SlotId(0),
        digests: vec![IdDigest {
            data_info_id: key(1),
            digest,
        }],
    };
    net.to(0, S1, query[0].request_id, reply);
    assert_eq!(net.nodes[0].reconcile_counts(SlotId(0)), Some((1, 0)));
    net.to(
        0,
        S1,
        7,
        FetchDatums {
            route: route(0, 1, 1),
            data_info_ids: vec![key(1), key(2)],
        },
    );
    let f = net.take(0, S1);
    let Some(Message::Datums(Datums { datums })) = f.last().map(|f| &f.message) else {
        panic!("expected Datums, got {f:?}");
    };
    assert_eq!(datums[0].publishers.len(), 1);
    assert_eq!(datums[0].version, DatumVersion::new(LeaderEpoch(1), 1));
    // A key that never existed: empty, at (leader_epoch, 0).
    assert!(datums[1].publishers.is_empty());
    assert_eq!(datums[1].version, DatumVersion::new(LeaderEpoch(1), 0));
    assert!(matches!(
        net.nodes[0].slot_status(SlotId(0)).unwrap().state,
        SlotState::Leader {
            reconciled: true,
            log_end: 2
        }
    ));
}

#[test]
fn reconcile_survives_the_close_of_one_of_two_connections_from_a_session() {
    // Simulator seed 161: a restarted session linked to an old data incarnation's address
    // and to the new one, both answered by the same node; closing the link it used last
    // made the node forget the session, and the slot's reads stayed `Migrating` forever.
    let session = pid(50);
    let mut net = Net::new(1, |_| {});
    net.session(0, S1, session);
    net.session(0, S2, session);
    net.view(1, &[session], &table(1, 1, pid(1), 1, &[]));
    assert!(
        net.take(0, S2)
            .iter()
            .any(|f| matches!(f.message, Message::ReconcileQuery(_)))
    );
    net.queue.push_back((0, Input::Closed { conn: S2 }));
    net.pump();
    // The run restarts on the connection that is still open, and completing it there
    // opens the slot for reads.
    net.advance(Duration::from_secs(2));
    let frames = net.take(0, S1);
    let q = frames
        .iter()
        .find(|f| matches!(f.message, Message::ReconcileQuery(_)))
        .expect("the run moves to the surviving connection");
    let slot = SlotId(0);
    let digests = Vec::new();
    net.to(0, S1, q.request_id, ReconcileDigests { slot, digests });
    net.to(
        0,
        S1,
        9,
        FetchDatums {
            route: route(0, 1, 1),
            data_info_ids: vec![key(1)],
        },
    );
    let f = net.take(0, S1);
    assert!(
        matches!(f.last().map(|f| &f.message), Some(Message::Datums(_))),
        "reads are served once the session reconciled: {f:?}"
    );
}

#[test]
fn a_session_readmitted_to_the_membership_is_reconciled_with_at_once() {
    // Simulator seed 34: meta expelled the only session during a partition; the data node
    // took its slots at a new leader epoch with no session in the membership, so they were
    // reconciled (with nobody) and readable at once. When the session was readmitted, its
    // publishers waited for the periodic run, 5 s later, and lists stayed empty meanwhile.
    let session = pid(50);
    let mut net = Net::new(1, |_| {});
    net.view(1, &[], &table(1, 1, pid(1), 1, &[]));
    net.session(0, S1, session);
    let queries = |frames: &[Frame]| {
        frames
            .iter()
            .filter(|f| matches!(f.message, Message::ReconcileQuery(_)))
            .count()
    };
    assert_eq!(queries(&net.take(0, S1)), 0, "not a member yet: no run");
    net.view(2, &[session], &table(1, 1, pid(1), 1, &[]));
    assert_eq!(
        queries(&net.take(0, S1)),
        1,
        "readmitted and connected: reconciled with at once, not at the periodic run"
    );
}

#[test]
fn a_slot_that_becomes_readable_notifies_every_key_it_holds() {
    // Simulator seed 78: a session's fetch was refused as `Migrating` while the new leader
    // reconciled; reconciliation changed nothing, so nothing was notified, and the
    // session learnt the datum only at its next version scan, 5 s later.
    let s1 = pid(50);
    let mut net = Net::new(1, |_| {});
    net.session(0, S1, s1);
    net.view(1, &[s1], &table(1, 1, pid(1), 1, &[]));
    answer_periodic_query(&mut net, vec![]);
    net.to(0, S1, 1, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    let acked: Vec<u64> = net
        .take(0, S1)
        .iter()
        .filter(|f| matches!(f.message, Message::ChangeNotify(_)))
        .map(|f| f.request_id)
        .collect();
    assert_eq!(acked.len(), 1, "the write is notified");
    net.to(0, S1, acked[0], Ack {});
    // A new leader epoch on the same node: reads wait for reconciliation again.
    net.view(2, &[s1], &table(2, 1, pid(1), 2, &[]));
    let fetch = FetchDatums {
        route: route(0, 2, 2),
        data_info_ids: vec![key(1)],
    };
    net.to(0, S1, 2, fetch);
    let refused = net.take(0, S1);
    assert!(
        refused.iter().any(|f| matches!(&f.message,
            Message::Refused(r) if matches!(r.refusal, SlotRefusal::Migrating { .. }))),
        "reads wait for reconciliation: {refused:?}"
    );
    let q = refused
        .iter()
        .find(|f| matches!(f.message, Message::ReconcileQuery(_)))
        .expect("a run at the new epoch");
    let digests = digests_of(&[(1, "a")]);
    let slot = SlotId(0);
    net.to(0, S1, q.request_id, ReconcileDigests { slot, digests });
    // The digests matched: nothing changed, yet the key is notified at its version.
    let notified: Vec<DatumChange> = net
        .take(0, S1)
        .into_iter()
        .filter_map(|f| match f.message {
            Message::ChangeNotify(n) => Some(n.changes),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0].data_info_id, key(1));
    assert_eq!(
        notified[0].version,
        DatumVersion::new(LeaderEpoch(2), 0),
        "its version as reads at the new epoch report it"
    );
}

#[test]
fn store_rules_tombstones_block_older_writes_until_compacted() {
    let mut net = Net::new(1, |c| c.tombstone_retention = Duration::from_secs(10));
    net.view(1, &[], &table(1, 1, pid(1), 1, &[]));
    net.session(0, S1, pid(50));
    let r = route(0, 1, 1);
    net.to(
        0,
        S1,
        1,
        batch(r, vec![put(1, "a", 2, 1), put(1, "a", 1, 1)]),
    );
    assert_eq!(
        net.nodes[0].snapshot(SlotId(0)).unwrap()[0].publishers[0]
            .publisher
            .version,
        RegisterVersion::new(2, 1),
        "older ignored"
    );
    net.to(
        0,
        S1,
        2,
        batch(r, vec![remove(1, "a", 3, 1), put(1, "a", 2, 5)]),
    );
    assert!(
        net.nodes[0].snapshot(SlotId(0)).unwrap()[0]
            .publishers
            .is_empty(),
        "the tombstone blocks the older put"
    );
    net.advance(Duration::from_secs(11));
    net.to(0, S1, 3, batch(r, vec![put(1, "a", 2, 5)]));
    assert_eq!(
        net.nodes[0].publisher_count(),
        1,
        "after compaction the tombstone no longer blocks"
    );
}

#[test]
fn lease_expiry_drops_only_that_owners_publishers_after_the_failover_grace() {
    let (s1, s2) = (pid(50), pid(51));
    let mut net = single(&[]);
    net.session(0, S1, s1);
    net.session(0, S2, s2);
    let r = route(0, 1, 1);
    net.to(
        0,
        S1,
        1,
        batch(r, vec![put(1, "a", 1, 1), put(1, "b", 1, 1)]),
    );
    // The client of b moved to session 2 and replayed it with a newer generation.
    net.to(
        0,
        S2,
        1,
        batch(r, vec![put(1, "b", 1, 2), put(2, "c", 1, 1)]),
    );
    net.queue.push_back((0, Input::Closed { conn: S1 }));
    // The lease (20 s) runs out, then the failover grace (15 s): a client of session 1
    // still failing over (idle timeout, dial, replay) has its publishers listed meanwhile.
    for _ in 0..34 {
        net.advance(Duration::from_secs(1));
        net.to(0, S2, 0, KeepAlive {});
    }
    assert_eq!(
        net.nodes[0].publisher_count(),
        3,
        "a, b and c stay through the lease and the failover grace"
    );
    for _ in 0..2 {
        net.advance(Duration::from_secs(1));
        net.to(0, S2, 0, KeepAlive {});
    }
    let snap = net.nodes[0].snapshot(SlotId(0)).unwrap();
    assert_eq!(
        ids(&snap),
        [
            ("svc-1".into(), vec!["b".into()]),
            ("svc-2".into(), vec!["c".into()])
        ]
    );
    assert_eq!(snap[0].publishers[0].owner, s2);
}

#[test]
fn a_sessions_publishers_go_as_soon_as_a_newer_incarnation_of_it_appears() {
    // The session process restarted: its registrations died with it, so its publishers
    // need not wait out the lease (simulator seed 52 converged 20 s after healing).
    let old = pid(50);
    let new = crate::model::ProcessId {
        node: old.node,
        incarnation: crate::model::Incarnation(old.incarnation.0 + 1),
    };
    let other = pid(51);
    let mut net = single(&[]);
    net.session(0, S1, old);
    net.session(0, S2, other);
    let r = route(0, 1, 1);
    net.to(0, S1, 1, batch(r, vec![put(1, "a", 1, 1)]));
    net.to(0, S2, 1, batch(r, vec![put(1, "b", 1, 1)]));
    net.advance(Duration::from_secs(2));
    assert_eq!(net.nodes[0].publisher_count(), 2, "nothing superseded yet");
    // The restarted process connects (the old connection is not even closed yet).
    net.session(0, ConnId(77), new);
    net.advance(Duration::from_secs(2));
    let snap = net.nodes[0].snapshot(SlotId(0)).unwrap();
    assert_eq!(ids(&snap), [("svc-1".into(), vec!["b".into()])]);
    assert_eq!(
        snap[0].publishers[0].owner, other,
        "another node's session stays"
    );
}

#[test]
fn lease_is_renewed_by_membership_presence() {
    let s1 = pid(50);
    let mut net = single(&[s1]);
    net.session(0, S1, s1);
    net.to(0, S1, 1, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    net.queue.push_back((0, Input::Closed { conn: S1 }));
    net.advance(Duration::from_secs(30));
    assert_eq!(
        net.nodes[0].publisher_count(),
        1,
        "a member keeps its lease while silent"
    );
}

#[test]
fn notify_change_notification_coalesces_while_in_flight() {
    let mut net = single(&[]);
    net.session(0, S1, pid(50));
    let r = route(0, 1, 1);
    net.to(0, S1, 1, batch(r, vec![put(1, "a", 1, 1)]));
    let f = net.take(0, S1);
    let notes: Vec<&ChangeNotify> = f
        .iter()
        .filter_map(|f| match &f.message {
            Message::ChangeNotify(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "idle: sent at once");
    let first_id = f
        .iter()
        .find(|f| matches!(f.message, Message::ChangeNotify(_)))
        .unwrap()
        .request_id;
    net.to(0, S1, 2, batch(r, vec![put(1, "b", 1, 1)]));
    net.advance(Duration::from_millis(4));
    net.to(
        0,
        S1,
        3,
        batch(r, vec![put(1, "c", 1, 1), put(2, "d", 1, 1)]),
    );
    net.advance(Duration::from_millis(3));
    let f = net.take(0, S1);
    assert!(
        f.iter()
            .all(|f| !matches!(f.message, Message::ChangeNotify(_))),
        "in flight: coalesced"
    );
    net.to(0, S1, first_id, Ack {});
    let f = net.take(0, S1);
    let Some(Message::ChangeNotify(n)) = f.first().map(|f| &f.message) else {
        panic!("{f:?}")
    };
    assert_eq!(n.changes.len(), 2, "one change per key");
    assert_eq!(n.changes[0].version, DatumVersion::new(LeaderEpoch(1), 3));
    // Each change waited from its key's first pending change to the send: key 1 since
    // "b" (7 ms), key 2 since "d" (3 ms).
    assert_eq!(n.waits_micros, [7_000, 3_000]);
    let s = net.nodes[0].stats();
    assert_eq!((s.write_batches, s.writes_applied), (3, 4));
    assert_eq!((s.notifications_sent, s.changes_notified), (2, 3));
    assert_eq!((s.publishers, s.led_publishers, s.slots_led), (4, 4, 1));
    assert_eq!(s.session_connections, 1);
}

#[test]
fn reconcile_removes_what_the_session_no_longer_has_and_is_cheap_when_digests_match() {
    let s1 = pid(50);
    let mut net = Net::new(1, |_| {});
    net.session(0, S1, s1);
    net.view(1, &[s1], &table(1, 1, pid(1), 1, &[]));
    let q = net.take(0, S1);
    net.to(
        0,
        S1,
        q[0].request_id,
        ReconcileDigests {
            slot: SlotId(0),
            digests: vec![],
        },
    );
    let r = route(0, 1, 1);
    net.to(
        0,
        S1,
        1,
        batch(
            r,
            vec![
                put(1, "a", 1, 1),
                put(1, "b", 1, 1),
                put(2, "c", 1, 1),
                put(3, "x", 1, 1),
            ],
        ),
    );
    // Another session's publisher under key 1 must survive the owner-checked removal.
    net.session(0, S2, pid(51));
    net.take(0, S2);
    net.to(0, S2, 1, batch(r, vec![put(1, "z", 1, 1)]));
    net.take(0, S1);
    // Periodic run: the session now has only a under key 1 and c under key 2, and key 3
    // is gone; the session also holds key 4 this node never saw.
    net.advance(Duration::from_secs(5));
    answer_periodic_query(&mut net, digests_of(&[(1, "a"), (2, "c"), (4, "n")]));
    let f = net.take(0, S1);
    let fetch = f
        .iter()
        .find_map(|f| match &f.message {
            Message::ReconcileFetch(x) => Some((f.request_id, x.clone())),
            _ => None,
        })
        .expect("fetch");
    assert_eq!(
        fetch.1.data_info_ids,
        [key(1), key(4)],
        "only differing keys are fetched"
    );
    let page = ReconcilePage {
        slot: SlotId(0),
        entries: vec![
            PublisherEntry {
                data_info_id: key(1),
                publisher: publisher("a", 1, 1),
            },
            PublisherEntry {
                data_info_id: key(4),
                publisher: publisher("n", 1, 1),
            },
        ],
        next: None,
    };
    net.to(0, S1, fetch.0, page);
    let snap = net.nodes[0].snapshot(SlotId(0)).unwrap();
    assert_eq!(
        ids(&snap),
        [
            ("svc-1".into(), vec!["a".into(), "z".into()]),
            ("svc-2".into(), vec!["c".into()]),
            ("svc-3".into(), vec![]),
            ("svc-4".into(), vec!["n".into()]),
        ]
    );
    // What the repair did is told to the log: x removed when the digests showed key 3
    // gone, then b removed and n added by the fetched page (a was already held).
    let repairs: Vec<(usize, usize)> = net
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            DataEvent::Reconciled {
                session,
                added,
                removed,
                ..
            } if *session == s1 => Some((*added, *removed)),
            _ => None,
        })
        .collect();
    assert_eq!(repairs, [(0, 1), (1, 1)]);
    assert!(matches!(
        net.events[0].1,
        DataEvent::TableApplied {
            leading: 1,
            following: 0,
            took_over: 1,
            handed_off: 0,
            ..
        }
    ));
    let (cheap, repair) = net.nodes[0].reconcile_counts(SlotId(0)).unwrap();
    // Next periodic run: digests match, no fetch.
    net.take(0, S1);
    net.advance(Duration::from_secs(5));
    answer_periodic_query(&mut net, digests_of(&[(1, "a"), (2, "c"), (4, "n")]));
    assert!(
        net.take(0, S1)
            .iter()
            .all(|f| !matches!(f.message, Message::ReconcileFetch(_)))
    );
    assert_eq!(
        net.nodes[0].reconcile_counts(SlotId(0)),
        Some((cheap + 1, repair))
    );
}

#[test]
fn replica_follower_streams_the_oplog_and_holds_the_leaders_versions() {
    let mut net = Net::new(2, |_| {});
    net.view(1, &[], &table(1, 1, pid(1), 1, &[pid(2)]));
    net.session(0, S1, pid(50));
    net.to(
        0,
        S1,
        1,
        batch(
            route(0, 1, 1),
            vec![put(1, "a", 1, 1), put(1, "b", 1, 1), remove(1, "a", 2, 1)],
        ),
    );
    let leader = net.nodes[0].snapshot(SlotId(0)).unwrap();
    assert_eq!(net.nodes[1].snapshot(SlotId(0)).unwrap(), leader);
    assert_eq!(leader[0].version, DatumVersion::new(LeaderEpoch(1), 3));
    assert!(matches!(
        net.nodes[1].slot_status(SlotId(0)).unwrap().state,
        SlotState::Follower {
            applied: 4,
            caught_up: true
        }
    ));
}

#[test]
fn replica_write_ack_waits_for_follower_ack_with_a_bounded_wait() {
    let mut net = Net::new(2, |_| {});
    net.view(1, &[], &table(1, 1, pid(1), 1, &[pid(2)]));
    net.session(0, S1, pid(50));
    // Streaming follower: the reply comes after its OpLogAck (same pump, so present).
    net.to(0, S1, 1, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    assert!(
        net.take(0, S1)
            .iter()
            .any(|f| matches!(f.message, Message::WriteAccepted(_)))
    );
    // Follower silent: withheld until the timeout.
    net.partitioned = true;
    net.to(0, S1, 2, batch(route(0, 1, 1), vec![put(1, "b", 1, 1)]));
    assert!(
        net.take(0, S1)
            .iter()
            .all(|f| !matches!(f.message, Message::WriteAccepted(_)))
    );
    net.advance(Duration::from_millis(400));
    assert!(
        net.take(0, S1)
            .iter()
            .all(|f| !matches!(f.message, Message::WriteAccepted(_)))
    );
    net.advance(Duration::from_millis(200));
    let f = net.take(0, S1);
    assert!(
        f.iter()
            .any(|f| f.request_id == 2 && matches!(f.message, Message::WriteAccepted(_)))
    );
}

#[test]
fn a_follower_dropped_from_the_slot_no_longer_holds_its_writes() {
    let mut net = Net::new(2, |_| {});
    net.view(1, &[], &table(1, 1, pid(1), 1, &[pid(2)]));
    net.session(0, S1, pid(50));
    net.to(0, S1, 1, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    net.take(0, S1);
    // The follower goes silent with a write waiting on it...
    net.partitioned = true;
    net.to(0, S1, 2, batch(route(0, 1, 1), vec![put(1, "b", 1, 1)]));
    let accepted = |frames: &[Frame], id: u64| {
        frames
            .iter()
            .any(|f| f.request_id == id && matches!(f.message, Message::WriteAccepted(_)))
    };
    assert!(!accepted(&net.take(0, S1), 2));
    // ...then meta drops it from the slot, the leader keeping its epoch: the waiting
    // write is answered at once, and so is every later one, with no timer firing.
    net.partitioned = false;
    net.view(2, &[], &table(2, 1, pid(1), 1, &[]));
    assert!(
        accepted(&net.take(0, S1), 2),
        "released by the table change"
    );
    net.to(0, S1, 3, batch(route(0, 1, 1), vec![put(1, "c", 1, 1)]));
    assert!(
        accepted(&net.take(0, S1), 3),
        "not held for a former follower"
    );
}

#[test]
fn replica_truncated_log_and_new_leader_epoch_resync_by_digests() {
    let mut net = Net::new(2, |c| {
        c.oplog_capacity = 4;
        c.resync_page_publishers = 2;
        c.fetch_keys = 2;
    });
    net.view(1, &[], &table(1, 1, pid(1), 1, &[pid(2)]));
    net.session(0, S1, pid(50));
    net.cut_links();
    let r = route(0, 1, 1);
    for i in 0..6 {
        net.to(
            0,
            S1,
            i,
            batch(
                r,
                vec![
                    put(i % 3, &format!("p{i}"), 1, 1),
                    put(i % 3, "q", i + 1, 1),
                ],
            ),
        );
    }
    net.advance(Duration::from_secs(10));
    assert_eq!(
        net.nodes[1].snapshot(SlotId(0)),
        net.nodes[0].snapshot(SlotId(0)),
        "resynced past a truncated log"
    );
    // Leadership moves to node 1 at a new leader epoch; node 0 follows and must resync.
    net.view(2, &[], &table(2, 1, pid(2), 2, &[pid(1)]));
    net.session(1, S2, pid(50));
    net.to(
        1,
        S2,
        1,
        batch(
            route(0, 2, 2),
            vec![put(7, "n", 1, 1), remove(0, "q", 99, 1)],
        ),
    );
    net.advance(Duration::from_secs(10));
    let new_leader = net.nodes[1].snapshot(SlotId(0)).unwrap();
    assert_eq!(net.nodes[0].snapshot(SlotId(0)).unwrap(), new_leader);
    assert!(
        new_leader
            .iter()
            .any(|d| d.version.leader_epoch == LeaderEpoch(2))
    );
}

#[test]
fn node_refuses_frames_before_hello_and_unexpected_messages() {
    let mut net = single(&[]);
    net.queue.push_back((0, Input::Accepted { conn: S1 }));
    net.to(0, S1, 4, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    let f = net.take(0, S1);
    assert!(matches!(f[0].message, Message::ErrorReply(_)));
    assert_eq!(net.nodes[0].publisher_count(), 0);
    net.session(0, S2, pid(50));
    net.to(
        0,
        S2,
        9,
        ClusterView {
            members_version: 9,
            members: vec![],
            table: table(9, 1, pid(2), 9, &[]).to_view(),
            switches: Default::default(),
            draining: Vec::new(),
        },
    );
    let f = net.take(0, S2);
    assert!(
        matches!(f[0].message, Message::ErrorReply(_)) && f[0].request_id == 9,
        "{f:?}"
    );
    assert_eq!(
        net.nodes[0].table().epoch(),
        TableEpoch(1),
        "a session cannot install a table"
    );
}

#[test]
fn node_heartbeats_meta_with_slot_status() {
    let mut net = single(&[]);
    net.meta_inbox.clear();
    net.advance(Duration::from_secs(1));
    let hb = net
        .meta_inbox
        .get(&0)
        .and_then(|v| {
            v.iter().find_map(|f| match &f.message {
                Message::Heartbeat(h) => Some(h.clone()),
                _ => None,
            })
        })
        .expect("a heartbeat");
    assert_eq!(hb.table_epoch, TableEpoch(1));
    assert!(matches!(
        hb.slots[0].state,
        SlotState::Leader {
            reconciled: true,
            ..
        }
    ));
    // An older table is never installed.
    net.view(2, &[], &table(0, 1, pid(9), 9, &[]));
    assert_eq!(net.nodes[0].table().epoch(), TableEpoch(1));
}

mod prop {
    //! The op-log replay / digest resync property.
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    #[derive(Debug, Clone)]
    enum Action {
        Put {
            k: u64,
            rid: u8,
            cv: u64,
            cg: u64,
            owner: bool,
        },
        Remove {
            k: u64,
            rid: u8,
            cv: u64,
            cg: u64,
        },
        /// The follower loses its connection; writes go on without it.
        Cut,
        /// Time passes: reconnects, resubscriptions.
        Wait,
        /// The leader truncates its log up to its end.
        Truncate,
    }

    impl Arbitrary for Action {
        fn arbitrary(g: &mut Gen) -> Self {
            let small = |g: &mut Gen, n: u64| <u64 as Arbitrary>::arbitrary(g) % n;
            match small(g, 10) {
                0..=4 => Action::Put {
                    k: small(g, 4),
                    rid: small(g, 5) as u8,
                    cv: small(g, 4),
                    cg: small(g, 2),
                    owner: <bool as Arbitrary>::arbitrary(g),
                },
                5 | 6 => Action::Remove {
                    k: small(g, 4),
                    rid: small(g, 5) as u8,
                    cv: small(g, 4),
                    cg: small(g, 2),
                },
                7 => Action::Cut,
                8 => Action::Wait,
                _ => Action::Truncate,
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        capacity: usize,
        page: usize,
        actions: Vec<Action>,
    }

    impl Arbitrary for Case {
        fn arbitrary(g: &mut Gen) -> Self {
            Case {
                capacity: 1 + <usize as Arbitrary>::arbitrary(g) % 8,
                page: 1 + <usize as Arbitrary>::arbitrary(g) % 4,
                actions: <Vec<Action> as Arbitrary>::arbitrary(g),
            }
        }
    }

    fn replayed_or_resynced_follower_equals_leader(case: Case) -> bool {
        let mut net = Net::new(2, |c| {
            c.oplog_capacity = case.capacity;
            c.resync_page_publishers = case.page;
            c.fetch_keys = case.page;
            c.append_batch = case.page;
            c.replication_window = case.page as u64 + 1;
        });
        net.view(1, &[], &table(1, 1, pid(1), 1, &[pid(2)]));
        net.session(0, S1, pid(50));
        net.session(0, S2, pid(51));
        let r = route(0, 1, 1);
        for (i, a) in case.actions.iter().enumerate() {
            let id = i as u64 + 1;
            match a {
                Action::Put {
                    k,
                    rid,
                    cv,
                    cg,
                    owner,
                } => {
                    let conn = if *owner { S2 } else { S1 };
                    net.to(
                        0,
                        conn,
                        id,
                        batch(r, vec![put(*k, &format!("r{rid}"), *cv, *cg)]),
                    );
                }
                Action::Remove { k, rid, cv, cg } => {
                    net.to(
                        0,
                        S1,
                        id,
                        batch(r, vec![remove(*k, &format!("r{rid}"), *cv, *cg)]),
                    );
                }
                Action::Cut => net.cut_links(),
                Action::Wait => net.advance(Duration::from_secs(6)),
                Action::Truncate => {
                    let end = match net.nodes[0].slot_status(SlotId(0)).map(|s| s.state) {
                        Some(SlotState::Leader { log_end, .. }) => log_end,
                        _ => 0,
                    };
                    net.nodes[0].truncate_log(SlotId(0), end);
                    net.pump();
                }
            }
        }
        net.advance(Duration::from_secs(12));
        let leader = net.nodes[0].snapshot(SlotId(0));
        let follower = net.nodes[1].snapshot(SlotId(0));
        if leader != follower {
            eprintln!("leader   {leader:?}\nfollower {follower:?}");
            return false;
        }
        true
    }

    /// Op-log replay and digest resync: any sequence of writes applied on a leader,
    /// replayed via the op-log or resynced via digests on a follower (with the log
    /// truncated at random points and the link cut at random points), gives identical
    /// datums, versions and owners.
    #[test]
    fn oplog_replay_and_resync_give_the_leaders_exact_datums() {
        QuickCheck::new()
            .tests(1000)
            .quickcheck(replayed_or_resynced_follower_equals_leader as fn(Case) -> bool);
    }
}

#[test]
fn node_backs_off_when_meta_knows_no_leader() {
    // Regression (found on real sockets): `NotLeader{leader: None}` during meta's first
    // election made the node redial meta at once, hundreds of times a second.
    let cfg = DataConfig::new(pid(1), addr(0), vec![Text::from("meta:1")]);
    let mut node = DataNode::new(cfg, Instant::ZERO).unwrap();
    let now = Instant::ZERO;
    node.handle_timeout(now);
    let conn = std::iter::from_fn(|| node.poll_output())
        .find_map(|o| match o {
            Output::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("connects to meta");
    node.handle_input(now, Input::Connected { conn });
    while node.poll_output().is_some() {}
    let frame = Frame::new(1, crate::wire::NotLeader { leader: None });
    node.handle_input(now, Input::Frame { conn, frame });
    let outs: Vec<_> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Connect { .. })),
        "no immediate redial: {outs:?}"
    );
    node.handle_timeout(now);
    assert!(
        !std::iter::from_fn(|| node.poll_output()).any(|o| matches!(o, Output::Connect { .. }))
    );
    let later = now + Duration::from_secs(1);
    node.handle_timeout(later);
    assert!(std::iter::from_fn(|| node.poll_output()).any(|o| matches!(o, Output::Connect { .. })));
}

#[test]
fn replica_follower_ignores_answers_to_abandoned_requests() {
    // Simulator seed 366: a paused follower timed out and resubscribed; the page answering
    // its abandoned fetch arrived during the new resync, was taken for the current batch,
    // and the batch's keys it did not contain were dropped.
    use super::replica::{Follower, Next};
    use super::store::SlotStore;
    use crate::wire::{DatumDigest, ResyncDigests, ResyncPage};
    let (slot, epoch) = (SlotId(0), LeaderEpoch(1));
    let leader = pid(1);
    let mut store = SlotStore::default();
    let digests = |position: u64| ResyncDigests {
        slot,
        leader_epoch: epoch,
        position,
        datums: [1, 2]
            .into_iter()
            .map(|k| DatumDigest {
                data_info_id: key(k),
                version: DatumVersion::new(epoch, k),
                digest: Digest::of([(&Text::from("a"), RegisterVersion::new(1, 1))]),
            })
            .collect(),
        tombstoned: Vec::new(),
    };
    let page = |keys: &[u64]| ResyncPage {
        slot,
        leader_epoch: epoch,
        datums: keys
            .iter()
            .map(|&k| ReplicaDatum {
                data_info_id: key(k),
                version: DatumVersion::new(epoch, k),
                publishers: vec![crate::wire::OwnedPublisher {
                    owner: pid(50),
                    publisher: publisher("a", 1, 1),
                }],
            })
            .collect(),
        next: None,
        tombstones: Vec::new(),
    };
    let mut f = Follower::new(Some(leader), epoch, LeaderEpoch(0), 0);
    // Subscription 10 abandoned, subscription 11 current.
    f.phase = super::replica::Phase::Subscribing;
    f.request = (ConnId(1), 11);
    assert_eq!(
        f.on_digests(slot, &mut store, (10, digests(5)), 8),
        Next::Nothing
    );
    let Next::Fetch(_) = f.on_digests(slot, &mut store, (11, digests(5)), 8) else {
        panic!("the current subscription's digests start a resync");
    };
    f.request = (ConnId(1), 12);
    // A stale page (fetch 9) holding only key 1: ignored, nothing dropped or applied.
    let t = Instant::ZERO;
    assert_eq!(f.on_page(&mut store, (9, page(&[1])), 8, t), Next::Nothing);
    assert!(store.datums().next().is_none());
    // The current page applies both keys and ends the resync.
    assert_eq!(
        f.on_page(&mut store, (12, page(&[1, 2])), 8, t),
        Next::Subscribe
    );
    assert_eq!(store.datums().count(), 2);
}

#[test]
fn reconcile_ignores_the_late_answer_of_an_abandoned_run() {
    // Digests taken before writes the session made since would remove those publishers if
    // a later run took them for its own answer.
    let session = pid(50);
    let mut net = Net::new(1, |_| {});
    net.session(0, S1, session);
    net.view(1, &[session], &table(1, 1, pid(1), 1, &[]));
    let queries = |frames: Vec<Frame>| -> Vec<u64> {
        frames
            .iter()
            .filter(|f| matches!(f.message, Message::ReconcileQuery(_)))
            .map(|f| f.request_id)
            .collect()
    };
    let first = queries(net.take(0, S1));
    assert_eq!(first.len(), 1);
    // Unanswered past the request timeout (5 s): the run is abandoned and a new one starts.
    net.advance(Duration::from_secs(6));
    let second = queries(net.take(0, S1));
    assert!(!second.is_empty() && !second.contains(&first[0]));
    let slot = SlotId(0);
    net.to(
        0,
        S1,
        first[0],
        ReconcileDigests {
            slot,
            digests: Vec::new(),
        },
    );
    assert_eq!(net.nodes[0].reconcile_counts(slot), Some((0, 0)));
    let last = *second.last().unwrap();
    net.to(
        0,
        S1,
        last,
        ReconcileDigests {
            slot,
            digests: Vec::new(),
        },
    );
    assert_eq!(net.nodes[0].reconcile_counts(slot), Some((1, 0)));
}

// ----- hellos and protocol evolution (docs/protocol.md §9) ---------------------------------

#[test]
fn a_session_hello_is_welcomed_and_its_agreement_recorded() {
    // `Net::session` checks the welcome comes first; here, what the node recorded.
    let mut net = single(&[]);
    assert_eq!(net.nodes[0].agreement(S1), None);
    net.session(0, S1, pid(50));
    assert_eq!(
        net.nodes[0].agreement(S1),
        Some(crate::wire::Agreement {
            version: crate::wire::negotiate::VERSION,
            features: crate::wire::Features::NONE,
        })
    );
}

#[test]
fn a_peer_hello_older_than_the_node_serves_is_refused_unsupported_and_closed() {
    let mut net = single(&[]);
    net.queue.push_back((0, Input::Accepted { conn: S1 }));
    let ancient = PeerHello {
        version: 0,
        ..PeerHello::new(Role::Session, pid(50), Text::from("session:1"))
    };
    net.to(0, S1, 0, ancient);
    let f = net.take(0, S1);
    assert!(
        matches!(&f[..], [reply] if matches!(&reply.message,
            Message::ErrorReply(e) if e.code == crate::wire::ErrorCode::Unsupported)),
        "{f:?}"
    );
    assert_eq!(net.nodes[0].agreement(S1), None);
    net.to(0, S1, 4, batch(route(0, 1, 1), vec![put(1, "a", 1, 1)]));
    assert_eq!(net.take(0, S1), vec![], "the connection is not served");
    assert_eq!(net.nodes[0].publisher_count(), 0);
}

#[test]
fn unknown_kinds_are_ignored_one_way_and_answered_unsupported_as_requests() {
    let mut net = single(&[]);
    net.session(0, S1, pid(50));
    let unknown = |kind| Message::Unknown(crate::wire::Unknown { kind });
    net.to(0, S1, 0, unknown(0x90));
    assert_eq!(net.take(0, S1), vec![]);
    net.to(0, S1, 7, unknown(0x91));
    let f = net.take(0, S1);
    assert!(
        matches!(&f[..], [reply] if reply.request_id == 7 && matches!(&reply.message,
            Message::ErrorReply(e) if e.code == crate::wire::ErrorCode::Unsupported)),
        "{f:?}"
    );
    assert_eq!(
        net.nodes[0].agreement(S1).map(|a| a.version),
        Some(2),
        "still bound"
    );
}

#[test]
fn node_leaves_a_meta_node_that_answers_no_heartbeat() {
    // Harness seed 3 on glommio: the meta leader was stopped (SIGSTOP) with its socket
    // open; data nodes heartbeated into it while the new leader expelled them all.
    let metas = vec![Text::from("meta:1"), Text::from("meta:2")];
    let cfg = DataConfig::new(pid(1), addr(0), metas);
    let interval = cfg.heartbeat_interval;
    let mut node = DataNode::new(cfg, Instant::ZERO).unwrap();
    node.handle_timeout(Instant::ZERO);
    let conn = std::iter::from_fn(|| node.poll_output())
        .find_map(|o| match o {
            Output::Connect { conn, address } if address == "meta:1" => Some(conn),
            _ => None,
        })
        .expect("connects to the first meta address");
    node.handle_input(Instant::ZERO, Input::Connected { conn });
    while node.poll_output().is_some() {}
    let mut now = Instant::ZERO;
    let mut closed = None;
    for tick in 1..=4u32 {
        now = Instant::ZERO + interval * tick;
        node.handle_timeout(now);
        let outs: Vec<_> = std::iter::from_fn(|| node.poll_output()).collect();
        if outs
            .iter()
            .any(|o| matches!(o, Output::Close { conn: c, .. } if *c == conn))
        {
            closed = Some(tick);
            break;
        }
    }
    assert_eq!(closed, Some(3), "closed after three silent heartbeats");
    let mut dialled = None;
    for _ in 0..50 {
        let Some(at) = node.poll_timeout() else { break };
        now = now.max(at);
        node.handle_timeout(now);
        dialled = std::iter::from_fn(|| node.poll_output()).find_map(|o| match o {
            Output::Connect { address, .. } => Some(address),
            _ => None,
        });
        if dialled.is_some() {
            break;
        }
    }
    assert_eq!(
        dialled.as_deref(),
        Some("meta:2"),
        "moves to the next address"
    );
}
