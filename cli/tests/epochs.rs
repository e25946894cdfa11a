//! Slot-table epochs of real clusters, read from the meta leader's `slot table installed`
//! log lines: a cold start reaches a balanced table in at most three tables and then
//! installs none while nothing fails; a restarted data node gets its share back in at
//! most three.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const INSTALLED: &str = "slot table installed";

/// Long enough for several balancing rounds at `FAST` timings (200 ms heartbeats).
const QUIET: Duration = Duration::from_secs(5);

/// The value of `field=` in a log line.
fn field(line: &str, name: &str) -> Option<u64> {
    let key = format!("{name}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&key))
        .and_then(|v| v.trim_matches('"').parse().ok())
}

/// Install lines from stderr line `from` on.
fn installs(p: &Proc, from: usize) -> Vec<String> {
    p.stderr()
        .into_iter()
        .skip(from)
        .filter(|l| l.contains(INSTALLED))
        .collect()
}

/// Waits for a balanced install (leader counts within one); its line index.
fn wait_balanced(p: &Proc, from: usize) -> usize {
    p.wait_stderr(from, "a balanced slot table", |l| {
        l.contains(INSTALLED)
            && matches!(
                (field(l, "fewest_leaders"), field(l, "most_leaders")),
                (Some(a), Some(b)) if b <= a + 1
            )
    })
    .0
}

/// Whether no table is installed during `QUIET` (stderr from line `from`): the window is a
/// deadline on a condition, not a sleep.
fn quiet(p: &Proc, from: usize) -> bool {
    let end = Instant::now() + QUIET;
    while Instant::now() < end {
        if !installs(p, from).is_empty() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    installs(p, from).is_empty()
}

fn epochs(lines: &[String]) -> Vec<u64> {
    lines.iter().filter_map(|l| field(l, "epoch")).collect()
}

#[test]
fn a_cold_dev_cluster_is_balanced_in_at_most_three_tables_then_quiet() {
    let mut a = vec!["dev", "--meta", "3", "--data", "4", "--sessions", "2"];
    a.extend_from_slice(FAST);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(&a).env("ROSTER_LOG", "info");
    let dev = Proc::spawn("dev", cmd);
    dev.wait_stdout(0, "ready", |l| l.starts_with("ready"));
    let at = wait_balanced(&dev, 0);
    let so_far = installs(&dev, 0);
    let e = epochs(&so_far);
    assert!(
        e.len() <= 3,
        "cold start took {} tables: {so_far:#?}",
        e.len()
    );
    let mut unique = e.clone();
    unique.dedup();
    assert_eq!(unique, e, "each epoch logged once, by the leader alone");
    assert!(quiet(&dev, at + 1), "{:#?}", installs(&dev, at + 1));
}

#[test]
fn separate_processes_balance_at_once_and_a_restarted_data_node_gets_its_share_back() {
    let (meta, m) = common::meta();
    let c = MIO;
    let mut datas: Vec<Proc> = (101..=104).map(|id| c.data(&m, id)).collect();
    let (_s, _a) = c.session(&m, 201);
    let at = wait_balanced(&meta, 0);
    let cold = installs(&meta, 0);
    assert!(
        cold.len() <= 3,
        "cold start took {} tables: {cold:#?}",
        cold.len()
    );
    let quiet_from = meta.stderr().len();
    assert!(quiet(&meta, quiet_from), "{:#?}", installs(&meta, at + 1));

    let from = meta.stderr().len();
    datas[3].kill9();
    datas[3] = c.data(&m, 104);
    // The new incarnation replaces the old one: its followers come back at once, then its
    // leaders, each step one table.
    let at = meta
        .wait_stderr(from, "the restarted node leading its share", |l| {
            l.contains(INSTALLED)
                && field(l, "leaders_moved").is_some_and(|n| n > 0)
                && field(l, "fewest_leaders").is_some_and(|n| n >= 64)
        })
        .0;
    let restart = installs(&meta, from);
    assert!(
        restart.len() <= 3,
        "restart took {} tables: {restart:#?}",
        restart.len()
    );
    assert!(quiet(&meta, at + 1), "{:#?}", installs(&meta, at + 1));
}
