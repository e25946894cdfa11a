//! The DNS server: UDP and TCP on one address, served by a tokio runtime on a thread of
//! its own (as the admin server: the nodes' event loops are not touched), learning lists
//! through a `roster-client` connected to the session's client address.
//!
//! Binding happens before the thread starts, so a bad or busy address is an error of
//! [`DnsServer::start`] and the bound address is known at once (port 0 picks one that is
//! free for both UDP and TCP).

use crate::answer::{MAX_TCP, Parsed, Request, encode, parse, respond};
use crate::directory::{Directory, Limits};
use crate::name::Target;
use roster_admin::ServerThread;
use roster_client::{Client, ClientOptions};
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tracing::{debug, error, info};

/// How the DNS server is set up.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Where it listens, UDP and TCP.
    pub listen: SocketAddr,
    /// Session client addresses its client subscribes through.
    pub sessions: Vec<String>,
    /// TTL of every record, in seconds: short, as lists change with every push.
    pub ttl: u32,
    /// Bounds of the kept subscriptions.
    pub limits: Limits,
    /// TLS of its client to the sessions (`None`: plain), as `ClientOptions::tls`.
    pub tls: Option<roster_client::ClientTls>,
}

impl DnsConfig {
    /// Defaults: a 2-second TTL and [`Limits::default`].
    pub fn new<S: Into<String>>(
        listen: SocketAddr,
        sessions: impl IntoIterator<Item = S>,
    ) -> DnsConfig {
        DnsConfig {
            listen,
            sessions: sessions.into_iter().map(Into::into).collect(),
            ttl: 2,
            limits: Limits::default(),
            tls: None,
        }
    }
}

/// Queries answered at once over UDP; more are dropped (the client retries), so a flood
/// of new names cannot queue without bound.
const MAX_UDP_IN_FLIGHT: usize = 1_024;
/// TCP connections open at once; more are closed at once.
const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP connection idle this long is closed (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// How often idle subscriptions are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(10);
/// Tries at finding a port free for both UDP and TCP when port 0 is asked for.
const BIND_TRIES: usize = 16;

/// A running DNS server; dropping it stops it.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    /// Stops the server when dropped.
    _thread: ServerThread,
}

impl DnsServer {
    /// Binds `config.listen` (UDP and TCP) and serves on a thread named `dns`.
    pub fn start(config: DnsConfig) -> io::Result<DnsServer> {
        let (udp, tcp) = bind(config.listen).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("dns_listen: cannot listen on {}: {e}", config.listen),
            )
        })?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let addr = udp.local_addr()?;
        let mut options = ClientOptions::new(config.sessions.clone());
        options.tls = config.tls.clone();
        let client =
            Client::with_options(options).map_err(|e| io::Error::other(format!("dns: {e}")))?;
        let directory = Arc::new(Directory::new(client, config.limits));
        let ttl = config.ttl;
        let thread = ServerThread::spawn("dns", move |stopped| async move {
            let (udp, tcp) = match (
                tokio::net::UdpSocket::from_std(udp),
                tokio::net::TcpListener::from_std(tcp),
            ) {
                (Ok(u), Ok(t)) => (Arc::new(u), t),
                (Err(e), _) | (_, Err(e)) => {
                    return error!(error = %e, "dns server cannot start");
                }
            };
            tokio::select! {
                _ = stopped => {}
                () = serve_udp(udp, directory.clone(), ttl) => {}
                () = serve_tcp(tcp, directory.clone(), ttl) => {}
                () = expire(directory) => {}
            }
        })?;
        info!(%addr, "dns server listening");
        Ok(DnsServer {
            addr,
            _thread: thread,
        })
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A UDP socket and a TCP listener on one address.
fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind(addr)?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            // The port picked for UDP is taken for TCP: pick another.
            Err(_) if addr.port() == 0 && tries < BIND_TRIES => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// The answer to `request` (whose bytes are `raw`), looking its service up.
async fn answer(
    directory: &Directory,
    raw: &[u8],
    request: Box<Request>,
    limit: usize,
    ttl: u32,
) -> Option<Vec<u8>> {
    let Target::Service(data_id) = &request.target else {
        return encode(&respond(&request, None, ttl), limit);
    };
    match directory.lookup(data_id).await {
        Some(kept) => kept.answer(raw, limit, || {
            encode(&respond(&request, Some(kept.instances()), ttl), limit)
        }),
        None => encode(&respond(&request, None, ttl), limit),
    }
}

async fn serve_udp(socket: Arc<tokio::net::UdpSocket>, directory: Arc<Directory>, ttl: u32) {
    let in_flight = Arc::new(Semaphore::new(MAX_UDP_IN_FLIGHT));
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // An ICMP error of an earlier answer's peer, or a datagram too big: the
            // socket is fine, the next one is served.
            Err(e) => {
                debug!(error = %e, "dns: udp receive");
                continue;
            }
        };
        let request = match parse(&buf[..n]) {
            Parsed::Ask(r) => r,
            Parsed::Reply(bytes) => {
                let _ = socket.send_to(&bytes, peer).await;
                continue;
            }
            Parsed::Drop => continue,
        };
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            debug!(%peer, "dns: too many queries in flight, one dropped");
            continue;
        };
        let (socket, directory) = (socket.clone(), directory.clone());
        let raw = buf[..n].to_vec();
        tokio::spawn(async move {
            let limit = request.udp_limit();
            if let Some(bytes) = answer(&directory, &raw, request, limit, ttl).await {
                let _ = socket.send_to(&bytes, peer).await;
            }
            drop(permit);
        });
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, directory: Arc<Directory>, ttl: u32) {
    let open = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                debug!(error = %e, "dns: tcp accept");
                // Out of descriptors, most likely: let some close before the next try.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            continue;
        };
        let directory = directory.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &directory, ttl).await {
                debug!(error = %e, "dns: tcp connection closed");
            }
            drop(permit);
        });
    }
}

/// Answers the queries of one TCP connection in turn, each framed by its 16-bit length
/// (RFC 1035 §4.2.2), until the client closes it or is idle too long.
async fn connection(
    mut stream: tokio::net::TcpStream,
    directory: &Directory,
    ttl: u32,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        // Sized by the query, not the largest: hundreds of open connections stay small.
        buf.resize(len, 0);
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut buf))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let bytes = match parse(&buf) {
            Parsed::Ask(r) => answer(directory, &buf, r, MAX_TCP, ttl).await,
            Parsed::Reply(b) => Some(b),
            Parsed::Drop => None,
        };
        let Some(bytes) = bytes else {
            // Nothing that can be answered: the stream may be out of step, so close.
            return Ok(());
        };
        // `encode` kept it within MAX_TCP.
        let prefix = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes();
        stream.write_all(&prefix).await?;
        stream.write_all(&bytes).await?;
    }
}

/// Drops idle subscriptions now and then.
async fn expire(directory: Arc<Directory>) {
    let mut every = tokio::time::interval(EXPIRE_EVERY);
    loop {
        every.tick().await;
        directory.expire();
    }
}
