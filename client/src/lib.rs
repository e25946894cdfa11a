//! The Rust client library on the core's client (`roster_core::client`). Every [`Client`]
//! of the process runs on one of a few shared IO threads (`io_threads`: a core
//! `NodeGroup` in a mio [`Shell`](roster_mio::shell::Shell) per thread); handles talk to it through
//! the hand-off queue and a `mio::Waker`.
//!
//! - [`Client::publish`] returns a [`Publication`]; dropping it unregisters.
//! - [`Client::subscribe`] returns a [`Subscription`]: a blocking `Iterator` of
//!   [`Update`]s and a `futures_core::Stream` of them, usable on any executor. Every
//!   subscription of a key on a client reads one [`Watch`] of its newest list: a push is
//!   stored once, and a list superseded before the application read it is skipped.
//! - Reconnection, replay of every registration and fail-over across the configured
//!   sessions are the core client's: automatic.

mod io_threads;
mod publication;

pub use crate::io_threads::io_threads;
use crate::io_threads::{Member, Seat};
use crate::publication::Answers;
pub use crate::publication::{Acknowledgement, Publication};
use bytes::Bytes;
use roster_core::client::{self as core, ClientConfig, Command, Event};
use roster_core::model::{DataInfoId, DatumVersion, Text};
pub use roster_core::wire::ErrorCode;
pub use roster_core::wire::{PublisherList, PublisherRef};
use roster_mio::watch::{Reader, Watch};
use roster_shell::os_seed;
use rustc_hash::FxHashMap;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::{info, warn};

/// Instance id of keys given by data id alone (SOFARegistry's default).
pub const DEFAULT_INSTANCE_ID: &str = "DEFAULT_INSTANCE_ID";
/// Group of keys given by data id alone.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";

/// What can go wrong.
#[derive(Debug)]
pub enum Error {
    /// The configuration is invalid; names the field.
    Config(String),
    /// The key is not a data id nor `data_id#@#instance_id#@#group`.
    InvalidKey(String),
    /// The client was closed.
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// The session refused a registration.
    Rejected {
        /// The registration.
        register_id: String,
        /// Why, as a code a program can act on (`Overloaded`: too many registrations on
        /// the connection; `BadRequest`: a malformed registration).
        code: ErrorCode,
        /// The session's reason.
        reason: String,
    },
    /// The IO thread could not start.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid client configuration: {e}"),
            Error::InvalidKey(k) => write!(f, "invalid data id {k:?}"),
            Error::Closed => write!(f, "the client is closed"),
            Error::Timeout => write!(f, "timed out"),
            Error::Rejected {
                register_id,
                code,
                reason,
            } => write!(f, "registration {register_id} refused ({code:?}): {reason}"),
            Error::Io(e) => write!(f, "client IO: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A list pushed to a subscription. One push reaches every subscription of its key on the
/// client as clones of one `Update`: a clone or a drop touches a single reference count,
/// however many subscriptions share it (a client with 100 subscriptions of a key would
/// otherwise pay hundreds of contended atomic operations on the frame's buffer per push).
#[derive(Clone, PartialEq, Eq)]
pub struct Update(Arc<Pushed>);

#[derive(Debug, PartialEq, Eq)]
struct Pushed {
    data_info_id: DataInfoId,
    version: DatumVersion,
    publishers: PublisherList,
}

impl Update {
    /// The key.
    pub fn data_info_id(&self) -> &DataInfoId {
        &self.0.data_info_id
    }

    /// Its version; strictly newer than the previous update of the subscription.
    pub fn version(&self) -> DatumVersion {
        self.0.version
    }

    /// Every live publisher, read in place from the pushed frame.
    pub fn publishers(&self) -> &PublisherList {
        &self.0.publishers
    }

    /// Whether both are the one push, shared (not merely equal).
    pub fn ptr_eq(&self, other: &Update) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("data_info_id", &self.0.data_info_id.to_string())
            .field("version", &self.0.version)
            .field("publishers", &self.0.publishers)
            .finish()
    }
}

/// Parses a key: a bare data id takes the default instance and group.
pub fn parse_key(key: &str) -> Result<DataInfoId, Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey(key.to_string()));
    }
    if key.contains(roster_core::model::SEPARATOR) {
        return DataInfoId::parse(key).ok_or_else(|| Error::InvalidKey(key.to_string()));
    }
    Ok(DataInfoId::new(key, DEFAULT_INSTANCE_ID, DEFAULT_GROUP))
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Session client addresses to fail over across.
    pub sessions: Vec<String>,
    /// The client's identity (default: `roster-<pid>-<random>`).
    pub client_id: Option<String>,
    /// First reconnect delay (doubles up to `reconnect_max`).
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// A connect to a session not completed by then is abandoned and the next session
    /// tried: a session host that vanished costs this, not the kernel's SYN retries.
    pub connect_timeout: Duration,
}

impl ClientOptions {
    /// Defaults for these sessions.
    pub fn new<S: Into<String>>(sessions: impl IntoIterator<Item = S>) -> Self {
        ClientOptions {
            sessions: sessions.into_iter().map(Into::into).collect(),
            client_id: None,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: roster_core::net::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

#[derive(Debug, Default)]
struct Status {
    /// The session connected to, if any.
    session: Option<String>,
    /// Connections made so far.
    connects: u64,
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
                    let update = Update(Arc::new(Pushed {
                        data_info_id,
                        version,
                        publishers,
                    }));
                    t.newest
                        .store_if(update, |cur| cur.is_none_or(|c| version > c.version()));
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
    /// A client for these session addresses, connecting in the background.
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
        let node = core::Client::new(cfg, seed).map_err(|e| Error::Config(e.to_string()))?;
        let shared = Arc::new(Shared::default());
        let seat = Seat::take(node, shared.clone()).map_err(Error::Io)?;
        Ok(Client {
            io: Arc::new(Io {
                seat,
                shared,
                client_id,
                next_id: AtomicU64::new(1),
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
    /// superseded before it is read is skipped).
    pub fn subscribe(&self, key: &str) -> Result<Subscription, Error> {
        let data_info_id = parse_key(key)?;
        let register_id = self.io.register_id();
        let newest = {
            let mut topics = lock(&self.io.shared.topics);
            let t = topics.entry(data_info_id.clone()).or_default();
            t.subscriptions += 1;
            t.newest.reader()
        };
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

fn debug_registration(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    key: &DataInfoId,
    register_id: &Text,
) -> fmt::Result {
    f.debug_struct(what)
        .field("data_info_id", &key.to_string())
        .field("register_id", &register_id.as_str())
        .finish()
}

/// A subscription: a blocking iterator and a `Stream` of updates, each newer than the one
/// before. Ends when the client is closed; dropping it unsubscribes.
pub struct Subscription {
    io: Arc<Io>,
    data_info_id: DataInfoId,
    register_id: Text,
    newest: Reader<Update>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_registration(f, "Subscription", &self.data_info_id, &self.register_id)
    }
}

impl Subscription {
    /// Waits at most `timeout` for a list newer than the last one received.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Update, Error> {
        self.newest.next_timeout(timeout).map_err(|closed| {
            if closed {
                Error::Closed
            } else {
                Error::Timeout
            }
        })
    }

    /// A list newer than the last one received, if there is one.
    pub fn try_recv(&self) -> Option<Update> {
        self.newest.try_next()
    }
}

impl Iterator for Subscription {
    type Item = Update;
    fn next(&mut self) -> Option<Update> {
        self.newest.next_blocking()
    }
}

impl futures_core::Stream for Subscription {
    type Item = Update;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        self.newest.poll_next(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut topics = lock(&self.io.shared.topics);
            if let Some(t) = topics.get_mut(&self.data_info_id) {
                t.subscriptions -= 1;
                if t.subscriptions == 0 {
                    topics.remove(&self.data_info_id);
                }
            }
        }
        let _ = self.io.command(Command::Unsubscribe {
            data_info_id: self.data_info_id.clone(),
            register_id: self.register_id.clone(),
        });
    }
}
