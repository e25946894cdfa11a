//! The Rust client of roster, a service registry: publish the instances of your services,
//! subscribe to the services you call, and get every new list of their instances pushed.
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), roster_client::Error> {
//! let client = roster_client::Client::builder()
//!     .sessions(["127.0.0.1:41281", "127.0.0.1:44795"]) // what `roster dev` printed
//!     .build()?;
//! // Register an instance; it stays registered until the handle is dropped.
//! let instance = client.publish("my.service", ["10.0.0.3:8080"])?;
//! instance.wait_registered(Duration::from_secs(5))?;
//! // Every list of the service, newest first, as it changes.
//! for update in client.subscribe("my.service")? {
//!     for p in update.publishers().iter() {
//!         println!("{:?}", p.payload().collect::<Vec<_>>());
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The same, asynchronously, on whatever executor the program runs (tokio, async-std,
//! smol, `futures::executor`): the client's IO runs on threads of its own, and its futures
//! are woken from there, so none of them needs a particular runtime.
//!
//! ```no_run
//! # async fn run() -> Result<(), roster_client::Error> {
//! let client = roster_client::Client::builder()
//!     .sessions(["127.0.0.1:41281"])
//!     .build()?;
//! let session = client.connected().await;
//! let instance = client.publish("my.service", ["10.0.0.3:8080"])?;
//! instance.registered().await?;
//! let sub = client.subscribe("my.service")?;
//! let update = sub.next_update().await?;
//! instance.unregister().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the client does for you
//!
//! - **Fail-over and replay.** The client holds one connection to one of the configured
//!   sessions; when it is lost it reconnects (to the next session, with a jittered
//!   backoff) and replays every publication and subscription. Lists already received stay
//!   valid meanwhile.
//! - **Newest list only.** A [`Subscription`] yields the newest list each time it changes;
//!   a list superseded before the application read it is skipped, so a slow reader costs
//!   no backlog. Every subscription of a key on a client shares one copy of each list.
//! - **Acknowledgements.** [`Publication::registered`] and [`Publication::unregister`]
//!   return an [`Acknowledgement`]: `.await` it, or block with
//!   [`wait`](Acknowledgement::wait). A refusal is [`Error::Rejected`] with a code.
//! - **On-disk cache** ([`ClientBuilder::cache_dir`], off by default). The newest list of
//!   every subscribed key is written to the cache directory (one small file per key,
//!   replaced atomically). A subscription to a key the client holds no live list of yet
//!   yields the cached list at once, marked [`Update::is_cached`], and the live list as
//!   soon as a session answers (which replaces the cached one whatever its version): an
//!   application can start, and find its services, while the registry is unreachable.
//!   A damaged or foreign file is ignored with a warning.
//! - **Periodic re-query** ([`ClientBuilder::requery_interval`], every
//!   [`DEFAULT_REQUERY_INTERVAL`] by default). While connected, the client asks the
//!   session again for every subscribed key, stating the version it holds; the session
//!   answers with its current list if that is newer (fetching it from its data node first).
//!   A push lost anywhere on its way is so repaired within an interval. It is the
//!   protocol's own repeated `Subscribe`, no extra message (docs/protocol.md).
//!
//! # Threads
//!
//! Every [`Client`] of the process runs on one of a few shared IO threads (`io_threads`:
//! a core `NodeGroup` in a mio [`Shell`](roster_mio::shell::Shell) per thread); handles
//! talk to it through the hand-off queue and a `mio::Waker`. A client with a cache
//! directory has one more thread, its cache writer, so disk writes never delay the IO
//! thread.

#![deny(missing_docs)]

mod cache;
mod error;
mod io_threads;
mod options;
mod publication;
mod subscription;
mod tls;
mod update;

pub use crate::error::Error;
pub use crate::io_threads::io_threads;
pub use crate::options::{ClientBuilder, ClientOptions, DEFAULT_REQUERY_INTERVAL};
pub use crate::publication::{Acknowledgement, Publication};
pub use crate::subscription::{NextUpdate, Subscription};
pub use crate::tls::{ClientTls, RootCertStore};
pub use crate::update::Update;
pub use roster_core::model::{DataInfoId, DatumVersion};
pub use roster_core::wire::{ErrorCode, Token};
pub use roster_core::wire::{PublisherList, PublisherRef};

use crate::cache::{Cache, Queue, Writer};
use crate::io_threads::{Member, Seat};
use crate::publication::Answers;
use bytes::Bytes;
use roster_core::client::{self as core, ClientConfig, Command, Event};
use roster_core::model::Text;
use roster_mio::watch::Watch;
use roster_shell::os_seed;
use rustc_hash::FxHashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing::{info, warn};

/// Instance id of keys given by data id alone (SOFARegistry's default).
pub const DEFAULT_INSTANCE_ID: &str = "DEFAULT_INSTANCE_ID";
/// Group of keys given by data id alone.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";

/// Parses a key: a bare data id takes the default instance and group.
///
/// ```
/// let key = roster_client::parse_key("my.service")?;
/// assert_eq!(key.to_string(), "my.service#@#DEFAULT_INSTANCE_ID#@#DEFAULT_GROUP");
/// assert!(roster_client::parse_key("").is_err());
/// # Ok::<(), roster_client::Error>(())
/// ```
pub fn parse_key(key: &str) -> Result<DataInfoId, Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey(key.to_string()));
    }
    if key.contains(roster_core::model::SEPARATOR) {
        return DataInfoId::parse(key).ok_or_else(|| Error::InvalidKey(key.to_string()));
    }
    Ok(DataInfoId::new(key, DEFAULT_INSTANCE_ID, DEFAULT_GROUP))
}

#[derive(Debug, Default)]
struct Status {
    /// The session connected to, if any.
    session: Option<String>,
    /// Connections made so far.
    connects: u64,
    /// Futures waiting for a connection.
    wakers: Vec<Waker>,
}

/// The subscriptions of one key on a client.
#[derive(Debug, Default)]
struct Topic {
    newest: Watch<Update>,
    subscriptions: usize,
}

#[derive(Debug, Default)]
struct Shared {
    /// Subscribed keys. Every push looks its key up, so keys are hashed with Fx rather
    /// than SipHash (they come from this client's own subscriptions, not from the network).
    topics: Mutex<FxHashMap<DataInfoId, Topic>>,
    status: Mutex<Status>,
    changed: Condvar,
    answers: Answers,
    /// Where new lists go to be written to the cache, if there is one.
    cache: Option<Arc<Queue>>,
}

/// Locks `m`, ignoring poisoning: every value behind these locks is complete after each
/// statement that changes it, so a panicking holder leaves nothing half-written.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Member for Shared {
    fn event(&self, event: Event) {
        match event {
            Event::Update {
                data_info_id,
                register_ids: _,
                version,
                publishers,
            } => {
                // Every subscription of the key reads the one watch, so the event's
                // subscriptions need no visit each. The core repeats the current list for
                // a new subscription of a key it already has; the version check keeps
                // that from looking like news to the others.
                let topics = lock(&self.topics);
                if let Some(t) = topics.get(&data_info_id) {
                    let update = Update::live(data_info_id, version, publishers);
                    let stored = update.clone();
                    if t.newest.store_if(update, |cur| stored.supersedes(cur))
                        && let Some(q) = &self.cache
                    {
                        q.put(stored);
                    }
                }
            }
            Event::Connected {
                session,
                connect_generation,
            } => {
                info!(session = session.as_str(), connect_generation, "connected");
                let mut s = lock(&self.status);
                s.session = Some(session.as_str().to_string());
                s.connects += 1;
                s.wakers.drain(..).for_each(Waker::wake);
                self.changed.notify_all();
            }
            Event::Disconnected { session } => {
                info!(session = session.as_str(), "disconnected");
                let mut s = lock(&self.status);
                s.session = None;
                self.changed.notify_all();
            }
            Event::Registered {
                register_id,
                revision,
            } => self.answers.registered(&register_id, revision),
            Event::Unregistered { register_id } => self.answers.unregistered(&register_id),
            Event::Rejected {
                register_id,
                code,
                reason,
            } => {
                warn!(
                    register_id = register_id.as_str(),
                    ?code,
                    reason = reason.as_str(),
                    "registration refused"
                );
                self.answers.rejected(&register_id, code, reason.as_str());
            }
        }
    }
}

struct Io {
    seat: Seat,
    shared: Arc<Shared>,
    client_id: String,
    next_id: AtomicU64,
    /// The cache to read lists back from, if configured.
    cache: Option<Arc<Cache>>,
    /// Dropped last: it writes what is still pending before the client is gone.
    _writer: Option<Writer>,
}

impl Drop for Io {
    fn drop(&mut self) {
        // The seat (dropped after this) takes the client off its IO thread.
        for t in lock(&self.shared.topics).values() {
            t.newest.close();
        }
    }
}

impl Io {
    fn command(&self, c: Command) -> Result<(), Error> {
        self.seat.command(c).map_err(|()| Error::Closed)
    }

    fn register_id(&self) -> Text {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        Text::from(format!("{}-{n}", self.client_id))
    }
}

/// A connection to roster (on a shared IO thread). Cheap to share behind an `Arc`; closes when it
/// and every handle made from it are dropped.
pub struct Client {
    io: Arc<Io>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.io.client_id)
            .finish()
    }
}

impl Client {
    /// Chained settings for a client; see [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for these session addresses with the default settings, connecting in
    /// the background.
    ///
    /// ```no_run
    /// let client = roster_client::Client::connect(["127.0.0.1:41281"])?;
    /// # Ok::<(), roster_client::Error>(())
    /// ```
    pub fn connect<S: Into<String>>(
        sessions: impl IntoIterator<Item = S>,
    ) -> Result<Client, Error> {
        Client::with_options(ClientOptions::new(sessions))
    }

    /// A client with explicit options.
    pub fn with_options(options: ClientOptions) -> Result<Client, Error> {
        let seed = os_seed();
        let client_id = options
            .client_id
            .unwrap_or_else(|| format!("roster-{}-{:x}", std::process::id(), seed & 0xffff_ffff));
        let mut cfg = ClientConfig::new(
            Text::from(client_id.clone()),
            options.sessions.into_iter().map(Text::from).collect(),
        );
        cfg.reconnect_backoff =
            roster_core::net::Backoff::new(options.reconnect_min, options.reconnect_max);
        cfg.connect_timeout = options.connect_timeout;
        cfg.requery_interval = options.requery_interval;
        cfg.token = options.token;
        let node = core::Client::new(cfg, seed).map_err(|e| Error::Config(e.to_string()))?;
        let tls = options.tls.as_ref().map(ClientTls::shell).transpose()?;
        let (cache, writer) = match options.cache_dir {
            Some(dir) => {
                let cache = Cache::open(dir.clone())
                    .map(Arc::new)
                    .map_err(|source| Error::Cache { path: dir, source })?;
                let writer = Writer::spawn(cache.clone()).map_err(Error::Io)?;
                (Some(cache), Some(writer))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            cache: writer.as_ref().map(Writer::queue),
            ..Shared::default()
        });
        let seat = Seat::take(node, shared.clone(), tls.as_ref()).map_err(Error::Io)?;
        Ok(Client {
            io: Arc::new(Io {
                seat,
                shared,
                client_id,
                next_id: AtomicU64::new(1),
                cache,
                _writer: writer,
            }),
        })
    }

    /// Waits at most `timeout` until connected to a session; its address.
    pub fn wait_connected(&self, timeout: Duration) -> Result<String, Error> {
        let s = lock(&self.io.shared.status);
        let (s, _) = self
            .io
            .shared
            .changed
            .wait_timeout_while(s, timeout, |s| s.session.is_none())
            .unwrap_or_else(|p| p.into_inner());
        s.session.clone().ok_or(Error::Timeout)
    }

    /// A future that resolves to the session's address once connected (at once if
    /// connected now), on any executor. It waits as long as no session is reachable:
    /// bound it with the executor's timeout if the program must not.
    pub fn connected(&self) -> Connected {
        Connected {
            io: self.io.clone(),
        }
    }

    /// The session connected to, if any.
    pub fn session(&self) -> Option<String> {
        let s = lock(&self.io.shared.status);
        s.session.clone()
    }

    /// How many times the client has connected (one more after every fail-over).
    pub fn connects(&self) -> u64 {
        let s = lock(&self.io.shared.status);
        s.connects
    }

    /// Publishes an instance under `key` (a data id, or `data_id#@#instance_id#@#group`).
    /// Held until the returned handle is dropped or unregistered; wait on
    /// [`Publication::registered`] for the session's acknowledgement, and change it in place
    /// with [`Publication::update`].
    pub fn publish<P: Into<Bytes>>(
        &self,
        key: &str,
        payload: impl IntoIterator<Item = P>,
    ) -> Result<Publication, Error> {
        self.publish_with(key, payload, std::iter::empty::<(String, String)>())
    }

    /// Like [`publish`](Self::publish), with attributes (name, value) beside the payload:
    /// what subscribers may select or weigh instances by (the DNS interface reads
    /// `weight` and `priority`).
    pub fn publish_with<P: Into<Bytes>, K: Into<String>, V: Into<String>>(
        &self,
        key: &str,
        payload: impl IntoIterator<Item = P>,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Publication, Error> {
        let data_info_id = parse_key(key)?;
        let payload = payload.into_iter().map(Into::into).collect();
        let attributes = publication::to_attributes(attributes);
        Publication::publish(self.io.clone(), data_info_id, payload, attributes)
    }

    /// Subscribes to `key`; the handle yields the newest list each time it changes (a list
    /// superseded before it is read is skipped). With a cache directory, a key the client
    /// holds no list of yet starts with the cached list, if one is there
    /// ([`Update::is_cached`]).
    pub fn subscribe(&self, key: &str) -> Result<Subscription, Error> {
        let data_info_id = parse_key(key)?;
        let register_id = self.io.register_id();
        let (newest, watch, first) = {
            let mut topics = lock(&self.io.shared.topics);
            let t = topics.entry(data_info_id.clone()).or_default();
            t.subscriptions += 1;
            (t.newest.reader(), t.newest.clone(), t.subscriptions == 1)
        };
        if first && let Some(c) = self.io.cache.as_ref().and_then(|c| c.load(&data_info_id)) {
            // Read outside the lock; a live list that came meanwhile is kept.
            let cached = Update::cached(data_info_id.clone(), c.version, c.publishers);
            watch.store_if(cached, |cur| cur.is_none());
        }
        self.io.shared.answers.listen(&register_id);
        let sub = Subscription {
            io: self.io.clone(),
            data_info_id: data_info_id.clone(),
            register_id: register_id.clone(),
            newest,
        };
        self.io.command(Command::Subscribe {
            data_info_id,
            register_id,
        })?;
        Ok(sub)
    }
}

/// The future of [`Client::connected`]: the session's address once connected. It holds
/// the client open while it waits.
#[must_use = "a future does nothing unless awaited"]
pub struct Connected {
    io: Arc<Io>,
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("client_id", &self.io.client_id)
            .finish()
    }
}

impl Future for Connected {
    type Output = String;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<String> {
        let mut s = lock(&self.io.shared.status);
        if let Some(session) = &s.session {
            return Poll::Ready(session.clone());
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
