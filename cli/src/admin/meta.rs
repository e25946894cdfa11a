//! `roster admin meta list|add|remove|replace`: the meta group's voters (docs/operations.md,
//! "Changing the meta group") over `/v1/meta/members`. Changes go to the meta leader's
//! process (a follower answers `not_leader` naming the leader); they are accepted at once
//! and carried out one step at a time, so `list` shows the change under way and how the
//! last one ended.

use super::render::{Table, cell, json, line};
use super::{Api, ApiError, Command, Format};
use serde_json::{Value, json};
use std::io::Write;
use ureq::http::Method;

/// `roster admin meta`.
#[derive(Debug, clap::Args)]
pub struct Meta {
    #[command(subcommand)]
    command: MetaCmd,
}

#[derive(Debug, clap::Subcommand)]
enum MetaCmd {
    /// The group's members (voters and learners), its leader and term, the change under way.
    List,
    /// Adds voter ID at ADDRESS (its raft address; start it with `roster meta --join`).
    Add { id: u64, address: String },
    /// Removes voter ID (refused if the remaining voters would lose their quorum).
    Remove { id: u64 },
    /// Replaces voter OLD by a new voter ID at ADDRESS.
    Replace { old: u64, id: u64, address: String },
}

impl Command for Meta {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let answer = match &self.command {
            MetaCmd::List => api.get("/v1/meta/members")?,
            MetaCmd::Add { id, address } => api.send(
                Method::POST,
                "/v1/meta/members",
                &json!({ "id": id, "address": address }),
            )?,
            MetaCmd::Remove { id } => api.send(
                Method::DELETE,
                &format!("/v1/meta/members/{id}"),
                &json!({}),
            )?,
            MetaCmd::Replace { old, id, address } => api.send(
                Method::POST,
                &format!("/v1/meta/members/{old}/replace"),
                &json!({ "id": id, "address": address }),
            )?,
        };
        match (format, &self.command) {
            (Format::Json, _) => json(out, &answer),
            (Format::Text, MetaCmd::List) => list(&answer, out),
            (Format::Text, _) => line(out, &format!("accepted: {}", cell(answer.get("accepted")))),
        }
    }
}

fn list(answer: &Value, out: &mut dyn Write) -> Result<(), ApiError> {
    line(
        out,
        &format!(
            "leader {}  term {}  change under way: {}",
            cell(answer.get("leader")),
            cell(answer.get("term")),
            cell(answer.get("change")),
        ),
    )?;
    if let Some(last) = answer.get("last_change").filter(|v| !v.is_null()) {
        line(
            out,
            &format!(
                "last change: {} {}",
                cell(last.get("change")),
                if last["ok"] == true {
                    "done".to_string()
                } else {
                    format!("failed: {}", cell(last.get("error")))
                }
            ),
        )?;
    }
    let mut t = Table::new(&["id", "role", "address", "leader", "matched", "reachable"]);
    for m in answer["members"].as_array().into_iter().flatten() {
        t.fields(
            m,
            &["id", "role", "address", "leader", "matched", "reachable"],
        );
    }
    t.write(out)
}
