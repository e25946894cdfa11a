//! `GET /healthz`: the process runs and its admin server answers. `GET /readyz`: every node
//! of the process is in service (200), else 503 with the nodes that are not and why:
//! - meta: the group has a leader this node knows of;
//! - data: it holds a table that routes every slot, and that table gives it a share of the
//!   slots (a node that joined but was not yet given any serves nothing);
//! - session: it holds a table that routes every slot (it can serve every key).
//!
//! Readiness is read from each node inside its loop, so it tracks the node now, unlike the
//! start-up flag that is raised once.

use crate::error::ApiError;
use crate::server::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use roster_core::slot::SlotTable;
use roster_shell::table_complete;
use serde::Serialize;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// One node's readiness.
#[derive(Debug, Serialize)]
pub(crate) struct NodeReadiness {
    name: String,
    role: &'static str,
    ready: bool,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    nodes: Vec<NodeReadiness>,
}

fn node(name: &str, role: &'static str, r: Result<Option<String>, ApiError>) -> NodeReadiness {
    let reason = r.unwrap_or_else(|e| Some(e.message));
    NodeReadiness {
        name: name.to_string(),
        role,
        ready: reason.is_none(),
        reason,
    }
}

fn table_reason(t: &SlotTable) -> Option<String> {
    (!table_complete(t)).then(|| {
        format!(
            "its slot table (epoch {}) does not route every slot yet",
            t.epoch().0
        )
    })
}

async fn readyz(State(cx): State<Shared>) -> Response {
    let mut nodes = Vec::new();
    for p in &cx.process.metas {
        let r = p
            .ask(|m, _| {
                m.leader_id()
                    .is_none()
                    .then(|| "the meta group has no leader it knows of".to_string())
            })
            .await;
        nodes.push(node(&p.name, "meta", r));
    }
    for p in &cx.process.datas {
        let r = p
            .ask(|d, _| {
                let me = d.process();
                table_reason(d.table()).or_else(|| {
                    let held = d.table().slots().any(|(_, s)| s.role_of(me).is_some());
                    (!held).then(|| "the slot table gives it no slot yet".to_string())
                })
            })
            .await;
        nodes.push(node(&p.name, "data", r));
    }
    for p in &cx.process.sessions {
        let r = p.ask(|s, _| table_reason(s.table())).await;
        nodes.push(node(&p.name, "session", r));
    }
    let ready = nodes.iter().all(|n| n.ready);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, nodes })).into_response()
}
