//! Operating TLS on real processes (issue 21): HTTPS on the admin and gateway ports (and
//! `roster admin --tls-ca` against it), certificates reloaded on SIGHUP and on a change of
//! the files without dropping a subscription, a bad new file leaving the old certificate
//! in force, and handshakes that never finish closed after `[tls] handshake_timeout_ms`;
//! the session on mio and on glommio. A module of `tls.rs` (one test binary for TLS).

use crate::common::tls::{Ca, node_file};
use crate::common::{DEADLINE, Proc, args};
use crate::support::{https_agent, node_file_with};
use roster_client::{Client, ClientOptions, ClientTls, Subscription};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The handshake timeout the timeout tests configure.
const SHORT_HANDSHAKE_MS: &str = "300";

/// How long a stalled connection is read before the test says it was not closed: far
/// above [`SHORT_HANDSHAKE_MS`], and below a session's `hello_timeout_ms` (10 s), which
/// would close a silent client connection too, so the close can only be the handshake
/// timeout's doing.
const STALLED_CLOSED_WITHIN: Duration = Duration::from_secs(5);

#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate in the PEM file `path` (the first), as DER.
fn der(path: &Path) -> CertificateDer<'static> {
    roster_shell::tls::load_certs("cert", path)
        .unwrap()
        .remove(0)
}

/// Handshakes with the TLS port `addr`, trusting `ca` and presenting `identity` if given,
/// and returns the leaf certificate it served.
fn served_leaf(addr: &str, ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Vec<u8> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca)).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let certs = roster_shell::tls::load_certs("cert", cert).unwrap();
            let key = roster_shell::tls::load_key("key", key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut socket).unwrap();
    }
    conn.peer_certificates().unwrap()[0].to_vec()
}

/// A session's ports, from its first `session listening` line and its `admin` line.
struct Ports {
    client: String,
    peer: String,
    admin: String,
}

fn ports(session: &Proc) -> Ports {
    let (_, l) = session.wait_stdout(0, "session listening", |l| {
        l.starts_with("session listening")
    });
    let field = |name: &str| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let (_, a) = session.wait_stdout(0, "admin", |l| l.starts_with("admin https://"));
    Ports {
        client: field("client="),
        peer: field("peer="),
        admin: a["admin https://".len()..].to_string(),
    }
}

/// A TLS meta node, a TLS data node and a TLS session (on the runtime `rt` says) whose
/// `[tls]` table has `extra`, all under `ca`. The processes, in start order.
fn cluster(d: &Path, ca: &Ca, rt: &[&str], extra: &str) -> Vec<Proc> {
    let meta_file = node_file(d, "meta", &ca.pem, &ca.issue(d, "meta", false));
    let meta = Proc::start(
        "meta",
        &args(&[
            "meta",
            "--config",
            meta_file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]),
    );
    let (_, l) = meta.wait_stdout(0, "meta address", |l| l.starts_with("meta 1 listening"));
    let meta_addr = l.rsplit(' ').next().unwrap().to_string();
    let file = node_file(d, "data", &ca.pem, &ca.issue(d, "data", false));
    let a = [
        "data",
        "--listen",
        "127.0.0.1:0",
        "--meta",
        &meta_addr,
        "--id",
        "101",
    ];
    let data = Proc::start(
        "data",
        &args(&[&a[..], &["--config", file.to_str().unwrap()]].concat()),
    );
    data.wait_stdout(0, "data listening", |l| l.starts_with("data listening"));
    let mut procs = vec![meta, data];
    let cert = ca.issue(d, "session", false);
    let file = node_file_with(d, "session", &ca.pem, &cert, extra);
    let mut a = vec![
        "session",
        "--client-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
    ];
    a.extend([
        "--meta",
        &meta_addr,
        "--id",
        "201",
        "--config",
        file.to_str().unwrap(),
    ]);
    a.extend_from_slice(rt);
    procs.push(Proc::start("session", &args(&a)));
    procs
}

fn tls_client(addr: &str, ca: &Path) -> Client {
    let mut options = ClientOptions::new([addr]);
    options.tls = Some(ClientTls::from_ca_file(ca).unwrap());
    Client::with_options(options).unwrap()
}

/// Waits for an update of `sub` whose only payload is `want`.
fn wait_payload(sub: &Subscription, want: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let u = sub.recv_timeout(left).expect("a push within the deadline");
        let payloads: Vec<Vec<u8>> = u
            .publishers()
            .iter()
            .flat_map(|p| p.payload().map(<[u8]>::to_vec).collect::<Vec<_>>())
            .collect();
        if payloads == vec![want.as_bytes().to_vec()] {
            return;
        }
    }
}

/// Replaces `to` by `from` the way a deployment tool does (write aside, rename over), so a
/// reader never sees half a file.
fn swap_in(from: &Path, to: &Path) {
    let aside = to.with_extension("new");
    std::fs::copy(from, &aside).unwrap();
    std::fs::rename(&aside, to).unwrap();
}

#[test]
fn dev_tls_serves_admin_console_and_gateway_over_https_only() {
    let dev = Proc::start("dev --tls", &args(&["dev", "--tls"]));
    let (_, l) = dev.wait_stdout(0, "tls ca", |l| l.starts_with("tls ca "));
    let ca = PathBuf::from(l.split_whitespace().nth(2).unwrap());
    let (_, admin) = dev.wait_stdout(0, "admin", |l| l.starts_with("admin https://"));
    let admin = admin["admin ".len()..].to_string();
    let (_, console) = dev.wait_stdout(0, "console", |l| l.starts_with("console https://"));
    assert_eq!(console, format!("console {admin}/ui/"));
    let (_, http) = dev.wait_stdout(0, "gateway", |l| l.starts_with("http https://"));
    let http = http["http ".len()..].to_string();
    dev.wait_stdout(0, "ready", |l| l.starts_with("ready"));
    let agent = https_agent(&ca);
    let status = |url: String| agent.get(url).call().unwrap().status().as_u16();
    assert_eq!(status(format!("{admin}/healthz")), 200);
    assert_eq!(status(format!("{admin}/ui/")), 200);
    assert_eq!(status(format!("{http}/v1/services/none")), 200);
    // Plain HTTP to either port gets no HTTP answer: the bytes are a broken handshake.
    for url in [&admin, &http] {
        let addr = url.trim_start_matches("https://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        match s.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{addr}: no close within the deadline: {e}"),
        }
        assert!(!got.starts_with(b"HTTP/"), "{addr} answered plain HTTP");
        let plain = ureq::get(format!("http://{addr}/healthz")).call();
        assert!(plain.is_err(), "{addr}: plain HTTP was served");
    }
    // `roster admin` verifies the port against the CA it is given...
    let mut ok = Proc::start(
        "admin status",
        &[
            "admin",
            "--admin",
            &admin,
            "--tls-ca",
            ca.to_str().unwrap(),
            "status",
        ],
    );
    let (status, stderr) = ok.wait_exit();
    assert!(status.success(), "{stderr}");
    assert!(
        ok.stdout().iter().any(|l| l.contains("meta")),
        "{:?}",
        ok.stdout()
    );
    // ...and refuses a port whose certificate that CA did not sign.
    let dir = tempfile::tempdir().unwrap();
    let other = Ca::new(dir.path(), "other");
    let mut refused = Proc::start(
        "admin status, another CA",
        &[
            "admin",
            "--admin",
            &admin,
            "--tls-ca",
            other.pem.to_str().unwrap(),
            "status",
        ],
    );
    let (status, stderr) = refused.wait_exit();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("no admin address answered"), "{stderr}");
}

#[test]
fn certificates_reload_on_sighup_and_on_change_keeping_subscriptions() {
    reloads(&[]);
}

#[test]
fn certificates_reload_on_a_glommio_session() {
    reloads(&["--runtime", "glommio", "--shards", "1"]);
}

/// The session's certificate is replaced three times: with SIGHUP, by the files alone, and
/// by a broken file; each new connection to each of its ports sees what is in force, and a
/// subscription made before any of it keeps receiving pushes.
fn reloads(rt: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let procs = cluster(d, &ca, rt, "");
    let session = procs.last().unwrap();
    let p = ports(session);
    let (cert, key) = (d.join("session.pem"), d.join("session.key"));
    let peer_identity = ca.issue(d, "peer-client", false);
    // What each port serves to a new connection.
    let served = |what: &str| {
        let client = served_leaf(&p.client, &ca.pem, None);
        let peer = served_leaf(&p.peer, &ca.pem, Some(&peer_identity));
        let admin = served_leaf(&p.admin, &ca.pem, None);
        assert!(
            client == peer && peer == admin,
            "{what}: the ports serve different certificates"
        );
        client
    };
    assert_eq!(served("at start"), der(&cert).to_vec());
    let subscriber = tls_client(&p.client, &ca.pem);
    let sub = subscriber.subscribe("reload.svc").unwrap();
    let publisher = tls_client(&p.client, &ca.pem);
    let mut publication = publisher.publish("reload.svc", [b"v1".to_vec()]).unwrap();
    publication.wait_registered(DEADLINE).unwrap();
    wait_payload(&sub, "v1");
    let connects = (subscriber.connects(), publisher.connects());
    assert_eq!(connects, (1, 1));

    // 1. New files, then SIGHUP.
    let second = ca.issue(d, "second", false);
    swap_in(&second.1, &key);
    swap_in(&second.0, &cert);
    session.signal("HUP");
    // The watcher may also have seen the files change (and, between the two renames, a
    // key that does not match: a failed reload); SIGHUP reloads whatever it saw.
    let (mark, _) = session.wait_stderr(0, "the SIGHUP reload", |l| {
        l.contains("tls reloaded") && l.contains("SIGHUP")
    });
    assert_eq!(served("after SIGHUP"), der(&second.0).to_vec());
    publication.update([b"v2".to_vec()]).unwrap();
    wait_payload(&sub, "v2");

    // 2. New files alone: the watcher sees them change.
    let third = ca.issue(d, "third", false);
    swap_in(&third.1, &key);
    swap_in(&third.0, &cert);
    // rustls refuses a key that does not match the certificate, so the reload that
    // succeeds is of the whole new pair.
    let (mark, _) = session.wait_stderr(mark + 1, "the reload on change", |l| {
        l.contains("tls reloaded") && l.contains("a file changed")
    });
    assert_eq!(served("after the files changed"), der(&third.0).to_vec());
    publication.update([b"v3".to_vec()]).unwrap();
    wait_payload(&sub, "v3");

    // 3. A broken certificate: logged naming the field and the file; the third stays.
    std::fs::write(d.join("junk.pem"), "not a certificate\n").unwrap();
    swap_in(&d.join("junk.pem"), &cert);
    let cert_name = cert.display().to_string();
    let (_, failed) = session.wait_stderr(mark + 1, "the failed reload", |l| {
        l.contains("tls reload failed")
    });
    assert!(
        failed.contains("tls.cert") && failed.contains(&cert_name),
        "{failed}"
    );
    assert_eq!(served("after a bad file"), der(&third.0).to_vec());
    publication.update([b"v4".to_vec()]).unwrap();
    wait_payload(&sub, "v4");
    // Over the connections made at the start: neither client had to connect again.
    assert_eq!(
        (subscriber.connects(), publisher.connects()),
        connects,
        "connects"
    );
}

#[test]
fn an_unfinished_handshake_is_closed_after_the_timeout_on_mio() {
    handshake_timeout(&[]);
}

#[test]
fn an_unfinished_handshake_is_closed_after_the_timeout_on_glommio() {
    handshake_timeout(&["--runtime", "glommio", "--shards", "1"]);
}

/// The first bytes of a real ClientHello: a handshake that started and stalls.
fn half_a_client_hello(ca: &Path) -> Vec<u8> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca)).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello.truncate(hello.len() / 2);
    hello
}

/// Connections that send nothing or half a ClientHello to each of a session's TLS ports
/// are closed, and counted in the log, while a client connecting meanwhile is served.
fn handshake_timeout(rt: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let extra = format!("handshake_timeout_ms = {SHORT_HANDSHAKE_MS}\n");
    let procs = cluster(d, &ca, rt, &extra);
    let session = procs.last().unwrap();
    let p = ports(session);
    let half = half_a_client_hello(&ca.pem);
    let mut stalled = Vec::new();
    for addr in [&p.client, &p.peer, &p.admin] {
        let silent = TcpStream::connect(addr).unwrap();
        let mut partial = TcpStream::connect(addr).unwrap();
        partial.write_all(&half).unwrap();
        stalled.push((addr.clone(), silent));
        stalled.push((addr.clone(), partial));
    }
    // Served meanwhile.
    let client = tls_client(&p.client, &ca.pem);
    client.wait_connected(DEADLINE).unwrap();
    for (addr, mut s) in stalled {
        s.set_read_timeout(Some(STALLED_CLOSED_WITHIN)).unwrap();
        let mut got = Vec::new();
        match s.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{addr}: a stalled handshake was not closed: {e}"),
        }
    }
    // Each logged (the shells' line names the handshake, the HTTPS port's says so too).
    let mut from = 0;
    for n in 1..=6 {
        let (i, _) = session.wait_stderr(from, &format!("timeout {n} of 6 in the log"), |l| {
            l.contains("tls handshake")
                && (l.contains("not done within") || l.contains("not done in time"))
        });
        from = i + 1;
    }
    // And counted, for every port, in the admin's metrics.
    let url = format!("https://{}/metrics", p.admin);
    let text = https_agent(&ca.pem)
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let counted: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("roster_tls_handshake_timeouts_total "))
        .unwrap_or_else(|| panic!("no timeout counter in\n{text}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(counted, 6.0, "{text}");
    // The client that connected meanwhile is served: it registers.
    let publication = client.publish("after.timeouts", [b"x".to_vec()]).unwrap();
    publication.wait_registered(DEADLINE).unwrap();
}
