//! `GET /v1/cluster`: what the cluster looks like from this process. From a meta node (the
//! leader if the process runs it): every member with its role, address, incarnation and
//! the time left on its lease (the leader times leases), the meta leader and term, and the
//! slot table. A process without a meta node answers from one of its data or session
//! nodes: the slot table they hold, without members. Either way, the process's own nodes
//! with what each holds.

use crate::error::ApiError;
use crate::json::{ProcessJson, role};
use crate::server::Shared;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use roster_core::slot::SlotTable;
use serde::Serialize;

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/v1/cluster", get(cluster))
}

#[derive(Debug, Serialize)]
struct Cluster {
    /// Which node answered for the cluster.
    source: String,
    meta: Option<MetaJson>,
    members: Option<Vec<MemberJson>>,
    table: TableJson,
    /// Draining sessions and leaving data nodes (from a meta node only).
    ops: Option<crate::drain::OpsJson>,
    /// This process's nodes.
    nodes: Vec<LocalNode>,
}

#[derive(Debug, Serialize)]
struct MetaJson {
    leader: Option<u64>,
    term: u64,
    /// Processes whose lease ran out but are kept (protection mode).
    protected: Vec<ProcessJson>,
}

#[derive(Debug, Serialize)]
struct MemberJson {
    process: ProcessJson,
    role: &'static str,
    address: String,
    /// Milliseconds left on its lease, if the answering node is the leader.
    lease_remaining_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TableJson {
    epoch: u64,
    slots: Vec<SlotJson>,
}

#[derive(Debug, Serialize)]
struct SlotJson {
    slot: u16,
    leader: Option<ProcessJson>,
    leader_epoch: u64,
    followers: Vec<ProcessJson>,
    /// `led`, or `leaderless` when no data node serves it.
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct LocalNode {
    name: String,
    role: &'static str,
    process: Option<ProcessJson>,
    /// Meta: its consensus id.
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_id: Option<u64>,
    table_epoch: u64,
    /// Data: slots it leads and follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    leads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    follows: Option<usize>,
    /// Data: live publishers it holds (led and followed slots).
    #[serde(skip_serializing_if = "Option::is_none")]
    publishers: Option<usize>,
    /// Session: open client connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    clients: Option<usize>,
    /// Session: whether meta drains it.
    #[serde(skip_serializing_if = "Option::is_none")]
    draining: Option<bool>,
}

pub(crate) fn table_json(t: &SlotTable) -> TableJson {
    TableJson {
        epoch: t.epoch().0,
        slots: t
            .slots()
            .map(|(id, s)| SlotJson {
                slot: id.0,
                leader: s.leader.map(Into::into),
                leader_epoch: s.leader_epoch.0,
                followers: s.followers.iter().map(|&p| p.into()).collect(),
                status: if s.leader.is_some() {
                    "led"
                } else {
                    "leaderless"
                },
            })
            .collect(),
    }
}

async fn cluster(State(cx): State<Shared>) -> Result<Json<Cluster>, ApiError> {
    let p = &cx.process;
    let mut nodes = Vec::new();
    let mut from_meta = None;
    for m in &p.metas {
        let Ok((node, view, leading)) = m
            .ask(|m, now| {
                let members: Vec<MemberJson> = m
                    .state()
                    .members
                    .iter()
                    .map(|mem| MemberJson {
                        process: mem.process.into(),
                        role: role(mem.role),
                        address: mem.address.to_string(),
                        lease_remaining_ms: m.lease_deadline(mem.process).map(|d| {
                            u64::try_from(d.saturating_since(now).as_millis()).unwrap_or(u64::MAX)
                        }),
                    })
                    .collect();
                let meta = MetaJson {
                    leader: m.leader_id(),
                    term: m.term(),
                    protected: m.protection().iter().map(|&p| p.into()).collect(),
                };
                let node = LocalNode {
                    name: String::new(),
                    role: "meta",
                    process: None,
                    meta_id: Some(m.id()),
                    table_epoch: m.state().table.epoch().0,
                    leads: None,
                    follows: None,
                    publishers: None,
                    clients: None,
                    draining: None,
                };
                let table = table_json(&m.state().table);
                (node, (meta, members, table), m.is_leader())
            })
            .await
        else {
            continue;
        };
        nodes.push(LocalNode {
            name: m.name.clone(),
            ..node
        });
        if from_meta.is_none() || leading {
            from_meta = Some((m.name.clone(), view));
        }
    }
    let mut from_node = None;
    for d in &p.datas {
        let Ok((node, table)) = d
            .ask(|d, _| {
                let me = d.process();
                let roles = d.table().slots().filter_map(|(_, s)| s.role_of(me));
                let (mut leads, mut follows) = (0, 0);
                for r in roles {
                    match r {
                        roster_core::slot::ReplicaRole::Leader => leads += 1,
                        roster_core::slot::ReplicaRole::Follower => follows += 1,
                    }
                }
                let node = LocalNode {
                    name: String::new(),
                    role: "data",
                    process: Some(me.into()),
                    meta_id: None,
                    table_epoch: d.table().epoch().0,
                    leads: Some(leads),
                    follows: Some(follows),
                    publishers: Some(d.publisher_count()),
                    clients: None,
                    draining: None,
                };
                (node, table_json(d.table()))
            })
            .await
        else {
            continue;
        };
        nodes.push(LocalNode {
            name: d.name.clone(),
            ..node
        });
        from_node.get_or_insert((d.name.clone(), table));
    }
    for s in &p.sessions {
        let Ok((node, table)) = s
            .ask(|s, _| {
                let node = LocalNode {
                    name: String::new(),
                    role: "session",
                    process: Some(s.process().into()),
                    meta_id: None,
                    table_epoch: s.table().epoch().0,
                    leads: None,
                    follows: None,
                    publishers: None,
                    clients: Some(s.clients().len()),
                    draining: Some(s.is_draining()),
                };
                (node, table_json(s.table()))
            })
            .await
        else {
            continue;
        };
        nodes.push(LocalNode {
            name: s.name.clone(),
            ..node
        });
        from_node.get_or_insert((s.name.clone(), table));
    }
    let cluster = match (from_meta, from_node) {
        (Some((source, (meta, members, table))), _) => Cluster {
            source,
            meta: Some(meta),
            members: Some(members),
            table,
            ops: crate::drain::report(&cx).await,
            nodes,
        },
        (None, Some((source, table))) => Cluster {
            source,
            meta: None,
            members: None,
            table,
            ops: None,
            nodes,
        },
        (None, None) => return Err(ApiError::unavailable("no node of this process answered")),
    };
    Ok(Json(cluster))
}
