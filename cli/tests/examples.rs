//! The HTTP examples under `examples/` run against a real `roster dev` and print what
//! each step should: the Python one (standard library only) and the curl one.

mod common;

use common::{Proc, dev_with_http};
use std::path::Path;
use std::process::Command;

/// Runs `program example base` to its end; its stdout lines (it must succeed).
fn run(program: &str, example: &str, base: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example);
    let mut cmd = Command::new(program);
    cmd.arg(&path).arg(base);
    if base.starts_with("https://") {
        // What Python's ssl module and curl trust, without changing the examples.
        let ca = common::tls::ca_for(common::tls::addr_of(base));
        cmd.env("SSL_CERT_FILE", &ca).env("CURL_CA_BUNDLE", &ca);
    }
    let mut p = Proc::spawn(example, cmd);
    let (status, stderr) = p.wait_exit();
    let out = p.stdout();
    assert!(
        status.success(),
        "{example}: {status}\nstdout:\n{}\nstderr:\n{stderr}",
        out.join("\n")
    );
    out
}

#[test]
fn the_python_example_registers_watches_and_deregisters() {
    let (_dev, base, _) = dev_with_http();
    let out = run("python3", "python/register_and_watch.py", &base);
    assert_eq!(
        out,
        [
            "registered py-1 ttl_ms=3000",
            "list ['py-1']",
            "registered py-2 ttl_ms=3000",
            "changed ['py-1', 'py-2']",
            "watch ['py-1', 'py-2']",
            "deregistered py-2 status=204",
            "watch ['py-1']",
            "deregistered py-1 status=204",
            "list []",
        ]
    );
}

#[test]
fn the_curl_example_registers_watches_and_deregisters() {
    let (_dev, base, _) = dev_with_http();
    let out = run("bash", "curl/register_and_watch.sh", &base);
    let step = |prefix: &str| {
        out.iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect::<Vec<_>>()
    };
    let registered = step("register: ");
    assert_eq!(registered.len(), 2, "{out:?}");
    assert!(
        registered[0].contains(r#""id":"curl-1","ttl_ms":10000"#),
        "{out:?}"
    );
    assert!(
        step("heartbeat: ")[0].contains(r#""id":"curl-1""#),
        "{out:?}"
    );
    assert!(
        step("list: ")[0].contains(r#""payload":"10.0.0.3:8080""#),
        "{out:?}"
    );
    assert!(
        step("blocking: ")[0].contains(r#""id":"curl-1""#),
        "{out:?}"
    );
    let watched = step("watch: ");
    assert_eq!(watched.len(), 2, "{out:?}");
    assert!(
        !watched[0].contains("curl-2") && watched[1].contains(r#""id":"curl-2""#),
        "{out:?}"
    );
    assert_eq!(step("deregister: "), ["deregister: 204", "deregister: 204"]);
    assert!(
        out.last().unwrap().ends_with("404") && out.last().unwrap().contains("not_found"),
        "{out:?}"
    );
}
