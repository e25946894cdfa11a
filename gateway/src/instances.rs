//! The instances the gateway registers for its HTTP clients, one publication of its
//! client each, keyed by (data id, instance id): unique per data id within the gateway.
//!
//! An instance is kept by a lease, of one of two kinds:
//! - a TTL: each heartbeat moves its deadline; a task sleeps until the deadline and
//!   unregisters the instance if no heartbeat moved it meanwhile;
//! - a stream (`?keep=stream`): the `PUT`'s response stays open, and the instance is
//!   unregistered when the response's body is dropped (the peer went away).
//!
//! A `PUT` of an existing instance replaces its payload and attributes in place (one
//! write: subscribers see one new list) and takes a new lease; the old lease's task or
//! stream finds its lease number gone and does nothing more (an old stream ends).

use crate::errors::{self, ApiError};
use crate::server::Shared;
use axum::Json;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use roster_client::Publication;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::info;

/// The attribute that carries an instance's id in the lists (hidden from its attributes):
/// the publication's own register id is the gateway client's, not the caller's.
pub(crate) const ID_ATTRIBUTE: &str = "roster.gateway.id";

/// Longest instance id.
const MAX_ID_BYTES: usize = 256;

type Key = (String, String);

#[derive(Debug)]
struct Instance {
    publication: Publication,
    /// The TTL; `None` for an instance kept by a stream.
    ttl: Option<Duration>,
    deadline: Instant,
    /// Which `PUT` holds it; expiry and streams act only on their own lease.
    lease: u64,
    /// Dropped to end the stream that keeps it, if any.
    _stream: Option<oneshot::Sender<()>>,
}

/// Every instance registered through this gateway.
#[derive(Debug, Default)]
pub(crate) struct Instances {
    by_key: Mutex<HashMap<Key, Instance>>,
    next_lease: AtomicU64,
}

impl Instances {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Instance>> {
        // Every entry is whole after each statement: a panicking holder leaves none torn.
        self.by_key.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Withdraws `key` if `lease` still holds it (dropping the publication unregisters).
    fn end_lease(&self, key: &Key, lease: u64, why: &str) {
        let mut by_key = self.lock();
        if by_key.get(key).is_some_and(|i| i.lease == lease) {
            by_key.remove(key);
            info!(
                data_id = key.0,
                id = key.1,
                why,
                "gateway instance withdrawn"
            );
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeepQuery {
    keep: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    payload: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    ttl_ms: Option<u64>,
}

/// What a registration, a heartbeat or the first event of a stream answers.
#[derive(Debug, Serialize)]
struct Registered<'a> {
    data_id: &'a str,
    id: &'a str,
    /// `null` for an instance kept by a stream.
    ttl_ms: Option<u64>,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ApiError::bad_request(format!(
            "an instance id is 1 to {MAX_ID_BYTES} bytes"
        )));
    }
    Ok(())
}

/// `PUT /v1/services/{data_id}/instances/{id}`: registers or replaces an instance.
pub(crate) async fn register(
    State(gw): State<Shared>,
    path: Result<Path<Key>, PathRejection>,
    query: Result<Query<KeepQuery>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(key) = path.map_err(errors::path)?;
    let Query(query) = query.map_err(errors::query)?;
    let body = crate::body::read(body, gw.limits.max_body_bytes).await?;
    let stream = match query.keep.as_deref() {
        None | Some("ttl") => false,
        Some("stream") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "keep: {other:?} is neither \"ttl\" nor \"stream\""
            )));
        }
    };
    let r: Registration = roster_admin::error::parse_json(&body)?;
    check_id(&key.1)?;
    roster_client::parse_key(&key.0).map_err(errors::client)?;
    if r.attributes.contains_key(ID_ATTRIBUTE) {
        return Err(ApiError::bad_request(format!(
            "attribute {ID_ATTRIBUTE:?} is the gateway's own"
        )));
    }
    let ttl = match (stream, r.ttl_ms) {
        (true, None) => None,
        (true, Some(_)) => {
            return Err(ApiError::bad_request(
                "ttl_ms: an instance kept by a stream has no TTL",
            ));
        }
        (false, None) => return Err(ApiError::bad_request("ttl_ms: required")),
        (false, Some(ms)) => {
            let ttl = Duration::from_millis(ms);
            let (min, max) = (gw.limits.ttl_min, gw.limits.ttl_max);
            if ttl < min || ttl > max {
                return Err(errors::ttl_out_of_range(format!(
                    "ttl_ms: {ms} is outside [{}, {}]",
                    min.as_millis(),
                    max.as_millis()
                )));
            }
            Some(ttl)
        }
    };
    let attributes: Vec<(String, String)> = r
        .attributes
        .into_iter()
        .chain([(ID_ATTRIBUTE.to_string(), key.1.clone())])
        .collect();
    let payload = [Bytes::from(r.payload)];
    let lease = gw.instances.next_lease.fetch_add(1, Ordering::Relaxed);
    let (end_tx, end_rx) = oneshot::channel();
    let deadline = Instant::now() + ttl.unwrap_or_default();
    let (ack, created) = {
        let mut by_key = gw.instances.lock();
        match by_key.get_mut(&key) {
            Some(i) => {
                i.publication
                    .update_with(payload, attributes)
                    .map_err(errors::client)?;
                i.ttl = ttl;
                i.deadline = deadline;
                i.lease = lease;
                i._stream = stream.then_some(end_tx);
                (i.publication.registered(), false)
            }
            None => {
                let publication = gw
                    .client
                    .publish_with(&key.0, payload, attributes)
                    .map_err(errors::client)?;
                let ack = publication.registered();
                let instance = Instance {
                    publication,
                    ttl,
                    deadline,
                    lease,
                    _stream: stream.then_some(end_tx),
                };
                by_key.insert(key.clone(), instance);
                (ack, true)
            }
        }
    };
    let acked = tokio::time::timeout(gw.limits.ack_timeout, ack)
        .await
        .unwrap_or(Err(roster_client::Error::Timeout));
    if let Err(e) = acked {
        gw.instances.end_lease(&key, lease, "not acknowledged");
        return Err(errors::client(e));
    }
    let answer = Registered {
        data_id: &key.0,
        id: &key.1,
        ttl_ms: ttl.map(|t| t.as_millis() as u64),
    };
    if !stream {
        tokio::spawn(expire(gw.clone(), key.clone(), lease));
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok((status, Json(answer)).into_response());
    }
    let first = Event::default()
        .event("registered")
        .json_data(&answer)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let guard = StreamLease {
        gw: gw.clone(),
        key,
        lease,
    };
    // The stream yields the `registered` event, then waits until its lease is ended by a
    // later `PUT` or a `DELETE`; dropped earlier (the peer went away), its guard ends
    // the lease.
    let rest = stream::once(async move {
        let _guard = guard;
        let _ = end_rx.await;
        None
    })
    .filter_map(std::future::ready);
    let events = stream::once(std::future::ready(Some(Ok::<_, Infallible>(first))))
        .chain(rest)
        .filter_map(std::future::ready);
    let keep_alive = KeepAlive::new().interval(gw.limits.keep_alive);
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

/// Ends its lease when the stream that holds it is dropped.
struct StreamLease {
    gw: Shared,
    key: Key,
    lease: u64,
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.gw
            .instances
            .end_lease(&self.key, self.lease, "stream closed");
    }
}

/// Withdraws the instance once its deadline passes without a heartbeat moving it.
async fn expire(gw: Shared, key: Key, lease: u64) {
    loop {
        let deadline = {
            let by_key = gw.instances.lock();
            match by_key.get(&key) {
                Some(i) if i.lease == lease => i.deadline,
                _ => return,
            }
        };
        if deadline <= Instant::now() {
            return gw.instances.end_lease(&key, lease, "TTL expired");
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// `PUT /v1/services/{data_id}/instances/{id}/heartbeat`: renews a TTL.
pub(crate) async fn heartbeat(
    State(gw): State<Shared>,
    path: Result<Path<Key>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path.map_err(errors::path)?;
    let mut by_key = gw.instances.lock();
    let Some(i) = by_key.get_mut(&key) else {
        return Err(unknown(&key));
    };
    let Some(ttl) = i.ttl else {
        return Err(errors::conflict(format!(
            "instance {:?} of {:?} is kept by its stream, not by heartbeats",
            key.1, key.0
        )));
    };
    i.deadline = Instant::now() + ttl;
    let answer = Registered {
        data_id: &key.0,
        id: &key.1,
        ttl_ms: Some(ttl.as_millis() as u64),
    };
    Ok(Json(answer).into_response())
}

/// `DELETE /v1/services/{data_id}/instances/{id}`: unregisters; answers once the
/// session removed it (or after the acknowledgement timeout: it goes anyway).
pub(crate) async fn unregister(
    State(gw): State<Shared>,
    path: Result<Path<Key>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(key) = path.map_err(errors::path)?;
    let removed = gw.instances.lock().remove(&key);
    let Some(i) = removed else {
        return Err(unknown(&key));
    };
    info!(data_id = key.0, id = key.1, "gateway instance unregistered");
    let _ = tokio::time::timeout(gw.limits.ack_timeout, i.publication.unregister()).await;
    Ok(StatusCode::NO_CONTENT)
}

fn unknown(key: &Key) -> ApiError {
    ApiError::not_found(format!(
        "no instance {:?} of {:?} on this gateway (never registered, unregistered or expired)",
        key.1, key.0
    ))
}
