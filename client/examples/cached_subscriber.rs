//! An application that must start even while the registry is unreachable: a client with an
//! on-disk cache and a short re-query interval, awaiting lists on a plain executor (any
//! other runs it the same). Run against `roster dev`:
//! `cargo run -p roster-client --example cached_subscriber -- ADDRS [CACHE_DIR]`.

use std::time::Duration;

fn main() -> Result<(), roster_client::Error> {
    let mut args = std::env::args().skip(1);
    let sessions = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:41281,127.0.0.1:44795".into());
    let cache_dir = args.next().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("roster-example-cache")
            .display()
            .to_string()
    });
    let client = roster_client::Client::builder()
        .sessions(sessions.split(','))
        .connect_timeout(Duration::from_secs(1))
        .cache_dir(cache_dir)
        .requery_interval(Duration::from_secs(30))
        .build()?;
    let sub = client.subscribe("my.service")?;
    futures_executor::block_on(async {
        loop {
            // The first list may come from the cache (the registry is down, or not yet
            // answered); the live lists follow.
            let update = sub.next_update().await?;
            let source = if update.is_cached() { "cache" } else { "live" };
            println!(
                "{} publishers at {:?} ({source})",
                update.publishers().len(),
                update.version()
            );
        }
    })
}
