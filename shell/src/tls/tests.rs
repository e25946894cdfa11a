//! The TLS wrapper over in-memory pipes: handshakes, frames in both directions through
//! sockets that take a few bytes at a time, and the refusals (wrong CA, no peer
//! certificate), plus the errors of loading files.

use super::*;
use crate::admission::ListenerKind;
use crate::framing::Framed;
use crate::framing::tests::push_frame as frame;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use roster_core::wire::Frame;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::Path;
use std::rc::Rc;

/// A CA and certificates it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

/// A certificate and its key, as PEM and as rustls takes them.
struct Issued {
    cert_pem: String,
    key_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            der: cert.der().clone(),
        }
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }

    fn issue(&self) -> Issued {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// A node's files in `dir`, its certificate signed by this CA.
    fn node_files(&self, dir: &Path) -> TlsFiles {
        let node = self.issue();
        std::fs::write(dir.join("ca.pem"), &self.pem).unwrap();
        std::fs::write(dir.join("node.pem"), &node.cert_pem).unwrap();
        std::fs::write(dir.join("node.key"), &node.key_pem).unwrap();
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
            client_ca: None,
        }
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("roster-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One direction of an in-memory socket.
type Bytes = Rc<RefCell<VecDeque<u8>>>;

/// A non-blocking in-memory socket that moves at most `chunk` bytes per call and holds at
/// most `capacity` unread bytes, so reads and writes are partial and would block.
struct Pipe {
    /// Bytes moved by either end, in either direction: progress.
    moved: Rc<std::cell::Cell<u64>>,
    inbound: Bytes,
    outbound: Bytes,
    chunk: usize,
    capacity: usize,
}

fn pipes(chunk: usize, capacity: usize) -> (Pipe, Pipe) {
    let (a, b) = (Bytes::default(), Bytes::default());
    let moved = Rc::default();
    let pipe = |inbound: &Bytes, outbound: &Bytes| Pipe {
        moved: Rc::clone(&moved),
        inbound: inbound.clone(),
        outbound: outbound.clone(),
        chunk,
        capacity,
    };
    (pipe(&a, &b), pipe(&b, &a))
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut q = self.inbound.borrow_mut();
        if q.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk).min(q.len());
        for (slot, byte) in buf.iter_mut().zip(q.drain(..n)) {
            *slot = byte;
        }
        self.moved.set(self.moved.get() + n as u64);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut q = self.outbound.borrow_mut();
        let room = self.capacity.saturating_sub(q.len());
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk).min(room);
        q.extend(&buf[..n]);
        self.moved.set(self.moved.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One end: its socket, TLS and framing.
struct End {
    pipe: Pipe,
    tls: TlsConn,
    framed: Framed,
    got: Vec<Frame>,
}

impl End {
    fn new(pipe: Pipe, tls: TlsConn) -> End {
        End {
            pipe,
            tls,
            framed: Framed::new(1 << 20),
            got: Vec::new(),
        }
    }

    /// One readiness pass, as the mio shell makes it: flush, read, flush.
    fn pass(&mut self) -> io::Result<()> {
        self.framed.flush(&mut self.tls.io(&mut self.pipe))?;
        self.tls.flush(&mut self.pipe)?;
        let out = self.framed.read(&mut self.tls.io(&mut self.pipe))?;
        assert!(out.malformed.is_none() && !out.eof);
        self.got.extend(out.frames);
        self.framed.flush(&mut self.tls.io(&mut self.pipe))?;
        self.tls.flush(&mut self.pipe)?;
        Ok(())
    }
}

/// Runs both ends until neither moves a byte; the first error of each.
fn run(a: &mut End, b: &mut End) -> (io::Result<()>, io::Result<()>) {
    let (mut ra, mut rb) = (Ok(()), Ok(()));
    for _ in 0..100_000 {
        let before = a.pipe.moved.get();
        if ra.is_ok() {
            ra = a.pass();
        }
        if rb.is_ok() {
            rb = b.pass();
        }
        if a.pipe.moved.get() == before {
            break;
        }
    }
    (ra, rb)
}

/// A client end and a server end of `config`'s kind-`kind` port over pipes.
fn pair(server: &Tls, kind: ListenerKind, client: &Tls, chunk: usize) -> (End, End) {
    let (a, b) = pipes(chunk, 4 * chunk);
    let c = client.dial("127.0.0.1:9600").unwrap().unwrap();
    let s = server.accept(kind).unwrap().unwrap();
    (End::new(a, c), End::new(b, s))
}

#[test]
fn frames_cross_a_handshake_through_partial_reads_and_writes() {
    let ca = Ca::new();
    let dir = temp_dir("frames");
    let node = Tls::node(&ca.node_files(&dir)).unwrap();
    let client = Tls::client(ca.roots(), None).unwrap();
    for chunk in [1, 7, 1000, 65536] {
        let (mut c, mut s) = pair(&node, ListenerKind::Client, &client, chunk);
        // Queued before the handshake: held by rustls until it completes.
        let sent: Vec<Frame> = (1..=5)
            .map(|i| frame(i, if i % 2 == 0 { 2000 } else { 1 }))
            .collect();
        for f in &sent {
            c.framed.queue(f).unwrap();
        }
        let (rc, rs) = run(&mut c, &mut s);
        rc.unwrap();
        rs.unwrap();
        assert!(!c.tls.is_handshaking() && !s.tls.is_handshaking());
        assert_eq!(s.got, sent, "chunk {chunk}");
        // And back, after the handshake.
        let back = frame(9, 3000);
        s.framed.queue(&back).unwrap();
        let (rc, rs) = run(&mut c, &mut s);
        rc.unwrap();
        rs.unwrap();
        assert_eq!(c.got, vec![back], "chunk {chunk}");
    }
    // A node dials a node's peer port with its certificate: mutual TLS.
    let (mut c, mut s) = pair(&node, ListenerKind::Peer, &node, 100);
    c.framed.queue(&frame(1, 1)).unwrap();
    let (rc, rs) = run(&mut c, &mut s);
    rc.unwrap();
    rs.unwrap();
    assert_eq!(s.got.len(), 1);
    assert!(s.tls.peer_certificate().is_some());
}

#[test]
fn a_client_trusting_another_ca_fails_the_handshake() {
    let (ca, other) = (Ca::new(), Ca::new());
    let node = Tls::node(&ca.node_files(&temp_dir("wrong-ca"))).unwrap();
    let client = Tls::client(other.roots(), None).unwrap();
    let (mut c, mut s) = pair(&node, ListenerKind::Client, &client, 512);
    c.framed.queue(&frame(1, 1)).unwrap();
    let (rc, _) = run(&mut c, &mut s);
    let e = rc.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("tls:"), "{e}");
    assert!(s.got.is_empty());
}

#[test]
fn a_peer_port_refuses_a_dial_without_a_cluster_certificate() {
    let ca = Ca::new();
    let node = Tls::node(&ca.node_files(&temp_dir("no-cert"))).unwrap();
    // Trusts the cluster CA but has no certificate of its own.
    let anonymous = Tls::client(ca.roots(), None).unwrap();
    let (mut c, mut s) = pair(&node, ListenerKind::Peer, &anonymous, 512);
    c.framed.queue(&frame(1, 1)).unwrap();
    let (_, rs) = run(&mut c, &mut s);
    assert_eq!(rs.unwrap_err().kind(), io::ErrorKind::InvalidData);
    assert!(s.got.is_empty());
    // With a certificate of another CA: refused too.
    let stranger = Ca::new().issue();
    let outsider = Tls::client(ca.roots(), Some((vec![stranger.cert], stranger.key))).unwrap();
    let (mut c, mut s) = pair(&node, ListenerKind::Peer, &outsider, 512);
    c.framed.queue(&frame(1, 1)).unwrap();
    let (_, rs) = run(&mut c, &mut s);
    assert_eq!(rs.unwrap_err().kind(), io::ErrorKind::InvalidData);
    assert!(s.got.is_empty());
    // The client port does not ask for one.
    let (mut c, mut s) = pair(&node, ListenerKind::Client, &anonymous, 512);
    c.framed.queue(&frame(1, 1)).unwrap();
    let (rc, rs) = run(&mut c, &mut s);
    rc.unwrap();
    rs.unwrap();
    assert_eq!(s.got.len(), 1);
    assert!(s.tls.peer_certificate().is_none());
}

#[test]
fn loading_errors_name_the_field_and_the_file() {
    let ca = Ca::new();
    let dir = temp_dir("errors");
    let files = ca.node_files(&dir);
    let missing = TlsFiles {
        key: dir.join("absent.key"),
        ..files.clone()
    };
    let e = Tls::node(&missing).unwrap_err().0;
    assert!(
        e.starts_with("tls.key: ") && e.contains("absent.key"),
        "{e}"
    );
    std::fs::write(dir.join("empty.pem"), "not a pem\n").unwrap();
    let empty = TlsFiles {
        ca: dir.join("empty.pem"),
        ..files.clone()
    };
    let e = Tls::node(&empty).unwrap_err().0;
    assert!(e.starts_with("tls.ca: ") && e.contains("empty.pem"), "{e}");
    let no_client_ca = TlsFiles {
        client_ca: Some(dir.join("nope.pem")),
        ..files
    };
    let e = Tls::node(&no_client_ca).unwrap_err().0;
    assert!(
        e.starts_with("tls.client_ca: ") && e.contains("nope.pem"),
        "{e}"
    );
}

#[test]
fn server_names_come_from_the_dialled_host() {
    assert_eq!(
        format!("{:?}", server_name("127.0.0.1:9600").unwrap()),
        format!(
            "{:?}",
            ServerName::IpAddress("127.0.0.1".parse::<std::net::IpAddr>().unwrap().into())
        )
    );
    assert!(matches!(
        server_name("[::1]:9600").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        server_name("meta-1.roster:9600").unwrap(),
        ServerName::DnsName(_)
    ));
    assert!(server_name("bad name:1").is_err());
}

/// The glommio shell's way: the server reads ciphertext itself, hands it to `receive` and
/// decodes the plaintext; its answers go out through `flush` and a write-only socket.
#[test]
fn ciphertext_handed_in_by_the_caller_crosses_the_handshake_too() {
    let ca = Ca::new();
    let node = Tls::node(&ca.node_files(&temp_dir("receive"))).unwrap();
    let client = Tls::client(ca.roots(), None).unwrap();
    let (a, mut b) = pipes(100, 400);
    let mut c = End::new(a, client.dial("127.0.0.1:9600").unwrap().unwrap());
    let mut s = node.accept(ListenerKind::Client).unwrap().unwrap();
    let mut framed = Framed::new(1 << 20);
    let sent = vec![frame(1, 1), frame(2, 2000)];
    for f in &sent {
        c.framed.queue(f).unwrap();
    }
    let back = frame(3, 500);
    let mut replied = false;
    let mut got = Vec::new();
    for _ in 0..10_000 {
        c.pass().unwrap();
        let mut buf = [0u8; 100];
        let mut plain = Vec::new();
        while let Ok(n) = b.read(&mut buf) {
            assert!(
                !s.receive(&buf[..n], &mut plain).unwrap(),
                "no close_notify"
            );
        }
        got.extend(framed.ingest(&plain).frames);
        if got.len() == sent.len() && !replied {
            framed.queue(&back).unwrap();
            replied = true;
        }
        framed.flush(&mut s.io(&mut b)).unwrap();
        s.flush(&mut b).unwrap();
        if replied && c.got.len() == 1 {
            break;
        }
    }
    assert_eq!(got, sent);
    assert_eq!(c.got, vec![back]);
    // Garbage is an error, not a panic.
    let mut plain = Vec::new();
    let mut fresh = node.accept(ListenerKind::Client).unwrap().unwrap();
    let e = fresh
        .receive(b"GET / HTTP/1.1\r\n\r\n", &mut plain)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(plain.is_empty());
}

/// The leaf the client end of `c` was served.
fn served(c: &End) -> Vec<u8> {
    c.tls.peer_certificate().unwrap().to_vec()
}

#[test]
fn a_reload_serves_new_handshakes_and_leaves_open_ones_alone() {
    let ca = Ca::new();
    let dir = temp_dir("reload");
    let files = ca.node_files(&dir);
    let node = Tls::node(&files).unwrap();
    // A clone, as each shell and each shard holds: it sees the reload too.
    let shard = node.clone();
    let client = Tls::client(ca.roots(), None).unwrap();
    let (mut c1, mut s1) = pair(&shard, ListenerKind::Client, &client, 1000);
    let (r1, r2) = run(&mut c1, &mut s1);
    r1.unwrap();
    r2.unwrap();
    let first = served(&c1);
    let next = ca.issue();
    std::fs::write(&files.key, &next.key_pem).unwrap();
    std::fs::write(&files.cert, &next.cert_pem).unwrap();
    assert!(node.reload().unwrap());
    let (mut c2, mut s2) = pair(&shard, ListenerKind::Client, &client, 1000);
    let (r1, r2) = run(&mut c2, &mut s2);
    r1.unwrap();
    r2.unwrap();
    assert_eq!(served(&c2), next.cert.to_vec());
    assert_ne!(served(&c2), first);
    // The connection made before still carries frames.
    c1.framed.queue(&frame(1, 1)).unwrap();
    let (r1, r2) = run(&mut c1, &mut s1);
    r1.unwrap();
    r2.unwrap();
    assert_eq!(s1.got, vec![frame(1, 1)]);
    // A broken file: an error naming the field and the file, and the new one stays.
    std::fs::write(&files.cert, "junk").unwrap();
    let e = node.reload().unwrap_err().0;
    assert!(e.starts_with("tls.cert: ") && e.contains("node.pem"), "{e}");
    let (mut c3, mut s3) = pair(&shard, ListenerKind::Peer, &node, 1000);
    let (r1, r2) = run(&mut c3, &mut s3);
    r1.unwrap();
    r2.unwrap();
    assert_eq!(served(&c3), next.cert.to_vec());
    // Plain TCP has nothing to reload.
    assert!(!Tls::default().reload().unwrap());
}
