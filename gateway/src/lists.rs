//! The lists the gateway reads: one subscription of its client per data id asked for,
//! made on first use and kept (at most `max_subscriptions`; one that no open request
//! reads and nobody asked for during `subscription_idle` is dropped, and an idle one makes
//! way for a new data id when the gateway is full). A task per subscription turns each
//! pushed list into its JSON once and stores it in a `watch` channel: every request on
//! the data id reads that one value, so a push costs one serialisation however many
//! watchers there are.

use crate::errors::{self, ApiError};
use crate::instances::ID_ATTRIBUTE;
use crate::server::Shared;
use crate::version;
use axum::body::Bytes;
use futures_util::StreamExt;
use roster_client::{Client, Update};
use roster_core::model::DatumVersion;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One list of a data id, as the API answers it.
#[derive(Debug)]
pub(crate) struct List {
    pub(crate) version: DatumVersion,
    /// `{"data_id", "version", "instances"}`, serialised once.
    pub(crate) json: Bytes,
}

/// The newest list of a data id; `None` until the first push.
pub(crate) type Newest = watch::Receiver<Option<Arc<List>>>;

#[derive(Serialize)]
struct ListJson<'a> {
    data_id: &'a str,
    version: String,
    instances: Vec<InstanceJson<'a>>,
}

#[derive(Serialize)]
struct InstanceJson<'a> {
    id: &'a str,
    payload: String,
    attributes: BTreeMap<&'a str, &'a str>,
}

impl List {
    /// The JSON of `update`, read as `data_id`. An instance's id is the gateway's
    /// attribute if it has one (registered through a gateway), else its register id; its
    /// payload is its payload's elements, concatenated, as UTF-8 (lossy).
    fn of(data_id: &str, update: &Update) -> List {
        let list = update.publishers();
        let mut instances: Vec<InstanceJson<'_>> = list
            .iter()
            .map(|p| {
                let mut attributes: BTreeMap<&str, &str> = p.attributes().collect();
                let id = attributes.remove(ID_ATTRIBUTE).unwrap_or(p.register_id());
                let payload: Vec<u8> = p.payload().flatten().copied().collect();
                InstanceJson {
                    id,
                    payload: String::from_utf8_lossy(&payload).into_owned(),
                    attributes,
                }
            })
            .collect();
        instances.sort_by(|a, b| a.id.cmp(b.id));
        let json = ListJson {
            data_id,
            version: version::format(update.version()),
            instances,
        };
        List {
            version: update.version(),
            json: Bytes::from(serde_json::to_vec(&json).unwrap_or_default()),
        }
    }
}

#[derive(Debug)]
struct Topic {
    newest: watch::Sender<Option<Arc<List>>>,
    last_used: Instant,
    /// Reads the subscription; aborting it drops (unsubscribes) it.
    task: JoinHandle<()>,
}

impl Topic {
    fn idle(&self) -> bool {
        // The task holds the sender; every open request on the data id holds a receiver.
        self.newest.receiver_count() == 0
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The subscriptions kept, by data id.
#[derive(Debug)]
pub(crate) struct Topics {
    by_data_id: Mutex<HashMap<String, Topic>>,
    max: usize,
}

impl Topics {
    /// At most `max` kept.
    pub(crate) fn new(max: usize) -> Topics {
        Topics {
            by_data_id: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        self.by_data_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest list of `data_id`, subscribing on first use.
    pub(crate) fn newest(&self, client: &Client, data_id: &str) -> Result<Newest, ApiError> {
        let mut topics = self.lock();
        if let Some(t) = topics.get_mut(data_id) {
            t.last_used = Instant::now();
            return Ok(t.newest.subscribe());
        }
        if topics.len() >= self.max {
            // Make way: the idle subscription read longest ago goes.
            let victim = topics
                .iter()
                .filter(|(_, t)| t.idle())
                .min_by_key(|(_, t)| t.last_used)
                .map(|(k, _)| k.clone())
                .ok_or_else(|| errors::too_many_subscriptions(self.max))?;
            topics.remove(&victim);
        }
        let mut subscription = client.subscribe(data_id).map_err(errors::client)?;
        let (tx, rx) = watch::channel(None);
        let sender = tx.clone();
        let name = data_id.to_string();
        let task = tokio::spawn(async move {
            while let Some(update) = StreamExt::next(&mut subscription).await {
                sender.send_replace(Some(Arc::new(List::of(&name, &update))));
            }
        });
        topics.insert(
            data_id.to_string(),
            Topic {
                newest: tx,
                last_used: Instant::now(),
                task,
            },
        );
        Ok(rx)
    }

    /// Drops the subscriptions idle for `idle` or longer.
    fn expire(&self, idle: std::time::Duration) {
        let now = Instant::now();
        self.lock()
            .retain(|_, t| !t.idle() || now.duration_since(t.last_used) < idle);
    }
}

/// Drops idle subscriptions, every quarter of the idle time.
pub(crate) async fn janitor(gw: Shared) {
    let idle = gw.limits.subscription_idle;
    let mut every = tokio::time::interval((idle / 4).max(std::time::Duration::from_millis(10)));
    loop {
        every.tick().await;
        gw.topics.expire(idle);
    }
}
