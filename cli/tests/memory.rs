//! What a subscribe storm leaves in a `roster dev` process: 10,000 subscriptions over 100
//! connections to 100 services of 1,000 publishers each (about 1.3 GB of full lists to
//! push), after which the process must have grown by no more than the sessions' write
//! budgets plus what the subscriptions themselves hold. The binary keeps freed memory for
//! reuse (see `roster::alloc`), so its resident size after the storm is also its peak.
//!
//! Heavy, so it runs in release builds only (`.ci/run` runs it with `--release`).

mod common;

use common::Proc;
use roster_client::{Client, Publication, Subscription};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 100;
const SERVICES: usize = 100;
const PUBLISHERS_PER_SERVICE: usize = 1_000;
const SUBSCRIBERS: usize = 10_000;
/// `push_budget_bytes`' default, per session.
const WRITE_BUDGET: u64 = 32 << 20;
/// What a subscription may hold in a session.
const PER_SUBSCRIBER: u64 = 1_024;
const DEADLINE: Duration = Duration::from_secs(300);

/// The resident set of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

/// A 128 B payload naming instance `i`.
fn payload(i: usize) -> Vec<u8> {
    let mut p = format!("10.{}.{}.{}:8080#", i / 65_536, (i / 256) % 256, i % 256).into_bytes();
    p.resize(128, b'.');
    p
}

fn wait_for_full_list(sub: &Subscription, deadline: Instant) -> usize {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let u = sub
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("{sub:?} got no full list: {e}"));
        if u.publishers().len() == PUBLISHERS_PER_SERVICE {
            return u.publishers().iter().map(|p| p.payload().count()).sum();
        }
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "heavy: .ci/run runs it in release (cargo test --release --test memory)"
)]
fn a_subscribe_storm_grows_the_process_by_no_more_than_the_write_budget() {
    let dev = Proc::start("dev", &["dev"]);
    let (_, line) = dev.wait_stdout(0, "session addresses", |l| l.starts_with("sessions "));
    let sessions: Vec<String> = line["sessions ".len()..]
        .split(',')
        .map(str::to_string)
        .collect();
    let clients: Vec<Client> = (0..CONNECTIONS)
        .map(|_| common::client(sessions.clone()).unwrap())
        .collect();
    let deadline = Instant::now() + DEADLINE;

    let publications: Vec<Publication> = (0..SERVICES * PUBLISHERS_PER_SERVICE)
        .map(|i| {
            clients[i % CONNECTIONS]
                .publish(&format!("storm.{}", i % SERVICES), [payload(i)])
                .unwrap()
        })
        .collect();
    for p in &publications {
        let left = deadline.saturating_duration_since(Instant::now());
        p.wait_registered(left).unwrap();
    }
    let registered = rss(dev.pid());

    // Subscriber `s` on connection `s / 100` watches service `s % 100`: every connection
    // watches every service, so the sessions owe 10,000 full lists at once.
    let subscriptions: Vec<Subscription> = (0..SUBSCRIBERS)
        .map(|s| {
            clients[s / (SUBSCRIBERS / CONNECTIONS)]
                .subscribe(&format!("storm.{}", s % SERVICES))
                .unwrap()
        })
        .collect();
    for sub in &subscriptions {
        assert_eq!(wait_for_full_list(sub, deadline), PUBLISHERS_PER_SERVICE);
    }
    let stormed = rss(dev.pid());

    // Each session caches every subscribed key's list once (not once per subscriber).
    let list_bytes = (PUBLISHERS_PER_SERVICE * (128 + 64)) as u64;
    let cached_lists = sessions.len() as u64 * SERVICES as u64 * list_bytes;
    let allowed =
        sessions.len() as u64 * WRITE_BUDGET + cached_lists + SUBSCRIBERS as u64 * PER_SUBSCRIBER;
    let grew = stormed.saturating_sub(registered);
    eprintln!(
        "registered: {} MiB; after the storm: {} MiB; grew {} MiB, allowed {} MiB",
        registered >> 20,
        stormed >> 20,
        grew >> 20,
        allowed >> 20
    );
    assert!(
        grew <= allowed,
        "the storm grew roster dev by {grew} B, more than the write budgets plus the \
         subscriptions' own state ({allowed} B)"
    );
    drop(subscriptions);
    drop(publications);
    drop(clients);
}
