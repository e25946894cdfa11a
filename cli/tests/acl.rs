//! Access rules across real processes (issue 21, docs/security.md): `roster dev --tls
//! --acl FILE`, clients named by a token and by a client certificate, and anonymous ones.
//! A publish outside the publisher's prefixes is refused by name and reaches no
//! subscriber; a subscription outside the subscriber's prefixes is refused and receives
//! nothing; a changed rule file applies without a restart; `roster publish` reports a
//! denial. On mio and on glommio sessions (whose shells report the certificate).

mod common;

use common::{DEADLINE, Proc, args, eventually};
use roster_client::{Client, ClientTls, Error, ErrorCode, Publication, Subscription};
use roster_core::session::acl::TokenDigest;
use std::path::{Path, PathBuf};
use std::process::Command;

const BILLING_TOKEN: &str = "billing-secret-7f3a";

/// `billing` (by token) publishes and reads `billing.`; the dev client certificate
/// (`roster dev client`) reads `billing.` only; nobody else may do anything.
fn rules() -> String {
    format!(
        r#"
[[token]]
identity = "billing"
sha256 = "{}"

[[rule]]
name = "billing owns billing"
identity = "billing"
publish = ["billing."]
subscribe = ["billing."]

[[rule]]
name = "dev client reads billing"
identity = "roster dev client"
subscribe = ["billing."]
"#,
        TokenDigest::of(BILLING_TOKEN)
    )
}

/// A `roster dev --tls --acl FILE` cluster (with `extra` flags).
struct Dev {
    proc: Proc,
    sessions: String,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Dev {
    fn start(acl: &Path, extra: &[&str]) -> Dev {
        let base = [&["dev", "--tls", "--acl", acl.to_str().unwrap()][..], extra].concat();
        let proc = Proc::start("dev --tls --acl", &args(&base));
        let (_, l) = proc.wait_stdout(0, "tls ca", |l| l.starts_with("tls ca "));
        // "tls ca CA  (clients trust it: ...; a client certificate: CERT, key KEY)"
        let words: Vec<&str> = l.split_whitespace().collect();
        let after = |w: &str| {
            let i = words.iter().position(|x| *x == w).unwrap();
            PathBuf::from(words[i + 1].trim_end_matches([',', ')']))
        };
        let (ca, client_cert, client_key) = (after("ca"), after("certificate:"), after("key"));
        let (_, l) = proc.wait_stdout(0, "sessions", |l| l.starts_with("sessions "));
        let sessions = l["sessions ".len()..].to_string();
        proc.wait_stdout(0, "ready", |l| l.starts_with("ready"));
        Dev {
            proc,
            sessions,
            ca,
            client_cert,
            client_key,
        }
    }

    fn client(&self, token: Option<&str>, certificate: bool) -> Client {
        let mut tls = ClientTls::from_ca_file(&self.ca).unwrap();
        if certificate {
            tls = tls
                .with_identity_files(&self.client_cert, &self.client_key)
                .unwrap();
        }
        let mut b = Client::builder()
            .sessions(self.sessions.split(','))
            .tls(tls);
        if let Some(t) = token {
            b = b.token(t);
        }
        let client = b.build().unwrap();
        client.wait_connected(DEADLINE).unwrap();
        client
    }
}

fn write_rules(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("acl.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The refusal of `p`: its code and reason.
fn refusal(p: &Publication) -> (ErrorCode, String) {
    match p.registered().wait(DEADLINE) {
        Err(Error::Rejected { code, reason, .. }) => (code, reason),
        other => panic!("not refused: {other:?}"),
    }
}

fn refused_subscription(s: &Subscription) -> (ErrorCode, String) {
    eventually("the subscription's refusal", || match s.rejected() {
        Some(Error::Rejected { code, reason, .. }) => Some((code, reason)),
        _ => None,
    })
}

fn payloads(s: &Subscription) -> Vec<Vec<String>> {
    std::iter::from_fn(|| s.try_recv())
        .map(|u| {
            u.publishers()
                .iter()
                .flat_map(|p| p.payload().map(|b| String::from_utf8_lossy(b).into_owned()))
                .collect()
        })
        .collect()
}

fn outside_prefixes_nothing_is_published_or_read(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&write_rules(dir.path(), &rules()), extra);
    let billing = dev.client(Some(BILLING_TOKEN), false);
    let reader = dev.client(None, true);
    let anonymous = dev.client(None, false);
    let sub = reader.subscribe("billing.Invoice").unwrap();

    // Publishing outside one's prefixes: refused by name, nothing registered.
    let rogue = anonymous
        .publish("billing.Invoice", [&b"rogue"[..]])
        .unwrap();
    let (code, why) = refusal(&rogue);
    assert_eq!(code, ErrorCode::Forbidden);
    assert!(
        why.contains("anonymous may not publish \"billing.Invoice\""),
        "{why}"
    );
    let elsewhere = billing.publish("orders.Order", [&b"x"[..]]).unwrap();
    let (_, why) = refusal(&elsewhere);
    assert!(
        why.contains("\"billing\" may not publish \"orders.Order\" (no rule allows it)"),
        "{why}"
    );

    // The owner publishes; the reader's lists, which follow in order, hold it and never
    // the rogue instance refused before it.
    let good = billing.publish("billing.Invoice", [&b"good"[..]]).unwrap();
    good.wait_registered(DEADLINE).unwrap();
    let mut seen = Vec::new();
    eventually("the owner's instance listed", || {
        seen.extend(payloads(&sub));
        seen.iter().any(|l| l == &["good"]).then_some(())
    });
    assert!(
        seen.iter().flatten().all(|p| p != "rogue"),
        "a refused publisher was listed: {seen:?}"
    );

    // Subscribing outside one's prefixes: refused, and nothing arrives even though the
    // key has a listed instance.
    let peeking = anonymous.subscribe("billing.Invoice").unwrap();
    let (code, why) = refused_subscription(&peeking);
    assert_eq!(code, ErrorCode::Forbidden);
    assert!(why.contains("may not subscribe"), "{why}");
    let wandering = reader.subscribe("orders.Order").unwrap();
    let (_, why) = refused_subscription(&wandering);
    assert!(
        why.contains("\"roster dev client\" may not subscribe \"orders.Order\""),
        "{why}"
    );
    // A refusal answers the subscription itself: anything pushed for it would have been
    // sent before, so nothing can be waiting now.
    assert!(
        peeking.try_recv().is_none(),
        "a refused subscriber got a list"
    );
    assert!(wandering.try_recv().is_none());
    drop(dev.proc);
}

#[test]
fn outside_its_prefixes_a_client_publishes_and_reads_nothing() {
    outside_prefixes_nothing_is_published_or_read(&[]);
}

#[test]
fn outside_its_prefixes_a_client_publishes_and_reads_nothing_on_glommio() {
    outside_prefixes_nothing_is_published_or_read(&["--runtime", "glommio", "--shards", "2"]);
}

#[test]
fn a_changed_rule_file_applies_without_a_restart_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_rules(dir.path(), &rules());
    let dev = Dev::start(&path, &[]);
    let billing = dev.client(Some(BILLING_TOKEN), false);
    let first = billing.publish("billing.A", [&b"a"[..]]).unwrap();
    first.wait_registered(DEADLINE).unwrap();

    // A file that does not parse: the rules in force stay (billing still publishes).
    std::fs::write(&path, "[[rule]]\nidentity = ").unwrap();
    dev.proc
        .wait_stderr(0, "not reloaded", |l| l.contains("not reloaded"));
    let second = billing.publish("billing.B", [&b"b"[..]]).unwrap();
    second.wait_registered(DEADLINE).unwrap();

    // A valid change: billing's publishing is frozen, from the next request on.
    let freeze = "[[rule]]\nname = \"freeze\"\nidentity = \"billing\"\neffect = \"deny\"\n\
                  publish = [\"billing.\"]\n";
    let frozen = format!("{freeze}{}", rules());
    std::fs::write(&path, frozen).unwrap();
    let refused = eventually("the new rules in force", || {
        let p = billing.publish("billing.C", [&b"c"[..]]).unwrap();
        match p.registered().wait(DEADLINE) {
            Err(Error::Rejected { reason, .. }) => Some(reason),
            Ok(()) => None,
            Err(e) => panic!("{e}"),
        }
    });
    assert!(refused.contains("freeze denies it"), "{refused}");
    // What was registered before stays registered.
    assert!(first.rejected().is_none());
}

#[test]
fn roster_publish_reports_a_denial_and_exits_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&write_rules(dir.path(), &rules()), &[]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(["publish", "--session", &dev.sessions, "--tls-ca"])
        .arg(&dev.ca)
        .args(["orders.Order", "10.0.0.1:80"])
        .env("ROSTER_TOKEN", BILLING_TOKEN);
    let mut publish = Proc::spawn("publish", cmd);
    let (status, stderr) = publish.wait_exit();
    assert!(!status.success());
    assert!(
        stderr.contains("\"billing\" may not publish \"orders.Order\""),
        "{stderr}"
    );
}
