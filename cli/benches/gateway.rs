//! The HTTP gateway's benchmark, through HTTP only, against a `roster dev` process (1 meta,
//! 3 data, 2 sessions and its gateway):
//!
//! - **G1, registrations**: `ROSTER_BENCH_CLIENTS` (default 32) HTTP clients, each on a
//!   thread with one keep-alive connection, `PUT` `ROSTER_BENCH_PUTS` (default 500) new TTL
//!   instances each, spread over 64 services, each answered once the session acknowledged
//!   it. Reports registrations/s and the `PUT` latency p50/p99.
//! - **G2, watch fan-out**: 1,000 SSE watchers of one service (raw TCP connections, a
//!   thread each); `ROSTER_BENCH_ROUNDS` (default 50) times, one `PUT` replaces the
//!   service's instance with a new payload and the bench times, from the `PUT`'s response
//!   until each watcher has read the new list: p50, p99, max over every (round, watcher). A
//!   watcher may read the list before the `PUT`'s response reaches the bench: that counts
//!   as zero.
//!
//! Each phase prints the CPU time of the `roster dev` process and of this process (the
//! load generator) beside its figures. Run: `cargo bench -p roster --bench gateway`;
//! `ROSTER_BENCH_PIN=0:1` pins `roster dev` and the load generator to separate CPUs as the
//! other benches do.

// Only part of what the benches share is used here.
#[allow(dead_code)]
mod common;

use common::{DevProcess, cpu_used, percentile};
use roster::config::Runtime;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

const WATCHERS: usize = 1000;
const SERVICES: usize = 64;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of this whole process so far, exited threads included (`/proc/self/stat`,
/// in clock ticks of 10 ms).
fn self_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at its closing paren.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the paren.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("gateway bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let pin = common::pin();
    let (server_cpus, load_cpus) = match &pin {
        Some((s, l)) => (Some(s.as_str()), Some(l.as_str())),
        None => (None, None),
    };
    let (dev, _, _) = DevProcess::spawn(Runtime::Mio, server_cpus, Duration::from_secs(60), false)?;
    if let Some(cpus) = load_cpus {
        common::pin_self(cpus)?;
    }
    let base = dev
        .http()
        .ok_or("roster dev printed no http line")?
        .to_string();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "gateway bench: {base}, load average before: {}",
        load.trim()
    );
    registrations(&dev, &base)?;
    fan_out(&dev, &base)?;
    Ok(())
}

fn report_cpu(dev: &DevProcess, server0: Duration, load0: Duration, per: f64, what: &str) {
    let server = cpu_used(dev.pid()).unwrap_or_default() - server0;
    let load = self_cpu() - load0;
    println!(
        "  CPU: roster dev {:.2} s ({:.1} µs per {what}), load generator {:.2} s ({:.1} µs per {what})",
        server.as_secs_f64(),
        server.as_secs_f64() * 1e6 / per,
        load.as_secs_f64(),
        load.as_secs_f64() * 1e6 / per,
    );
}

fn registrations(dev: &DevProcess, base: &str) -> Result<()> {
    let clients = env_or("ROSTER_BENCH_CLIENTS", 32);
    let puts = env_or("ROSTER_BENCH_PUTS", 500);
    // Every service subscribed (by the gateway) and warm before timing.
    let warm = agent();
    for s in 0..SERVICES {
        let url = format!("{base}/v1/services/bench.reg.{s}");
        let status = warm.get(&url).call().map_err(|e| e.to_string())?.status();
        if status != 200 {
            return Err(format!("GET {url}: {status}"));
        }
    }
    let (server0, load0) = (cpu_used(dev.pid()).unwrap_or_default(), self_cpu());
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let base = base.to_string();
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let agent = agent();
                let mut latencies = Vec::with_capacity(puts);
                for n in 0..puts {
                    let i = c * puts + n;
                    let url = format!(
                        "{base}/v1/services/bench.reg.{}/instances/c{c}-{n}",
                        i % SERVICES
                    );
                    let body = format!(r#"{{"payload":"10.0.{c}.{n}:8080","ttl_ms":600000}}"#);
                    let t = Instant::now();
                    let mut resp = agent.put(&url).send(body).map_err(|e| e.to_string())?;
                    let _ = resp.body_mut().read_to_string();
                    if resp.status() != 201 {
                        return Err(format!("PUT {url}: {}", resp.status()));
                    }
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in threads {
        latencies.extend(t.join().map_err(|_| "a client panicked")??);
    }
    let took = start.elapsed();
    latencies.sort();
    let total = latencies.len();
    println!(
        "G1 registrations: {total} PUTs from {clients} clients in {:.2} s: {:.0} registrations/s, latency p50 {:.2} ms p99 {:.2} ms",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
    report_cpu(dev, server0, load0, total as f64, "registration");
    Ok(())
}

/// One watcher: reads the SSE stream and reports (round, when read) for each list whose
/// payload names a round (`round-N`).
fn watcher(addr: String, tx: mpsc::Sender<(usize, Instant)>) -> Result<()> {
    let mut s = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /v1/services/bench.fanout/watch HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        if !line.starts_with("data:") {
            continue;
        }
        let now = Instant::now();
        let round = line
            .split_once("round-")
            .and_then(|(_, r)| r.split('"').next()?.parse().ok())
            .unwrap_or(0);
        if tx.send((round, now)).is_err() {
            return Ok(());
        }
    }
}

fn fan_out(dev: &DevProcess, base: &str) -> Result<()> {
    let rounds = common::rounds(50);
    let addr = base.trim_start_matches("http://").to_string();
    let http = agent();
    let url = format!("{base}/v1/services/bench.fanout/instances/one");
    let put = |round: usize| -> Result<()> {
        let body = format!(r#"{{"payload":"round-{round}","ttl_ms":600000}}"#);
        let status = http
            .put(&url)
            .send(body)
            .map_err(|e| e.to_string())?
            .status();
        match status.as_u16() {
            200 | 201 => Ok(()),
            s => Err(format!("PUT {url}: {s}")),
        }
    };
    put(0)?;
    let (tx, rx) = mpsc::channel();
    for _ in 0..WATCHERS {
        let (addr, tx) = (addr.clone(), tx.clone());
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                if let Err(e) = watcher(addr, tx) {
                    eprintln!("watcher: {e}");
                }
            })
            .map_err(|e| e.to_string())?;
    }
    drop(tx);
    // Every watcher has the current list (round 0) before the first change.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = 0;
    while ready < WATCHERS {
        let (round, _) = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| format!("{ready} of {WATCHERS} watchers connected within 60 s"))?;
        ready += usize::from(round == 0);
    }
    let (server0, load0) = (cpu_used(dev.pid()).unwrap_or_default(), self_cpu());
    let mut latencies = Vec::with_capacity(rounds * WATCHERS);
    for round in 1..=rounds {
        put(round)?;
        let answered = Instant::now();
        let deadline = answered + Duration::from_secs(30);
        let mut got = 0;
        while got < WATCHERS {
            let (r, at) = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| {
                    format!("round {round}: {got} of {WATCHERS} watchers had it in 30 s")
                })?;
            if r == round {
                got += 1;
                latencies.push(at.saturating_duration_since(answered));
            }
        }
    }
    latencies.sort();
    println!(
        "G2 fan-out to {WATCHERS} SSE watchers, {rounds} changes: PUT response to watcher p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    report_cpu(dev, server0, load0, rounds as f64, "change");
    Ok(())
}
