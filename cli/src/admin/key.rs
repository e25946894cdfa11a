//! `roster admin key DATA_ID`: the publishers of a service key (register id, owning
//! session, client connection, register version, payload) and its subscribers per session
//! with the version each acknowledged, as the answering process's nodes hold them.

use super::render::{Table, cell, json, line, node, version};
use super::segment;
use super::{Api, ApiError, Command, Format};
use serde_json::Value;
use std::io::Write;

/// `roster admin key DATA_ID`.
#[derive(Debug, clap::Args)]
pub struct Key {
    /// The service key.
    pub data_id: String,
}

impl Command for Key {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let key = api.get(&format!("/v1/keys/{}", segment(&self.data_id)))?;
        match format {
            Format::Json => json(out, &key),
            Format::Text => text(&self.data_id, &key, out),
        }
    }
}

fn list(v: &Value, k: &str) -> Vec<Value> {
    v.get(k)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn text(data_id: &str, key: &Value, out: &mut dyn Write) -> Result<(), ApiError> {
    let publishers = list(key, "publishers");
    let held = if key.get("version").is_some_and(|v| !v.is_null()) {
        format!("version {}", version(key.get("version")))
    } else {
        "its slot leader is not in this process".into()
    };
    line(
        out,
        &format!(
            "{data_id}: {} publisher(s)  slot {}  {held}",
            publishers.len(),
            cell(key.get("slot")),
        ),
    )?;
    if !publishers.is_empty() {
        let mut t = Table::new(&[
            "REGISTER ID",
            "SESSION",
            "CLIENT",
            "REGISTER VERSION",
            "PAYLOAD",
        ]);
        for p in &publishers {
            let v = p.get("version");
            t.row(vec![
                cell(p.get("register_id")),
                node(p.get("session")),
                cell(p.get("client")),
                format!(
                    "{} (connection {})",
                    cell(v.and_then(|v| v.get("client_version"))),
                    cell(v.and_then(|v| v.get("connect_generation")))
                ),
                cell(p.get("payload")),
            ]);
        }
        t.write(out)?;
    }
    let mut t = Table::new(&[
        "SESSION",
        "CLIENT",
        "REGISTER IDS",
        "ACKNOWLEDGED",
        "PUSH IN FLIGHT",
    ]);
    for s in list(key, "sessions") {
        for sub in list(&s, "subscribers") {
            t.row(vec![
                cell(s.get("node")),
                cell(sub.get("client")),
                cell(sub.get("register_ids")),
                version(sub.get("acknowledged")),
                cell(sub.get("push_in_flight")),
            ]);
        }
    }
    line(out, &format!("\n{} subscriber(s)", t.len()))?;
    if t.len() > 0 {
        t.write(out)?;
    }
    Ok(())
}
