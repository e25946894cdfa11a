//! The user's benchmark (issue 17): what an application sees of a `roster dev` cluster
//! (1 meta, 3 data, 2 sessions, a separate process) through the public client library
//! alone, `roster_client`, each client given every session address as a user would:
//!
//! - **W1, registration**: 100 connections (100 `Client`s) register 100,000 publishers,
//!   instance `i` in service `i % 100` from connection `i % 100`, each with a 128 B payload,
//!   as fast as acknowledgements allow. Each connection has a thread that keeps a window of
//!   `ROSTER_BENCH_WINDOW` (default 16) registrations outstanding: it publishes until the
//!   window is full, waits for the oldest acknowledgement, takes every later one already
//!   in, and refills. Reports acknowledged registrations/s, the acknowledgement latency
//!   (from the `publish` call until the bench saw its acknowledgement) p50/p99, and the CPU
//!   time per registration of the cluster and of the load generator (this process).
//! - **W2, memory**: the growth of the `roster dev` process's resident set (`VmRSS`) per
//!   registration over W1, and per subscriber once 10,000 subscribers (subscriber `s`
//!   watches service `s % 100`; 100 per connection over W1's 100 connections, so each
//!   connection watches every service once) have their lists of 1,000 publishers. Each
//!   reading is taken at steady state: after the lists arrived, once the cluster's CPU use
//!   has dropped below a tenth of a CPU.
//! - **W3, change propagation**: one service with 1,000 publishers (10 connections) and
//!   10,000 subscribers over 100 connections (100 each); 200 times, `update` one publisher
//!   in place and time until the last subscriber has the new list (a newer version than
//!   the one it had; the bench checks the new payload is in the last one). Reports p50,
//!   p99 and max, and the CPU time per change of the cluster and of the load generator.
//!
//! The goals are printed beside each figure: W1 ≥ 150,000 acknowledged
//! registrations/s with acknowledgement p99 ≤ 20 ms; W2 ≤ 800 B per registration and
//! ≤ 1 KB per subscriber; W3 p99 ≤ 5 ms. The bench uses the system allocator, as an
//! application that sets none would.
//!
//! Run: `cargo bench -p roster --bench user`. Settings from the environment:
//! - `ROSTER_BENCH_PIN=0:1`: `taskset -c 0 roster dev`, and this process (client IO
//!   threads, the bench's threads) moved to CPU 1, as the other benches pin. Without it,
//!   `roster dev` still runs as a separate process, and every thread may use every CPU.
//! - `ROSTER_BENCH_RUNTIMES=mio,glommio-1`: the runtimes to run `roster dev` on (`mio`,
//!   `glommio-1`, `glommio-2` shards per node; default all three).
//! - `ROSTER_BENCH_SMALL=1`: every count divided by 10 (connections, services,
//!   publishers, subscribers, changes) for a quick run.
//! - `ROSTER_BENCH_ROUNDS=N`: N changes in W3 instead of 200.
//! - `ROSTER_BENCH_WINDOW=N`: registrations outstanding per W1 connection.
//!
//! Bounded: loopback only, fixed counts, every wait has a deadline. A deadline missed
//! reports what is missing (which registration, how many subscribers lack a list) and the
//! bench exits non-zero; the `roster dev` process is killed on every way out.

mod common;

use common::{DevProcess, cpu_used, percentile};
use roster_client::{Client, Publication, Subscription, Update};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

/// Limit of every wait for a whole phase (all acknowledgements, all lists).
const DEADLINE: Duration = Duration::from_secs(120);
/// Limit of the wait for one change to reach every subscriber.
const CHANGE_DEADLINE: Duration = Duration::from_secs(10);
/// Payload size of every publisher.
const PAYLOAD: usize = 128;

fn main() -> ExitCode {
    let pin = common::pin();
    for (name, runtime) in common::runtimes() {
        println!("== {name}");
        let run = DevProcess::spawn(
            runtime,
            pin.as_ref().map(|(cluster, _)| cluster.as_str()),
            Duration::from_secs(30),
            false,
        )
        .and_then(|(dev, sessions, _)| bench(&dev, &sessions, pin.as_ref()));
        if let Err(e) = run {
            eprintln!("user bench on {name} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// A payload of exactly `PAYLOAD` bytes naming `tag`.
fn payload(tag: &str) -> String {
    let mut p = format!("{tag}:80 ");
    let fill = PAYLOAD.saturating_sub(p.len());
    p.extend(std::iter::repeat_n('x', fill));
    p.truncate(PAYLOAD);
    p
}

/// Resident set of process `pid`, bytes (`VmRSS` of `/proc/PID/status`).
fn rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time of the calling thread so far (its scheduler accounting).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time of process `pid` so far; zero where there is no `/proc`.
fn cpu(pid: u32) -> Duration {
    cpu_used(pid).unwrap_or_default()
}

/// Waits (at most 10 s) until the cluster uses less than a tenth of a CPU over 200 ms: the
/// work a phase left behind (replication, pushes) is done. A cluster still busy then is
/// reported, and measured anyway.
fn settle(pid: u32) {
    let window = Duration::from_millis(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = cpu(pid);
        std::thread::sleep(window);
        let used = cpu(pid) - before;
        if used < window / 10 {
            return;
        }
        if Instant::now() >= deadline {
            println!(
                "note: the cluster still uses {:.0}% of a CPU after 10 s; measuring anyway",
                used.as_secs_f64() / window.as_secs_f64() * 100.0
            );
            return;
        }
    }
}

/// `n` clients of every session, each connected.
fn connect(sessions: &[String], n: usize) -> Result<Vec<Client>> {
    let clients = (0..n)
        .map(|_| Client::connect(sessions.iter().cloned()).map_err(|e| format!("client: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, c) in clients.iter().enumerate() {
        c.wait_connected(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| format!("client {i} of {n} not connected within 30 s: {e}"))?;
    }
    Ok(clients)
}

/// Waits until every subscription has a list of `n` publishers; the lists.
fn wait_lists(subs: &[Subscription], n: usize, deadline: Instant) -> Result<Vec<Update>> {
    let mut lists = Vec::with_capacity(subs.len());
    for (i, sub) in subs.iter().enumerate() {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let update = sub.try_recv().map_or_else(|| sub.recv_timeout(left), Ok);
            match update {
                Ok(u) if u.publishers().len() == n => {
                    lists.push(u);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "{i} of {} subscribers had their list of {n} publishers; subscriber {i} (service {sub:?}): {e}",
                        subs.len()
                    ));
                }
            }
        }
    }
    Ok(lists)
}

/// Waits until every subscription has a list newer than its `seen` one (which it becomes);
/// when the last one had it. The clock is read only when a subscription has nothing new yet.
fn wait_newer(subs: &[Subscription], seen: &mut [Update], deadline: Instant) -> Result<Instant> {
    for (i, (sub, seen)) in subs.iter().zip(seen.iter_mut()).enumerate() {
        loop {
            let update = match sub.try_recv() {
                Some(u) => u,
                None => sub
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .map_err(|e| {
                        format!(
                            "{i} of {} subscribers had the new list; subscriber {i}: {e}",
                            subs.len()
                        )
                    })?,
            };
            if update.version() > seen.version() {
                *seen = update;
                break;
            }
        }
    }
    Ok(Instant::now())
}

/// What one W1 connection's thread did.
struct Registered {
    publications: Vec<Publication>,
    latencies: Vec<Duration>,
    last_ack: Instant,
    cpu: Duration,
}

/// One W1 connection: registers instances `first, first + step, …` below `total`, keeping
/// `window` acknowledgements outstanding.
fn register(
    client: &Client,
    first: usize,
    step: usize,
    total: usize,
    services: usize,
    window: usize,
    deadline: Instant,
) -> Result<Registered> {
    let cpu0 = thread_cpu();
    let n = (first..total).step_by(step).len();
    let mut next = first;
    let mut inflight = VecDeque::with_capacity(window);
    let mut publications = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    let mut last_ack = Instant::now();
    loop {
        while inflight.len() < window && next < total {
            let key = format!("bench.user.{}", next % services);
            let t = Instant::now();
            let p = client
                .publish(&key, [payload(&format!("10.{}.{}", next >> 8, next & 255))])
                .map_err(|e| format!("publish of instance {next}: {e}"))?;
            let ack = p.registered();
            inflight.push_back((next, p, ack, t));
            next += step;
        }
        let Some((i, p, ack, t)) = inflight.pop_front() else {
            break;
        };
        ack.wait(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| {
                format!(
                    "instance {i} (connection {first}): {e}; {} of its {n} registrations acknowledged",
                    publications.len()
                )
            })?;
        last_ack = Instant::now();
        latencies.push(last_ack - t);
        publications.push(p);
        // Take every later acknowledgement already in, without blocking.
        while let Some((i, _, ack, _)) = inflight.front() {
            match ack.wait(Duration::ZERO) {
                Ok(()) => {}
                Err(roster_client::Error::Timeout) => break,
                Err(e) => return Err(format!("instance {i}: {e}")),
            }
            let (_, p, _, t) = inflight.pop_front().expect("a front");
            latencies.push(last_ack - t);
            publications.push(p);
        }
    }
    Ok(Registered {
        publications,
        latencies,
        last_ack,
        cpu: thread_cpu() - cpu0,
    })
}

/// `met` or `missed`, for a goal.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(dev: &DevProcess, sessions: &[String], pin: Option<&(String, String)>) -> Result<()> {
    let pid = dev.pid();
    let me = std::process::id();
    match pin {
        Some((cluster_cpus, load_cpus)) => {
            common::pin_self(load_cpus)?;
            println!(
                "pinning: roster dev (pid {pid}) on CPU(s) {cluster_cpus}; load generator (this process) on CPU(s) {load_cpus}"
            );
        }
        None => {
            println!("pinning: none (roster dev, pid {pid}, and this process may use every CPU)")
        }
    }
    let scale = common::scale();
    let conns = 100 / scale;
    let services = 100 / scale;
    let total = 100_000 / scale;
    let window: usize = std::env::var("ROSTER_BENCH_WINDOW")
        .ok()
        .map_or(16, |w| w.parse().expect("ROSTER_BENCH_WINDOW is a count"));

    // W1: registration.
    let clients = connect(sessions, conns)?;
    settle(pid);
    let rss_before = rss(pid)?;
    let deadline = Instant::now() + DEADLINE;
    let (cpu_cluster, cpu_load) = (cpu(pid), cpu(me));
    let start = Instant::now();
    let results = std::thread::scope(|s| {
        let threads: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(c, client)| {
                s.spawn(move || register(client, c, conns, total, services, window, deadline))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a W1 thread panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    let cpu_cluster = cpu(pid) - cpu_cluster;
    // The connection threads have ended: their CPU time is theirs, the rest (client IO
    // threads, this one) the process's.
    let cpu_load = cpu(me) - cpu_load + results.iter().map(|r| r.cpu).sum::<Duration>();
    let end = results.iter().map(|r| r.last_ack).max().unwrap_or(start);
    let mut latencies: Vec<Duration> = results.iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort();
    let publications: Vec<Publication> = results.into_iter().flat_map(|r| r.publications).collect();
    let secs = (end - start).as_secs_f64();
    let rate = total as f64 / secs;
    let p99 = percentile(&latencies, 0.99);
    println!(
        "W1 registration: {total} publishers ({PAYLOAD} B) from {conns} connections, {window} outstanding each, acknowledged in {secs:.2} s = {rate:.0} registrations/s (goal >= 150000: {})",
        verdict(rate >= 150_000.0)
    );
    println!(
        "W1 acknowledgement latency: p50 {:.2} ms, p99 {:.2} ms (goal <= 20 ms: {}), max {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(p99),
        verdict(p99 <= Duration::from_millis(20)),
        ms(percentile(&latencies, 1.0)),
    );
    let us_per = |d: Duration| d.as_secs_f64() * 1e6 / total as f64;
    println!(
        "W1 CPU per registration: cluster {:.1} us, load generator {:.1} us (busy: cluster {:.2} CPUs, load generator {:.2} CPUs)",
        us_per(cpu_cluster),
        us_per(cpu_load),
        cpu_cluster.as_secs_f64() / secs,
        cpu_load.as_secs_f64() / secs,
    );

    // W2: memory, per registration (W1's) and per subscriber.
    settle(pid);
    let rss_registered = rss(pid)?;
    let per_registration = rss_registered.saturating_sub(rss_before) as f64 / total as f64;
    println!(
        "W2 memory per registration: {per_registration:.0} B (goal <= 800 B: {}; roster dev RSS {:.1} -> {:.1} MiB)",
        verdict(per_registration <= 800.0),
        rss_before as f64 / 1048576.0,
        rss_registered as f64 / 1048576.0,
    );
    let subscribers = 10_000 / scale;
    let per_conn = subscribers / conns;
    let t = Instant::now();
    let subs = (0..subscribers)
        .map(|s| {
            clients[s / per_conn]
                .subscribe(&format!("bench.user.{}", s % services))
                .map_err(|e| format!("subscribe {s}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    wait_lists(&subs, total / services, Instant::now() + DEADLINE)?;
    let arrived = t.elapsed();
    settle(pid);
    let rss_subscribed = rss(pid)?;
    let per_subscriber = rss_subscribed.saturating_sub(rss_registered) as f64 / subscribers as f64;
    println!(
        "W2 memory per subscriber: {per_subscriber:.0} B (goal <= 1024 B: {}; {subscribers} subscribers, {per_conn} per connection, lists of {} in {:.2} s; roster dev RSS {:.1} MiB)",
        verdict(per_subscriber <= 1024.0),
        total / services,
        arrived.as_secs_f64(),
        rss_subscribed as f64 / 1048576.0,
    );
    drop(subs);
    drop(publications);
    drop(clients);
    settle(pid);

    // W3: change propagation.
    let key = "bench.user.w3";
    let publishers = 1_000 / scale;
    let subscribers = 10_000 / scale;
    let pub_clients = connect(sessions, 10)?;
    let mut pubs = (0..publishers)
        .map(|n| {
            pub_clients[n % pub_clients.len()]
                .publish(key, [payload(&format!("w3-{n}"))])
                .map_err(|e| format!("W3 publish {n}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let deadline = Instant::now() + DEADLINE;
    for (n, p) in pubs.iter().enumerate() {
        p.wait_registered(deadline.saturating_duration_since(Instant::now()))
            .map_err(|e| format!("W3 publisher {n} of {publishers}: {e}"))?;
    }
    let sub_clients = connect(sessions, conns)?;
    let subs = (0..subscribers)
        .map(|s| {
            sub_clients[s % conns]
                .subscribe(key)
                .map_err(|e| format!("W3 subscribe {s}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut seen = wait_lists(&subs, publishers, Instant::now() + DEADLINE)?;
    settle(pid);
    let rounds = common::rounds(200 / scale);
    let mut times = Vec::with_capacity(rounds);
    let (cpu_cluster, cpu_load) = (cpu(pid), cpu(me));
    for round in 0..rounds {
        let p = &mut pubs[round % publishers];
        let new = payload(&format!("w3-{}-round-{round}", round % publishers));
        let t0 = Instant::now();
        p.update([new.clone()])
            .map_err(|e| format!("W3 update {round}: {e}"))?;
        let last = wait_newer(&subs, &mut seen, t0 + CHANGE_DEADLINE)
            .map_err(|e| format!("W3 change {round}: {e}"))?;
        times.push(last - t0);
        let has_it = seen.last().is_some_and(|u| {
            u.publishers().iter().any(|pr| {
                pr.register_id() == p.register_id() && pr.payload().next() == Some(new.as_bytes())
            })
        });
        if !has_it {
            return Err(format!(
                "W3 change {round}: the last subscriber's new list lacks the new payload"
            ));
        }
    }
    let cpu_cluster = cpu(pid) - cpu_cluster;
    let cpu_load = cpu(me) - cpu_load;
    for (n, p) in pubs.iter().enumerate() {
        p.wait_registered(CHANGE_DEADLINE)
            .map_err(|e| format!("W3 publisher {n}'s last update: {e}"))?;
    }
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "W3 change to the last of {subscribers} subscribers ({conns} connections) of a service with {publishers} publishers: p50 {:.2} ms, p99 {:.2} ms (goal <= 5 ms: {}), max {:.2} ms ({rounds} changes)",
        ms(percentile(&times, 0.5)),
        ms(p99),
        verdict(p99 <= Duration::from_millis(5)),
        ms(percentile(&times, 1.0)),
    );
    let ms_per = |d: Duration| ms(d) / rounds as f64;
    println!(
        "W3 CPU per change: cluster {:.2} ms, load generator {:.2} ms",
        ms_per(cpu_cluster),
        ms_per(cpu_load),
    );
    drop(subs);
    drop(pubs);
    Ok(())
}
