//! `roster admin status`: the members of the cluster with their roles, addresses, leases
//! and incarnations, whether the answering process is ready, the meta leader and term, and
//! the slot table's epoch.

use super::render::{Table, cell, json, line};
use super::{Api, ApiError, Command, Format};
use serde_json::{Value, json};
use std::io::Write;

/// `roster admin status`.
#[derive(Debug, clap::Args)]
pub struct Status {}

impl Command for Status {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let cluster = api.get("/v1/cluster")?;
        // Readiness is the answering process's: 200 when every node it runs is in service.
        let ready = api.probe("/readyz")?;
        let ready_text = ready.body.trim().to_string();
        let is_ready = ready.status == 200;
        match format {
            Format::Json => json(
                out,
                &json!({"ready": is_ready, "readyz": ready_text, "cluster": cluster}),
            ),
            Format::Text => text(&cluster, is_ready, &ready_text, out),
        }
    }
}

fn text(cluster: &Value, ready: bool, why: &str, out: &mut dyn Write) -> Result<(), ApiError> {
    let meta = cluster.get("meta");
    line(
        out,
        &format!(
            "meta leader {}  term {}  slot table epoch {}",
            cell(meta.and_then(|m| m.get("leader"))),
            cell(meta.and_then(|m| m.get("term"))),
            cell(cluster.get("slots").and_then(|s| s.get("epoch"))),
        ),
    )?;
    line(
        out,
        &if ready {
            "this process: ready".to_string()
        } else {
            format!("this process: NOT ready ({why})")
        },
    )?;
    let mut t = Table::new(&["ROLE", "ID", "ADDRESS", "INCARNATION", "LEASE", "STATUS"]);
    let members = cluster.get("members").and_then(Value::as_array);
    for m in members.into_iter().flatten() {
        t.row(
            ["role", "id", "address", "incarnation", "lease", "status"]
                .iter()
                .map(|k| cell(m.get(*k)))
                .collect(),
        );
    }
    line(out, "")?;
    t.write(out)
}
