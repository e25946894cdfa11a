//! The DNS interface of `roster dev`, through a real resolver (hickory's, pointed at the
//! `dns ADDR` the cluster prints as its only name server) and raw UDP and TCP exchanges:
//! SRV and A records follow publishes and unpublishes, names outside the zone are
//! NXDOMAIN, and a list too big for UDP is truncated there and whole over TCP.

mod common;

use common::{GLOMMIO_SESSIONS, MIO, Proc, Runtimes, eventually};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use roster_client::Client;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// A dev cluster, its DNS address and a client of its sessions.
fn cluster() -> (Proc, SocketAddr, Client) {
    let dev = Proc::start("dev", &["dev", "--data", "1", "--sessions", "1"]);
    let (_, sessions) = dev.wait_stdout(0, "sessions", |l| l.starts_with("sessions "));
    let (_, dns) = dev.wait_stdout(0, "dns address", |l| l.starts_with("dns "));
    let dns = dns["dns ".len()..].parse().unwrap();
    let client = common::client(sessions["sessions ".len()..].split(',')).unwrap();
    (dev, dns, client)
}

/// Resolves through a fresh resolver each time (so nothing is cached between tries),
/// UDP first and TCP when the answer is truncated, as any stub resolver does.
fn resolve(dns: SocketAddr, name: &str, rtype: RecordType) -> Result<Vec<RData>, ResponseCode> {
    let servers = NameServerConfigGroup::from_ips_clear(&[dns.ip()], dns.port(), true);
    let config = ResolverConfig::from_parts(None, vec![], servers);
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 1;
    let resolver = Resolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(opts)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(resolver.lookup(name, rtype)) {
        Ok(lookup) => Ok(lookup.record_iter().map(|r| r.data().clone()).collect()),
        Err(e) if e.is_nx_domain() => Err(ResponseCode::NXDomain),
        Err(e) if e.is_no_records_found() => Ok(vec![]),
        Err(_) => Err(ResponseCode::ServFail),
    }
}

/// The (priority, weight, port, target) of the SRV records of `name`.
fn srv(dns: SocketAddr, name: &str) -> Vec<(u16, u16, u16, String)> {
    let mut v: Vec<_> = resolve(dns, name, RecordType::SRV)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| match r {
            RData::SRV(s) => Some((s.priority(), s.weight(), s.port(), s.target().to_ascii())),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn a(dns: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
    let mut v: Vec<_> = resolve(dns, name, RecordType::A)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| match r {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn srv_and_a_records_follow_publishes_and_unpublishes() {
    let (_dev, dns, client) = cluster();
    let name = "dns.echo.service.roster.";
    let first = client
        .publish_with("dns.echo", ["10.1.2.3:8080"], [("weight", "5")])
        .unwrap();
    first.wait_registered(Duration::from_secs(30)).unwrap();
    let one = vec![(0, 5, 8080, "10-1-2-3.addr.roster.".to_string())];
    eventually("the first instance's SRV", || {
        (srv(dns, name) == one).then_some(())
    });
    assert_eq!(a(dns, name), vec![Ipv4Addr::new(10, 1, 2, 3)]);
    assert_eq!(
        a(dns, "10-1-2-3.addr.roster."),
        vec![Ipv4Addr::new(10, 1, 2, 3)],
        "the SRV target resolves to the instance"
    );

    let second = client
        .publish_with("dns.echo", ["10.1.2.4:8081"], [("priority", "3")])
        .unwrap();
    let two = vec![
        (0, 5, 8080, "10-1-2-3.addr.roster.".to_string()),
        (3, 1, 8081, "10-1-2-4.addr.roster.".to_string()),
    ];
    eventually("the second instance", || {
        (srv(dns, name) == two).then_some(())
    });
    assert_eq!(
        a(dns, name),
        vec![Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 1, 2, 4)]
    );

    first.unregister().wait(Duration::from_secs(30)).unwrap();
    eventually("the first instance gone", || {
        (a(dns, name) == vec![Ipv4Addr::new(10, 1, 2, 4)]).then_some(())
    });
    assert_eq!(srv(dns, name), two[1..].to_vec());
    drop(second);
    eventually("no instance left", || {
        (resolve(dns, name, RecordType::SRV) == Ok(vec![])).then_some(())
    });
}

#[test]
fn unknown_names_are_nxdomain_and_empty_services_nodata() {
    let (_dev, dns, _client) = cluster();
    for name in [
        "echo.example.com.",
        "echo.other.roster.",
        "1-2-3.addr.roster.",
    ] {
        assert_eq!(
            resolve(dns, name, RecordType::A),
            Err(ResponseCode::NXDomain),
            "{name}"
        );
    }
    // A data id nobody publishes is subscribed and found empty: it exists, with no records.
    assert_eq!(
        resolve(dns, "nobody.service.roster.", RecordType::SRV),
        Ok(vec![])
    );
}

fn query(name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(42).add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::SRV,
    ));
    m.to_vec().unwrap()
}

fn over_udp(dns: SocketAddr, name: &str) -> (Message, usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&query(name), dns).unwrap();
    let mut buf = [0u8; 65_535];
    let n = socket.recv(&mut buf).unwrap();
    (Message::from_vec(&buf[..n]).unwrap(), n)
}

fn over_tcp(dns: SocketAddr, name: &str) -> Message {
    let mut stream = TcpStream::connect(dns).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let q = query(name);
    stream.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    stream.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

#[test]
fn a_big_list_is_truncated_over_udp_and_whole_over_tcp() {
    let (_dev, dns, client) = cluster();
    let n = 60;
    let pubs: Vec<_> = (0..n)
        .map(|i| {
            client
                .publish("dns.many", [format!("10.9.0.{i}:80")])
                .unwrap()
        })
        .collect();
    for p in &pubs {
        p.wait_registered(Duration::from_secs(30)).unwrap();
    }
    let name = "dns.many.service.roster.";
    let tcp = eventually("every instance over TCP", || {
        let m = over_tcp(dns, name);
        (m.answers().len() == n).then_some(m)
    });
    assert!(!tcp.truncated());
    assert!(
        tcp.answers().iter().all(|r| r.ttl() == 2),
        "the default TTL"
    );
    assert_eq!(tcp.additionals().len(), n, "each target's A record");
    let (udp, size) = over_udp(dns, name);
    assert!(udp.truncated(), "{udp:?}");
    assert!(size <= 512, "{size} bytes over UDP without EDNS");
    assert!(udp.answers().len() < n);
    // A resolver retries the truncated answer over TCP and gets every record.
    assert_eq!(srv(dns, name).len(), n);
}

on!(a_session_process_serves_dns_for_its_own_clients; mio = MIO, glommio = GLOMMIO_SESSIONS);

fn a_session_process_serves_dns_for_its_own_clients(rt: Runtimes) {
    let (_meta, meta) = common::meta();
    let _data = rt.data(&meta, 101);
    // A client listener on every interface: the DNS server reaches it on loopback.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(rt.session.with(&[
        "session",
        "--client-listen",
        "0.0.0.0:0",
        "--listen",
        "127.0.0.1:0",
        "--meta",
        &meta,
        "--id",
        "201",
        "--dns-listen",
        "127.0.0.1:0",
        "--dns-ttl",
        "1",
    ]));
    let session = Proc::spawn("session", cmd);
    let (_, l) = session.wait_stdout(0, "session listening", |l| {
        l.starts_with("session listening")
    });
    let port = l.split(['=', ':', ' ']).nth(4).unwrap().to_string();
    let (_, dns) = session.wait_stdout(0, "dns address", |l| l.starts_with("dns "));
    let dns: SocketAddr = dns["dns ".len()..].parse().unwrap();
    let client = common::client([format!("127.0.0.1:{port}")]).unwrap();
    let p = client.publish("dns.own", ["[fd00::7]:443"]).unwrap();
    p.wait_registered(Duration::from_secs(30)).unwrap();
    let name = "dns.own.service.roster.";
    let aaaa = eventually("the instance's AAAA", || {
        let records = resolve(dns, name, RecordType::AAAA).ok()?;
        (!records.is_empty()).then_some(records)
    });
    assert_eq!(
        aaaa,
        vec![RData::AAAA(
            "fd00::7".parse::<std::net::Ipv6Addr>().unwrap().into()
        )]
    );
    let srv = eventually("the SRV record", || {
        let s = srv(dns, name);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(
        srv,
        vec![(0, 1, 443, "fd00-0-0-0-0-0-0-7.addr.roster.".to_string())]
    );
    let (m, _) = over_udp(dns, name);
    assert!(m.answers().iter().all(|r| r.ttl() == 1), "--dns-ttl: {m:?}");
}

#[test]
fn bad_dns_settings_are_refused_naming_the_setting() {
    let session = |extra: &[&str]| {
        let mut a = vec![
            "session",
            "--client-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--meta",
            "127.0.0.1:1",
        ];
        a.extend_from_slice(extra);
        let mut p = Proc::start("session", &a);
        let (status, err) = p.wait_exit();
        assert!(!status.success(), "{err}");
        err
    };
    let err = session(&["--dns-listen", "127.0.0.1:0", "--dns-ttl", "86400"]);
    assert!(err.contains("dns_ttl"), "{err}");
    // The UDP port is taken: the DNS server cannot listen there.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = session(&["--dns-listen", &addr]);
    assert!(err.contains("dns_listen"), "{err}");
}
