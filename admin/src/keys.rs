//! `GET /v1/keys/{data_id}` (query `instance_id`, `group`: the client library's defaults
//! when absent): one service as this process's nodes hold it. The slot leader's publishers
//! (register id, owning session, register version, payload), joined with the client
//! connection each came through where a session of this process holds it; every data node's
//! copy; and each session's subscribers with the version each acknowledged.
//!
//! `GET /v1/sessions/{id}/clients` (`id`: node id or node name): a session's open client
//! connections with what each holds.

use crate::error::ApiError;
use crate::json::{ProcessJson, PublisherJson, VersionJson};
use crate::server::Shared;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use roster_core::model::DataInfoId;
use roster_core::session::Identity;
use serde::{Deserialize, Serialize};

/// The client library's instance id and group when a client names none.
const DEFAULT_INSTANCE_ID: &str = "DEFAULT_INSTANCE_ID";
const DEFAULT_GROUP: &str = "DEFAULT_GROUP";

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/keys/{data_id}", get(key))
        .route("/v1/sessions/{id}/clients", get(clients))
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    instance_id: Option<String>,
    group: Option<String>,
}

#[derive(Debug, Serialize)]
struct Key {
    data_id: String,
    instance_id: String,
    group: String,
    slot: Option<u16>,
    /// The slot leader's list, if a data node of this process leads the slot.
    version: Option<VersionJson>,
    publishers: Vec<KeyPublisher>,
    /// Every data node of this process holding the key.
    data: Vec<DataCopy>,
    sessions: Vec<SessionHeld>,
}

#[derive(Debug, Serialize)]
struct KeyPublisher {
    #[serde(flatten)]
    publisher: PublisherJson,
    /// The session that owns it.
    session: ProcessJson,
    /// The client connection it came through, where that session is in this process.
    client: Option<String>,
}

#[derive(Debug, Serialize)]
struct DataCopy {
    node: String,
    leader: bool,
    version: VersionJson,
    publishers: usize,
}

#[derive(Debug, Serialize)]
struct SessionHeld {
    node: String,
    process: ProcessJson,
    cached: Option<VersionJson>,
    publishers: Vec<SessionPublisher>,
    subscribers: Vec<Subscriber>,
}

/// A client connection: the session's id of it and, where known, the client's address.
fn client(conn: roster_core::io::ConnId, address: Option<std::net::IpAddr>) -> String {
    match address {
        Some(a) => format!("{conn} {a}"),
        None => conn.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct SessionPublisher {
    client: String,
    #[serde(flatten)]
    publisher: PublisherJson,
}

#[derive(Debug, Serialize)]
struct Subscriber {
    client: String,
    register_ids: Vec<String>,
    acknowledged: Option<VersionJson>,
    push_in_flight: bool,
}

fn check(name: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 1024 {
        return Err(ApiError::bad_request(format!(
            "{name}: must be 1 to 1024 bytes"
        )));
    }
    Ok(())
}

async fn key(
    State(cx): State<Shared>,
    Path(data_id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Json<Key>, ApiError> {
    let instance_id = q.instance_id.unwrap_or_else(|| DEFAULT_INSTANCE_ID.into());
    let group = q.group.unwrap_or_else(|| DEFAULT_GROUP.into());
    check("data_id", &data_id)?;
    check("instance_id", &instance_id)?;
    check("group", &group)?;
    let id = DataInfoId::new(data_id.as_str(), instance_id.as_str(), group.as_str());
    let mut out = Key {
        data_id,
        instance_id,
        group,
        slot: None,
        version: None,
        publishers: Vec::new(),
        data: Vec::new(),
        sessions: Vec::new(),
    };
    let mut leader_list = None;
    for d in &cx.process.datas {
        let id = id.clone();
        let Ok(Some(view)) = d.ask(move |d, _| d.key_view(&id)).await else {
            continue;
        };
        out.slot = Some(view.slot.0);
        out.data.push(DataCopy {
            node: d.name.clone(),
            leader: view.leader,
            version: view.version.into(),
            publishers: view.publishers.len(),
        });
        if view.leader {
            leader_list = Some(view);
        }
    }
    for s in &cx.process.sessions {
        let id = id.clone();
        let Ok(Some((process, view))) = s
            .ask(move |s, _| Some((s.process(), s.key_view(&id)?)))
            .await
        else {
            continue;
        };
        out.slot = Some(view.slot.0);
        out.sessions.push(SessionHeld {
            node: s.name.clone(),
            process: process.into(),
            cached: view.cached.map(Into::into),
            publishers: view
                .publishers
                .iter()
                .map(|p| SessionPublisher {
                    client: client(p.conn, p.address),
                    publisher: (&p.publisher).into(),
                })
                .collect(),
            subscribers: view
                .subscribers
                .iter()
                .map(|s| Subscriber {
                    client: client(s.conn, s.address),
                    register_ids: s.register_ids.clone(),
                    acknowledged: s.acknowledged.map(Into::into),
                    push_in_flight: s.push_in_flight,
                })
                .collect(),
        });
    }
    if let Some(view) = leader_list {
        out.version = Some(view.version.into());
        out.publishers = view
            .publishers
            .iter()
            .map(|p| {
                let session = ProcessJson::from(p.owner);
                let client = out
                    .sessions
                    .iter()
                    .filter(|s| s.process == session)
                    .flat_map(|s| &s.publishers)
                    .find(|sp| sp.publisher.register_id == p.publisher.register_id.as_str())
                    .map(|sp| sp.client.clone());
                KeyPublisher {
                    publisher: (&p.publisher).into(),
                    session,
                    client,
                }
            })
            .collect();
    }
    if out.data.is_empty() && out.sessions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no node of this process holds {}",
            id
        )));
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize)]
struct Clients {
    node: String,
    process: ProcessJson,
    clients: Vec<ClientJson>,
    publishers: usize,
    subscriptions: usize,
}

#[derive(Debug, Serialize)]
struct ClientJson {
    client: String,
    address: Option<String>,
    publishers: usize,
    subscribed_keys: usize,
    registrations: usize,
    /// The access rules' name for it; absent for an anonymous client.
    identity: Option<String>,
}

async fn clients(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Clients>, ApiError> {
    for s in &cx.process.sessions {
        let (process, views) = s.ask(|s, _| (s.process(), s.clients())).await?;
        if s.name != id && process.node.0.to_string() != id {
            continue;
        }
        let clients: Vec<ClientJson> = views
            .iter()
            .map(|c| ClientJson {
                client: c.conn.to_string(),
                address: c.address.map(|a| a.to_string()),
                publishers: c.publishers,
                subscribed_keys: c.subscribed_keys,
                registrations: c.registrations,
                identity: match &c.identity {
                    Identity::Named(n) => Some(n.to_string()),
                    Identity::Anonymous => None,
                },
            })
            .collect();
        return Ok(Json(Clients {
            node: s.name.clone(),
            process: process.into(),
            publishers: clients.iter().map(|c| c.publishers).sum(),
            subscriptions: clients.iter().map(|c| c.subscribed_keys).sum(),
            clients,
        }));
    }
    Err(ApiError::not_found(format!(
        "this process runs no session {id}"
    )))
}
