//! Reading lists: `GET /v1/services/{data_id}` (the current list; with `?index=`, a
//! blocking query that answers once the version differs from `index` or `wait` passes)
//! and `GET /v1/services/{data_id}/watch` (Server-Sent Events, one `list` event per new
//! list, in version order; a list superseded before it was sent is skipped, as the
//! client's subscriptions skip it). Blocking queries and watches hold a permit each
//! (`max_waiters`; 429 beyond).

use crate::errors::{self, ApiError};
use crate::lists::{List, Newest};
use crate::server::Shared;
use crate::version;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use roster_core::model::DatumVersion;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// The header every list answer carries its version in (as Consul's `X-Consul-Index`).
pub(crate) const INDEX_HEADER: HeaderName = HeaderName::from_static("x-roster-index");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    index: Option<String>,
    wait: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchQuery {
    index: Option<String>,
}

fn parse_index(s: &str) -> Result<DatumVersion, ApiError> {
    version::parse(s)
        .ok_or_else(|| ApiError::bad_request(format!("index: {s:?} is not a version (EPOCH.SEQ)")))
}

/// A wait as Consul writes it: a number and a unit (`ms`, `s`, `m`, `h`); a bare number
/// is seconds.
fn parse_wait(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

fn permit(gw: &Shared) -> Result<OwnedSemaphorePermit, ApiError> {
    gw.waiters
        .clone()
        .try_acquire_owned()
        .map_err(|_| errors::too_many_waiters(gw.limits.max_waiters))
}

/// Waits until `newest` holds a list that `fits`, at most `wait`; the newest list then
/// (which may not fit), or `None` if there is none at all.
async fn wait_for(
    newest: &mut Newest,
    wait: Duration,
    fits: impl Fn(&List) -> bool,
) -> Option<Arc<List>> {
    let found = {
        let wait_for = newest.wait_for(|l| l.as_ref().is_some_and(|l| fits(l)));
        match tokio::time::timeout(wait, wait_for).await {
            Ok(Ok(l)) => Some(l.clone()),
            _ => None,
        }
    };
    found.unwrap_or_else(|| newest.borrow().clone())
}

fn answer(list: &List) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&version::format(list.version)) {
        headers.insert(INDEX_HEADER, v);
    }
    (headers, Body::from(list.json.clone())).into_response()
}

fn no_list(data_id: &str) -> ApiError {
    ApiError::unavailable(format!(
        "no list of {data_id:?} arrived in time (is the cluster reachable?)"
    ))
}

/// `GET /v1/services/{data_id}`.
pub(crate) async fn list(
    State(gw): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(data_id) = path.map_err(errors::path)?;
    let Query(q) = query.map_err(errors::query)?;
    let index = q.index.as_deref().map(parse_index).transpose()?;
    let wait = match q.wait.as_deref() {
        None => gw.limits.wait_default,
        Some(w) => parse_wait(w).ok_or_else(|| {
            ApiError::bad_request(format!("wait: {w:?} is not a duration (30s, 500ms, 5m)"))
        })?,
    }
    .min(gw.limits.wait_max);
    roster_client::parse_key(&data_id).map_err(errors::client)?;
    let mut newest = gw.topics.newest(&gw.client, &data_id)?;
    let found = match index {
        None => wait_for(&mut newest, gw.limits.first_list_timeout, |_| true).await,
        Some(index) => {
            let _permit = permit(&gw)?;
            // Before the first list, the wait covers its arrival too.
            wait_for(&mut newest, wait, |l| l.version != index).await
        }
    };
    found.map(|l| answer(&l)).ok_or_else(|| no_list(&data_id))
}

/// `GET /v1/services/{data_id}/watch`: an SSE stream of `list` events, each with the
/// list's version as its `id`.
pub(crate) async fn watch(
    State(gw): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<WatchQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(data_id) = path.map_err(errors::path)?;
    let Query(q) = query.map_err(errors::query)?;
    // A reconnecting EventSource sends the last id it saw: resume after it.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let after = q
        .index
        .or(last_event_id)
        .as_deref()
        .map(parse_index)
        .transpose()?;
    roster_client::parse_key(&data_id).map_err(errors::client)?;
    let permit = permit(&gw)?;
    let newest = gw.topics.newest(&gw.client, &data_id)?;
    let events = stream::unfold(
        (newest, after, permit),
        |(mut newest, after, permit)| async move {
            let next = newest
                .wait_for(|l| {
                    l.as_ref()
                        .is_some_and(|l| after.is_none_or(|a| l.version > a))
                })
                .await
                .ok()?
                .clone()?;
            let event = Event::default()
                .event("list")
                .id(version::format(next.version))
                .data(String::from_utf8_lossy(&next.json));
            Some((
                Ok::<_, Infallible>(event),
                (newest, Some(next.version), permit),
            ))
        },
    );
    let keep_alive = KeepAlive::new().interval(gw.limits.keep_alive.max(Duration::from_secs(15)));
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_consul_writes_them() {
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_wait("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_wait("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "1x", "-1s", "1.5s", "99999999999999999999h"] {
            assert_eq!(parse_wait(bad), None, "{bad:?}");
        }
    }
}
