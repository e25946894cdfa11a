//! `roster admin drain SESSION` and `roster admin decommission DATA` (docs/operations.md,
//! "Draining a session" and "Decommissioning a data node"), with `--undo` to take the
//! request back, and `roster admin ops` for what is under way. Requests go to the meta
//! leader's process (a follower answers `not_leader`); list several admin addresses to have
//! them tried in turn.

use super::render::{Table, cell, json, line};
use super::{Api, ApiError, Command, Format};
use serde_json::{Value, json};
use std::io::Write;
use ureq::http::Method;

/// `roster admin drain`.
#[derive(Debug, clap::Args)]
pub struct Drain {
    /// The session's node id.
    session: u64,
    /// Undrain: the session takes clients again.
    #[arg(long)]
    undo: bool,
}

/// `roster admin decommission`.
#[derive(Debug, clap::Args)]
pub struct Decommission {
    /// The data node's id.
    data: u64,
    /// Recommission: the node gets slots again.
    #[arg(long)]
    undo: bool,
}

/// `roster admin ops`.
#[derive(Debug, clap::Args)]
pub struct Ops {}

fn request(api: &Api, path: &str, undo: bool) -> Result<Value, ApiError> {
    let method = if undo { Method::DELETE } else { Method::POST };
    api.send(method, path, &json!({}))
}

fn accepted(answer: &Value, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
    match format {
        Format::Json => json(out, answer),
        Format::Text => line(
            out,
            &format!(
                "{} of node {}: {} (by {})",
                cell(answer.get("request")),
                cell(answer.get("node")),
                if answer["changed"] == true {
                    "requested"
                } else {
                    "already so"
                },
                cell(answer.get("meta")),
            ),
        ),
    }
}

impl Command for Drain {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let path = format!("/v1/sessions/{}/drain", self.session);
        accepted(&request(api, &path, self.undo)?, format, out)
    }
}

impl Command for Decommission {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let path = format!("/v1/data/{}/decommission", self.data);
        accepted(&request(api, &path, self.undo)?, format, out)
    }
}

impl Command for Ops {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let answer = api.get("/v1/ops")?;
        if format == Format::Json {
            return json(out, &answer);
        }
        line(
            out,
            &format!("draining sessions: {}", cell(answer.get("draining"))),
        )?;
        let mut t = Table::new(&["decommissioning", "leaders", "replicas", "empty"]);
        for d in answer["decommissioning"].as_array().into_iter().flatten() {
            t.fields(d, &["node", "leaders", "replicas", "empty"]);
        }
        t.write(out)
    }
}
