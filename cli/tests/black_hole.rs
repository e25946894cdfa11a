//! A session host that vanishes (its packets dropped, not refused, as after a power loss or
//! behind a partition) costs a client the connect deadline plus one backoff, not the
//! kernel's SYN retries (about two minutes). The host is black-holed with an nftables rule
//! on loopback, so the test needs root (CI runs as root and installs nftables); elsewhere it
//! says so and passes without running.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// An nftables table dropping every packet to one TCP port; removed on drop.
struct BlackHole {
    table: String,
}

fn nft(args: &[&str]) {
    let out = Command::new("nft")
        .args(args)
        .output()
        .expect("nft runs (apt-get install nftables)");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl BlackHole {
    fn port(port: u16) -> BlackHole {
        let table = format!("roster_black_hole_{}", std::process::id());
        nft(&["add", "table", "inet", &table]);
        let hole = BlackHole { table };
        nft(&[
            "add",
            "chain",
            "inet",
            &hole.table,
            "input",
            "{ type filter hook input priority 0 ; }",
        ]);
        let port = port.to_string();
        nft(&[
            "add",
            "rule",
            "inet",
            &hole.table,
            "input",
            "tcp",
            "dport",
            &port,
            "drop",
        ]);
        hole
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

const CONNECT_TIMEOUT_MS: u64 = 1_000;

#[test]
fn clients_fail_over_from_a_black_holed_session_within_the_connect_deadline() {
    if !is_root() {
        eprintln!("not run: black-holing a port with nftables needs root");
        return;
    }
    let (_meta, meta) = meta();
    let _d = MIO.data(&meta, 101);
    let (_s1, a1) = MIO.session(&meta, 201);
    let (_s2, a2) = MIO.session(&meta, 202);
    let want = names("i", 2);
    let _p = publish(&a1, "svc", &want);
    let port: u16 = a2.rsplit(':').next().unwrap().parse().unwrap();
    let _hole = BlackHole::port(port);

    // Each subscriber picks its first session at random: with six, nearly surely some
    // dial the black-holed one first and must give up on it at the deadline.
    let timeout = CONNECT_TIMEOUT_MS.to_string();
    let sessions = format!("{a2},{a1}");
    let start = Instant::now();
    let subs: Vec<Proc> = (0..6)
        .map(|i| {
            Proc::start(
                &format!("subscriber-{i}"),
                &[
                    "subscribe",
                    "--session",
                    &sessions,
                    "svc",
                    "--json",
                    "--connect-timeout-ms",
                    &timeout,
                ],
            )
        })
        .collect();
    for sub in &subs {
        wait_list(sub, 0, &want);
    }
    let took = start.elapsed();
    // The deadline, the first backoff (at most 100 ms), and process start-up and one
    // round of registration on a loaded CI machine.
    let bound = Duration::from_millis(CONNECT_TIMEOUT_MS + 100) + Duration::from_millis(2_000);
    assert!(
        took < bound,
        "every subscriber had its list after {took:?}, more than {bound:?}"
    );
}
