//! TLS across real processes (issue 21), certificates made here with rcgen: a TLS client
//! port serves no plain TCP, a client trusting another CA and a session with an expired
//! certificate never get connected, a node without a certificate of the cluster CA never
//! joins, and `roster dev --tls` publishes and pushes through the client library; the
//! cluster ones on mio and on glommio data and session nodes. `ops` has the operating
//! side: HTTPS on the admin and gateway ports, reloads, handshake timeouts.

mod common;
#[path = "tls/ops.rs"]
mod ops;
#[path = "tls/support.rs"]
mod support;

use common::tls::{Ca, node_file};
use common::{DEADLINE, Proc, args};
use roster_client::{Client, ClientOptions, ClientTls};
use roster_core::model::Text;
use roster_core::wire::{ClientHello, Frame};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a client that cannot connect is given: its failure must show by then (the
/// handshake fails within a round trip; retries come every few hundred milliseconds).
const REFUSED_WITHIN: Duration = Duration::from_secs(3);

/// A `roster dev --tls` cluster (with `extra` flags): it, its CA file and its session
/// addresses.
fn dev_tls_with(extra: &[&str]) -> (Proc, String, String) {
    let dev = Proc::start("dev --tls", &args(&[&["dev", "--tls"][..], extra].concat()));
    let (_, l) = dev.wait_stdout(0, "tls ca", |l| l.starts_with("tls ca "));
    let ca = l.split_whitespace().nth(2).unwrap().to_string();
    let (_, l) = dev.wait_stdout(0, "sessions", |l| l.starts_with("sessions "));
    let sessions = l["sessions ".len()..].to_string();
    dev.wait_stdout(0, "ready", |l| l.starts_with("ready"));
    (dev, ca, sessions)
}

fn dev_tls() -> (Proc, String, String) {
    dev_tls_with(&[])
}

fn tls_client(sessions: &str, tls: ClientTls) -> Client {
    let mut options = ClientOptions::new(sessions.split(','));
    options.tls = Some(tls);
    Client::with_options(options).unwrap()
}

#[test]
fn dev_tls_publishes_and_pushes_through_the_client_library() {
    publishes_and_pushes(&[]);
}

/// The same on glommio data and session nodes (two shards each; meta runs on mio).
#[test]
fn dev_tls_on_glommio_publishes_and_pushes_through_the_client_library() {
    publishes_and_pushes(&["--runtime", "glommio", "--shards", "2"]);
}

fn publishes_and_pushes(extra: &[&str]) {
    let (dev, ca, sessions) = dev_tls_with(extra);
    let first = sessions.split(',').next().unwrap();
    let last = sessions.split(',').next_back().unwrap();
    let dir = Path::new(&ca).parent().unwrap();
    // One client presents the dev client certificate, the other none: both are served.
    let publisher = tls_client(
        first,
        ClientTls::from_ca_file(&ca)
            .unwrap()
            .with_identity_files(dir.join("client.pem"), dir.join("client.key"))
            .unwrap(),
    );
    let subscriber = tls_client(last, ClientTls::from_ca_file(&ca).unwrap());
    let sub = subscriber.subscribe("tls.echo").unwrap();
    let p = publisher
        .publish("tls.echo", [b"10.0.0.1:80".to_vec()])
        .unwrap();
    p.wait_registered(DEADLINE).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let u = sub.recv_timeout(left).expect("a push within the deadline");
        let payloads: Vec<Vec<u8>> = u
            .publishers()
            .iter()
            .flat_map(|p| p.payload().map(<[u8]>::to_vec).collect::<Vec<_>>())
            .collect();
        if payloads == vec![b"10.0.0.1:80".to_vec()] {
            break;
        }
    }
    assert!(dev.stdout().iter().any(|l| l.contains("--tls-ca")));
    // The dev gateway is a client of the TLS sessions too: it serves the list, over HTTPS
    // with the node certificate.
    let (_, l) = dev.wait_stdout(0, "gateway address", |l| l.starts_with("http https://"));
    let url = format!("{}/v1/services/tls.echo", &l["http ".len()..]);
    let body: serde_json::Value = support::https_agent(Path::new(&ca))
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(body["instances"][0]["payload"], "10.0.0.1:80", "{body}");
}

#[test]
fn plain_tcp_to_a_tls_client_port_gets_no_service() {
    let (dev, _, sessions) = dev_tls();
    let addr = sessions.split(',').next().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let hello = ClientHello::new(Text::from("plain"), 1);
    s.write_all(&Frame::new(1, hello).to_bytes().unwrap())
        .unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // The session reads the hello as a broken TLS record and closes: no welcome, no byte
    // of plaintext (at most a TLS alert record, whose first byte is 21).
    let mut got = Vec::new();
    let closed = loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("no close within the deadline: {e}"),
        }
    };
    assert!(closed);
    assert!(
        got.is_empty() || got[0] == 21,
        "plaintext came back: {got:?}"
    );
    dev.wait_stderr(0, "the refusal in the log", |l| l.contains("tls:"));
}

#[test]
fn a_client_trusting_another_ca_is_refused_within_a_deadline() {
    let (dev, _, sessions) = dev_tls();
    let dir = tempfile::tempdir().unwrap();
    let other = Ca::new(dir.path(), "other-ca");
    let client = tls_client(&sessions, ClientTls::from_ca_file(&other.pem).unwrap());
    let started = Instant::now();
    assert!(client.wait_connected(REFUSED_WITHIN).is_err());
    assert!(started.elapsed() < REFUSED_WITHIN + Duration::from_secs(1));
    // The session saw the attempt and its failure (the client's alert).
    dev.wait_stderr(0, "the failed handshake", |l| l.contains("tls:"));
    // The same cluster serves a client trusting its CA (the refusal was the CA's).
    let ca = dev.stdout()[0]
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    let good = tls_client(&sessions, ClientTls::from_ca_file(ca).unwrap());
    good.wait_connected(DEADLINE).unwrap();
}

/// A TLS meta node with `file`; it and its address.
fn tls_meta(file: &Path) -> (Proc, String) {
    let file = file.to_str().unwrap();
    let p = Proc::start(
        "meta",
        &args(&["meta", "--config", file, "--listen", "127.0.0.1:0"]),
    );
    let (_, l) = p.wait_stdout(0, "meta address", |l| l.starts_with("meta 1 listening"));
    (p, l.rsplit(' ').next().unwrap().to_string())
}

/// A session with node file `file` (if any); it and its client address.
fn session(meta: &str, id: &str, file: Option<&Path>) -> (Proc, String) {
    let mut a = vec![
        "session",
        "--client-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
    ];
    a.extend(["--meta", meta, "--id", id]);
    if let Some(f) = file {
        a.extend(["--config", f.to_str().unwrap()]);
    }
    let p = Proc::start(&format!("session-{id}"), &args(&a));
    let (_, l) = p.wait_stdout(0, "session listening", |l| {
        l.starts_with("session listening")
    });
    let client = l
        .split_whitespace()
        .find_map(|w| w.strip_prefix("client="))
        .unwrap();
    let client = client.to_string();
    (p, client)
}

#[test]
fn a_session_with_an_expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let meta_file = node_file(d, "meta", &ca.pem, &ca.issue(d, "meta", false));
    let good_file = node_file(d, "good", &ca.pem, &ca.issue(d, "good", false));
    let expired_file = node_file(d, "expired", &ca.pem, &ca.issue(d, "expired", true));
    let (_meta, meta) = tls_meta(&meta_file);
    let (_good, good) = session(&meta, "201", Some(&good_file));
    let (expired, stale) = session(&meta, "202", Some(&expired_file));
    let client = |addr: &str| tls_client(addr, ClientTls::from_ca_file(&ca.pem).unwrap());
    // Same CA, same client settings: the valid certificate is accepted...
    client(&good).wait_connected(DEADLINE).unwrap();
    // ...the expired one is not.
    assert!(client(&stale).wait_connected(REFUSED_WITHIN).is_err());
    expired.wait_stderr(0, "the client's alert", |l| l.contains("tls:"));
}

#[test]
fn a_data_node_without_a_cluster_certificate_never_joins() {
    never_joins(&[]);
}

#[test]
fn a_glommio_data_node_without_a_cluster_certificate_never_joins() {
    never_joins(&["--runtime", "glommio", "--shards", "1"]);
}

/// Data nodes (on the runtime `rt` says) with a certificate of the cluster, of another CA,
/// and none: only the first joins.
fn never_joins(rt: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let stranger_ca = Ca::new(d, "stranger-ca");
    let meta_file = node_file(d, "meta", &ca.pem, &ca.issue(d, "meta", false));
    let member_file = node_file(d, "member", &ca.pem, &ca.issue(d, "member", false));
    // Trusts the cluster CA, but its own certificate is of another CA.
    let stranger = stranger_ca.issue(d, "stranger", false);
    let stranger_file = node_file(d, "stranger", &ca.pem, &stranger);
    let (meta_proc, meta) = tls_meta(&meta_file);
    let data = |id: &str, file: Option<&Path>| {
        let mut a = vec![
            "data",
            "--listen",
            "127.0.0.1:0",
            "--meta",
            &meta,
            "--id",
            id,
        ];
        a.extend_from_slice(rt);
        if let Some(f) = file {
            a.extend(["--config", f.to_str().unwrap()]);
        }
        let p = Proc::start(&format!("data-{id}"), &args(&a));
        p.wait_stdout(0, "data listening", |l| l.starts_with("data listening"));
        p
    };
    let _member = data("101", Some(&member_file));
    let stranger = data("102", Some(&stranger_file));
    let _plain = data("103", None);
    let joined = |id: &str| {
        let needle = format!("process={id}/");
        move |l: &str| l.contains("member joined") && l.contains(&needle)
    };
    meta_proc.wait_stderr(0, "the member joining", joined("101"));
    // The stranger was told no by meta; the plain node's hello was read as a bad record.
    stranger.wait_stderr(0, "the stranger refused", |l| l.contains("tls failed"));
    meta_proc.wait_stderr(0, "plain bytes refused", |l| {
        l.contains("InvalidContentType")
    });
    let lines = meta_proc.stderr();
    assert!(!lines.iter().any(|l| joined("102")(l) || joined("103")(l)));
}

#[test]
fn bad_tls_settings_stop_the_start_with_an_error_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let missing = node_file(
        d,
        "missing",
        &ca.pem,
        &(d.join("none.pem"), d.join("none.key")),
    );
    let no_key = d.join("no-key.toml");
    std::fs::write(
        &no_key,
        format!("[tls]\nca = {:?}\ncert = {:?}\n", "a", "b"),
    )
    .unwrap();
    let run = |a: &[&str]| {
        let mut p = Proc::start("bad settings", a);
        let (status, stderr) = p.wait_exit();
        assert!(!status.success(), "{stderr}");
        stderr
    };
    let missing = missing.to_str().unwrap();
    let e = run(&["data", "--config", missing, "--meta", "127.0.0.1:1"]);
    assert!(e.contains("tls.cert: ") && e.contains("none.pem"), "{e}");
    let glommio = [
        "--runtime",
        "glommio",
        "--shards",
        "1",
        "--meta",
        "127.0.0.1:1",
    ];
    let e = run(&[&["session", "--config", missing][..], &glommio].concat());
    assert!(e.contains("tls.cert: ") && e.contains("none.pem"), "{e}");
    let e = run(&["meta", "--config", no_key.to_str().unwrap()]);
    assert!(e.contains("tls.key: missing"), "{e}");
}
