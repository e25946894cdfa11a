//! Done-when 4: bad configuration, an unreachable meta, a port in use and garbage on a
//! session port each give a clear message, and nothing else breaks; on either runtime.

mod common;
use common::*;
use std::io::Write;

on!(bad_configuration_is_refused_naming_the_field; mio = Rt::Mio, glommio = Rt::Glommio);
fn bad_configuration_is_refused_naming_the_field(rt: Rt) {
    let dir = std::env::temp_dir().join(format!("roster-badcfg-{}-{rt:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "listen = \"127.0.0.1:0\"\nheartbeat = 5\n").unwrap();
    let mut p = Proc::start(
        "data",
        &rt.with(&["data", "--config", unknown.to_str().unwrap()]),
    );
    let (status, err) = p.wait_exit();
    assert!(!status.success());
    assert!(err.contains("heartbeat"), "{err}");

    let typed = dir.join("typed.toml");
    std::fs::write(&typed, "[timing]\nheartbeat_ms = \"fast\"\n").unwrap();
    let mut p = Proc::start(
        "data",
        &rt.with(&["data", "--config", typed.to_str().unwrap()]),
    );
    let (status, err) = p.wait_exit();
    assert!(!status.success());
    assert!(err.contains("heartbeat_ms"), "{err}");

    // A value out of range: the core's validation names the field.
    let mut p = Proc::start(
        "session",
        &rt.with(&[
            "session",
            "--client-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--meta",
            "127.0.0.1:1",
            "--scan-ms",
            "0",
        ]),
    );
    let (status, err) = p.wait_exit();
    assert!(!status.success());
    assert!(err.contains("scan_interval"), "{err}");

    // A partial file is not zeros: defaults fill the rest and the node runs.
    let partial = dir.join("partial.toml");
    std::fs::write(
        &partial,
        "listen = \"127.0.0.1:0\"\nmeta = [\"127.0.0.1:1\"]\n",
    )
    .unwrap();
    let p = Proc::start(
        "data",
        &rt.with(&["data", "--config", partial.to_str().unwrap()]),
    );
    p.wait_stdout(0, "data listening", |l| l.starts_with("data listening"));
    let _ = std::fs::remove_dir_all(&dir);
}

on!(a_port_in_use_is_a_clear_error; mio = Rt::Mio, glommio = Rt::Glommio);
fn a_port_in_use_is_a_clear_error(rt: Rt) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut p = Proc::start(
        "session",
        &rt.with(&[
            "session",
            "--client-listen",
            &addr,
            "--listen",
            "127.0.0.1:0",
            "--meta",
            "127.0.0.1:1",
        ]),
    );
    let (status, err) = p.wait_exit();
    assert!(!status.success());
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

on!(an_unreachable_meta_is_reported_and_retried; mio = Rt::Mio, glommio = Rt::Glommio);
fn an_unreachable_meta_is_reported_and_retried(rt: Rt) {
    let dead = free_port();
    let meta = format!("127.0.0.1:{dead}");
    let mut p = Proc::start(
        "data",
        &rt.with(&["data", "--listen", "127.0.0.1:0", "--meta", &meta]),
    );
    p.wait_stderr(0, "an unreachable-peer warning", |l| {
        l.contains("peer unreachable") && l.contains(&meta)
    });
    assert!(p.is_running(), "the node keeps retrying");
}

on!(garbage_on_a_session_port_closes_only_that_connection; mio = MIO, glommio = GLOMMIO);
fn garbage_on_a_session_port_closes_only_that_connection(c: Runtimes) {
    if tls::skipped("writes plaintext garbage and frames to a client port on purpose") {
        return;
    }
    let (_meta, m) = meta();
    let _d = c.data(&m, 101);
    let (s, a) = c.session(&m, 201);
    let sub = subscribe(&a, "svc");
    let _p = publish(&a, "svc", &["one:80".into()]);
    let at = wait_list(&sub, 0, &["one:80".into()]);
    for junk in [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], &[0xff; 64][..]] {
        let mut c = std::net::TcpStream::connect(&a).unwrap();
        c.write_all(junk).unwrap();
    }
    s.wait_stderr(0, "a logged reason", |l| l.contains("malformed frame"));
    // Peer traffic on the client port is refused too, with a reason.
    let hello = roster_core::wire::Frame::new(
        0,
        roster_core::wire::PeerHello::new(
            roster_core::model::Role::Data,
            roster_core::model::ProcessId {
                node: roster_core::model::NodeId(9),
                incarnation: roster_core::model::Incarnation(1),
            },
            "x:1".into(),
        ),
    );
    let mut c = std::net::TcpStream::connect(&a).unwrap();
    c.write_all(&hello.to_bytes().unwrap()).unwrap();
    s.wait_stderr(0, "peer traffic refused", |l| {
        l.contains("PeerHello on the Client port")
    });
    // Existing clients are unaffected.
    let _p2 = publish(&a, "svc", &["two:80".into()]);
    wait_list(&sub, at + 1, &["one:80".into(), "two:80".into()]);
}
