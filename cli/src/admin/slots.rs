//! `roster admin slots`: the slot table as a table, one row per slot, and how many slots
//! each data node leads.

use super::render::{Table, cell, json, line, node, nodes};
use super::{Api, ApiError, Command, Format};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

/// `roster admin slots`.
#[derive(Debug, clap::Args)]
pub struct Slots {}

impl Command for Slots {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let cluster = api.get("/v1/cluster")?;
        let table = cluster.get("table").cloned().unwrap_or(Value::Null);
        match format {
            Format::Json => json(out, &table),
            Format::Text => text(&table, out),
        }
    }
}

fn text(table: &Value, out: &mut dyn Write) -> Result<(), ApiError> {
    line(
        out,
        &format!("slot table epoch {}", cell(table.get("epoch"))),
    )?;
    let mut t = Table::new(&["SLOT", "LEADER", "LEADER EPOCH", "FOLLOWERS", "STATUS"]);
    let mut led: BTreeMap<String, usize> = BTreeMap::new();
    let slots = table.get("slots").and_then(Value::as_array);
    for s in slots.into_iter().flatten() {
        let leader = node(s.get("leader"));
        *led.entry(leader.clone()).or_default() += 1;
        t.row(vec![
            cell(s.get("slot")),
            leader,
            cell(s.get("leader_epoch")),
            nodes(s.get("followers")),
            cell(s.get("status")),
        ]);
    }
    if t.len() == 0 {
        return line(out, "no slot table installed yet");
    }
    t.write(out)?;
    let per: Vec<String> = led.iter().map(|(n, c)| format!("{n}: {c}")).collect();
    line(out, &format!("\nslots led per node: {}", per.join(", ")))
}
