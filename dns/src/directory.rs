//! The services the DNS interface knows: one `roster-client` subscription per data id
//! asked for, each kept by a task that turns every pushed list into instances, so a query
//! reads the newest list without waiting and answers follow pushes.
//!
//! A data id asked for the first time subscribes and waits at most
//! [`Limits::first_wait`] for its first list. Subscriptions are bounded
//! ([`Limits::max_services`]: when full, a new name takes the place of the one asked for
//! least recently) and one not asked for during [`Limits::idle`] is dropped by
//! [`Directory::expire`], so names a client invents cannot grow the server without end.

use crate::instances::instances;
use crate::kept::Kept;
use roster_client::{Client, Subscription};
use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::debug;

/// A service's newest list.
pub type Instances = Arc<Kept>;

/// Bounds of the kept subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a first query of a data id waits for its first list.
    pub first_wait: Duration,
    /// At most this many data ids are subscribed at once.
    pub max_services: usize,
    /// A data id not asked for during this long is unsubscribed.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first_wait: Duration::from_millis(1_500),
            max_services: 1_024,
            idle: Duration::from_secs(300),
        }
    }
}

struct Entry {
    newest: watch::Receiver<Option<Instances>>,
    reader: AbortHandle,
    last_asked: Instant,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // The reading task owns the subscription: ending it unsubscribes.
        self.reader.abort();
    }
}

/// The subscribed services of one DNS server.
pub struct Directory {
    client: Client,
    limits: Limits,
    services: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("limits", &self.limits)
            .field("services", &self.len())
            .finish()
    }
}

impl Directory {
    /// A directory subscribing through `client`.
    pub fn new(client: Client, limits: Limits) -> Directory {
        Directory {
            client,
            limits,
            services: Mutex::new(HashMap::new()),
        }
    }

    fn services(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every change to the map is one statement: a panicking holder leaves it whole.
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many data ids are subscribed.
    pub fn len(&self) -> usize {
        self.services().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The instances of `data_id` as of its newest list; `None` if no list came within
    /// [`Limits::first_wait`] (or the client is closed). Must run on a tokio runtime.
    pub async fn lookup(&self, data_id: &str) -> Option<Instances> {
        let mut newest = self.watch(data_id)?;
        let wait = newest.wait_for(Option::is_some);
        match tokio::time::timeout(self.limits.first_wait, wait).await {
            Ok(Ok(list)) => list.clone(),
            _ => None,
        }
    }

    /// The receiver of `data_id`'s lists, subscribing if it is new.
    fn watch(&self, data_id: &str) -> Option<watch::Receiver<Option<Instances>>> {
        let now = Instant::now();
        let mut services = self.services();
        if let Some(e) = services.get_mut(data_id) {
            e.last_asked = now;
            return Some(e.newest.clone());
        }
        if services.len() >= self.limits.max_services {
            let oldest = services
                .iter()
                .min_by_key(|(_, e)| e.last_asked)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                debug!(data_id = k.as_str(), "dns: full, unsubscribing the oldest");
                services.remove(&k);
            }
        }
        let subscription = self.client.subscribe(data_id).ok()?;
        let (tx, rx) = watch::channel(None);
        let reader = tokio::spawn(read(subscription, tx)).abort_handle();
        services.insert(
            data_id.to_string(),
            Entry {
                newest: rx.clone(),
                reader,
                last_asked: now,
            },
        );
        Some(rx)
    }

    /// Unsubscribes every data id not asked for during [`Limits::idle`].
    pub fn expire(&self) {
        let now = Instant::now();
        self.services()
            .retain(|_, e| now.duration_since(e.last_asked) < self.limits.idle);
    }
}

/// Turns every list pushed to `subscription` into instances, until it ends or the entry
/// is dropped.
async fn read(mut subscription: Subscription, tx: watch::Sender<Option<Instances>>) {
    while let Some(update) =
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut subscription), cx)).await
    {
        let list = Arc::new(Kept::new(instances(update.publishers())));
        if tx.send(Some(list)).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory whose client reaches no session: every list times out.
    fn unreachable(max_services: usize, idle: Duration) -> Directory {
        let client = Client::connect(["127.0.0.1:1"]).unwrap();
        let limits = Limits {
            first_wait: Duration::from_millis(10),
            max_services,
            idle,
        };
        Directory::new(client, limits)
    }

    fn names(d: &Directory) -> Vec<String> {
        let mut v: Vec<String> = d.services().keys().cloned().collect();
        v.sort();
        v
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_directory_drops_the_data_id_asked_for_least_recently() {
        let d = unreachable(2, Duration::from_secs(300));
        assert!(d.lookup("a").await.is_none(), "no list in time");
        assert!(d.lookup("b").await.is_none());
        assert!(
            d.lookup("a").await.is_none(),
            "asked again: now newer than b"
        );
        assert!(d.lookup("c").await.is_none());
        assert_eq!(names(&d), ["a", "c"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idle_data_ids_expire() {
        let d = unreachable(8, Duration::ZERO);
        assert!(d.lookup("a").await.is_none());
        assert_eq!(d.len(), 1);
        d.expire();
        assert!(d.is_empty());
    }
}
