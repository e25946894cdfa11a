//! `roster admin` against a running `roster dev`: each command prints what the cluster
//! holds (its members, its slot table, a service published through the client library),
//! fails over past an address that does not answer, reports the API's errors, and sends
//! the bearer token from `--token` or `ROSTER_ADMIN_TOKEN`.

mod common;

use common::{FAST, Proc};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// A `roster dev` with `env` set; its admin URL and session addresses.
fn dev(env: &[(&str, &str)]) -> (Proc, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("dev").args(FAST).env("ROSTER_LOG", "info");
    cmd.env_remove("ROSTER_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn("dev", cmd);
    let field = |prefix: &str| {
        let (_, line) = proc.wait_stdout(0, prefix, |l| l.starts_with(prefix));
        line[prefix.len()..].trim().to_string()
    };
    let admin = field("admin ");
    let sessions = field("sessions ").split(',').map(str::to_string).collect();
    (proc, admin, sessions)
}

/// Runs `roster admin ARGS` with `env`; whether it succeeded, its stdout and stderr.
fn admin(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("admin").args(args);
    cmd.env_remove("ROSTER_ADMIN")
        .env_remove("ROSTER_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = common::tls::with_tls(cmd).output().expect("roster runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = admin(args, &[]);
    assert!(success, "roster admin {args:?} failed: {err}");
    out
}

#[test]
fn status_slots_and_key_show_the_cluster_and_a_published_service() {
    let (_dev, url, sessions) = dev(&[]);
    let client = common::client(sessions).unwrap();
    let publication = client.publish("admin.cli.svc", ["10.7.7.7:80"]).unwrap();
    publication
        .wait_registered(Duration::from_secs(30))
        .expect("registered");

    // The first address refuses: the command goes on to the next and answers from it.
    let both = format!("127.0.0.1:1,{url}");
    let status = ok(&["--admin", &both, "status"]);
    assert!(status.starts_with("meta leader 1 "), "{status}");
    assert!(status.contains("every node ready"), "{status}");
    // Table rows: a role, then a node id.
    let rows = |role: &str| {
        let row = |l: &&str| {
            let mut w = l.split_whitespace();
            w.next() == Some(role) && w.next().is_some_and(|id| id.parse::<u64>().is_ok())
        };
        status.lines().filter(row).count()
    };
    assert_eq!(
        (rows("meta"), rows("data"), rows("session")),
        (1, 3, 2),
        "{status}"
    );

    let slots: Value = serde_json::from_str(&ok(&["--admin", &url, "--json", "slots"])).unwrap();
    let slots = slots["slots"].as_array().expect("a table");
    assert_eq!(slots.len(), 256);
    assert!(
        slots.iter().all(|s| s["leader"]["node"].is_u64()),
        "every slot led"
    );
    let text = ok(&["--admin", &url, "slots"]);
    assert_eq!(text.lines().filter(|l| l.ends_with(" led")).count(), 256);

    let key = ok(&["--admin", &url, "key", "admin.cli.svc"]);
    assert!(key.starts_with("admin.cli.svc: 1 publisher(s)"), "{key}");
    assert!(key.contains("10.7.7.7:80"), "{key}");
    let key: Value =
        serde_json::from_str(&ok(&["--admin", &url, "--json", "key", "admin.cli.svc"])).unwrap();
    assert_eq!(key["publishers"][0]["payload"][0], "10.7.7.7:80");

    // The API's own error reaches the operator, and the command fails.
    let (success, _, err) = admin(&["--admin", &url, "key", "no.such.svc"], &[]);
    assert!(!success);
    assert!(err.contains("HTTP 404 not_found"), "{err}");
    // No address answers: each is named.
    let (success, _, err) = admin(&["--admin", "127.0.0.1:1", "status"], &[]);
    assert!(!success);
    assert!(
        err.contains("no admin address answered: http://127.0.0.1:1 ("),
        "{err}"
    );
    drop(publication);
}

#[test]
fn the_token_comes_from_the_flag_or_the_environment() {
    let (_dev, url, _) = dev(&[("ROSTER_ADMIN_TOKEN", "s3cret")]);
    let (success, _, err) = admin(&["--admin", &url, "status"], &[]);
    assert!(!success, "no token, no answer");
    assert!(err.contains("HTTP 401 unauthorized"), "{err}");
    let (success, _, err) = admin(&["--admin", &url, "--token", "wrong", "slots"], &[]);
    assert!(!success && err.contains("401"), "{err}");
    let (success, out, err) = admin(&["--admin", &url, "--token", "s3cret", "status"], &[]);
    assert!(success && out.starts_with("meta leader"), "{err}");
    let env = [
        ("ROSTER_ADMIN", url.as_str()),
        ("ROSTER_ADMIN_TOKEN", "s3cret"),
    ];
    let (success, out, err) = admin(&["status"], &env);
    assert!(success && out.starts_with("meta leader"), "{err}");
}

/// Re-runs `roster admin ARGS --json` every 50 ms until `f` holds of its answer.
fn eventually_json(args: &[&str], f: impl Fn(&Value) -> bool) -> Value {
    common::eventually(&format!("roster admin {args:?} to hold"), || {
        let v: Value = serde_json::from_str(ok(args).trim()).expect("one JSON document");
        f(&v).then_some(v)
    })
}

#[test]
fn drain_decommission_and_meta_commands_reach_meta_and_report_progress() {
    let (_dev, url, _sessions) = dev(&[]);
    let out = ok(&["--admin", &url, "drain", "201"]);
    assert!(out.contains("drain of node 201: requested"), "{out}");
    let out = ok(&["--admin", &url, "drain", "201"]);
    assert!(out.contains("already so"), "{out}");
    let out = ok(&["--admin", &url, "decommission", "101"]);
    assert!(out.contains("decommission of node 101: requested"), "{out}");
    // The data node empties: its slots move to the other two.
    let ops = eventually_json(&["--admin", &url, "--json", "ops"], |v| {
        v["decommissioning"][0]["empty"] == true
    });
    assert_eq!(ops["draining"], serde_json::json!([201]), "{ops}");
    let text = ok(&["--admin", &url, "ops"]);
    assert!(text.contains("draining sessions: 201"), "{text}");
    // Both taken back.
    ok(&["--admin", &url, "drain", "201", "--undo"]);
    ok(&["--admin", &url, "decommission", "101", "--undo"]);
    eventually_json(&["--admin", &url, "--json", "ops"], |v| {
        v["draining"].as_array().is_some_and(Vec::is_empty)
            && v["decommissioning"].as_array().is_some_and(Vec::is_empty)
    });
    // A refusal is the API's error, and exit status 1.
    let (success, _, err) = admin(&["--admin", &url, "decommission", "201"], &[]);
    assert!(!success && err.contains("201"), "{err}");

    // The meta group: one voter, which leads; removing the last voter is refused.
    let text = ok(&["--admin", &url, "meta", "list"]);
    assert!(text.contains("leader 1"), "{text}");
    let (success, _, err) = admin(&["--admin", &url, "meta", "remove", "1"], &[]);
    assert!(!success && err.contains("last_voter"), "{err}");
}
