//! Mechanisms 7 and 10 (leases, meta consensus), end to end in memory: meta nodes driven
//! by a small deterministic driver that carries every frame through `Frame::to_bytes` and
//! `Frame::decode`, advances virtual time to the earliest `poll_timeout`, keeps what each
//! node persisted, and plays fake data nodes that heartbeat the meta leader.

include!("support/meta_net.rs");

use roster_core::meta::{OpsRefusal, OpsRequest, SwitchOutcome};
use roster_core::model::SwitchChange;
use roster_core::wire::negotiate;

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
