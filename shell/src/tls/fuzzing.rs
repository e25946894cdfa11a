//! What the `tls_handshake` fuzz target checks: arbitrary bytes as the other side of a
//! server [`TlsConn`], and the framing read on top of it, never panic.
//!
//! The first byte of an input picks how it is fed:
//! - bit 7 clear: the bytes are the peer's raw ciphertext (a ClientHello, records, junk),
//!   the part of a TLS port anyone reaches before any certificate is checked;
//! - bit 7 set: a real client first completes the handshake, then sends the bytes as
//!   plaintext, so they reach the framing decoder through rustls's records;
//! - bit 6: through the mio shell's path ([`TlsConn::io`] under `Framed::read`) or the
//!   glommio shell's ([`TlsConn::receive`], then `Framed::ingest`);
//! - bits 0..6: the size of the pieces the bytes arrive in (0: all at once).
//!
//! The server's certificate is a fixed self-signed one (`fuzz_cert.pem`, made for this
//! only), so every run is alike and nothing needs generating.

use crate::framing::{DEFAULT_WRITE_LIMIT, Framed};
use crate::tls::stream::TlsConn;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

const CERT: &str = include_str!("fuzz_cert.pem");
const KEY: &str = include_str!("fuzz_key.pem");

#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn configs() -> &'static (Arc<ServerConfig>, Arc<ClientConfig>) {
    static CONFIGS: OnceLock<(Arc<ServerConfig>, Arc<ClientConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).expect("fuzz_cert.pem");
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("fuzz_key.pem");
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).expect("a root");
        let roots = Arc::new(roots);
        // As a session's client port with `client_ca`: a client certificate is parsed if
        // sent, and not required.
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .allow_unauthenticated()
            .build()
            .expect("a verifier");
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .expect("the fuzz key");
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    })
}

/// A socket that hands out its pieces one per read (then `WouldBlock`), and takes every
/// write.
#[derive(Default)]
struct Pipe {
    incoming: VecDeque<Vec<u8>>,
    outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(piece) = self.incoming.front_mut() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        piece.drain(..n);
        if piece.is_empty() {
            self.incoming.pop_front();
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds `data` (first byte: how, as the module says) to a server connection; panics only
/// if the code under test does.
pub fn check_server_handshake(data: &[u8]) {
    let Some((&how, body)) = data.split_first() else {
        return;
    };
    let (server_config, client_config) = configs();
    let mut server = TlsConn::server(server_config.clone()).expect("a server connection");
    let mut framed = Framed::new(DEFAULT_WRITE_LIMIT);
    let piece = match usize::from(how & 0x3f) {
        0 => body.len().max(1),
        n => n,
    };
    let ciphertext: Vec<Vec<u8>> = if how & 0x80 == 0 {
        body.chunks(piece).map(<[u8]>::to_vec).collect()
    } else {
        match handshake_then_send(&mut server, client_config, body, piece) {
            Some(records) => records,
            None => return,
        }
    };
    let mut pipe = Pipe::default();
    if how & 0x40 == 0 {
        // The mio shell: the framing reads through rustls from the socket.
        pipe.incoming.extend(ciphertext);
        while !pipe.incoming.is_empty() {
            match framed.read(&mut server.io(&mut pipe)) {
                Ok(out) if out.eof || out.malformed.is_some() => return,
                Ok(_) => {}
                Err(_) => return,
            }
            if server.flush(&mut pipe).is_err() {
                return;
            }
        }
    } else {
        // The glommio shell: ciphertext handed in, plaintext decoded.
        let mut plain = Vec::new();
        for piece in ciphertext {
            match server.receive(&piece, &mut plain) {
                Ok(closed) => {
                    let out = framed.ingest(&plain);
                    plain.clear();
                    if closed || out.malformed.is_some() {
                        return;
                    }
                }
                Err(_) => return,
            }
            let _ = server.flush(&mut pipe);
        }
    }
}

/// The ClientHello a client of the fuzz certificate sends first: a seed for the raw mode.
pub fn client_hello() -> Vec<u8> {
    let (_, client_config) = configs();
    let name = ServerName::try_from("localhost").expect("a name");
    let mut client = TlsConn::client(client_config.clone(), name).expect("a client");
    let mut pipe = Pipe::default();
    client.flush(&mut pipe).expect("a pipe takes everything");
    pipe.outgoing
}

/// Completes a handshake between `server` and a real client, then has the client send
/// `body` as plaintext in pieces of `piece` bytes: the records it wrote. `None` if the
/// handshake did not complete (which would be a finding of its own only as a panic).
fn handshake_then_send(
    server: &mut TlsConn,
    client_config: &Arc<ClientConfig>,
    body: &[u8],
    piece: usize,
) -> Option<Vec<Vec<u8>>> {
    let name = ServerName::try_from("localhost").ok()?;
    let mut client = TlsConn::client(client_config.clone(), name).ok()?;
    let (mut to_server, mut to_client) = (Pipe::default(), Pipe::default());
    let mut plain = Vec::new();
    for _ in 0..8 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        client.flush(&mut to_server).ok()?;
        let bytes = std::mem::take(&mut to_server.outgoing);
        server.receive(&bytes, &mut plain).ok()?;
        server.flush(&mut to_client).ok()?;
        let bytes = std::mem::take(&mut to_client.outgoing);
        client.receive(&bytes, &mut plain).ok()?;
    }
    client.flush(&mut to_server).ok()?;
    let mut records = vec![std::mem::take(&mut to_server.outgoing)];
    for chunk in body.chunks(piece) {
        let mut io = client.io(&mut to_server);
        io.write_all(chunk).ok()?;
        records.push(std::mem::take(&mut to_server.outgoing));
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_feeding_runs_without_panicking() {
        // A valid frame (the framing's own test helper), junk, nothing.
        let frame = crate::framing::tests::push_frame(1, 2);
        let mut encoded = Vec::new();
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let _ = f.queue(&frame);
        f.flush(&mut encoded).unwrap();
        for how in [0x00, 0x05, 0x40, 0x41, 0x80, 0x83, 0xc0, 0xc7] {
            for body in [&encoded[..], b"\x16\x03\x01\x00\x05hello", b""] {
                let mut input = vec![how];
                input.extend_from_slice(body);
                check_server_handshake(&input);
            }
        }
    }

    #[test]
    fn a_handshake_then_plaintext_reaches_the_framing() {
        let (server_config, client_config) = configs();
        let mut server = TlsConn::server(server_config.clone()).unwrap();
        let records = handshake_then_send(&mut server, client_config, b"abc", 1).unwrap();
        assert!(!server.is_handshaking(), "the handshake completed");
        let mut plain = Vec::new();
        for r in &records {
            server.receive(r, &mut plain).unwrap();
        }
        assert_eq!(plain, b"abc");
    }
}
