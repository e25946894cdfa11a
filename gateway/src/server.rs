//! The gateway's HTTP server: a tokio runtime on a thread of its own (as the admin
//! server's), the router of every endpoint, and [`Gateway`], the state every handler
//! shares: the client, the instances it registered and the subscriptions it keeps.
//!
//! Binding happens before the thread starts, so a bad or busy address is an error of
//! [`GatewayServer::start`] and the bound address is known at once (port 0 picks one).

use crate::errors::ApiError;
use crate::instances::Instances;
use crate::lists::Topics;
use crate::{GatewayConfig, Limits};
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, put};
use futures_util::future::{Either, select};
use roster_admin::{ServerThread, TlsListener};
use roster_client::{Client, ClientOptions};
use socket2::{Domain, Protocol, Socket, Type};
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{error, info};

/// What every handler sees.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) client: Client,
    pub(crate) limits: Limits,
    pub(crate) instances: Instances,
    pub(crate) topics: Topics,
    /// One permit per open watch or blocking query.
    pub(crate) waiters: Arc<Semaphore>,
}

/// The handlers' state.
pub(crate) type Shared = Arc<Gateway>;

/// A running gateway; dropping it stops it, and the instances it registered leave with
/// its client.
#[derive(Debug)]
pub struct GatewayServer {
    addr: SocketAddr,
    https: bool,
    /// Stops the gateway when dropped.
    _thread: ServerThread,
}

impl GatewayServer {
    /// Binds `config.listen`, connects to the sessions, and serves on a thread named
    /// `gateway`.
    pub fn start(config: GatewayConfig) -> io::Result<GatewayServer> {
        let listener = bind(config.listen).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("http_listen: cannot listen on {}: {e}", config.listen),
            )
        })?;
        let addr = listener.local_addr()?;
        let mut options = ClientOptions::new(config.sessions);
        options.client_id = Some(format!("gateway-{}-{}", std::process::id(), addr.port()));
        options.tls = config.tls;
        let client = Client::with_options(options).map_err(io::Error::other)?;
        let limits = config.limits;
        let https = config.serve_tls.http().is_some();
        let serve_tls = config.serve_tls;
        let gateway = Arc::new(Gateway {
            client,
            instances: Instances::default(),
            topics: Topics::new(limits.max_subscriptions),
            waiters: Arc::new(Semaphore::new(limits.max_waiters)),
            limits,
        });
        let thread = ServerThread::spawn("gateway", move |stopped| async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return error!(error = %e, "gateway cannot start"),
            };
            tokio::spawn(crate::lists::janitor(gateway.clone()));
            // Not a graceful shutdown: watches and streams that keep instances stay open
            // for as long as their clients like, and would hold the process. Stopping
            // drops the runtime with every connection still open (they close, and the
            // instances go with the client).
            let app = router(gateway.clone());
            let serve = match serve_tls.http() {
                None => Either::Left(axum::serve(listener, app).into_future()),
                Some(_) => match TlsListener::new(listener, serve_tls, "gateway") {
                    Ok(listener) => Either::Right(axum::serve(listener, app).into_future()),
                    Err(e) => return error!(error = %e, "gateway cannot start"),
                },
            };
            let stopped = std::pin::pin!(stopped);
            if let Either::Left((Err(e), _)) = select(std::pin::pin!(serve), stopped).await {
                error!(error = %e, "gateway failed");
            }
        })?;
        info!(%addr, https, "HTTP gateway listening");
        Ok(GatewayServer {
            addr,
            https,
            _thread: thread,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https` when the port serves TLS, `http` otherwise: the scheme of its URLs.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// Connections a listener queues before they are accepted: a thousand watchers that
/// connect at once (a fleet restarting) must not find the queue full.
const BACKLOG: i32 = 4096;

/// Binds `addr` and listens with a deep accept queue ([`BACKLOG`]), so that a client may
/// connect as soon as `start` returns.
fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's listeners: a restarted gateway rebinds its port at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Every endpoint; unknown paths and methods answer JSON errors like the rest.
pub(crate) fn router(gateway: Shared) -> Router {
    Router::new()
        .route("/v1/services/{data_id}", get(crate::queries::list))
        .route("/v1/services/{data_id}/watch", get(crate::queries::watch))
        .route(
            "/v1/services/{data_id}/instances/{id}",
            put(crate::instances::register).delete(crate::instances::unregister),
        )
        .route(
            "/v1/services/{data_id}/instances/{id}/heartbeat",
            put(crate::instances::heartbeat),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(gateway)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}
