//! The gateway's limits, each refusing only the request that passes it, on a gateway
//! whose session is unreachable (the limits are checked before anything waits on it).

use roster_gateway::{GatewayConfig, GatewayServer, Limits};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A gateway with `limits`, a client of a session that is not there.
fn gateway(limits: Limits) -> (GatewayServer, String) {
    // A port that was free: nothing listens there.
    let nobody = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config =
        GatewayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), [nobody.to_string()]);
    config.limits = limits;
    let server = GatewayServer::start(config).unwrap();
    let base = format!("http://{}", server.local_addr());
    (server, base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn code(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    let mut resp = resp.expect("the gateway answers");
    let status = resp.status().as_u16();
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    (status, body["code"].as_str().unwrap().to_string())
}

#[test]
fn open_watches_and_blocking_queries_past_the_limit_get_429() {
    let (_server, base) = gateway(Limits {
        max_waiters: 2,
        ..Limits::default()
    });
    let agent = agent();
    // Two watches hold the two permits (their lists never come: no session).
    let first = agent
        .get(&format!("{base}/v1/services/a/watch"))
        .call()
        .unwrap();
    let second = agent
        .get(&format!("{base}/v1/services/b/watch"))
        .call()
        .unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = agent.get(&format!("{base}/v1/services/a/watch")).call();
    assert_eq!(code(third), (429, "too_many_waiters".into()));
    let blocking = agent
        .get(&format!("{base}/v1/services/a?index=1.1&wait=1s"))
        .call();
    assert_eq!(code(blocking), (429, "too_many_waiters".into()));
    // Only those: other requests are answered as ever.
    let unknown = agent
        .delete(&format!("{base}/v1/services/a/instances/x"))
        .call();
    assert_eq!(code(unknown), (404, "not_found".into()));
    // A closed watch gives its permit back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = agent
            .get(&format!("{base}/v1/services/c/watch"))
            .call()
            .unwrap();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a permit comes back when a watch closes"
        );
    }
}

#[test]
fn a_new_data_id_past_the_kept_subscriptions_gets_429_while_all_are_read() {
    let (_server, base) = gateway(Limits {
        max_subscriptions: 1,
        ..Limits::default()
    });
    let agent = agent();
    let held = agent
        .get(&format!("{base}/v1/services/a/watch"))
        .call()
        .unwrap();
    assert_eq!(held.status().as_u16(), 200);
    let other = agent.get(&format!("{base}/v1/services/b/watch")).call();
    assert_eq!(code(other), (429, "too_many_subscriptions".into()));
}

#[test]
fn bodies_and_ttls_past_the_configured_limits_are_refused() {
    let (_server, base) = gateway(Limits {
        max_body_bytes: 100,
        ttl_min: Duration::from_secs(2),
        ttl_max: Duration::from_secs(4),
        ..Limits::default()
    });
    let agent = agent();
    let url = format!("{base}/v1/services/a/instances/x");
    let put = |body: String| agent.put(&url).send(body);
    let big = format!(r#"{{"payload": "{}", "ttl_ms": 3000}}"#, "a".repeat(200));
    assert_eq!(code(put(big)), (413, "too_large".into()));
    for ttl in [1999, 4001] {
        let body = format!(r#"{{"payload": "p", "ttl_ms": {ttl}}}"#);
        assert_eq!(code(put(body)), (400, "ttl_out_of_range".into()), "{ttl}");
    }
}

#[test]
fn stopping_the_gateway_does_not_wait_for_open_watches() {
    let (server, base) = gateway(Limits::default());
    let watch = agent()
        .get(&format!("{base}/v1/services/a/watch"))
        .call()
        .unwrap();
    assert_eq!(watch.status().as_u16(), 200);
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    assert!(
        stopped.recv_timeout(Duration::from_secs(30)).is_ok(),
        "the gateway stopped with a watch open"
    );
    drop(watch);
}
