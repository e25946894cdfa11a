//! Changing the meta voters of a running group on real processes, through the admin API:
//! three voters with data and session nodes; a fourth joins from its address, one is
//! removed, one is replaced; refused changes change nothing; the group keeps a leader, and
//! a subscriber still receives a new publish after every change, and after the last
//! original voter is gone too.

mod common;

use common::*;
use serde_json::{Value, json};

fn agent(url: &str) -> ureq::Agent {
    common::tls::http_agent(url, false)
}

/// Status and JSON body of `method url` with an optional JSON body.
fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let a = agent(url);
    let resp = match (method, body) {
        ("GET", _) => a.get(url).call(),
        ("DELETE", _) => a.delete(url).call(),
        ("POST", Some(b)) => a.post(url).send_json(b),
        (m, b) => panic!("unsupported {m} {b:?}"),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, json)
}

/// A meta process with its id and admin URL.
struct Meta {
    id: u64,
    proc: Proc,
    admin: String,
}

/// Voter ids, leader id and whether a change is under way, as `meta` sees the group.
fn view(m: &Meta) -> (Vec<u64>, Option<u64>, bool) {
    let (status, v) = call("GET", &format!("{}/v1/meta/members", m.admin), None);
    assert_eq!(status, 200, "{v}");
    let voters = (v["members"].as_array().unwrap().iter())
        .filter(|x| x["role"] == "voter")
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    (voters, v["leader"].as_u64(), !v["change"].is_null())
}

/// Index of the meta that leads, once one says so.
fn leader(metas: &[Meta]) -> usize {
    eventually("a meta leader", || {
        (0..metas.len()).find(|&i| view(&metas[i]).1 == Some(metas[i].id))
    })
}

/// Waits until the leader reports `want` as voters with no change under way, and its last
/// change ended well.
fn settled(metas: &[Meta], want: &[u64]) {
    eventually(&format!("voters {want:?}"), || {
        let l = leader(metas);
        let (voters, _, busy) = view(&metas[l]);
        let (_, v) = call("GET", &format!("{}/v1/meta/members", metas[l].admin), None);
        (voters == want && !busy && v["last_change"]["ok"] == true).then_some(())
    });
}

/// Starts meta `id` on `port` to join the group: it knows only itself.
fn joiner(group: &MetaGroup, id: u64, port: u16) -> Meta {
    let listen = format!("127.0.0.1:{port}");
    let peers = format!("{id}={listen}");
    let dir = group
        .dir
        .join(id.to_string())
        .to_string_lossy()
        .into_owned();
    let ids = id.to_string();
    let a = args(&[
        "meta",
        "--id",
        &ids,
        "--listen",
        &listen,
        "--peers",
        &peers,
        "--data-dir",
        &dir,
        "--join",
    ]);
    let proc = Proc::start(&format!("meta-{id}"), &a);
    let admin = proc.admin_url();
    Meta { id, proc, admin }
}

#[test]
fn voters_are_added_removed_and_replaced_while_clients_keep_working() {
    let group = MetaGroup::new("voters", &[]);
    let mut metas: Vec<Meta> = (0..3)
        .map(|i| {
            let proc = group.start(i);
            let admin = proc.admin_url();
            Meta {
                id: i as u64 + 1,
                proc,
                admin,
            }
        })
        .collect();
    // Data and session nodes know the meta addresses to be, so they find any leader.
    let (p4, p5) = (free_port(), free_port());
    let all = format!("{},127.0.0.1:{p4},127.0.0.1:{p5}", group.addresses());
    let _d1 = MIO.data(&all, 101);
    let _d2 = MIO.data(&all, 102);
    let (_s, sessions) = MIO.session(&all, 201);
    let sub = subscribe(&sessions, "svc");
    let mut want = names("a", 2);
    let _p1 = publish(&sessions, "svc", &want);
    let mut at = wait_list(&sub, 0, &want);
    let mut publishers = Vec::new();
    let mut publish_more = |tag: &str, want: &mut Vec<String>, at: &mut usize| {
        let p = format!("{tag}:80");
        publishers.push(publish(&sessions, "svc", std::slice::from_ref(&p)));
        want.push(p);
        *at = wait_list(&sub, *at, want);
    };

    // Add a fourth voter from its address.
    metas.push(joiner(&group, 4, p4));
    let l = leader(&metas);
    let body = json!({"id": 4, "address": format!("127.0.0.1:{p4}")});
    let (status, v) = call(
        "POST",
        &format!("{}/v1/meta/members", metas[l].admin),
        Some(body),
    );
    assert_eq!(status, 202, "{v}");
    settled(&metas, &[1, 2, 3, 4]);
    assert_eq!(
        view(&metas[3]).0,
        vec![1, 2, 3, 4],
        "meta 4 learned the group"
    );
    publish_more("after-add", &mut want, &mut at);

    // Refused changes: each a JSON 4xx, and nothing changes.
    let l = leader(&metas);
    let follower = (0..4).find(|&i| i != l).unwrap();
    let members = |m: &Meta| format!("{}/v1/meta/members", m.admin);
    let refusals = [
        call(
            "POST",
            &members(&metas[l]),
            Some(json!({"id": 2, "address": "x:1"})),
        ),
        call("DELETE", &format!("{}/9", members(&metas[l])), None),
        call("POST", &members(&metas[l]), Some(json!({"id": "five"}))),
        call(
            "POST",
            &members(&metas[follower]),
            Some(json!({"id": 6, "address": "x:1"})),
        ),
    ];
    let codes: Vec<(u16, &str)> = (refusals.iter())
        .map(|(s, v)| (*s, v["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (409, "exists"),
            (404, "not_found"),
            (400, "bad_request"),
            (409, "not_leader")
        ],
        "{refusals:?}"
    );
    let said = refusals[3].1["message"].as_str().unwrap();
    assert!(
        said.contains(&format!("meta {} leads", metas[l].id)),
        "{said}"
    );
    assert_eq!(
        view(&metas[l]),
        (vec![1, 2, 3, 4], Some(metas[l].id), false)
    );

    // Remove an original follower, then stop it.
    let gone = (0..3).find(|&i| i != l).unwrap();
    let gone_id = metas[gone].id;
    let url = format!("{}/{gone_id}", members(&metas[l]));
    let (status, v) = call("DELETE", &url, None);
    assert_eq!(status, 202, "{v}");
    let mut voters: Vec<u64> = vec![1, 2, 3, 4];
    voters.retain(|&v| v != gone_id);
    settled(&metas, &voters);
    metas.remove(gone).proc.kill9();
    publish_more("after-remove", &mut want, &mut at);

    // Replace the other original follower by a fifth voter, then stop it.
    metas.push(joiner(&group, 5, p5));
    let l = leader(&metas);
    let old = (0..2).find(|&i| i != l).unwrap();
    let old_id = metas[old].id;
    let body = json!({"id": 5, "address": format!("127.0.0.1:{p5}")});
    let url = format!("{}/{old_id}/replace", members(&metas[l]));
    let (status, v) = call("POST", &url, Some(body));
    assert_eq!(status, 202, "{v}");
    voters.retain(|&v| v != old_id);
    voters.push(5);
    settled(&metas, &voters);
    metas.remove(old).proc.kill9();
    publish_more("after-replace", &mut want, &mut at);

    // Stop the leader: the other two are a majority of the new voters and take over.
    let l = leader(&metas);
    let was = metas[l].id;
    metas.remove(l).proc.kill9();
    let new = leader(&metas);
    assert_ne!(metas[new].id, was);
    publish_more("after-failover", &mut want, &mut at);
}
