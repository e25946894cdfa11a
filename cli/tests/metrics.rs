//! `GET /metrics` on real processes (a meta, a data node and a session, each its own
//! process) while a client of this test publishes: the publisher gauges and the push
//! latency the pages report match what the test did and saw. The pages are read with a
//! Prometheus text parser, not by grepping.

mod common;

use common::{MIO, eventually, meta};
use prometheus_parse::{Scrape, Value};

/// The scrape of `admin`'s `/metrics`.
fn scrape(admin: &str) -> Scrape {
    let body = common::tls::http_agent(admin, true)
        .get(&format!("{admin}/metrics"))
        .call()
        .expect("the admin server answers")
        .body_mut()
        .read_to_string()
        .expect("a body");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

/// The value of `name` summed over the nodes of the page (a counter, gauge or untyped).
fn value(s: &Scrape, name: &str) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name} is {other:?}"),
        })
        .sum()
}

#[test]
fn metrics_report_the_publishers_published_and_the_latency_of_the_pushes_seen() {
    const N: usize = 5;
    let (meta, meta_addr) = meta();
    let data = MIO.data(&meta_addr, 1);
    let (session, client_addr) = MIO.session(&meta_addr, 2);
    let (data_admin, session_admin) = (data.admin_url(), session.admin_url());
    assert!(
        scrape(&meta.admin_url())
            .samples
            .iter()
            .any(|x| x.metric == "roster_meta_term")
    );

    let subscriber = common::client([client_addr.clone()]).unwrap();
    let sub = subscriber.subscribe("metrics.svc").unwrap();
    let first = sub
        .recv_timeout(common::DEADLINE)
        .expect("the initial list");
    assert_eq!(first.publishers().len(), 0);

    // Publish N instances one by one, counting the lists the subscriber receives.
    let publisher = common::client([client_addr]).unwrap();
    let mut instances = Vec::new();
    let mut received = 0u64;
    for i in 0..N {
        let p = publisher
            .publish("metrics.svc", [format!("10.9.0.{i}:80")])
            .unwrap();
        p.wait_registered(common::DEADLINE).unwrap();
        instances.push(p);
        loop {
            let u = sub.recv_timeout(common::DEADLINE).expect("a list");
            received += 1;
            if u.publishers().len() == i + 1 {
                break;
            }
        }
    }

    // The gauges agree with what was published, on both roles.
    eventually("the session's publisher gauge", || {
        (value(&scrape(&session_admin), "roster_session_publishers") == N as f64).then_some(())
    });
    eventually("the data node's publisher gauge", || {
        (value(&scrape(&data_admin), "roster_data_publishers") == N as f64).then_some(())
    });
    let s = scrape(&session_admin);
    // Every push the subscriber received after its first list brought it a notified change,
    // so each was timed. (A client may skip a list superseded before it read it; the
    // session still counted that push.)
    let count = value(&s, "roster_push_latency_seconds_count");
    let sum = value(&s, "roster_push_latency_seconds_sum");
    assert!(
        count >= received as f64,
        "{count} timed pushes, {received} received"
    );
    assert!(sum > 0.0, "latency sum {sum}");
    assert!(value(&s, "roster_session_pushes_acked_total") >= count);
    assert_eq!(value(&s, "roster_session_writes_acked_total"), N as f64);
    let d = scrape(&data_admin);
    assert_eq!(value(&d, "roster_data_writes_applied_total"), N as f64);
    assert!(value(&d, "roster_data_notifications_sent_total") >= 1.0);
}
