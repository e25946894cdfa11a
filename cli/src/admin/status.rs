//! `roster admin status`: the meta leader and term, the slot table's epoch, whether the
//! answering process's nodes are in service (`/readyz`), and the members with their roles,
//! addresses, incarnations, lease left and load.

use super::render::{Table, cell, json, line, node};
use super::{Api, ApiError, Command, Format};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;

/// `roster admin status`.
#[derive(Debug, clap::Args)]
pub struct Status {}

impl Command for Status {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let cluster = api.get("/v1/cluster")?;
        // 503 names the nodes that are not in service: information, not a failure.
        let ready = api.probe("/readyz")?;
        let readiness = serde_json::from_str::<Value>(&ready.body).unwrap_or(Value::Null);
        match format {
            Format::Json => json(out, &json!({"cluster": cluster, "readiness": readiness})),
            Format::Text => text(&cluster, ready.status == 200, &readiness, out),
        }
    }
}

fn text(
    cluster: &Value,
    ready: bool,
    readiness: &Value,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    let meta = cluster.get("meta");
    let table = cluster.get("table");
    let slots = table.and_then(|t| t.get("slots")).and_then(Value::as_array);
    let mut led: BTreeMap<String, usize> = BTreeMap::new();
    let mut leaderless = 0;
    for s in slots.into_iter().flatten() {
        match s.get("leader").filter(|l| !l.is_null()) {
            Some(l) => *led.entry(node(Some(l))).or_default() += 1,
            None => leaderless += 1,
        }
    }
    line(
        out,
        &format!(
            "meta leader {}  term {}  slot table epoch {} ({} slots, {leaderless} without a leader)",
            cell(meta.and_then(|m| m.get("leader"))),
            cell(meta.and_then(|m| m.get("term"))),
            cell(table.and_then(|t| t.get("epoch"))),
            slots.map_or(0, Vec::len),
        ),
    )?;
    // This process's nodes by name (`data-101`), with their readiness.
    let mut health: BTreeMap<String, String> = BTreeMap::new();
    let local = readiness.get("nodes").and_then(Value::as_array);
    for n in local.into_iter().flatten() {
        let state = if n.get("ready") == Some(&Value::Bool(true)) {
            "ready".to_string()
        } else {
            format!("NOT READY: {}", cell(n.get("reason")))
        };
        health.insert(cell(n.get("name")), state);
    }
    line(
        out,
        if ready {
            "this process: every node ready"
        } else {
            "this process: NOT READY"
        },
    )?;
    let kept: Vec<String> = meta
        .and_then(|m| m.get("protected"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| node(Some(p)))
        .collect();
    let mut t = Table::new(&[
        "ROLE",
        "NODE",
        "ADDRESS",
        "INCARNATION",
        "LEASE LEFT",
        "LOAD",
        "HEALTH",
    ]);
    for (name, state) in health.iter().filter(|(n, _)| n.starts_with("meta-")) {
        t.row(vec![
            "meta".into(),
            name["meta-".len()..].into(),
            "(this process)".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            state.clone(),
        ]);
    }
    let members = cluster.get("members").and_then(Value::as_array);
    for m in members.into_iter().flatten() {
        let role = cell(m.get("role"));
        let id = node(m.get("process"));
        let lease = m
            .get("lease_remaining_ms")
            .and_then(Value::as_u64)
            .map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let load = match role.as_str() {
            "data" => format!("{} slots led", led.get(&id).copied().unwrap_or(0)),
            _ => "-".into(),
        };
        let state = if kept.contains(&id) {
            "LEASE EXPIRED (kept: protection)".to_string()
        } else {
            health
                .get(&format!("{role}-{id}"))
                .cloned()
                .unwrap_or_else(|| "member".into())
        };
        t.row(vec![
            role,
            id,
            cell(m.get("address")),
            cell(m.get("process").and_then(|p| p.get("incarnation"))),
            lease,
            load,
            state,
        ]);
    }
    if members.is_none() {
        line(
            out,
            "(this process runs no meta node: ask a meta node's admin port for the members)",
        )?;
        for (name, state) in health.iter().filter(|(n, _)| !n.starts_with("meta-")) {
            t.row(vec![
                name.clone(),
                "-".into(),
                "(this process)".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                state.clone(),
            ]);
        }
    }
    line(out, "")?;
    t.write(out)
}
