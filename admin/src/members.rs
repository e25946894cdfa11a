//! The meta group's members, and changing its voters at run time (the core's `voters`
//! module plans and checks every change):
//!
//! - `GET /v1/meta/members`: the members (id, address, voter or learner, which leads; on the
//!   leader how far each matches the log and whether it is reachable), the change under way
//!   and how the last one ended.
//! - `POST /v1/meta/members` `{"id", "address"}`: add a voter.
//! - `DELETE /v1/meta/members/{id}`: remove one.
//! - `POST /v1/meta/members/{id}/replace` `{"id", "address"}`: replace `{id}` by a new one.
//!
//! A change is asked of the process's meta node, which must lead; it answers 202 once the
//! change is accepted, and carries it out step by step (`GET` shows it under way). A refusal
//! is a 4xx JSON error that changes nothing: `not_leader` (409, naming the leader),
//! `busy`, `exists`, `would_lose_quorum`, `last_voter` (409), `not_found` (404),
//! `bad_request` (400).

use crate::error::{ApiError, parse_json};
use crate::server::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_core::meta::{MetaMember, VoterChange, VoterChangeError, VoterOutcome, VoterRole};
use roster_core::model::Text;
use serde::{Deserialize, Serialize};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/meta/members", get(members).post(add))
        .route("/v1/meta/members/{id}", axum::routing::delete(remove))
        .route("/v1/meta/members/{id}/replace", post(replace))
}

#[derive(Debug, Serialize)]
struct Members {
    /// The answering meta node's id.
    node: u64,
    leader: Option<u64>,
    term: u64,
    members: Vec<MemberJson>,
    /// The change the answering node (if it leads) carries out.
    change: Option<String>,
    /// How the last change the answering node carried out ended.
    last_change: Option<OutcomeJson>,
}

#[derive(Debug, Serialize)]
struct MemberJson {
    id: u64,
    address: Option<String>,
    /// `voter` or `learner`.
    role: &'static str,
    leader: bool,
    /// Leader only: the log index it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    matched: Option<u64>,
    /// Leader only: heard from within the last election timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    reachable: Option<bool>,
}

#[derive(Debug, Serialize)]
struct OutcomeJson {
    change: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Accepted {
    accepted: String,
}

/// The body of an add or a replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    id: u64,
    address: String,
}

impl From<MetaMember> for MemberJson {
    fn from(m: MetaMember) -> Self {
        MemberJson {
            id: m.id,
            address: m.address.map(|a| a.to_string()),
            role: match m.role {
                VoterRole::Voter => "voter",
                VoterRole::Learner => "learner",
            },
            leader: m.leader,
            matched: m.matched,
            reachable: m.reachable,
        }
    }
}

impl From<&VoterOutcome> for OutcomeJson {
    fn from(o: &VoterOutcome) -> Self {
        OutcomeJson {
            change: o.change.to_string(),
            ok: o.result.is_ok(),
            error: o.result.clone().err(),
        }
    }
}

fn no_meta() -> ApiError {
    ApiError::not_found("this process runs no meta node; ask a `roster meta` process")
}

async fn members(State(cx): State<Shared>) -> Result<Json<Members>, ApiError> {
    let meta = cx.process.metas.first().ok_or_else(no_meta)?;
    let answer = meta
        .ask(|m, _| Members {
            node: m.id(),
            leader: m.leader_id(),
            term: m.term(),
            members: m.meta_members().into_iter().map(Into::into).collect(),
            change: m.voter_change().map(ToString::to_string),
            last_change: m.voter_outcome().map(Into::into),
        })
        .await?;
    Ok(Json(answer))
}

/// A refusal as an API error; the leader's id and address ride in the message.
fn refused(e: VoterChangeError, leader_address: Option<Text>) -> ApiError {
    let conflict = |code| ApiError::new(StatusCode::CONFLICT, code, e.to_string());
    match &e {
        VoterChangeError::NotLeader { .. } => {
            let at = leader_address.map_or(String::new(), |a| format!(" (at {a})"));
            ApiError::new(StatusCode::CONFLICT, "not_leader", format!("{e}{at}"))
        }
        VoterChangeError::Busy { .. } => conflict("busy"),
        VoterChangeError::Exists { .. } => conflict("exists"),
        VoterChangeError::LastVoter => conflict("last_voter"),
        VoterChangeError::NoQuorum { .. } => conflict("would_lose_quorum"),
        VoterChangeError::Unknown { .. } => ApiError::not_found(e.to_string()),
        VoterChangeError::Invalid(_) => ApiError::bad_request(e.to_string()),
    }
}

/// Asks the process's meta node to make `change`.
async fn ask_change(
    cx: &Shared,
    change: VoterChange,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let meta = cx.process.metas.first().ok_or_else(no_meta)?;
    let said = change.to_string();
    let answer = meta
        .ask(move |m, now| {
            m.change_voters(now, change).map_err(|e| {
                let leader = match e {
                    VoterChangeError::NotLeader { leader: Some(l) } => m
                        .meta_members()
                        .into_iter()
                        .find(|x| x.id == l)
                        .and_then(|x| x.address),
                    _ => None,
                };
                (e, leader)
            })
        })
        .await?;
    answer.map_err(|(e, leader)| refused(e, leader))?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: said })))
}

async fn add(
    State(cx): State<Shared>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let new: NewMember = parse_json(&body)?;
    let change = VoterChange::Add {
        id: new.id,
        address: Text::from(new.address),
    };
    ask_change(&cx, change).await
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a meta id (a number)")))
}

async fn remove(
    State(cx): State<Shared>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let id = parse_id(&id)?;
    ask_change(&cx, VoterChange::Remove { id }).await
}

async fn replace(
    State(cx): State<Shared>,
    Path(old): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let old = parse_id(&old)?;
    let new: NewMember = parse_json(&body)?;
    let change = VoterChange::Replace {
        old,
        id: new.id,
        address: Text::from(new.address),
    };
    ask_change(&cx, change).await
}
