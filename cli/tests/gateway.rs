//! The HTTP/JSON gateway of a real `roster dev`, through a real HTTP client: instances
//! registered over HTTP reach binary-protocol subscribers and leave them when their TTL
//! passes or their stream closes; blocking queries answer at the next change; SSE watches
//! get successive versions in order; bad requests get the documented errors and change
//! nothing; and the OpenAPI document describes what the gateway answers.

mod common;
mod http;

use common::{DEADLINE, MIO, Proc, dev_with_http, eventually};
use http::{Http, SseReader};
use roster_client::{Subscription, Update};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An instance of a pushed list: its id, payload and attributes.
type Listed = (String, String, Vec<(String, String)>);

/// The instances of a pushed list, as the gateway writes them (its id travels in the
/// `roster.gateway.id` attribute).
fn instances(u: &Update) -> Vec<Listed> {
    u.publishers()
        .iter()
        .map(|p| {
            let attributes: Vec<(String, String)> = p
                .attributes()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = attributes
                .iter()
                .find(|(k, _)| k == "roster.gateway.id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let payload: Vec<u8> = p.payload().flatten().copied().collect();
            (id, String::from_utf8(payload).unwrap(), attributes)
        })
        .collect()
}

/// Waits for a pushed list that satisfies `f`; it and when it arrived.
fn wait_update(sub: &Subscription, what: &str, f: impl Fn(&Update) -> bool) -> (Update, Instant) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match sub.recv_timeout(left) {
            Ok(u) if f(&u) => return (u, Instant::now()),
            Ok(_) => {}
            Err(e) => panic!("no list with {what}: {e}"),
        }
    }
}

#[test]
fn a_ttl_instance_reaches_binary_subscribers_and_leaves_when_heartbeats_stop() {
    let (_dev, base, sessions) = dev_with_http();
    let http = Http::new(&base);
    let client = common::client(sessions.split(',').map(str::to_string)).unwrap();
    let sub = client.subscribe("gw.ttl").unwrap();
    let ttl = Duration::from_millis(1000);
    let (status, body) = http.put(
        "/v1/services/gw.ttl/instances/a",
        &json!({"payload": "10.0.0.1:80", "attributes": {"zone": "z1"}, "ttl_ms": 1000})
            .to_string(),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"data_id": "gw.ttl", "id": "a", "ttl_ms": 1000})
    );
    let (u, _) = wait_update(&sub, "instance a", |u| !instances(u).is_empty());
    let listed = instances(&u);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "a");
    assert_eq!(listed[0].1, "10.0.0.1:80");
    assert!(listed[0].2.contains(&("zone".into(), "z1".into())));

    // Heartbeats at a third of the TTL keep it listed across several TTLs.
    let kept_until = Instant::now() + ttl * 3;
    while Instant::now() < kept_until {
        let (status, body) = http.put_empty("/v1/services/gw.ttl/instances/a/heartbeat");
        assert_eq!(status, 200, "{body}");
        std::thread::sleep(ttl / 3); // the heartbeat's pace, not a synchronisation
    }
    while let Some(u) = sub.try_recv() {
        assert_eq!(
            instances(&u).len(),
            1,
            "a heartbeaten instance stays: {u:?}"
        );
    }

    // Heartbeats stop: it leaves within the TTL and one push.
    let (status, _) = http.put_empty("/v1/services/gw.ttl/instances/a/heartbeat");
    assert_eq!(status, 200);
    let last_heartbeat = Instant::now();
    let (_, left_at) = wait_update(&sub, "no instance", |u| instances(u).is_empty());
    let allowed = ttl + Duration::from_secs(3);
    assert!(
        left_at.duration_since(last_heartbeat) < allowed,
        "an expired instance leaves within its TTL and one push ({allowed:?})"
    );
    // Expired: heartbeats and unregistering know it no more.
    let (status, body) = http.put_empty("/v1/services/gw.ttl/instances/a/heartbeat");
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = http.delete("/v1/services/gw.ttl/instances/a");
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn a_put_replaces_in_place_and_a_delete_unregisters() {
    let (_dev, base, sessions) = dev_with_http();
    let http = Http::new(&base);
    let client = common::client(sessions.split(',').map(str::to_string)).unwrap();
    let sub = client.subscribe("gw.put").unwrap();
    let put = |payload: &str| {
        http.put(
            "/v1/services/gw.put/instances/a",
            &json!({"payload": payload, "ttl_ms": 60000}).to_string(),
        )
    };
    assert_eq!(put("one").0, 201);
    wait_update(&sub, "payload one", |u| {
        instances(u).iter().any(|i| i.1 == "one")
    });
    assert_eq!(put("two").0, 200, "a second PUT replaces");
    // One write: no list in between holds neither or both.
    let (u, _) = wait_update(&sub, "payload two", |u| {
        let i = instances(u);
        assert_eq!(i.len(), 1, "never neither nor both: {u:?}");
        i[0].1 == "two"
    });
    let (status, body) = http.delete("/v1/services/gw.put/instances/a");
    assert_eq!(status, 204, "{body}");
    let (gone, _) = wait_update(&sub, "no instance", |u| instances(u).is_empty());
    assert!(gone.version() > u.version());
}

#[test]
fn a_stream_kept_instance_lives_exactly_as_long_as_its_stream() {
    let (_dev, base, sessions) = dev_with_http();
    let http = Http::new(&base);
    let client = common::client(sessions.split(',').map(str::to_string)).unwrap();
    let sub = client.subscribe("gw.stream").unwrap();
    let mut stream = SseReader::open(
        http.agent
            .put(&format!(
                "{base}/v1/services/gw.stream/instances/s?keep=stream"
            ))
            .send(json!({"payload": "10.0.0.9:80"}).to_string()),
    );
    let (event, _, data) = stream.next_event().expect("the registered event");
    assert_eq!(event, "registered");
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        data,
        json!({"data_id": "gw.stream", "id": "s", "ttl_ms": null})
    );
    wait_update(&sub, "instance s", |u| {
        instances(u).iter().any(|i| i.0 == "s")
    });
    // A stream-kept instance takes no heartbeats.
    let (status, body) = http.put_empty("/v1/services/gw.stream/instances/s/heartbeat");
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    drop(stream);
    wait_update(&sub, "no instance", |u| instances(u).is_empty());
}

#[test]
fn a_blocking_query_returns_at_the_next_change_or_unchanged_at_its_wait() {
    let (_dev, base, _) = dev_with_http();
    let http = Http::new(&base);
    let (status, first) = http.get("/v1/services/gw.block");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["instances"], json!([]));
    let index = first["version"].as_str().unwrap().to_string();

    // No change: the unchanged list at the end of the wait.
    let (status, same) = http.get(&format!("/v1/services/gw.block?index={index}&wait=300ms"));
    assert_eq!((status, &same), (200, &first));

    let waiter = {
        let http = Http::new(&base);
        let path = format!("/v1/services/gw.block?index={index}&wait=60s");
        std::thread::spawn(move || {
            let (status, body) = http.get(&path);
            (status, body, Instant::now())
        })
    };
    let (status, _) = http.put(
        "/v1/services/gw.block/instances/b",
        &json!({"payload": "p", "ttl_ms": 60000}).to_string(),
    );
    assert_eq!(status, 201);
    let changed_at = Instant::now();
    let (status, body, returned_at) = waiter.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["version"], first["version"]);
    assert_eq!(body["instances"][0]["id"], "b");
    assert!(
        returned_at.duration_since(changed_at) < Duration::from_secs(30),
        "the query answered at the change, not at its 60 s wait"
    );
}

#[test]
fn an_sse_watch_receives_each_successive_version_in_order() {
    let (_dev, base, _) = dev_with_http();
    let http = Http::new(&base);
    let mut watch = SseReader::open(
        http.agent
            .get(&format!("{base}/v1/services/gw.sse/watch"))
            .call(),
    );
    let mut versions = Vec::new();
    let (event, id, data) = watch.next_event().expect("the current list");
    assert_eq!(event, "list");
    let list: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(list["version"], id.as_str());
    versions.push(id);
    for n in 1..=5 {
        let (status, _) = http.put(
            &format!("/v1/services/gw.sse/instances/i{n}"),
            &json!({"payload": format!("p{n}"), "ttl_ms": 60000}).to_string(),
        );
        assert_eq!(status, 201);
        loop {
            let (event, id, data) = watch.next_event().expect("a list event");
            assert_eq!(event, "list");
            let list: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(list["version"], id.as_str(), "the event id is the version");
            versions.push(id);
            if list["instances"].as_array().unwrap().len() == n {
                break;
            }
        }
    }
    let parsed: Vec<(u64, u64)> = versions
        .iter()
        .map(|v| {
            let (e, s) = v.split_once('.').unwrap();
            (e.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert!(
        parsed.windows(2).all(|w| w[0] < w[1]),
        "versions in order: {versions:?}"
    );
}

#[test]
fn bad_requests_get_the_documented_errors_and_change_nothing() {
    let (_dev, base, _) = dev_with_http();
    let http = Http::new(&base);
    let path = "/v1/services/gw.bad/instances/x";
    let huge = json!({"payload": "a".repeat(200 * 1024), "ttl_ms": 1000}).to_string();
    let cases: Vec<(String, u16, &str)> = vec![
        ("{".into(), 400, "bad_request"),
        ("[]".into(), 400, "bad_request"),
        (json!({"ttl_ms": 1000}).to_string(), 400, "bad_request"),
        (json!({"payload": "p"}).to_string(), 400, "bad_request"),
        (
            json!({"payload": "p", "ttl_ms": 1000, "extra": 1}).to_string(),
            400,
            "bad_request",
        ),
        (
            json!({"payload": "p", "ttl_ms": -1}).to_string(),
            400,
            "bad_request",
        ),
        (
            json!({"payload": "p", "ttl_ms": 1000, "attributes": {"roster.gateway.id": "y"}})
                .to_string(),
            400,
            "bad_request",
        ),
        (
            json!({"payload": "p", "ttl_ms": 1}).to_string(),
            400,
            "ttl_out_of_range",
        ),
        (
            json!({"payload": "p", "ttl_ms": 86_400_000u64}).to_string(),
            400,
            "ttl_out_of_range",
        ),
        (huge, 413, "too_large"),
    ];
    for (body, status, code) in &cases {
        let (s, b) = http.put(path, body);
        assert_eq!((s, b["code"].as_str()), (*status, Some(*code)), "{b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    }
    let (s, b) = http.put(
        &format!("{path}?keep=forever"),
        &json!({"payload": "p", "ttl_ms": 1000}).to_string(),
    );
    assert_eq!((s, b["code"].as_str()), (400, Some("bad_request")));
    let (s, b) = http.put(
        &format!("{path}?keep=stream"),
        &json!({"payload": "p", "ttl_ms": 1000}).to_string(),
    );
    assert_eq!((s, b["code"].as_str()), (400, Some("bad_request")), "{b}");
    for bad in [
        "/v1/services/gw.bad?index=nope",
        "/v1/services/gw.bad?index=1.1&wait=soon",
    ] {
        let (s, b) = http.get(bad);
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {b}"
        );
    }
    let (s, b) = http.put_empty("/v1/services/gw.bad/instances/nobody/heartbeat");
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let (s, b) = http.delete("/v1/services/gw.bad/instances/nobody");
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    // Nothing was registered by any of them, and the gateway still serves.
    let (s, list) = http.get("/v1/services/gw.bad");
    assert_eq!((s, &list["instances"]), (200, &json!([])));
    let (s, _) = http.put(path, &json!({"payload": "p", "ttl_ms": 1000}).to_string());
    assert_eq!(s, 201);
}

#[test]
fn a_session_serves_the_gateway_and_its_instances_go_when_its_process_dies() {
    let (_meta, meta) = common::meta();
    // A lapsed session's publishers are kept this long for its clients to fail over.
    let mut data = common::args(&["data", "--listen", "127.0.0.1:0", "--meta", &meta]);
    data.extend(["--id", "11", "--failover-grace-ms", "1000"]);
    let _data = Proc::start("data", &data);
    // The gateway's address from the session's config file.
    let dir = std::env::temp_dir().join(format!("roster-gw-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("session.toml");
    std::fs::write(&config, "http_listen = \"127.0.0.1:0\"\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let mut gateway_session = Proc::start(
        "session-21",
        &common::args(&[
            "session",
            "--config",
            &config,
            "--client-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--meta",
            &meta,
            "--id",
            "21",
        ]),
    );
    let http = Http::new(&gateway_session.url_line("http"));
    let (_other, other_addr) = MIO.session(&meta, 22);
    let client = common::client([other_addr]).unwrap();
    let sub = client.subscribe("gw.session").unwrap();

    let body = json!({"payload": "10.0.0.7:80", "ttl_ms": 600000}).to_string();
    eventually("the gateway's session to take a registration", || {
        let (status, _) = http.put("/v1/services/gw.session/instances/g", &body);
        (status == 201).then_some(())
    });
    wait_update(&sub, "instance g, through the other session", |u| {
        instances(u).iter().any(|i| i.0 == "g")
    });
    // The gateway's process dies: its connection closes, and its instances go, like a
    // crashed client's, long before their TTL.
    gateway_session.kill9();
    wait_update(&sub, "no instance", |u| instances(u).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
