//! The admin HTTP server on real processes: readiness that follows the node, every
//! endpoint of a running cluster answering with what a client did, JSON errors, and the
//! bearer token.

mod common;

use common::{
    GLOMMIO, MIO, Proc, Runtimes, eventually, free_port, names, publish, subscribe, wait_list,
};
use serde_json::Value;

/// GET `url`: its status and JSON body (errors are JSON too).
fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let agent = common::tls::http_agent(url, false);
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().expect("the admin server answers");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().expect("a body");
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"));
    (status, json)
}

on!(readyz_turns_200_only_once_the_node_is_in_service; mio = MIO, glommio = GLOMMIO);

fn readyz_turns_200_only_once_the_node_is_in_service(rt: Runtimes) {
    // A data node whose meta is not up yet: alive, not in service.
    let meta_addr = format!("127.0.0.1:{}", free_port());
    let data = rt.data(&meta_addr, 11);
    let admin = data.admin_url();
    let (status, body) = get(&format!("{admin}/healthz"), None);
    assert_eq!((status, &body["status"]), (200, &Value::from("ok")));
    let (status, body) = get(&format!("{admin}/readyz"), None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(
        nodes.len(),
        rt.data.shards(),
        "one entry per node (shard): {body}"
    );
    let reason = nodes[0]["reason"].as_str().unwrap();
    assert!(reason.contains("slot table"), "{reason}");

    // Meta comes up and places the table: the data node is in service.
    let meta = Proc::start("meta", &common::args(&["meta", "--listen", &meta_addr]));
    let meta_admin = meta.admin_url();
    eventually("the meta node to be ready", || {
        (get(&format!("{meta_admin}/readyz"), None).0 == 200).then_some(())
    });
    eventually("the data node to be ready", || {
        let (status, body) = get(&format!("{admin}/readyz"), None);
        let all = body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["ready"] == true);
        (status == 200 && all).then_some(())
    });
}

#[test]
fn a_dev_cluster_answers_every_endpoint_with_what_its_clients_did() {
    let dev = Proc::start("dev", &["dev"]);
    let (_, ready) = dev.wait_stdout(0, "ready", |l| l.starts_with("ready:"));
    let sessions = common::ready_sessions(&ready);
    let admin = dev.admin_url();
    assert_eq!(get(&format!("{admin}/readyz"), None).0, 200);

    let want = names("svc", 2);
    let _publisher = publish(&sessions, "admin.svc", &want);
    let sub = subscribe(&sessions, "admin.svc");
    wait_list(&sub, 0, &want);

    let (status, cluster) = get(&format!("{admin}/v1/cluster"), None);
    assert_eq!(status, 200, "{cluster}");
    assert_eq!(cluster["meta"]["leader"], 1);
    let members = cluster["members"].as_array().unwrap();
    assert_eq!(members.len(), 5, "3 data and 2 session members: {cluster}");
    assert!(
        members
            .iter()
            .all(|m| m["lease_remaining_ms"].as_u64().is_some())
    );
    let slots = cluster["table"]["slots"].as_array().unwrap();
    assert!(!slots.is_empty() && slots.iter().all(|s| s["status"] == "led"));
    assert_eq!(cluster["nodes"].as_array().unwrap().len(), 6);

    // The key: both publishers, each with its session and client, and the subscriber
    // holding the version the leader serves.
    let key = eventually("the subscriber's ack to reach the session", || {
        let (status, key) = get(&format!("{admin}/v1/keys/admin.svc"), None);
        assert_eq!(status, 200, "{key}");
        let acked = key["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["subscribers"].as_array().unwrap().iter())
            .any(|s| s["acknowledged"] == key["version"]);
        acked.then_some(key)
    });
    let mut payloads: Vec<&str> = key["publishers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payload"][0].as_str().unwrap())
        .collect();
    payloads.sort_unstable();
    assert_eq!(
        payloads,
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        key["publishers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["client"]
                .as_str()
                .is_some_and(|c| c.ends_with(" 127.0.0.1"))
                && p["session"]["node"].is_u64()),
        "{key}"
    );

    // The sessions' clients: the publisher's connection holds both publishers.
    let total: u64 = ["201", "202"]
        .iter()
        .map(|id| {
            let (status, c) = get(&format!("{admin}/v1/sessions/{id}/clients"), None);
            assert_eq!(status, 200, "{c}");
            let clients = c["clients"].as_array().unwrap();
            assert!(clients.iter().all(|c| c["address"] == "127.0.0.1"), "{c}");
            c["publishers"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, 2);

    // Errors: JSON with a code, changing nothing.
    let (status, e) = get(&format!("{admin}/v1/keys/nobody.svc"), None);
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
    let long = "x".repeat(2000);
    let (status, e) = get(&format!("{admin}/v1/keys/{long}"), None);
    assert_eq!((status, e["code"].as_str()), (400, Some("bad_request")));
    let (status, e) = get(&format!("{admin}/v1/sessions/999/clients"), None);
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
    let (status, e) = get(&format!("{admin}/no/such/endpoint"), None);
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn a_configured_token_is_required_except_for_health_probes() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(["dev", "--data", "1", "--sessions", "1"])
        .env("ROSTER_ADMIN_TOKEN", "s3cret");
    let dev = Proc::spawn("dev", cmd);
    dev.wait_stdout(0, "ready", |l| l.starts_with("ready:"));
    let admin = dev.admin_url();
    assert_eq!(get(&format!("{admin}/healthz"), None).0, 200);
    assert_eq!(get(&format!("{admin}/readyz"), None).0, 200);
    let (status, e) = get(&format!("{admin}/v1/cluster"), None);
    assert_eq!((status, e["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(get(&format!("{admin}/v1/cluster"), Some("wrong")).0, 401);
    assert_eq!(get(&format!("{admin}/v1/cluster"), Some("s3cret")).0, 200);
}
