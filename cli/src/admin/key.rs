//! `roster admin key DATA_ID`: the publishers of a service key (register id, owning
//! session, client address, version, payload) and its subscribers per session with the
//! version each holds.

use super::render::{Table, cell, json, line, version};
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

fn text(data_id: &str, key: &Value, out: &mut dyn Write) -> Result<(), ApiError> {
    let list = |k: &str| {
        key.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let publishers = list("publishers");
    line(
        out,
        &format!("{data_id}: {} publisher(s)", publishers.len()),
    )?;
    if !publishers.is_empty() {
        let mut t = Table::new(&["REGISTER ID", "SESSION", "CLIENT", "VERSION", "PAYLOAD"]);
        for p in &publishers {
            t.row(vec![
                cell(p.get("register_id")),
                cell(p.get("session")),
                cell(p.get("client")),
                version(p.get("version")),
                cell(p.get("payload")),
            ]);
        }
        t.write(out)?;
    }
    let subscribers = list("subscribers");
    line(out, &format!("\n{} subscriber(s)", subscribers.len()))?;
    if !subscribers.is_empty() {
        let mut t = Table::new(&["SESSION", "CLIENT", "VERSION"]);
        for s in &subscribers {
            t.row(vec![
                cell(s.get("session")),
                cell(s.get("client")),
                version(s.get("version")),
            ]);
        }
        t.write(out)?;
    }
    Ok(())
}
