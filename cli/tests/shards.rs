//! What glommio adds: a process of N shards is N nodes behind one client port, every one of
//! them stops on SIGTERM, a locked-memory limit too small for io_uring is explained, and
//! the README's tour works on either runtime.

mod common;
use common::*;
use roster_client::Client;
use std::collections::BTreeSet;
use std::process::Command;

/// The distinct node names of stderr lines containing `what`.
fn nodes_logging(p: &Proc, what: &str) -> BTreeSet<String> {
    p.stderr()
        .iter()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("node=")))
        .map(str::to_string)
        .collect()
}

#[test]
fn two_shards_are_two_nodes_and_the_kernel_spreads_clients_over_them() {
    let (_meta, m) = meta();
    let d = GLOMMIO.data(&m, 101);
    let (s, a) = GLOMMIO.session_logging(&m, 201, "info,roster_glommio::shard=debug");
    let (_, second) = d.wait_stdout(1, "shard 1 listening", |l| l.starts_with("data listening"));
    assert_ne!(
        d.stdout()[0],
        second,
        "each data shard has its own peer port"
    );
    // Each shard registers with meta on its own and receives the slot table.
    let ready = |p: &Proc| {
        eventually("both shards ready", || {
            Some(nodes_logging(p, " ready ")).filter(|n| n.len() == 2)
        })
    };
    ready(&d);
    ready(&s);

    // Twenty-four connections to the one client port: the chance that they all land on
    // the same shard is 2^-23. Publishers on either shard reach a subscriber on either.
    let clients: Vec<Client> = (0..24)
        .map(|_| common::client([a.clone()]).unwrap())
        .collect();
    let payloads = names("spread", clients.len());
    let _held: Vec<_> = clients
        .iter()
        .zip(&payloads)
        .map(|(c, p)| c.publish("spread", [p.clone()]).unwrap())
        .collect();
    let sub = subscribe(&a, "spread");
    wait_list(&sub, 0, &payloads);
    let serving = nodes_logging(&s, "kind=Client");
    assert_eq!(serving.len(), 2, "clients on both shards: {serving:?}");
}

on!(sigterm_stops_every_node_of_the_process; mio = MIO, glommio = GLOMMIO);
fn sigterm_stops_every_node_of_the_process(c: Runtimes) {
    let (_meta, m) = meta();
    let d = c.data(&m, 101);
    let (s, a) = c.session(&m, 201);
    let sub = subscribe(&a, "term");
    let _p = publish(&a, "term", &["x:80".into()]);
    wait_list(&sub, 0, &["x:80".into()]);
    for (mut p, rt) in [(s, c.session), (d, c.data)] {
        p.signal("TERM");
        let (status, err) = p.wait_exit();
        assert!(status.success(), "{}: {status}\n{err}", p.name);
        let stopped = err.lines().filter(|l| l.contains(" stopped node=")).count();
        assert_eq!(stopped, rt.shards(), "{}: every node stops\n{err}", p.name);
    }
}

#[test]
fn a_locked_memory_limit_too_small_for_io_uring_is_explained() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -l 64 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_roster"))
        .args(["data", "--listen", "127.0.0.1:0", "--meta", "127.0.0.1:1"])
        .args(Rt::Glommio.args())
        .env("ROSTER_LOG", "info");
    let mut p = Proc::spawn("data", cmd);
    let (status, err) = p.wait_exit();
    assert!(!status.success());
    assert!(
        err.contains("locked-memory limit") && err.contains("ulimit -l"),
        "{err}"
    );
    assert!(
        err.contains("--runtime mio"),
        "the alternative is named: {err}"
    );
}

on!(the_readme_tour_works; mio = &[], glommio = &["--runtime", "glommio"]);
/// `roster dev` with `flags`, as the README shows it.
fn the_readme_tour_works(flags: &[&str]) {
    let mut dev = Proc::start("dev", &[&["dev"], flags].concat());
    let (_, ready) = dev.wait_stdout(0, "ready", |l| l.starts_with("ready: try"));
    let sessions = common::ready_sessions(&ready);
    let sub = subscribe(&sessions, "my.service");
    let two = ["10.0.0.1:8080".to_string(), "10.0.0.2:8080".to_string()];
    let mut publisher = publish(&sessions, "my.service", &two);
    let at = wait_list(&sub, 0, &two);
    publisher.kill9();
    wait_list(&sub, at + 1, &[]);
    dev.signal("INT");
    let (status, err) = dev.wait_exit();
    assert!(status.success(), "{status}\n{err}");
}
