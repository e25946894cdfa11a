//! The async API needs no particular runtime: one scenario (connect, publish and await the
//! acknowledgement, await the next list, await the withdrawal) run on `futures-executor`
//! and on tokio's two runtimes (on the multi-threaded one spawned, so the futures are
//! `Send` and may move between threads).

mod common;

use common::{Reply, WAIT, fake_session, payloads, push, v};
use roster_client::{Client, Error};
use roster_core::wire::Message;

fn session() -> String {
    fake_session(|m| match m {
        Message::Subscribe(_) => Reply::ack_then(vec![push("async.svc", 4, &["10.0.0.7:80"])]),
        _ => Reply::ack(),
    })
    .0
}

async fn scenario(client: Client, addr: String) -> Result<(), Error> {
    assert_eq!(client.connected().await, addr);
    let instance = client.publish("async.svc", ["10.0.0.7:80"])?;
    instance.registered().await?;
    let sub = client.subscribe("async.svc")?;
    let update = sub.next_update().await?;
    assert_eq!(update.version(), v(4));
    assert_eq!(payloads(&update), ["10.0.0.7:80"]);
    instance.unregister().await?;
    assert!(sub.try_recv().is_none(), "nothing newer was pushed");
    Ok(())
}

fn client(addr: &str) -> Client {
    Client::builder().sessions([addr]).build().unwrap()
}

#[test]
fn the_async_api_on_futures_executor() {
    let addr = session();
    futures_executor::block_on(scenario(client(&addr), addr)).unwrap();
}

#[test]
fn the_async_api_on_a_tokio_current_thread_runtime() {
    let addr = session();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(WAIT, scenario(client(&addr), addr.clone()))
            .await
            .expect("in time")
    })
    .unwrap();
}

#[test]
fn the_async_api_on_a_tokio_multi_thread_runtime() {
    let addr = session();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    // Spawned: the futures move between the runtime's threads.
    let task = rt.spawn(scenario(client(&addr), addr.clone()));
    rt.block_on(async { tokio::time::timeout(WAIT, task).await })
        .expect("in time")
        .unwrap()
        .unwrap();
}
