//! A session process stopped (`SIGSTOP`, as a GC pause or a slow disk would) and resumed:
//! a subscriber through another session must never receive a list without the publishers
//! of the stopped session's live clients. After 7 s the session resumes before its
//! clients' idle timeout (10 s) can be sure to fire: it sends its keep-alives at once; the
//! clients that timed out anyway fail over under the session's disconnect grace. After
//! 15 s the clients time out and fail over for sure, and meta expels the session (the
//! `FAST` leases are 1.5 s in meta and 2 s on data nodes): the data nodes' failover grace
//! keeps its publishers until the replays through the other session took them over.
//! Clients are the `roster-client` library with the default liveness (3 s keep-alive,
//! 10 s idle timeout).

mod common;
use common::*;
use roster_client::{Client, Publication, Subscription};
use std::time::{Duration, Instant};

const PUBLISHERS: usize = 4;
const KEY: &str = "paused.svc";

/// Library clients of both sessions, kept only if they connected to `first` (each picks
/// its first session at random): `n` of them, each with one publisher.
fn publishers_through(first: &str, other: &str, n: usize) -> Vec<(Client, Publication)> {
    let mut kept = Vec::new();
    for i in 0..n * 20 {
        if kept.len() == n {
            break;
        }
        let c = Client::with_options(common::tls::options([first, other])).unwrap();
        let at = c.wait_connected(DEADLINE).unwrap();
        if at != first {
            continue;
        }
        let p = c.publish(KEY, [format!("10.0.0.{i}:80")]).unwrap();
        p.wait_registered(DEADLINE).unwrap();
        kept.push((c, p));
    }
    assert_eq!(kept.len(), n, "{n} clients picked the first session");
    kept
}

/// Sizes of every list `sub` receives until `until`.
fn sizes_until(sub: &Subscription, until: Instant) -> Vec<usize> {
    let mut seen = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return seen;
        }
        if let Ok(u) = sub.recv_timeout(left) {
            seen.push(u.publishers().len());
        }
    }
}

fn pause_a_session_and_watch(pause: Duration) {
    let (_meta, m) = meta();
    let _d1 = MIO.data(&m, 101);
    let _d2 = MIO.data(&m, 102);
    let (s1, a1) = MIO.session(&m, 201);
    let (_s2, a2) = MIO.session(&m, 202);
    let pubs = publishers_through(&a1, &a2, PUBLISHERS);
    let watcher = common::client([a2.clone()]).unwrap();
    let sub = watcher.subscribe(KEY).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while sub.recv_timeout(DEADLINE).unwrap().publishers().len() != PUBLISHERS {
        assert!(Instant::now() < deadline, "all publishers listed");
    }

    s1.signal("STOP");
    let resumed = Instant::now() + pause;
    let during = sizes_until(&sub, resumed);
    s1.signal("CONT");
    // Past the session's disconnect grace (5 s) after it saw its clients' closes, and the
    // replays of clients that failed over.
    let after = sizes_until(&sub, Instant::now() + Duration::from_secs(8));
    let failed_over = pubs.iter().filter(|(c, _)| c.connects() > 1).count();
    eprintln!(
        "pause {pause:?}: {} lists during (min {:?}), {} after (min {:?}); \
         {failed_over} of {PUBLISHERS} clients failed over",
        during.len(),
        during.iter().min(),
        after.len(),
        after.iter().min()
    );
    assert!(
        during.iter().chain(&after).all(|n| *n == PUBLISHERS),
        "a list without live publishers: during {during:?}, after {after:?}"
    );
    for (c, p) in &pubs {
        assert!(p.wait_registered(DEADLINE).is_ok(), "registered again");
        assert!(c.session().is_some(), "connected again");
    }
    if pause > Duration::from_secs(10) {
        assert_eq!(
            failed_over, PUBLISHERS,
            "past the idle timeout every client failed over"
        );
    }
}

#[test]
fn a_session_stopped_for_7_s_never_shows_a_list_without_its_publishers() {
    pause_a_session_and_watch(Duration::from_secs(7));
}

#[test]
fn a_session_stopped_for_15_s_never_shows_a_list_without_its_publishers() {
    pause_a_session_and_watch(Duration::from_secs(15));
}
