//! Operator switches on real processes (docs/operations.md, "Switches"), set through the
//! admin API: each one changes what a client sees, bad requests change nothing, and the
//! set survives a restart of the whole meta group.

mod common;

use common::{MIO, MetaGroup, Proc, eventually, names, publish, subscribe, wait_list};
use serde_json::{Value, json};

fn agent(url: &str) -> ureq::Agent {
    common::tls::http_agent(url, false)
}

/// GET `url`: its status and JSON body.
fn get(url: &str) -> (u16, Value) {
    let mut resp = agent(url)
        .get(url)
        .call()
        .expect("the admin server answers");
    let body = resp.body_mut().read_to_string().expect("a body");
    (
        resp.status().as_u16(),
        serde_json::from_str(&body).expect("JSON"),
    )
}

/// PUT `body` to `url`: its status and JSON body.
fn put(url: &str, body: &str) -> (u16, Value) {
    let mut resp = agent(url)
        .put(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("the admin server answers");
    let body = resp.body_mut().read_to_string().expect("a body");
    (
        resp.status().as_u16(),
        serde_json::from_str(&body).expect("JSON"),
    )
}

/// Turns switches with a patch on the meta process at `admin`; the new version.
fn switch(admin: &str, changes: Value) -> u64 {
    let body = json!({ "changes": changes }).to_string();
    let (status, answer) = put(&format!("{admin}/v1/switches"), &body);
    assert_eq!(status, 200, "{answer}");
    answer["version"].as_u64().expect("a version")
}

/// Waits until every session and data node of the process at `admin` applied `version`.
fn applied(admin: &str, version: u64) {
    eventually(
        &format!("{admin}'s nodes to apply switches {version}"),
        || {
            let (_, s) = get(&format!("{admin}/v1/switches"));
            let nodes = s["applied"].as_array()?;
            let all = nodes.iter().all(|n| n["version"].as_u64() >= Some(version));
            (all && !nodes.is_empty()).then_some(())
        },
    );
}

/// A `roster dev` cluster: it, its sessions' addresses and its admin URL.
fn dev() -> (Proc, String, String) {
    let dev = Proc::start("dev", &["dev"]);
    let (_, ready) = dev.wait_stdout(0, "ready", |l| l.starts_with("ready:"));
    let sessions = common::ready_sessions(&ready);
    let admin = dev.admin_url();
    (dev, sessions, admin)
}

fn version(v: &Value) -> Option<(u64, u64)> {
    Some((v["leader_epoch"].as_u64()?, v["seq"].as_u64()?))
}

#[test]
fn stop_push_holds_a_subscribers_list_until_it_is_lifted() {
    let (_dev, sessions, admin) = dev();
    let sub = subscribe(&sessions, "sw.held");
    wait_list(&sub, 0, &[]);
    let v = switch(
        &admin,
        json!([{"switch": "stop-push", "data_id": "sw.held", "on": true}]),
    );
    applied(&admin, v);

    let want = names("held", 1);
    let _publisher = publish(&sessions, "sw.held", &want);
    // The subscriber's session has the new list and has not pushed it: without the switch
    // the push leaves in the same turn as the list arrives, so it would be in flight or
    // acknowledged by now.
    eventually("the subscriber's session to hold the new list", || {
        let (_, key) = get(&format!("{admin}/v1/keys/sw.held"));
        key["sessions"].as_array()?.iter().find_map(|s| {
            let cached = version(&s["cached"])?;
            let subs = s["subscribers"].as_array()?;
            let held = !subs.is_empty()
                && subs.iter().all(|x| {
                    x["push_in_flight"] == false
                        && version(&x["acknowledged"]).is_some_and(|a| a < cached)
                });
            let known = key["publishers"].as_array()?.len() == 1;
            (held && known).then_some(())
        })
    });
    assert_eq!(sub.stdout().len(), 1, "only the first (empty) list arrived");

    let v = switch(
        &admin,
        json!([{"switch": "stop-push", "data_id": "sw.held", "on": false}]),
    );
    assert!(v >= 2);
    wait_list(&sub, 1, &want);
}

#[test]
fn client_off_removes_a_clients_publishers_and_lets_it_back_once_lifted() {
    // The subscriber comes from ::1 and the publisher from 127.0.0.1, to one dual-stack
    // session: switching 127.0.0.1 off must take the publisher only.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let (meta, meta_addr) = common::meta();
    let meta_admin = meta.admin_url();
    let _data = MIO.data(&meta_addr, 11);
    let (session, client) = MIO.session_on(&meta_addr, 21, "[::]:0", "info");
    let port = client.rsplit(':').next().unwrap();
    let (v4, v6) = (format!("127.0.0.1:{port}"), format!("[::1]:{port}"));
    let sub = subscribe(&v6, "sw.off");
    wait_list(&sub, 0, &[]);
    let want = names("off", 2);
    let _publisher = publish(&v4, "sw.off", &want);
    let at = wait_list(&sub, 0, &want);

    let v = switch(
        &meta_admin,
        json!([{"switch": "client-off", "address": "127.0.0.1", "on": true}]),
    );
    let at = wait_list(&sub, at + 1, &[]);
    let session_admin = session.admin_url();
    applied(&session_admin, v);
    let (_, s) = get(&format!("{session_admin}/v1/switches"));
    assert_eq!(s["clients_off"], json!(["127.0.0.1"]), "{s}");

    switch(
        &meta_admin,
        json!([{"switch": "client-off", "address": "127.0.0.1", "on": false}]),
    );
    // The publisher's client reconnects by itself and registers again.
    wait_list(&sub, at + 1, &want);
}

#[test]
fn a_blacklisted_data_id_is_refused_and_bad_requests_change_nothing() {
    let (_dev, sessions, admin) = dev();
    let v = switch(
        &admin,
        json!([{"switch": "blacklist", "data_id": "sw.banned", "on": true}]),
    );
    applied(&admin, v);
    let mut p = Proc::start(
        "publish",
        &["publish", "--session", &sessions, "sw.banned", "x:1"],
    );
    let (status, stderr) = p.wait_exit();
    assert!(!status.success());
    assert!(stderr.contains("blacklist"), "{stderr}");

    let url = format!("{admin}/v1/switches");
    for bad in [
        "not json",
        r#"{"changes": [{"switch": "client-off", "address": "10.0.0.1:80", "on": true}]}"#,
        r#"{"pushes_stopped": true}"#,
    ] {
        let (status, body) = put(&url, bad);
        assert_eq!(
            (status, &body["code"]),
            (400, &json!("bad_request")),
            "{bad}: {body}"
        );
    }
    let (_, s) = get(&url);
    assert_eq!(s["version"], v, "nothing changed: {s}");
    // The whole set, given: what it lacks is turned off.
    let whole = json!({"pushes_stopped": false, "push_stopped_data_ids": [],
        "clients_off": [], "blacklisted_data_ids": []});
    let (status, s) = put(&url, &whole.to_string());
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["version"].as_u64(), &s["blacklisted_data_ids"]),
        (Some(v + 1), &json!([]))
    );
    let _p = publish(&sessions, "sw.banned", &names("back", 1));
}

#[test]
fn switches_set_through_a_meta_follower_survive_a_restart_of_the_group() {
    let group = MetaGroup::new("switches", &[]);
    let mut metas: Vec<Proc> = (0..3).map(|i| group.start(i)).collect();
    let admins: Vec<String> = metas.iter().map(Proc::admin_url).collect();
    let body = json!({"changes": [{"switch": "stop-all-pushes", "on": true},
        {"switch": "blacklist", "data_id": "sw.kept", "on": true}]})
    .to_string();
    // Every voter takes the change, followers by forwarding it: until a leader is elected
    // the answer is 503 and nothing changes.
    for admin in &admins {
        let s = eventually("the group to take the change", || {
            let (status, s) = put(&format!("{admin}/v1/switches"), &body);
            (status == 200).then_some(s)
        });
        assert_eq!(s["version"], 1, "a repeat changes nothing: {s}");
    }
    for m in &mut metas {
        m.kill9();
    }
    let metas: Vec<Proc> = (0..3).map(|i| group.start(i)).collect();
    for m in &metas {
        let admin = m.admin_url();
        let (_, s) = get(&format!("{admin}/v1/switches"));
        assert_eq!(s["version"], 1, "{s}");
        assert_eq!(s["pushes_stopped"], true, "{s}");
        assert_eq!(s["blacklisted_data_ids"], json!(["sw.kept"]), "{s}");
    }
}

#[test]
fn roster_admin_switch_sets_and_gets_the_switches() {
    let (_dev, _sessions, admin) = dev();
    let cli = |name: &str, args: &[&str]| {
        let mut a = vec!["admin", "--admin", &admin];
        a.extend_from_slice(args);
        let mut p = Proc::start(name, &a);
        let (status, stderr) = p.wait_exit();
        (status.success(), p.stdout(), stderr)
    };
    let (ok, out, err) = cli(
        "set",
        &["switch", "set", "client-off", "::ffff:10.9.9.9", "on"],
    );
    assert!(ok, "{err}");
    assert!(
        out.iter()
            .any(|l| l.contains("client off") && l.contains("10.9.9.9")),
        "{out:?}"
    );
    let (ok, out, err) = cli("get", &["--json", "switch", "get"]);
    assert!(ok, "{err}");
    let s: Value = serde_json::from_str(&out[0]).expect("JSON");
    assert_eq!(s["clients_off"], json!(["10.9.9.9"]), "{s}");
    let (ok, _, err) = cli("bad", &["switch", "set", "client-off", "nope", "on"]);
    assert!(!ok && err.contains("not an IP address"), "{err}");
    let (ok, _, err) = cli("usage", &["switch", "set", "stop-push", "on"]);
    assert!(!ok && err.contains("expected"), "{err}");
}
