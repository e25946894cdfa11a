//! HTTPS on the process's HTTP ports (this admin server and the gateway): an
//! [`axum::serve::Listener`] that accepts TCP connections and hands axum only those whose
//! TLS handshake (tokio-rustls) completed, so the servers keep their axum setup unchanged.
//!
//! Each handshake runs in a task of its own, bounded by the node's handshake timeout, so a
//! client that connects and sends nothing holds neither the accept loop nor a descriptor
//! for longer than that. The server configuration is read from the shared [`Tls`] for each
//! connection, so a certificate reload applies to the next one. Plain HTTP sent to the
//! port fails the handshake and is closed: nothing is served without TLS.

use roster_shell::tls::Tls;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// Handshaken connections waiting for axum to take them.
const READY: usize = 64;

/// A listener serving only connections that completed a TLS handshake.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` (inside a tokio runtime), handshaking with `tls`'s HTTP
    /// configuration as it stands for each connection. `what` names the port in the log.
    pub fn new(listener: TcpListener, tls: Tls, what: &'static str) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY);
        let accepting = tokio::spawn(accept(listener, tls, tx, what));
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(
    listener: TcpListener,
    tls: Tls,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    what: &'static str,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: as axum's own loop, pause rather than
                // spin, and keep serving.
                warn!(port = what, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(config) = tls.http() else {
            // Not made with TLS: never started so (see `serve`); refuse rather than serve
            // plain on a port meant to be HTTPS.
            continue;
        };
        let (ready, tls) = (ready.clone(), tls.clone());
        tokio::spawn(async move {
            let timeout = tls.handshake_timeout();
            let handshake = TlsAcceptor::from(config).accept(stream);
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                // Plain HTTP, a wrong CA on the client's side, a scanner: its problem.
                Ok(Err(e)) => debug!(port = what, %peer, error = %e, "tls handshake failed"),
                Err(_) => {
                    tls.count_handshake_timeout();
                    warn!(port = what, %peer, ?timeout, "tls handshake not done in time: closed");
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (its runtime is stopping): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
