//! Draining a session and decommissioning a data node through the admin API of a real
//! `roster dev`: a drained session ends with no client while the subscriber's every list
//! holds every publisher; a decommissioned data node ends holding no slot, with the lists
//! still whole.

mod common;

use common::{Proc, eventually, names, payloads, publish, subscribe, wait_list};
use serde_json::Value;

/// `method` on `url`: its status and JSON body.
fn call(method: &str, url: &str) -> (u16, Value) {
    let agent = common::tls::http_agent(url, false);
    let mut resp = match method {
        "POST" => agent.post(url).send_empty(),
        "DELETE" => agent.delete(url).call(),
        _ => agent.get(url).call(),
    }
    .expect("the admin server answers");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&body).expect("JSON"))
}

/// The node ids of the members of `role`.
fn members(admin: &str, role: &str) -> Vec<u64> {
    let (_, c) = call("GET", &format!("{admin}/v1/cluster"));
    c["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == role)
        .map(|m| m["process"]["node"].as_u64().unwrap())
        .collect()
}

#[test]
fn drain_moves_every_client_and_decommission_empties_a_data_node() {
    let dev = Proc::start("dev", &["dev"]);
    let (_, ready) = dev.wait_stdout(0, "ready", |l| l.starts_with("ready:"));
    let sessions = common::ready_sessions(&ready);
    let admin = dev.admin_url();
    let want = names("svc", 2);
    let _publisher = publish(&sessions, "drain.svc", &want);
    let sub = subscribe(&sessions, "drain.svc");
    let from = wait_list(&sub, 0, &want);

    // Bad input changes nothing.
    assert_eq!(call("POST", &format!("{admin}/v1/sessions/x/drain")).0, 400);
    assert_eq!(
        call("POST", &format!("{admin}/v1/sessions/999/drain")).0,
        404
    );

    let session = members(&admin, "session")[0];
    let (status, body) = call("POST", &format!("{admin}/v1/sessions/{session}/drain"));
    assert_eq!(status, 202, "{body}");
    eventually("the drained session to have no client", || {
        let (_, c) = call("GET", &format!("{admin}/v1/cluster"));
        let nodes = c["nodes"].as_array().unwrap().clone();
        nodes
            .iter()
            .any(|n| n["process"]["node"] == session && n["draining"] == true && n["clients"] == 0)
            .then_some(())
    });

    let data = members(&admin, "data")[0];
    let (status, body) = call("POST", &format!("{admin}/v1/data/{data}/decommission"));
    assert_eq!(status, 202, "{body}");
    eventually("the decommissioned data node to be empty", || {
        let (_, ops) = call("GET", &format!("{admin}/v1/ops"));
        (ops["decommissioning"][0]["empty"] == true).then_some(())
    });
    let (_, c) = call("GET", &format!("{admin}/v1/cluster"));
    for s in c["table"]["slots"].as_array().unwrap() {
        assert_ne!(s["leader"]["node"], data, "{s}");
        assert!(
            s["followers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["node"] != data)
        );
    }
    // Every list the subscriber was pushed since it first had both held both.
    let mut sorted = want.clone();
    sorted.sort();
    for line in &sub.stdout()[from..] {
        assert_eq!(payloads(line), sorted, "a list lacked a publisher: {line}");
    }
    let (status, _) = call("DELETE", &format!("{admin}/v1/sessions/{session}/drain"));
    assert_eq!(status, 202);
}
