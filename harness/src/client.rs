//! The `client` subcommand: one application on the roster-client library, run inside a
//! client namespace. It holds publishers under the given keys (churning them: now and then
//! one is unregistered and a new one published), subscribes to every key, and prints what
//! happens as JSON lines on stdout for the orchestrator:
//!
//! - `{"ev":"publish","key":K,"rid":R}`: a publication sent (not yet acknowledged);
//! - `{"ev":"registered","key":K,"rid":R,"rev":N}`: the session acknowledged it;
//! - `{"ev":"unregister","key":K,"rid":R}`: printed *before* the withdrawal is sent;
//! - `{"ev":"list","key":K,"epoch":E,"seq":S,"rids":[...]}`: a list pushed;
//! - `{"ev":"session","addr":A|null}`: the session connected to changed.
//!
//! Register ids are `<name>i<incarnation>-<n>`: unique across restarts of a client.

use crate::rng::Rng;
use roster_client::{Client, ClientOptions, Publication, Subscription};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one client process does.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Its name (the client id is `<name>i<incarnation>`).
    #[arg(long)]
    pub name: String,
    /// Which start of this client this is.
    #[arg(long)]
    pub incarnation: u32,
    /// Session client addresses, comma-separated, in the order to try.
    #[arg(long)]
    pub sessions: String,
    /// Keys to publish under and subscribe to, comma-separated.
    #[arg(long)]
    pub keys: String,
    /// Publishers held at a time.
    #[arg(long, default_value_t = 3)]
    pub pubs: usize,
    /// Seed of the churn.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean interval between churns (one unregister and one publish), 0 for none.
    #[arg(long, default_value_t = 8000)]
    pub churn_ms: u64,
}

struct Held {
    key: String,
    publication: Publication,
    acked: bool,
}

fn say(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the orchestrator is gone: nothing left to tell.
    if writeln!(out, "{v}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn publish(client: &Client, key: &str) -> Result<Held, String> {
    // Lists are checked by register id; the payload only names the key for a human
    // reading a capture.
    let publication = client
        .publish(key, [key.as_bytes().to_vec()])
        .map_err(|e| e.to_string())?;
    say(json!({"ev": "publish", "key": key, "rid": publication.register_id()}));
    Ok(Held {
        key: key.to_string(),
        publication,
        acked: false,
    })
}

/// Runs the client until SIGTERM/SIGINT.
pub fn run(a: &ClientArgs) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let keys: Vec<String> = a.keys.split(',').map(str::to_string).collect();
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err("keys: at least one, none empty".into());
    }
    let mut options = ClientOptions::new(a.sessions.split(','));
    options.client_id = Some(format!("{}i{}", a.name, a.incarnation));
    let client = Client::with_options(options).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(a.seed ^ (u64::from(a.incarnation) << 32));
    let subs: Vec<(String, Subscription)> = keys
        .iter()
        .map(|k| client.subscribe(k).map(|s| (k.clone(), s)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut held = Vec::new();
    for _ in 0..a.pubs {
        held.push(publish(&client, &keys[rng.below(keys.len())])?);
    }
    let churn = |rng: &mut Rng| {
        Instant::now() + Duration::from_millis(rng.range(a.churn_ms / 2, a.churn_ms * 3 / 2))
    };
    let mut next_churn = churn(&mut rng);
    let mut session: Option<String> = None;
    say(json!({"ev": "session", "addr": null}));
    while !stop.load(Ordering::Relaxed) {
        let now_session = client.session();
        if now_session != session {
            session = now_session;
            say(json!({"ev": "session", "addr": session}));
        }
        for h in held.iter_mut().filter(|h| !h.acked) {
            if h.publication.wait_registered(Duration::ZERO).is_ok() {
                h.acked = true;
                say(json!({"ev": "registered", "key": h.key,
                    "rid": h.publication.register_id(), "rev": h.publication.revision()}));
            }
        }
        for (key, sub) in &subs {
            while let Some(u) = sub.try_recv() {
                let rids: Vec<&str> = u.publishers().iter().map(|p| p.register_id()).collect();
                say(
                    json!({"ev": "list", "key": key, "epoch": u.version().leader_epoch.0,
                    "seq": u.version().seq, "rids": rids}),
                );
            }
        }
        if a.churn_ms > 0 && Instant::now() >= next_churn && !held.is_empty() {
            next_churn = churn(&mut rng);
            let h = held.swap_remove(rng.below(held.len()));
            say(json!({"ev": "unregister", "key": h.key, "rid": h.publication.register_id()}));
            drop(h.publication.unregister());
            held.push(publish(&client, &keys[rng.below(keys.len())])?);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
