//! The Rust client library against an in-process dev cluster: the blocking iterator, the
//! `Stream` on an executor, and unregistration on drop.

mod common;

use futures_core::Stream;
use roster::cluster::{DevCluster, DevOptions};
use roster::config::{Runtime, Timing};
use roster_mio::client::{Client, Error, Subscription, Update};
use std::pin::Pin;
use std::time::Duration;

fn next_async(sub: &mut Subscription) -> Option<Update> {
    futures_executor::block_on(std::future::poll_fn(|cx| Pin::new(&mut *sub).poll_next(cx)))
}

on!(publish_subscribe_stream_and_drop_unregisters;
    mio = Runtime::Mio, glommio = Runtime::Glommio { shards: 2 });
fn publish_subscribe_stream_and_drop_unregisters(runtime: Runtime) {
    let cluster = DevCluster::start(DevOptions {
        timing: Timing::fast(),
        runtime,
        ..DevOptions::default()
    })
    .unwrap();
    assert!(cluster.wait_ready(Duration::from_secs(30)));
    let a = Client::connect([cluster.session_addrs[0].clone()]).unwrap();
    let b = Client::connect([cluster.session_addrs[1].clone()]).unwrap();
    let mut sub = b.subscribe("lib.svc").unwrap();
    let mut twin = b.subscribe("lib.svc").unwrap();
    let publication = a.publish("lib.svc", ["10.1.1.1:80"]).unwrap();
    let mut last = None;
    while let Some(u) = next_async(&mut sub) {
        if let Some(prev) = last {
            assert!(u.version > prev, "versions only grow");
        }
        last = Some(u.version);
        if u.publishers.len() == 1 {
            let p = u.publishers.iter().next().unwrap();
            assert_eq!(p.payload().collect::<Vec<_>>(), [b"10.1.1.1:80"]);
            // Both subscriptions of the key get the one decoded list, not a copy each.
            let t = twin
                .by_ref()
                .find(|t| t.version == u.version)
                .expect("the twin subscription gets the same version");
            assert!(t.publishers.ptr_eq(&u.publishers));
            break;
        }
    }
    drop(publication);
    let u = sub
        .by_ref()
        .find(|u| u.publishers.is_empty())
        .expect("the list empties after the drop");
    assert!(Some(u.version) > last);
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    ));
    assert!(matches!(a.subscribe(""), Err(Error::InvalidKey(_))));
    assert!(matches!(
        Client::connect(Vec::<String>::new()),
        Err(Error::Config(_))
    ));
    drop(a);
    drop(b);
    cluster.stop();
}
