//! Meta voter changes at run time, end to end in memory (the network of `meta_cluster.rs`):
//! a fourth voter joins from its address, voters are removed and replaced (the leader
//! included), refused changes change nothing, and the configuration and the members'
//! addresses survive restarts.
#![allow(dead_code)]

include!("support/meta_net.rs");

use roster_core::meta::{VoterChange, VoterChangeError, VoterRole};

/// Voter ids every live node's applied configuration has, per node.
fn voters_of(net: &Net, i: usize) -> Vec<u64> {
    (net.node(i).meta_members().into_iter())
        .filter(|m| m.role == VoterRole::Voter)
        .map(|m| m.id)
        .collect()
}

fn add(id: u64) -> VoterChange {
    VoterChange::Add {
        id,
        address: Text::from(format!("meta-{id}")),
    }
}

/// Asks the leader; panics if it refuses.
fn change(net: &mut Net, c: VoterChange) {
    let leader = net.leader();
    let now = net.now;
    net.nodes[leader]
        .as_mut()
        .unwrap()
        .change_voters(now, c)
        .unwrap();
}

/// A new data node joins through the current leader: the group still commits.
fn still_commits(net: &mut Net, node: u64) {
    let leader = net.leader();
    net.add_fake(node, leader);
    net.run_for(secs(3));
    let leader = net.leader();
    let members = &net.node(leader).state().members;
    assert!(
        members.get(NodeId(node)).is_some(),
        "data node {node} joined through meta {}",
        leader + 1
    );
}

#[test]
fn a_fourth_voter_joins_from_its_address_and_counts() {
    let mut net = cluster_with_data(41);
    let j = net.add_joiner(4);
    change(&mut net, add(4));
    net.run_for(secs(5));
    for i in 0..4 {
        assert_eq!(voters_of(&net, i), vec![1, 2, 3, 4], "node {}", i + 1);
    }
    let leader = net.leader();
    let outcome = net.node(leader).voter_outcome().cloned().unwrap();
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        net.node(j).state(),
        net.node(leader).state(),
        "4 has the state"
    );
    // With four voters, two of the first three down leave no quorum without 4.
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    net.kill(others[0]);
    still_commits(&mut net, 21);
    let members = net.node(j).state().members.clone();
    assert!(members.get(NodeId(21)).is_some(), "4 applied it too");
}

#[test]
fn refused_changes_change_nothing() {
    let mut net = cluster_with_data(42);
    let leader = net.leader();
    let follower = (leader + 1) % 3;
    let now = net.now;
    let id = |net: &Net, i: usize| net.node(i).id();
    let leader_id = id(&net, leader);
    let err = |net: &mut Net, i: usize, c| net.nodes[i].as_mut().unwrap().change_voters(now, c);
    assert_eq!(
        err(&mut net, follower, add(4)),
        Err(VoterChangeError::NotLeader {
            leader: Some(leader_id)
        })
    );
    assert_eq!(
        err(&mut net, leader, add(2)),
        Err(VoterChangeError::Exists { id: 2 })
    );
    let remove9 = VoterChange::Remove { id: 9 };
    assert_eq!(
        err(&mut net, leader, remove9),
        Err(VoterChangeError::Unknown { id: 9 })
    );
    // Cut one follower off: removing the other would leave {leader, cut-off}.
    let cut = follower;
    let other = 3 - leader - cut;
    net.cut.insert(cut);
    net.run_for(secs(5));
    assert_eq!(net.leader(), leader);
    let remove_other = VoterChange::Remove {
        id: id(&net, other),
    };
    assert!(matches!(
        err(&mut net, leader, remove_other),
        Err(VoterChangeError::NoQuorum {
            reachable: 1,
            needed: 2
        })
    ));
    net.run_for(secs(2));
    for i in 0..3 {
        assert_eq!(voters_of(&net, i), vec![1, 2, 3], "node {}", i + 1);
    }
    assert_eq!(net.node(leader).voter_outcome(), None);
    // One at a time: a second change while the first is under way is refused.
    net.cut.clear();
    net.run_for(secs(3));
    net.add_joiner(4);
    change(&mut net, add(4));
    let leader = net.leader();
    let now = net.now;
    let second = net.nodes[leader]
        .as_mut()
        .unwrap()
        .change_voters(now, VoterChange::Remove { id: 1 });
    assert!(
        matches!(second, Err(VoterChangeError::Busy { pending: Some(_) })),
        "{second:?}"
    );
    net.run_for(secs(5));
    assert_eq!(
        voters_of(&net, leader),
        vec![1, 2, 3, 4],
        "only the first happened"
    );
}

#[test]
fn a_follower_is_replaced_and_the_group_survives_losing_another() {
    let mut net = cluster_with_data(43);
    let leader = net.leader();
    let old = (leader + 1) % 3;
    let old_id = net.node(old).id();
    net.add_joiner(4);
    change(
        &mut net,
        VoterChange::Replace {
            old: old_id,
            id: 4,
            address: Text::from("meta-4"),
        },
    );
    net.run_for(secs(6));
    let mut want: Vec<u64> = vec![1, 2, 3, 4];
    want.retain(|&v| v != old_id);
    for i in (0..4).filter(|&i| i != old) {
        assert_eq!(voters_of(&net, i), want, "node {}", i + 1);
    }
    net.kill(old);
    // Losing the leader too: 4 and the remaining original are a majority of the new voters
    // and elect one of themselves (with the old voters they would be one of three).
    net.kill(leader);
    net.run_for(secs(6));
    let new = net.leader();
    assert_ne!(new, old);
    assert_ne!(new, leader);
    still_commits(&mut net, 22);
}

#[test]
fn removing_the_leader_hands_leadership_over() {
    let mut net = cluster_with_data(44);
    let leader = net.leader();
    let leader_id = net.node(leader).id();
    change(&mut net, VoterChange::Remove { id: leader_id });
    net.run_for(secs(5));
    let new = net
        .leaders()
        .into_iter()
        .find(|&i| i != leader)
        .expect("a remaining voter leads");
    let mut want = vec![1, 2, 3];
    want.retain(|&v| v != leader_id);
    assert_eq!(voters_of(&net, new), want);
    net.kill(leader);
    net.run_for(secs(3));
    assert_eq!(net.leader(), new);
    still_commits(&mut net, 23);
}

#[test]
fn voters_and_addresses_survive_restarts_of_every_node() {
    let mut net = cluster_with_data(45);
    net.add_joiner(4);
    change(&mut net, add(4));
    net.run_for(secs(5));
    let leader = net.leader();
    let leader_id = net.node(leader).id();
    let removed = if leader_id == 1 { 2 } else { 1 };
    change(&mut net, VoterChange::Remove { id: removed });
    net.run_for(secs(5));
    let mut want = vec![1, 2, 3, 4];
    want.retain(|&v| v != removed);
    let state = net.node(net.leader()).state().clone();
    for i in 0..4 {
        net.kill(i);
    }
    // Restarted with the original `--peers` (1..=4): the log's configuration wins.
    for i in (0..4).filter(|&i| i as u64 + 1 != removed) {
        net.restart(i);
    }
    net.run_for(secs(8));
    let leader = net.leader();
    assert_eq!(voters_of(&net, leader), want);
    let book: Vec<(u64, String)> = (net.node(leader).meta_members().into_iter())
        .map(|m| (m.id, m.address.unwrap().to_string()))
        .collect();
    let want_book: Vec<(u64, String)> = want.iter().map(|&v| (v, format!("meta-{v}"))).collect();
    assert_eq!(book, want_book);
    assert_eq!(net.node(leader).state().table, state.table);
}
