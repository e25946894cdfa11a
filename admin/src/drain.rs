//! Draining a session and decommissioning a data node (docs/operations.md):
//!
//! - `POST /v1/sessions/{id}/drain`, `DELETE` it (undrain);
//! - `POST /v1/data/{id}/decommission`, `DELETE` it (take the node back);
//! - `GET /v1/ops`: the sessions draining and the data nodes leaving, with what each still
//!   holds (`empty`: safe to stop).
//!
//! `{id}` is the node id. A request goes to this process's meta node that leads; meta
//! replicates it (`roster_core::meta::MetaNode::request`), so it survives a meta leader
//! change. A process whose meta nodes do not lead answers 503 `not_leader` naming the
//! leader's meta address; a process without a meta node, 503 `no_meta`. A refused request
//! (unknown node, wrong role, the last data node) is a 4xx that changes nothing. `202`
//! answers a request: `changed` says whether it was proposed (false: the node was in that
//! state already); `GET /v1/ops` shows it once applied.

use crate::error::ApiError;
use crate::server::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_core::meta::{OpsRefusal, OpsReport, OpsRequest};
use roster_core::model::NodeId;
use serde::Serialize;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/sessions/{id}/drain", post(drain).delete(undrain))
        .route(
            "/v1/data/{id}/decommission",
            post(decommission).delete(recommission),
        )
        .route("/v1/ops", get(ops))
}

/// What a request did.
#[derive(Debug, Serialize)]
struct Accepted {
    /// The meta node that took it.
    meta: String,
    node: u64,
    /// `drain`, `undrain`, `decommission`, `recommission`.
    request: &'static str,
    /// Whether it was proposed (false: the node was in that state already).
    changed: bool,
}

/// The operator's requests as meta applied them.
#[derive(Debug, Serialize)]
pub(crate) struct OpsJson {
    /// Session node ids being drained.
    pub draining: Vec<u64>,
    /// Data nodes being decommissioned.
    pub decommissioning: Vec<DecommissionJson>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DecommissionJson {
    node: u64,
    /// Slots it still leads in the installed table.
    leaders: usize,
    /// Slot copies it still holds.
    replicas: usize,
    /// It holds none: safe to stop.
    empty: bool,
}

impl From<OpsReport> for OpsJson {
    fn from(r: OpsReport) -> Self {
        OpsJson {
            draining: r.draining.iter().map(|n| n.0).collect(),
            decommissioning: r
                .decommissions
                .iter()
                .map(|d| DecommissionJson {
                    node: d.node.0,
                    leaders: d.leaders,
                    replicas: d.replicas,
                    empty: d.is_empty(),
                })
                .collect(),
        }
    }
}

fn node_id(id: &str) -> Result<NodeId, ApiError> {
    id.parse::<u64>()
        .map(NodeId)
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a node id (an integer)")))
}

fn refusal(r: OpsRefusal) -> ApiError {
    let message = r.to_string();
    match r {
        OpsRefusal::NotLeader { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_leader", message)
        }
        OpsRefusal::UnknownNode(_) => ApiError::not_found(message),
        OpsRefusal::WrongRole { .. } => ApiError::bad_request(message),
        OpsRefusal::LastDataNode(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
        OpsRefusal::Dropped => ApiError::unavailable(message),
    }
}

/// Hands `request` to the first meta node of this process that takes it.
async fn request(
    cx: &Shared,
    request: OpsRequest,
    name: &'static str,
    node: NodeId,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let mut last = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_meta",
        "this process runs no meta node; ask a meta process",
    );
    for m in &cx.process.metas {
        match m.ask(move |m, _| m.request(request)).await? {
            Ok(changed) => {
                let accepted = Accepted {
                    meta: m.name.clone(),
                    node: node.0,
                    request: name,
                    changed,
                };
                return Ok((StatusCode::ACCEPTED, Json(accepted)));
            }
            // Another meta node of this process may lead.
            Err(r @ OpsRefusal::NotLeader { .. }) => last = refusal(r),
            Err(r) => return Err(refusal(r)),
        }
    }
    Err(last)
}

async fn drain(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let node = node_id(&id)?;
    request(&cx, OpsRequest::Drain(node), "drain", node).await
}

async fn undrain(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let node = node_id(&id)?;
    request(&cx, OpsRequest::Undrain(node), "undrain", node).await
}

async fn decommission(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let node = node_id(&id)?;
    request(&cx, OpsRequest::Decommission(node), "decommission", node).await
}

async fn recommission(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let node = node_id(&id)?;
    request(&cx, OpsRequest::Recommission(node), "recommission", node).await
}

/// From this process's leading meta node if it has one, else any of its meta nodes.
pub(crate) async fn report(cx: &Shared) -> Option<OpsJson> {
    let mut any = None;
    for m in &cx.process.metas {
        let Ok((leading, report)) = m.ask(|m, _| (m.is_leader(), m.ops_report())).await else {
            continue;
        };
        if leading {
            return Some(report.into());
        }
        any.get_or_insert(report);
    }
    any.map(Into::into)
}

async fn ops(State(cx): State<Shared>) -> Result<Json<OpsJson>, ApiError> {
    report(&cx).await.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_meta",
            "this process runs no meta node that answered; ask a meta process",
        )
    })
}
