//! The README's example: publish one instance, wait until the session acknowledged it,
//! update it in place, then print every list pushed for the service. Run against
//! `roster dev`: `cargo run -p roster-client --example publish_subscribe -- ADDRS`.

use std::time::Duration;

fn main() -> Result<(), roster_client::Error> {
    let sessions: Vec<String> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:41281,127.0.0.1:44795".into())
        .split(',')
        .map(String::from)
        .collect();
    let client = roster_client::Client::connect(sessions)?;
    let mut instance = client.publish("my.service", ["10.0.0.3:8080"])?; // dropped = unregistered
    instance.wait_registered(Duration::from_secs(5))?; // the session holds it (or Err(Rejected))
    instance.update(["10.0.0.3:8081"])?; // in place: one write, one new list
    // An async caller awaits `instance.registered()`; this one blocks on it.
    instance.registered().wait(Duration::from_secs(5))?;
    for update in client.subscribe("my.service")? {
        // also a futures::Stream
        println!(
            "{} publishers at {:?}",
            update.publishers().len(),
            update.version()
        );
    }
    Ok(())
}
