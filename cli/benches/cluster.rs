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
//! ROSTER_BENCH_RUNTIMES=mio,glommio-2 picks runtimes; ROSTER_BENCH_ROUNDS=200 times 200
//! changes instead of 20; ROSTER_BENCH_TLS=1 runs the cluster and its clients with TLS, as
//! `roster dev --tls` does).
//!
//! Pinning (as the ZooKeeper and etcd figures of issue 7 were taken: server on one core,
//! load generator on the other): `ROSTER_BENCH_PIN=0:1 cargo bench -p roster --bench cluster`
//! runs `taskset -c 0 roster dev` as a separate process and moves this process (the clients'
//! IO threads and the bench thread) to CPU 1 with `taskset`. Without it the cluster runs in
//! this process and every thread may use every CPU.
//!
//! With pinning, the push figure comes with the CPU time the cluster and the load generator
//! spent per change: a latency on a shared machine moves with its other load, the work
//! done does not.

mod common;

use common::{DevProcess, cpu_used, percentile};
use roster::cluster::{DevCluster, DevOptions};
use roster::config::Runtime;
use roster_client::{Client, ClientOptions, ClientTls, Subscription};
use std::time::{Duration, Instant};

/// The binary's allocator, set up as the binary sets it up (see `roster::alloc`), so a
/// cluster in this process allocates as `roster dev` does and the load generator pays no
/// allocator stalls the binary does not.
#[global_allocator]
static ALLOC: roster::alloc::MiMalloc = roster::alloc::MiMalloc;

const DEADLINE: Duration = Duration::from_secs(120);

/// Waits until every subscription has a list of `n` publishers; when the last one had it.
/// The clock is read only when a subscription has nothing yet: 10,000 reads of it would
/// cost the load generator a millisecond per change.
fn wait_count(subs: &[Subscription], n: usize, deadline: Instant) -> Instant {
    for sub in subs {
        loop {
            let update = match sub.try_recv() {
                Some(u) => u,
                None => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    assert!(!left.is_zero(), "timed out waiting for {n} publishers");
                    match sub.recv_timeout(left) {
                        Ok(u) => u,
                        Err(_) => continue,
                    }
                }
            };
            if update.publishers().len() == n {
                break;
            }
        }
    }
    Instant::now()
}

/// The cluster under test: in this process, or a pinned `roster dev` process.
enum Cluster {
    InProcess(DevCluster),
    Pinned(DevProcess),
}

/// `ROSTER_BENCH_TLS` set: TLS on every connection, clients trusting the cluster's CA (made
/// in `.0` for a cluster in this process, kept as long as it runs).
type Tls = Option<(Option<tempfile::TempDir>, ClientTls)>;

fn tls_on() -> bool {
    std::env::var_os("ROSTER_BENCH_TLS").is_some()
}

/// A client of `sessions`, with TLS if the cluster has it.
fn connect<S: Into<String>>(sessions: impl IntoIterator<Item = S>, tls: &Tls) -> Client {
    let mut options = ClientOptions::new(sessions);
    options.tls = tls.as_ref().map(|(_, t)| t.clone());
    Client::with_options(options).unwrap()
}

impl Cluster {
    /// Starts the cluster; its session addresses and its TLS.
    fn start(pin: Option<&(String, String)>, runtime: Runtime) -> (Cluster, Vec<String>, Tls) {
        let Some((cluster_cpus, load_cpus)) = pin else {
            println!("pinning: none (cluster in this process; every thread may use every CPU)");
            let mut options = DevOptions {
                runtime,
                ..DevOptions::default()
            };
            let mut tls = None;
            if tls_on() {
                let dir = tempfile::tempdir().unwrap();
                let certs = roster::tls::generate(dir.path()).unwrap();
                options.tls = roster_shell::tls::Tls::node(&certs.node).unwrap();
                tls = Some((Some(dir), ClientTls::from_ca_file(&certs.ca).unwrap()));
                println!("tls: on (every connection)");
            }
            let cluster = DevCluster::start(options).expect("cluster starts");
            assert!(cluster.wait_ready(Duration::from_secs(30)), "cluster ready");
            let sessions = cluster.session_addrs.clone();
            return (Cluster::InProcess(cluster), sessions, tls);
        };
        let (child, sessions, ca) = DevProcess::spawn(
            runtime,
            Some(cluster_cpus),
            Duration::from_secs(30),
            tls_on(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tls = ca.map(|ca| {
            println!("tls: on (every connection)");
            (None, ClientTls::from_ca_file(ca).unwrap())
        });
        common::pin_self(load_cpus).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "pinning: roster dev (separate process) on CPU(s) {cluster_cpus}; load generator (this process: client IO threads and the bench thread) on CPU(s) {load_cpus}"
        );
        (Cluster::Pinned(child), sessions, tls)
    }

    /// The cluster's process, when it has one of its own.
    fn pid(&self) -> Option<u32> {
        match self {
            Cluster::InProcess(_) => None,
            Cluster::Pinned(child) => Some(child.pid()),
        }
    }

    fn stop(self) {
        match self {
            Cluster::InProcess(c) => c.stop(),
            Cluster::Pinned(child) => drop(child),
        }
    }
}

fn main() {
    roster::alloc::keep_freed_memory();
    for (name, runtime) in common::runtimes() {
        println!("== {name}");
        bench(runtime);
    }
}

fn bench(runtime: Runtime) {
    let scale = common::scale();
    let (cluster, sessions, tls) = Cluster::start(common::pin().as_ref(), runtime);

    // 1. Registration throughput.
    let conns = 100 / scale;
    let keys = 100 / scale;
    let per_key = 1_000;
    let watcher = connect(sessions.clone(), &tls);
    let watches: Vec<Subscription> = (0..keys)
        .map(|k| watcher.subscribe(&format!("bench.reg.{k}")).unwrap())
        .collect();
    let clients: Vec<Client> = (0..conns)
        .map(|i| connect([sessions[i % sessions.len()].clone()], &tls))
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
    let done = wait_count(&watches, per_key, deadline);
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
        .map(|i| connect([sessions[i % sessions.len()].clone()], &tls))
        .collect();
    let base: Vec<_> = (0..1_000)
        .map(|n| {
            publishers[n % 10]
                .publish(key, [format!("base-{n}:80")])
                .unwrap()
        })
        .collect();
    let sub_clients: Vec<Client> = (0..sub_conns)
        .map(|i| connect([sessions[i % sessions.len()].clone()], &tls))
        .collect();
    let subs: Vec<Subscription> = (0..subscribers)
        .map(|i| sub_clients[i % sub_conns].subscribe(key).unwrap())
        .collect();
    let deadline = Instant::now() + DEADLINE;
    wait_count(&subs, 1_000, deadline);
    let mut times = Vec::new();
    let mut extra = None;
    let rounds = common::rounds(20);
    let cpu = |pid: Option<u32>| pid.and_then(cpu_used);
    let cpu_before = (cpu(cluster.pid()), cpu(Some(std::process::id())));
    for round in 0..rounds {
        let t0 = Instant::now();
        let want = if round % 2 == 0 {
            extra = Some(publishers[0].publish(key, ["change:80"]).unwrap());
            1_001
        } else {
            extra = None;
            1_000
        };
        let deadline = t0 + Duration::from_secs(30);
        let last = wait_count(&subs, want, deadline);
        times.push(last - t0);
    }
    let cpu_after = (cpu(cluster.pid()), cpu(Some(std::process::id())));
    drop(extra);
    times.sort();
    let ms = |p: f64| percentile(&times, p).as_secs_f64() * 1e3;
    println!(
        "push: a change of a data id with 1,000 publishers reaches the last of {subscribers} subscribers ({sub_conns} connections): p50 {:.2} ms, p99 {:.2} ms ({rounds} changes; p90 {:.2} ms, max {:.2} ms)",
        ms(0.5),
        ms(0.99),
        ms(0.9),
        ms(1.0),
    );
    if let ((Some(c0), Some(l0)), (Some(c1), Some(l1))) = (cpu_before, cpu_after) {
        let per = |d: Duration| d.as_secs_f64() * 1e3 / rounds as f64;
        println!(
            "push CPU per change: cluster {:.2} ms, load generator {:.2} ms",
            per(c1 - c0),
            per(l1 - l0),
        );
    }
    drop(subs);
    drop(base);
    cluster.stop();
}
