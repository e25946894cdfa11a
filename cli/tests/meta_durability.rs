//! A meta group's durability on real processes: a voter of a group refuses to run without a
//! data directory, and a voter killed with -9 right after compacting its log file restarts
//! from it and carries the group's quorum again.

mod common;
use common::*;
use std::path::Path;

#[test]
fn a_voter_of_a_group_without_a_data_directory_is_refused() {
    let peers = "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3";
    let mut p = Proc::start(
        "meta",
        &[
            "meta",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--peers",
            peers,
        ],
    );
    let (status, err) = p.wait_exit();
    assert!(!status.success(), "a voter without a data directory ran");
    assert!(err.contains("data_dir"), "{err}");
}

fn compacted(p: &Proc) -> bool {
    p.stderr().iter().any(|l| l.contains("meta log compacted"))
}

fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("meta.log")).map_or(0, |m| m.len())
}

#[test]
fn a_voter_killed_after_compacting_its_log_restarts_and_carries_the_quorum() {
    // A snapshot, and so a compacted log file, every 2 applied entries.
    let group = MetaGroup::new("durable", &["--snapshot-interval", "2"]);
    let mut metas: Vec<Proc> = (0..3).map(|i| group.start(i)).collect();
    let c = MIO;
    let metas_addr = group.addresses();
    let d1 = c.data(&metas_addr, 101);
    let d2 = c.data(&metas_addr, 102);
    let (_s1, a1) = c.session(&metas_addr, 201);
    let sub = subscribe(&a1, "inventory");
    let _p = publish(&a1, "inventory", &names("i", 3));
    wait_list(&sub, 0, &names("i", 3));

    let leader = eventually("a meta leader", || metas.iter().position(leads));
    let victim = eventually("a follower that compacted its log", || {
        (0..3).find(|&i| i != leader && compacted(&metas[i]))
    });
    metas[victim].kill9();
    let dir = group.dir.join((victim + 1).to_string());
    assert!(log_len(&dir) > 0, "the victim's log file is on disk");
    metas[victim] = group.start(victim);
    metas[victim].wait_stderr(0, "the restarted voter read its state", |l| {
        l.contains("meta state read")
    });

    // Without the old leader the restarted voter is needed for every commit: the
    // membership and table changes that move all slots onto a new data node.
    metas[leader].kill9();
    eventually("a new meta leader", || {
        (0..3).find(|&i| i != leader && leads(&metas[i]))
    });
    let _d3 = c.data(&metas_addr, 103);
    drop((d1, d2));
    let _p2 = publish(&a1, "inventory", &["after:80".into()]);
    let mut want = names("i", 3);
    want.push("after:80".into());
    wait_list(&sub, 0, &want);
    assert!(
        metas[victim].is_running(),
        "the restarted voter is still up"
    );
    let _ = std::fs::remove_dir_all(&group.dir);
}
