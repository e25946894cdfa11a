//! `roster admin switch get|set`: the operator switches (docs/operations.md, "Switches")
//! over `GET`/`PUT /v1/switches`. `set` turns one switch on or off with a patch, so it
//! never undoes a concurrent change to another switch; it must reach a meta process's
//! admin address (list several in `--admin`: any meta node will do, a follower forwards).

use super::render::{cell, json, line};
use super::{Api, ApiError, Command, Format};
use serde_json::{Value, json};
use std::io::Write;
use ureq::http::Method;

/// `roster admin switch`.
#[derive(Debug, clap::Args)]
pub struct Switch {
    #[command(subcommand)]
    command: SwitchCmd,
}

#[derive(Debug, clap::Subcommand)]
enum SwitchCmd {
    /// The switches in force, their version, and the version each node of the answering
    /// process applied.
    Get,
    /// Turns one switch on or off: `stop-all-pushes on|off`, `stop-push DATA_ID on|off`,
    /// `client-off IP on|off`, `blacklist DATA_ID on|off`. Answers once it committed.
    Set {
        /// The switch, its data id or client address if it takes one, and `on` or `off`.
        #[arg(num_args = 2..=3, required = true, value_name = "SWITCH [ARG] on|off")]
        words: Vec<String>,
    },
}

impl Command for Switch {
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError> {
        let answer = match &self.command {
            SwitchCmd::Get => api.get("/v1/switches")?,
            SwitchCmd::Set { words } => {
                let body = json!({ "changes": [change(words)?] });
                api.send(Method::PUT, "/v1/switches", &body)?
            }
        };
        match format {
            Format::Json => json(out, &answer),
            Format::Text => text(&answer, out),
        }
    }
}

/// The API's change for `SWITCH [ARG] on|off`.
fn change(words: &[String]) -> Result<Value, ApiError> {
    let usage = || {
        ApiError::Config(format!(
            "switch set {}: expected stop-all-pushes on|off, stop-push DATA_ID on|off, \
             client-off IP on|off or blacklist DATA_ID on|off",
            words.join(" ")
        ))
    };
    let (last, rest) = words.split_last().ok_or_else(usage)?;
    let on = match last.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(usage()),
    };
    match rest {
        [s] if s == "stop-all-pushes" => Ok(json!({"switch": s, "on": on})),
        [s, id] if s == "stop-push" || s == "blacklist" => {
            Ok(json!({"switch": s, "data_id": id, "on": on}))
        }
        [s, ip] if s == "client-off" => Ok(json!({"switch": s, "address": ip, "on": on})),
        _ => Err(usage()),
    }
}

fn text(s: &Value, out: &mut dyn Write) -> Result<(), ApiError> {
    let on = |v: &Value| if v == &Value::Bool(true) { "on" } else { "off" };
    line(
        out,
        &format!(
            "switches version {} (from {})",
            cell(s.get("version")),
            cell(s.get("source"))
        ),
    )?;
    line(
        out,
        &format!("stop all pushes  {}", on(&s["pushes_stopped"])),
    )?;
    line(
        out,
        &format!("stop push        {}", cell(s.get("push_stopped_data_ids"))),
    )?;
    line(
        out,
        &format!("client off       {}", cell(s.get("clients_off"))),
    )?;
    line(
        out,
        &format!("blacklist        {}", cell(s.get("blacklisted_data_ids"))),
    )?;
    let applied: Vec<String> = s["applied"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| format!("{} {}", cell(n.get("node")), cell(n.get("version"))))
                .collect()
        })
        .unwrap_or_default();
    if !applied.is_empty() {
        line(out, &format!("applied          {}", applied.join(", ")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn set_takes_one_switch_and_refuses_anything_else() {
        assert_eq!(
            change(&words("client-off 10.0.0.7 on")).unwrap(),
            json!({"switch": "client-off", "address": "10.0.0.7", "on": true})
        );
        assert_eq!(
            change(&words("stop-all-pushes off")).unwrap(),
            json!({"switch": "stop-all-pushes", "on": false})
        );
        for bad in [
            "stop-push on",
            "blacklist x maybe",
            "nope x on",
            "stop-all-pushes x on",
        ] {
            assert!(change(&words(bad)).is_err(), "{bad}");
        }
    }
}
