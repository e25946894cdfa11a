//! roster over HTTP/JSON, for any language: a program registers an instance with a `PUT`
//! and keeps it alive with heartbeats (a TTL) or by holding the response open (a stream),
//! and reads a service's list with a plain `GET`, a blocking query (`?index=&wait=`, as
//! Consul's) or Server-Sent Events. `docs/gateway.md` is the API's reference and
//! `docs/gateway.openapi.yaml` its OpenAPI 3 description.
//!
//! The gateway is a client of roster like any other: one [`roster_client::Client`]
//! connected to its session (or, for `roster dev`, to every session, so that it fails
//! over). Every instance it registers is a publication of that client, so the binary
//! protocol's rules hold for them: they are replayed after a reconnect, and when the
//! gateway's process dies its connection closes and they leave every list, like a crashed
//! client's.
//!
//! - `server`: the HTTP server ([`GatewayServer`]) on its own thread, and its router.
//! - `instances`: registering, replacing, heartbeats, expiry, streams, unregistering.
//! - `lists`: the subscriptions the gateway keeps, one per data id, and their JSON.
//! - `queries`: `GET` (plain and blocking) and the SSE watch.
//! - `version`: the list version as the API writes it, `"EPOCH.SEQ"`.
//! - `errors`: the API's error codes.
//! - `body`: reading a request body within the limit.

mod body;
mod errors;
mod instances;
mod lists;
mod queries;
mod server;
mod version;

pub use server::GatewayServer;
use std::net::SocketAddr;
use std::time::Duration;

/// What the gateway allows; each limit refuses only the request that passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body (413 beyond it).
    pub max_body_bytes: usize,
    /// Shortest TTL a registration may ask for (400 below it).
    pub ttl_min: Duration,
    /// Longest TTL (400 above it).
    pub ttl_max: Duration,
    /// Open SSE watches and blocking queries together (429 beyond it).
    pub max_waiters: usize,
    /// A blocking query's wait when it gives none.
    pub wait_default: Duration,
    /// The longest wait a blocking query gets, whatever it asks.
    pub wait_max: Duration,
    /// Subscriptions kept (one per data id read); an idle one makes way for a new one,
    /// and when none is idle the request gets 429.
    pub max_subscriptions: usize,
    /// A subscription nobody read for this long is dropped.
    pub subscription_idle: Duration,
    /// How long a `PUT` waits for the session's acknowledgement (503 then).
    pub ack_timeout: Duration,
    /// How long a `GET` waits for a data id's first list (503 then).
    pub first_list_timeout: Duration,
    /// How often a stream that keeps an instance, or a watch, carries a comment when
    /// nothing else happens: a peer that went away is noticed by the failed write.
    pub keep_alive: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            ttl_min: Duration::from_millis(500),
            ttl_max: Duration::from_secs(3600),
            max_waiters: 4096,
            wait_default: Duration::from_secs(300),
            wait_max: Duration::from_secs(600),
            max_subscriptions: 1024,
            subscription_idle: Duration::from_secs(300),
            ack_timeout: Duration::from_secs(10),
            first_list_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(1),
        }
    }
}

/// How the gateway is set up.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Session client addresses its client connects to (fails over across them).
    pub sessions: Vec<String>,
    /// Its limits.
    pub limits: Limits,
    /// TLS of its client to the sessions (`None`: plain), as `ClientOptions::tls`.
    pub tls: Option<roster_client::ClientTls>,
    /// The node's TLS for its own port: with it, the gateway serves HTTPS only (the
    /// node's certificate; `roster_admin::TlsListener`); plain by default.
    pub serve_tls: roster_shell::tls::Tls,
}

impl GatewayConfig {
    /// Listening on `listen`, a client of `sessions`, default limits.
    pub fn new<S: Into<String>>(listen: SocketAddr, sessions: impl IntoIterator<Item = S>) -> Self {
        GatewayConfig {
            listen,
            sessions: sessions.into_iter().map(Into::into).collect(),
            limits: Limits::default(),
            tls: None,
            serve_tls: roster_shell::tls::Tls::default(),
        }
    }
}
