//! The runtime benchmark (issue 7; issue 8 reuses it): against an in-process `roster dev`
//! cluster on loopback (1 meta, 3 data, 2 sessions),
//!
//! 1. publishers registered per second: 100 client connections register 100,000 publishers
//!    over 100 data ids; the clock stops when a subscriber of every data id has received
//!    all of its 1,000 publishers (registered, replicated to the data leader and pushed);
//! 2. time until the last of 10,000 subscribers has a change of a data id with 1,000
//!    publishers, p50 and p99 over 20 changes. The 10,000 subscriptions are spread over 100
//!    client connections (100 each), so each session pushes to 100 connections and every
//!    client fans the list out; the time is when the application has the list.
//!
//! Each runs on mio, then on glommio with 1 and with 2 shards per data and session node
//! (the same 3 data and 2 session nodes, each a group of shards).
//!
//! Bounded: loopback only, fixed counts, every wait has a deadline.
//! Run: `cargo bench -p roster --bench cluster` (ROSTER_BENCH_SMALL=1 divides counts by 10;
//! ROSTER_BENCH_RUNTIMES=mio,glommio-2 picks runtimes).

use roster::cluster::{DevCluster, DevOptions};
use roster::config::Runtime;
use roster_mio::client::{Client, Subscription};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

fn wait_count(sub: &Subscription, n: usize, deadline: Instant) -> Instant {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {n} publishers");
        if let Ok(u) = sub.recv_timeout(left) {
            if u.publishers.len() == n {
                return Instant::now();
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let picked = std::env::var("ROSTER_BENCH_RUNTIMES").ok();
    let runtimes = [
        ("mio", Runtime::Mio),
        ("glommio-1", Runtime::Glommio { shards: 1 }),
        ("glommio-2", Runtime::Glommio { shards: 2 }),
    ];
    for (name, runtime) in runtimes {
        if picked
            .as_ref()
            .is_none_or(|p| p.split(',').any(|n| n == name))
        {
            println!("== {name}");
            bench(runtime);
        }
    }
}

fn bench(runtime: Runtime) {
    let small = std::env::var_os("ROSTER_BENCH_SMALL").is_some();
    let scale = if small { 10 } else { 1 };
    let options = DevOptions {
        runtime,
        ..DevOptions::default()
    };
    let cluster = DevCluster::start(options).expect("cluster starts");
    assert!(cluster.wait_ready(Duration::from_secs(30)), "cluster ready");
    let sessions = cluster.session_addrs.clone();

    // 1. Registration throughput.
    let conns = 100 / scale;
    let keys = 100 / scale;
    let per_key = 1_000;
    let watcher = Client::connect(sessions.clone()).unwrap();
    let watches: Vec<Subscription> = (0..keys)
        .map(|k| watcher.subscribe(&format!("bench.reg.{k}")).unwrap())
        .collect();
    let clients: Vec<Client> = (0..conns)
        .map(|i| Client::connect([sessions[i % sessions.len()].clone()]).unwrap())
        .collect();
    for c in &clients {
        c.wait_connected(Duration::from_secs(10)).unwrap();
    }
    let total = keys * per_key;
    let start = Instant::now();
    let mut held = Vec::with_capacity(total);
    for n in 0..total {
        let key = format!("bench.reg.{}", n % keys);
        let c = &clients[n % conns];
        held.push(
            c.publish(
                &key,
                [format!("10.{}.{}.{}:80", n >> 16, (n >> 8) & 255, n & 255)],
            )
            .unwrap(),
        );
    }
    let deadline = start + DEADLINE;
    let done = watches
        .iter()
        .map(|w| wait_count(w, per_key, deadline))
        .max()
        .unwrap();
    let secs = (done - start).as_secs_f64();
    println!(
        "registration: {total} publishers from {conns} connections in {secs:.2} s = {:.0} publishers/s",
        total as f64 / secs
    );
    drop(watches);
    drop(held);
    drop(clients);
    drop(watcher);

    // 2. Push fan-out.
    let subscribers = 10_000 / scale;
    let sub_conns = 100 / scale;
    let key = "bench.fanout";
    let publishers: Vec<Client> = (0..10)
        .map(|i| Client::connect([sessions[i % sessions.len()].clone()]).unwrap())
        .collect();
    let base: Vec<_> = (0..1_000)
        .map(|n| {
            publishers[n % 10]
                .publish(key, [format!("base-{n}:80")])
                .unwrap()
        })
        .collect();
    let sub_clients: Vec<Client> = (0..sub_conns)
        .map(|i| Client::connect([sessions[i % sessions.len()].clone()]).unwrap())
        .collect();
    let subs: Vec<Subscription> = (0..subscribers)
        .map(|i| sub_clients[i % sub_conns].subscribe(key).unwrap())
        .collect();
    let deadline = Instant::now() + DEADLINE;
    for s in &subs {
        wait_count(s, 1_000, deadline);
    }
    let mut times = Vec::new();
    let mut extra = None;
    for round in 0..20 {
        let t0 = Instant::now();
        let want = if round % 2 == 0 {
            extra = Some(publishers[0].publish(key, ["change:80"]).unwrap());
            1_001
        } else {
            extra = None;
            1_000
        };
        let deadline = t0 + Duration::from_secs(30);
        let last = subs
            .iter()
            .map(|s| wait_count(s, want, deadline))
            .max()
            .unwrap();
        times.push(last - t0);
    }
    drop(extra);
    times.sort();
    println!(
        "push: a change of a data id with 1,000 publishers reaches the last of {subscribers} subscribers ({sub_conns} connections): p50 {:.2} ms, p99 {:.2} ms (20 changes)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    drop(subs);
    drop(base);
    cluster.stop();
}
