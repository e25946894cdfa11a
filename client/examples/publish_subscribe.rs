//! The README's example: publish one instance, then print every list pushed for the service.
//! Run against `roster dev`: `cargo run -p roster-client --example publish_subscribe -- ADDRS`.

fn main() -> Result<(), roster_client::Error> {
    let sessions: Vec<String> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:41281,127.0.0.1:44795".into())
        .split(',')
        .map(String::from)
        .collect();
    let client = roster_client::Client::connect(sessions)?;
    let _registration = client.publish("my.service", ["10.0.0.3:8080"])?; // dropped = unregistered
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
