//! How a client is configured: [`ClientOptions`] (plain fields) and [`ClientBuilder`]
//! (the same settings, chained, ending in [`ClientBuilder::build`]).

use crate::{Client, ClientTls, Error, Token};
use std::path::PathBuf;
use std::time::Duration;

/// How often a client asks again for the current list of every subscribed key, unless
/// configured otherwise (see [`ClientOptions::requery_interval`]).
pub const DEFAULT_REQUERY_INTERVAL: Duration = Duration::from_secs(180);

/// Client settings. Make them with [`ClientOptions::new`] (the defaults) and change
/// fields, or chain them on [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Session client addresses to fail over across.
    pub sessions: Vec<String>,
    /// The client's identity (default: `roster-<pid>-<random>`).
    pub client_id: Option<String>,
    /// First reconnect delay (doubles up to `reconnect_max`).
    pub reconnect_min: Duration,
    /// Longest reconnect delay (default 2 s, as the core client's).
    pub reconnect_max: Duration,
    /// A connect to a session not completed by then is abandoned and the next session
    /// tried: a session host that vanished costs this, not the kernel's SYN retries.
    pub connect_timeout: Duration,
    /// Where to keep the newest list of every subscribed key, so that a subscription made
    /// while no session is reachable starts with the last list seen (marked
    /// [`Update::is_cached`](crate::Update::is_cached)). `None` (the default): no cache.
    pub cache_dir: Option<PathBuf>,
    /// Every this often while connected, the client asks the session for the current list
    /// of every subscribed key and delivers it if newer than the one the application has:
    /// a safety net for a lost push. `None`: never. Default
    /// [`DEFAULT_REQUERY_INTERVAL`].
    pub requery_interval: Option<Duration>,
    /// TLS to the sessions: the CA their certificates must be signed by, and the client's
    /// own certificate if it has one. `None` (the default): plain TCP.
    pub tls: Option<ClientTls>,
    /// The access token that names this client to the sessions' access rules
    /// (docs/security.md); [`Token::NONE`] (the default) for none. Send one only over TLS:
    /// it is a password. Its `Debug` never shows it.
    pub token: Token,
}

impl ClientOptions {
    /// Defaults for these sessions.
    pub fn new<S: Into<String>>(sessions: impl IntoIterator<Item = S>) -> Self {
        ClientOptions {
            sessions: sessions.into_iter().map(Into::into).collect(),
            client_id: None,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            connect_timeout: roster_core::net::DEFAULT_CONNECT_TIMEOUT,
            cache_dir: None,
            requery_interval: Some(DEFAULT_REQUERY_INTERVAL),
            tls: None,
            token: Token::NONE,
        }
    }
}

/// Chained client settings; [`build`](ClientBuilder::build) makes the client.
///
/// ```no_run
/// use std::time::Duration;
///
/// let client = roster_client::Client::builder()
///     .sessions(["10.0.0.12:9600", "10.0.0.13:9600"])
///     .connect_timeout(Duration::from_secs(2))
///     .cache_dir("/var/cache/my-app/roster")
///     .requery_interval(Duration::from_secs(300))
///     .build()?;
/// # Ok::<(), roster_client::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build`"]
pub struct ClientBuilder {
    options: ClientOptions,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            options: ClientOptions::new(Vec::<String>::new()),
        }
    }
}

impl From<ClientOptions> for ClientBuilder {
    fn from(options: ClientOptions) -> Self {
        ClientBuilder { options }
    }
}

impl ClientBuilder {
    /// The session client addresses to fail over across (replacing any given before).
    pub fn sessions<S: Into<String>>(mut self, sessions: impl IntoIterator<Item = S>) -> Self {
        self.options.sessions = sessions.into_iter().map(Into::into).collect();
        self
    }

    /// The client's identity ([`ClientOptions::client_id`]).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.options.client_id = Some(id.into());
        self
    }

    /// The reconnect backoff: `min` first, doubling up to `max`.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.options.reconnect_min = min;
        self.options.reconnect_max = max;
        self
    }

    /// How long a connect may take before the next session is tried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Keeps the newest list of every subscribed key in `dir` ([`ClientOptions::cache_dir`];
    /// created by [`build`](Self::build) if missing).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.cache_dir = Some(dir.into());
        self
    }

    /// Re-queries every subscribed key this often ([`ClientOptions::requery_interval`]).
    pub fn requery_interval(mut self, interval: Duration) -> Self {
        self.options.requery_interval = Some(interval);
        self
    }

    /// Never re-queries: lists come by push alone.
    pub fn no_requery(mut self) -> Self {
        self.options.requery_interval = None;
        self
    }

    /// Connects with TLS ([`ClientOptions::tls`]).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.options.tls = Some(tls);
        self
    }

    /// Presents this access token ([`ClientOptions::token`]).
    pub fn token(mut self, token: impl Into<Token>) -> Self {
        self.options.token = token.into();
        self
    }

    /// The settings so far.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Makes the client; it connects in the background (wait with
    /// [`Client::wait_connected`] or `.await` [`Client::connected`]). Fails with
    /// [`Error::Config`] naming a bad setting, [`Error::Cache`] if the cache directory
    /// cannot be made, or [`Error::Io`].
    pub fn build(self) -> Result<Client, Error> {
        Client::with_options(self.options)
    }
}
