//! Multi-process tests: real `roster` processes on loopback (see `common`), each scenario
//! on mio, on glommio and on mixed clusters of the two.

mod common;
use common::*;

on!(publish_and_subscribe_across_two_sessions_then_a_killed_publisher_disappears;
    mio = MIO, glommio = GLOMMIO, glommio_data = GLOMMIO_DATA, glommio_sessions = GLOMMIO_SESSIONS);
fn publish_and_subscribe_across_two_sessions_then_a_killed_publisher_disappears(c: Runtimes) {
    let (_meta, m) = meta();
    let _d1 = c.data(&m, 101);
    let _d2 = c.data(&m, 102);
    let (_s1, a1) = c.session(&m, 201);
    let (_s2, a2) = c.session(&m, 202);
    let sub = subscribe(&a2, "orders");
    let mut publisher = publish(&a1, "orders", &["10.0.0.1:80".into(), "10.0.0.2:80".into()]);
    let at = wait_list(&sub, 0, &["10.0.0.1:80".into(), "10.0.0.2:80".into()]);
    publisher.kill9();
    wait_list(&sub, at + 1, &[]);
}

on!(kill_9_of_a_data_node_under_load_loses_no_publisher;
    mio = MIO, glommio = GLOMMIO, glommio_data = GLOMMIO_DATA);
fn kill_9_of_a_data_node_under_load_loses_no_publisher(c: Runtimes) {
    let (_meta, m) = meta();
    let _d1 = c.data(&m, 101);
    let mut d2 = c.data(&m, 102);
    let _d3 = c.data(&m, 103);
    let (_s1, a1) = c.session(&m, 201);
    let (_s2, a2) = c.session(&m, 202);
    let ids = ["svc-a", "svc-b", "svc-c", "svc-d"];
    let subs: Vec<_> = ids
        .iter()
        .flat_map(|id| [subscribe(&a1, id), subscribe(&a2, id)])
        .collect();
    let mut pubs: Vec<_> = ids
        .iter()
        .map(|id| publish(&a1, id, &names(id, 40)))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        wait_list(&subs[2 * i], 0, &names(id, 40));
        wait_list(&subs[2 * i + 1], 0, &names(id, 40));
    }
    // Under load: more publishers arrive while the data node dies.
    let extra: Vec<String> = (0..20).map(|i| format!("late-{i}:80")).collect();
    d2.kill9();
    pubs.extend(ids.iter().map(|id| publish(&a2, id, &extra)));
    for (i, id) in ids.iter().enumerate() {
        let mut want = names(id, 40);
        want.extend(extra.iter().cloned());
        wait_list(&subs[2 * i], 0, &want);
        wait_list(&subs[2 * i + 1], 0, &want);
    }
}

on!(kill_9_of_a_session_fails_clients_over_with_no_empty_list;
    mio = MIO, glommio = GLOMMIO, glommio_sessions = GLOMMIO_SESSIONS);
fn kill_9_of_a_session_fails_clients_over_with_no_empty_list(c: Runtimes) {
    let (_meta, m) = meta();
    let _d1 = c.data(&m, 101);
    let _d2 = c.data(&m, 102);
    let (s1, a1) = c.session(&m, 201);
    let (s2, a2) = c.session(&m, 202);
    let both = format!("{a1},{a2}");
    let sub = subscribe(&both, "pay");
    let _publisher = publish(&both, "pay", &names("p", 5));
    let served = wait_list(&sub, 0, &names("p", 5));
    let (_, l) = sub.wait_stderr(0, "connected", |l| l.contains("connected session"));
    let (mut victim, _other) = if l.contains(&a1) { (s1, s2) } else { (s2, s1) };
    let before = sub.stderr().len();
    victim.kill9();
    sub.wait_stderr(before, "a fail-over", |l| l.contains("connected session"));
    // A new publisher proves the new session serves the subscriber.
    let _late = publish(&both, "pay", &["late:80".into()]);
    let mut want = names("p", 5);
    want.push("late:80".into());
    wait_list(&sub, 0, &want);
    // (Before the publisher registered, the subscriber may have had the empty list.)
    for line in &sub.stdout()[served..] {
        assert!(
            !payloads(line).is_empty(),
            "an empty list was delivered: {line}"
        );
    }
}

on!(a_killed_node_restarts_on_its_own_ports_at_once; mio = MIO, glommio = GLOMMIO);
fn a_killed_node_restarts_on_its_own_ports_at_once(c: Runtimes) {
    let (_meta, m) = meta();
    let data_listen = format!("127.0.0.1:{}", free_port());
    let client_listen = format!("127.0.0.1:{}", free_port());
    let mut data = c.data_on(&m, 101, &data_listen);
    let (mut session, a) = c.session_on(&m, 201, &client_listen, "info");
    // Connections accepted on both ports: the kill leaves them in TIME_WAIT there.
    let sub = subscribe(&a, "restart");
    let _before = publish(&a, "restart", &names("before", 2));
    wait_list(&sub, 0, &names("before", 2));
    session.kill9();
    data.kill9();
    // Both bind their ports again at once: the kill leaves TIME_WAIT entries on them, and
    // a glommio process's listeners outlive it by some milliseconds (the kernel tears its
    // io_uring down after the process is gone). The helpers fail on a start-up error.
    let _data = c.data_on(&m, 101, &data_listen);
    let (mut session, again) = c.session_on(&m, 201, &client_listen, "info");
    assert_eq!(again, a, "the session took clients on the same address");
    // And serve: a publisher through the restarted session reaches the subscriber.
    let _after = publish(&a, "restart", &["after:80".into()]);
    sub.wait_stdout(0, "the new publisher", |l| {
        payloads(l).contains(&"after:80".to_string())
    });
    // The same after a clean stop.
    session.signal("TERM");
    let (status, log) = session.wait_exit();
    assert!(status.success(), "a clean stop: {log}");
    let (_session, _) = c.session_on(&m, 201, &client_listen, "info");
    let _last = publish(&a, "restart", &["last:80".into()]);
    sub.wait_stdout(0, "a publisher through the session started again", |l| {
        payloads(l).contains(&"last:80".to_string())
    });
}

on!(a_three_node_meta_cluster_survives_the_loss_of_its_leader; mio = MIO, glommio = GLOMMIO);
fn a_three_node_meta_cluster_survives_the_loss_of_its_leader(c: Runtimes) {
    let group = MetaGroup::new(&format!("meta3-{:?}-{:?}", c.data, c.session), &[]);
    let mut metas: Vec<Proc> = (0..3).map(|i| group.start(i)).collect();
    let metas_addr = group.addresses();
    let _d1 = c.data(&metas_addr, 101);
    let _d2 = c.data(&metas_addr, 102);
    let (_s1, a1) = c.session(&metas_addr, 201);
    let sub = subscribe(&a1, "inventory");
    let _p = publish(&a1, "inventory", &names("i", 3));
    wait_list(&sub, 0, &names("i", 3));
    // Find the leader: every meta logs its status.
    let leader = eventually("a meta leader", || metas.iter().position(leads));
    metas[leader].kill9();
    // Another meta takes over, and the cluster keeps serving new publishers.
    eventually("a new meta leader", || {
        (0..3).find(|&i| i != leader && leads(&metas[i]))
    });
    let _d3 = c.data(&metas_addr, 103);
    let _p2 = publish(&a1, "inventory", &["after:80".into()]);
    let mut want = names("i", 3);
    want.push("after:80".into());
    wait_list(&sub, 0, &want);
}
