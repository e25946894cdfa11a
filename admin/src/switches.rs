//! `GET /v1/switches` and `PUT /v1/switches`: the operator switches (docs/operations.md,
//! "Switches").
//!
//! `GET` answers the set in force and its version: meta's replicated set when the process
//! runs a meta node, else the set its first session (or data node) applied, with `source`
//! naming the node that answered.
//!
//! `PUT` changes the set, on a process that runs a meta node (any meta node: a follower
//! forwards to the leader). The body is either the whole desired set, every field given:
//!
//! ```json
//! {"pushes_stopped": false, "push_stopped_data_ids": ["a"], "clients_off": [],
//!  "blacklisted_data_ids": []}
//! ```
//!
//! or a patch, a list of switches to turn on or off, applied in order to the set in force
//! when it commits (so a patch never undoes a concurrent change to another switch):
//!
//! ```json
//! {"changes": [{"switch": "stop-push", "data_id": "a", "on": true},
//!              {"switch": "client-off", "address": "10.0.0.7", "on": true},
//!              {"switch": "blacklist", "data_id": "b", "on": false},
//!              {"switch": "stop-all-pushes", "on": false}]}
//! ```
//!
//! The answer is the set once the meta node holds the change (committed), at most
//! [`COMMIT_WAIT`] later. A malformed body or an invalid entry is a 400 and changes nothing;
//! no meta leader, or no commit within the wait, is a 503 (repeating a change is harmless).

use crate::error::{ApiError, parse_json};
use crate::process::Process;
use crate::server::Shared;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use roster_core::meta::SwitchOutcome;
use roster_core::model::{SwitchChange, SwitchError, Switches, Text};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// How long `PUT` waits for its change to commit.
pub const COMMIT_WAIT: Duration = Duration::from_secs(5);
/// How often it looks.
const POLL: Duration = Duration::from_millis(20);

/// The endpoints.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/v1/switches", get(get_switches).put(put_switches))
}

/// A set of switches as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchesJson {
    /// Grows with every change; 0: never set.
    pub version: u64,
    /// No push leaves any session.
    pub pushes_stopped: bool,
    /// No push of these data ids leaves any session.
    pub push_stopped_data_ids: Vec<String>,
    /// Client IP addresses refused by every session.
    pub clients_off: Vec<String>,
    /// Data ids no client may register.
    pub blacklisted_data_ids: Vec<String>,
    /// The node that answered.
    pub source: String,
    /// The version each session and data node of this process applied (`null`: it did not
    /// answer): a node behind the set in force has not heard of the change yet.
    pub applied: Vec<AppliedJson>,
}

/// What one node applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedJson {
    /// The node.
    pub node: String,
    /// The version of the switches it applies.
    pub version: Option<u64>,
}

/// The version every session and data node of the process applies.
async fn applied(p: &Process) -> Vec<AppliedJson> {
    let mut out = Vec::new();
    for s in &p.sessions {
        let version = s.ask(|n, _| n.switches().version).await.ok();
        out.push(AppliedJson {
            node: s.name.clone(),
            version,
        });
    }
    for d in &p.datas {
        let version = d.ask(|n, _| n.switches().version).await.ok();
        out.push(AppliedJson {
            node: d.name.clone(),
            version,
        });
    }
    out
}

impl SwitchesJson {
    fn new(s: &Switches, source: &str, applied: Vec<AppliedJson>) -> Self {
        let list =
            |set: &std::collections::BTreeSet<Text>| set.iter().map(|t| t.to_string()).collect();
        SwitchesJson {
            version: s.version,
            pushes_stopped: s.pushes_stopped,
            push_stopped_data_ids: list(&s.push_stopped_data_ids),
            clients_off: list(&s.clients_off),
            blacklisted_data_ids: list(&s.blacklisted_data_ids),
            source: source.to_string(),
            applied,
        }
    }
}

/// The whole desired set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WholeSet {
    pushes_stopped: bool,
    push_stopped_data_ids: Vec<String>,
    clients_off: Vec<String>,
    blacklisted_data_ids: Vec<String>,
}

/// A patch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    changes: Vec<ChangeJson>,
}

/// One switch turned on or off.
#[derive(Debug, Deserialize)]
#[serde(tag = "switch", rename_all = "kebab-case", deny_unknown_fields)]
enum ChangeJson {
    StopAllPushes { on: bool },
    StopPush { data_id: String, on: bool },
    ClientOff { address: String, on: bool },
    Blacklist { data_id: String, on: bool },
}

impl From<ChangeJson> for SwitchChange {
    fn from(c: ChangeJson) -> Self {
        match c {
            ChangeJson::StopAllPushes { on } => SwitchChange::StopAllPushes { on },
            ChangeJson::StopPush { data_id, on } => SwitchChange::StopPush {
                data_id: data_id.into(),
                on,
            },
            ChangeJson::ClientOff { address, on } => SwitchChange::ClientOff {
                address: address.into(),
                on,
            },
            ChangeJson::Blacklist { data_id, on } => SwitchChange::Blacklist {
                data_id: data_id.into(),
                on,
            },
        }
    }
}

/// What a `PUT` body asks for.
#[derive(Debug)]
enum Request {
    Whole(Vec<SwitchChange>),
    Patch(Vec<SwitchChange>),
}

/// Parses a `PUT` body: a patch if it has `changes`, else the whole set.
fn parse(body: &[u8]) -> Result<Request, ApiError> {
    let value: serde_json::Value = parse_json(body)?;
    if value.get("changes").is_some() {
        let p: Patch = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("body (a patch): {e}")))?;
        return Ok(Request::Patch(
            p.changes.into_iter().map(Into::into).collect(),
        ));
    }
    let w: WholeSet = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("body (the whole set): {e}")))?;
    let mut on = vec![SwitchChange::StopAllPushes {
        on: w.pushes_stopped,
    }];
    let texts = |v: Vec<String>| v.into_iter().map(Text::from);
    on.extend(
        texts(w.push_stopped_data_ids).map(|data_id| SwitchChange::StopPush { data_id, on: true }),
    );
    on.extend(texts(w.clients_off).map(|address| SwitchChange::ClientOff { address, on: true }));
    on.extend(
        texts(w.blacklisted_data_ids).map(|data_id| SwitchChange::Blacklist { data_id, on: true }),
    );
    Ok(Request::Whole(on))
}

/// The changes that carry out `request` on `current`, checked and in canonical form.
fn changes(current: &Switches, request: Request) -> Result<Vec<SwitchChange>, SwitchError> {
    match request {
        Request::Patch(changes) => current.admit(changes),
        Request::Whole(on) => {
            let mut desired = Switches::default();
            let on = desired.admit(on)?;
            desired.apply(&on);
            Ok(current.changes_to(&desired))
        }
    }
}

async fn get_switches(State(cx): State<Shared>) -> Result<Json<SwitchesJson>, ApiError> {
    let p = &cx.process;
    if let Some(meta) = p.metas.first() {
        let name = meta.name.clone();
        let s = meta.ask(|m, _| m.state().switches.clone()).await?;
        return Ok(Json(SwitchesJson::new(&s, &name, applied(p).await)));
    }
    if let Some(session) = p.sessions.first() {
        let name = session.name.clone();
        let s = session.ask(|n, _| n.switches().clone()).await?;
        return Ok(Json(SwitchesJson::new(&s, &name, applied(p).await)));
    }
    if let Some(data) = p.datas.first() {
        let name = data.name.clone();
        let s = data.ask(|n, _| n.switches().clone()).await?;
        return Ok(Json(SwitchesJson::new(&s, &name, applied(p).await)));
    }
    Err(ApiError::not_found("this process runs no node"))
}

async fn put_switches(
    State(cx): State<Shared>,
    body: Bytes,
) -> Result<Json<SwitchesJson>, ApiError> {
    let request = parse(&body)?;
    let p = &cx.process;
    let Some(meta) = p.metas.first() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_meta",
            "switches are changed through a meta node: send this to a meta process's admin address",
        ));
    };
    let name = meta.name.clone();
    // Checked, proposed (or found in force) in one turn of the node's loop.
    let asked = meta
        .ask(move |m, _| {
            let changes = changes(&m.state().switches, request)?;
            let outcome = m.change_switches(changes.clone())?;
            Ok::<_, SwitchError>((changes, outcome))
        })
        .await?;
    let (changes, outcome) = asked.map_err(|e| {
        if e.0.contains("no meta leader") {
            ApiError::unavailable(e.0)
        } else {
            ApiError::bad_request(e.0)
        }
    })?;
    if let SwitchOutcome::InForce(_) = outcome {
        let s = meta.ask(|m, _| m.state().switches.clone()).await?;
        return Ok(Json(SwitchesJson::new(&s, &name, applied(p).await)));
    }
    let deadline = Instant::now() + COMMIT_WAIT;
    loop {
        let wanted = changes.clone();
        let s = meta
            .ask(move |m, _| {
                let s = &m.state().switches;
                s.satisfies(&wanted).then(|| s.clone())
            })
            .await?;
        if let Some(s) = s {
            return Ok(Json(SwitchesJson::new(&s, &name, applied(p).await)));
        }
        if Instant::now() >= deadline {
            return Err(ApiError::unavailable(format!(
                "the change was proposed but {name} did not see it commit within {COMMIT_WAIT:?} \
                 (is there a meta leader?); repeating it is harmless"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Result<Request, ApiError> {
        parse(body.as_bytes())
    }

    #[test]
    fn a_whole_set_replaces_and_a_patch_changes_only_what_it_names() {
        let mut current = Switches::default();
        current.apply(&[
            SwitchChange::Blacklist {
                data_id: "old".into(),
                on: true,
            },
            SwitchChange::StopAllPushes { on: true },
        ]);
        let whole = parsed(
            r#"{"pushes_stopped": false, "push_stopped_data_ids": ["a"],
                "clients_off": ["::ffff:10.0.0.7"], "blacklisted_data_ids": []}"#,
        )
        .unwrap();
        let mut next = current.clone();
        next.apply(&changes(&current, whole).unwrap());
        assert!(!next.pushes_stopped && next.blacklisted_data_ids.is_empty());
        assert!(next.holds_pushes("a") && next.clients_off.contains("10.0.0.7"));

        let patch = parsed(r#"{"changes": [{"switch": "blacklist", "data_id": "b", "on": true}]}"#)
            .unwrap();
        let mut patched = current.clone();
        patched.apply(&changes(&current, patch).unwrap());
        assert!(
            patched.pushes_stopped && patched.is_blacklisted("old") && patched.is_blacklisted("b")
        );
    }

    #[test]
    fn malformed_bodies_are_refused_with_what_is_wrong() {
        let refused = |body: &str| match parsed(body) {
            Err(e) => e,
            Ok(r) => match changes(&Switches::default(), r) {
                Err(e) => ApiError::bad_request(e.0),
                Ok(c) => panic!("{body} accepted as {c:?}"),
            },
        };
        for (body, says) in [
            ("not json", "body"),
            (r#"{"pushes_stopped": true}"#, "missing field"),
            (
                r#"{"changes": [{"switch": "nope", "on": true}]}"#,
                "unknown variant",
            ),
            (
                r#"{"changes": [{"switch": "stop-push", "on": true}]}"#,
                "data_id",
            ),
            (
                r#"{"changes": [{"switch": "client-off", "address": "1.2.3.4:5", "on": true}]}"#,
                "not an IP",
            ),
            (r#"{"changes": [], "extra": 1}"#, "unknown field"),
        ] {
            let e = refused(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(e.message.contains(says), "{body}: {}", e.message);
        }
    }
}
