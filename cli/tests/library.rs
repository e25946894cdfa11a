//! The Rust client library against an in-process dev cluster: the blocking iterator, the
//! `Stream` on an executor, unregistration on drop, the async API, and the on-disk cache
//! serving a client while the registry is down.

mod common;

use futures_core::Stream;
use roster::cluster::{DevCluster, DevOptions};
use roster::config::{Runtime, Timing};
use roster_client::{Client, Error, Subscription, Update};
use std::pin::Pin;
use std::time::Duration;

/// A dev cluster with short timings on `runtime`, once its slot table is complete.
fn ready_cluster(runtime: Runtime) -> DevCluster {
    let cluster = DevCluster::start(DevOptions {
        timing: Timing::fast(),
        runtime,
        tls: common::tls::node_tls(),
        ..DevOptions::default()
    })
    .unwrap();
    assert!(cluster.wait_ready(Duration::from_secs(30)));
    cluster
}

fn next_async(sub: &mut Subscription) -> Option<Update> {
    futures_executor::block_on(std::future::poll_fn(|cx| Pin::new(&mut *sub).poll_next(cx)))
}

on!(publish_subscribe_stream_and_drop_unregisters;
    mio = Runtime::Mio, glommio = Runtime::Glommio { shards: 2 });
fn publish_subscribe_stream_and_drop_unregisters(runtime: Runtime) {
    let cluster = ready_cluster(runtime);
    let a = common::client([cluster.session_addrs[0].clone()]).unwrap();
    let b = common::client([cluster.session_addrs[1].clone()]).unwrap();
    let mut sub = b.subscribe("lib.svc").unwrap();
    let mut twin = b.subscribe("lib.svc").unwrap();
    let publication = a.publish("lib.svc", ["10.1.1.1:80"]).unwrap();
    let mut last = None;
    while let Some(u) = next_async(&mut sub) {
        if let Some(prev) = last {
            assert!(u.version() > prev, "versions only grow");
        }
        last = Some(u.version());
        if u.publishers().len() == 1 {
            let p = u.publishers().iter().next().unwrap();
            assert_eq!(p.payload().collect::<Vec<_>>(), [b"10.1.1.1:80"]);
            // Both subscriptions of the key get the one decoded list, not a copy each.
            let t = twin
                .by_ref()
                .find(|t| t.version() == u.version())
                .expect("the twin subscription gets the same version");
            assert!(
                t.ptr_eq(&u),
                "one shared update, not a copy per subscription"
            );
            break;
        }
    }
    drop(publication);
    let u = sub
        .by_ref()
        .find(|u| u.publishers().is_empty())
        .expect("the list empties after the drop");
    assert!(Some(u.version()) > last);
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    ));
    assert!(matches!(a.subscribe(""), Err(Error::InvalidKey(_))));
    assert!(matches!(
        common::client(Vec::<String>::new()),
        Err(Error::Config(_))
    ));
    drop(a);
    drop(b);
    cluster.stop();
}

/// Threads of this process with this name (Linux: from `/proc/self/task`).
#[cfg(target_os = "linux")]
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Waits until one update of `sub` has `n` publishers.
fn wait_for(sub: &Subscription, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match sub.recv_timeout(left) {
            Ok(u) if u.publishers().len() == n => return,
            Ok(_) => {}
            Err(e) => panic!("waiting for {n} publishers: {e}"),
        }
    }
}

#[test]
fn many_clients_share_a_few_io_threads_and_stay_independent() {
    if common::tls::skipped("io_threads() counts the plain pool; TLS clients have their own") {
        return;
    }
    let cluster = ready_cluster(Runtime::Mio);
    let clients: Vec<Client> = (0..16)
        .map(|i| common::client([cluster.session_addrs[i % 2].clone()]).unwrap())
        .collect();
    let publications: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| c.publish("pool.svc", [format!("10.0.0.{i}:80")]).unwrap())
        .collect();
    let subs: Vec<Subscription> = clients
        .iter()
        .map(|c| c.subscribe("pool.svc").unwrap())
        .collect();
    for s in &subs {
        wait_for(s, 16);
    }
    let threads = roster_client::io_threads();
    assert!((1..=4).contains(&threads), "{threads} IO threads");
    #[cfg(target_os = "linux")]
    assert_eq!(threads_named("roster-client"), threads);

    // Clients leaving their thread take only their own registrations with them.
    let mut clients = clients;
    let mut publications = publications;
    let mut subs = subs;
    for _ in 0..8 {
        subs.pop();
        publications.pop();
        clients.pop();
    }
    for s in &subs {
        wait_for(s, 8);
    }
    let late = clients[0].subscribe("pool.svc").unwrap();
    wait_for(&late, 8);
    cluster.stop();
}

/// The payloads of an update's publishers.
fn payloads(u: &Update) -> Vec<Vec<u8>> {
    u.publishers()
        .iter()
        .flat_map(|p| p.payload().map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect()
}

on!(an_update_is_one_write_and_one_new_list_with_no_list_in_between;
    mio = Runtime::Mio, glommio = Runtime::Glommio { shards: 2 });
fn an_update_is_one_write_and_one_new_list_with_no_list_in_between(runtime: Runtime) {
    let cluster = ready_cluster(runtime);
    let a = common::client([cluster.session_addrs[0].clone()]).unwrap();
    let b = common::client([cluster.session_addrs[1].clone()]).unwrap();
    let mut publication = a.publish("upd.svc", ["10.2.2.1:80"]).unwrap();
    publication
        .wait_registered(Duration::from_secs(30))
        .unwrap();
    let sub = b.subscribe("upd.svc").unwrap();
    let before = loop {
        let u = sub.recv_timeout(Duration::from_secs(30)).unwrap();
        if payloads(&u) == [b"10.2.2.1:80"] {
            break u;
        }
    };

    publication.update(["10.2.2.2:80"]).unwrap();
    publication
        .wait_registered(Duration::from_secs(30))
        .unwrap();
    let after = sub.recv_timeout(Duration::from_secs(30)).unwrap();
    // Nothing between: the next list already holds the new payload alone, and its version
    // is the very next position of the slot's log, so no other list ever existed.
    assert_eq!(payloads(&after), [b"10.2.2.2:80"], "{after:?}");
    assert_eq!(
        after.version().leader_epoch,
        before.version().leader_epoch,
        "the slot kept its leader"
    );
    assert_eq!(
        after.version().seq,
        before.version().seq + 1,
        "one write: {before:?} then {after:?}"
    );
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    drop(a);
    drop(b);
    cluster.stop();
}

/// A settled cluster answers every registration without waiting out a deadline: the data
/// leader's `replication_ack_timeout` (500 ms) is only for followers that fell silent.
#[test]
fn on_a_settled_cluster_no_registration_waits_for_the_replication_deadline() {
    let cluster = ready_cluster(Runtime::Mio);
    let client = common::client([cluster.session_addrs[0].clone()]).unwrap();
    // Settled: a first publication on every data node's slots went through.
    let warmup: Vec<_> = (0..64)
        .map(|i| client.publish(&format!("settle.{i}"), ["x"]).unwrap())
        .collect();
    for p in &warmup {
        p.wait_registered(Duration::from_secs(30)).unwrap();
    }
    let deadline = Duration::from_millis(500);
    let mut slow = Vec::new();
    let mut held = Vec::new();
    for i in 0..200 {
        let start = std::time::Instant::now();
        let p = client
            .publish(&format!("settled.{}", i % 50), ["10.3.3.3:80"])
            .unwrap();
        p.wait_registered(Duration::from_secs(30)).unwrap();
        let took = start.elapsed();
        // Far beyond any scheduling hiccup, and what a write held to the deadline costs.
        if took >= deadline * 4 / 5 {
            slow.push((i, took));
        }
        held.push(p);
    }
    assert!(
        slow.is_empty(),
        "registrations held near the deadline: {slow:?}"
    );
    drop(held);
    drop(warmup);
    drop(client);
    cluster.stop();
}

/// The first update of `sub` that satisfies `want`, within 30 s.
fn wait_until(sub: &Subscription, what: &str, want: impl Fn(&Update) -> bool) -> Update {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match sub.recv_timeout(left) {
            Ok(u) if want(&u) => return u,
            Ok(_) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

fn texts(u: &Update) -> Vec<String> {
    u.publishers()
        .iter()
        .flat_map(|p| {
            p.payload()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn cached_client(sessions: &[String], dir: &std::path::Path) -> Client {
    common::tls::builder(sessions.iter().cloned())
        .connect_timeout(Duration::from_millis(500))
        .cache_dir(dir)
        .build()
        .unwrap()
}

#[test]
fn a_client_starts_from_its_cache_while_the_registry_is_down_then_goes_live() {
    let dir = tempfile::tempdir().unwrap();
    // A first run against a live cluster writes the cache.
    let first = ready_cluster(Runtime::Mio);
    let dead = first.session_addrs.clone();
    let publisher = common::client([dead[0].clone()]).unwrap();
    let publication = publisher.publish("cached.svc", ["10.2.2.2:80"]).unwrap();
    let client = cached_client(&dead, dir.path());
    let sub = client.subscribe("cached.svc").unwrap();
    let live = wait_until(&sub, "the published instance", |u| {
        u.publishers().len() == 1
    });
    assert!(!live.is_cached());
    drop(sub);
    drop(client); // its cache writer writes what is pending before it ends
    drop(publication);
    drop(publisher);
    first.stop();

    // The registry is down: a subscription yields the cached list at once.
    let offline = cached_client(&dead, dir.path());
    let sub = offline.subscribe("cached.svc").unwrap();
    let cached = sub.try_recv().expect("the cached list, at once");
    assert!(cached.is_cached());
    assert_eq!(texts(&cached), ["10.2.2.2:80"]);
    assert_eq!(cached.version(), live.version());
    assert!(matches!(
        offline.wait_connected(Duration::from_millis(100)),
        Err(Error::Timeout)
    ));
    drop(sub);
    drop(offline);

    // A registry comes back (a new cluster: its versions start anew, and may be older
    // than the cached one): the cached list first, then the live one replaces it.
    let second = ready_cluster(Runtime::Mio);
    let publisher = common::client([second.session_addrs[0].clone()]).unwrap();
    let publication = publisher.publish("cached.svc", ["10.3.3.3:80"]).unwrap();
    publication
        .wait_registered(Duration::from_secs(30))
        .unwrap();
    let mut sessions = dead.clone();
    sessions.extend(second.session_addrs.iter().cloned());
    let client = cached_client(&sessions, dir.path());
    let sub = client.subscribe("cached.svc").unwrap();
    assert!(sub.try_recv().expect("cached first").is_cached());
    let live = wait_until(&sub, "the new cluster's list", |u| {
        texts(u) == ["10.3.3.3:80"]
    });
    assert!(!live.is_cached());
    drop(sub);
    drop(client);
    second.stop();

    // And the cache now holds the new cluster's list.
    let offline = cached_client(&dead, dir.path());
    let sub = offline.subscribe("cached.svc").unwrap();
    let cached = sub.try_recv().expect("the cached list");
    assert_eq!(texts(&cached), ["10.3.3.3:80"]);
    assert_eq!(cached.version(), live.version());
}

#[test]
fn the_async_api_against_a_cluster() {
    let cluster = ready_cluster(Runtime::Mio);
    let client = common::tls::builder(cluster.session_addrs.iter().cloned())
        .build()
        .unwrap();
    futures_executor::block_on(async {
        let session = client.connected().await;
        assert!(cluster.session_addrs.contains(&session));
        let sub = client.subscribe("async.cluster.svc").unwrap();
        let instance = client
            .publish("async.cluster.svc", ["10.4.4.4:80"])
            .unwrap();
        instance.registered().await.unwrap();
        loop {
            let u = sub.next_update().await.unwrap();
            if texts(&u) == ["10.4.4.4:80"] {
                break;
            }
        }
        instance.unregister().await.unwrap();
        loop {
            if sub.next_update().await.unwrap().publishers().is_empty() {
                break;
            }
        }
    });
    drop(client);
    cluster.stop();
}
