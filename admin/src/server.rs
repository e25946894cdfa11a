//! The admin HTTP server: a tokio runtime on a thread of its own (the nodes' event loops
//! are not touched), the router of every module's endpoints, and the bearer-token check.
//!
//! With the node's TLS ([`AdminConfig::tls`]) the port serves HTTPS only, through
//! [`TlsListener`] under the same axum serve loop.
//!
//! Binding happens before the thread starts, so a bad or busy address is an error of
//! [`AdminServer::start`] and the bound address is known at once (port 0 picks one).

use crate::error::ApiError;
use crate::https::TlsListener;
use crate::process::Process;
use crate::server_thread::ServerThread;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use roster_shell::tls::Tls;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::{error, info};

/// How the admin server is set up.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Where it listens (loopback unless configured otherwise).
    pub listen: SocketAddr,
    /// When set, every request but `/healthz` and `/readyz` must carry
    /// `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// The node's TLS: with it, the port serves HTTPS only (the node's certificate, no
    /// client certificate asked for); plain by default.
    pub tls: Tls,
}

impl AdminConfig {
    /// The default: loopback, a free port, no token.
    pub fn loopback() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            tls: Tls::default(),
        }
    }
}

/// What every handler sees.
#[derive(Debug)]
pub struct Context {
    /// The process's nodes.
    pub process: Process,
    token: Option<String>,
    /// The node's TLS (plain by default): its counters go into `/metrics`.
    pub tls: Tls,
}

/// The handlers' state.
pub type Shared = Arc<Context>;

/// A running admin server; dropping it stops it.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    https: bool,
    /// Stops the server when dropped.
    _thread: ServerThread,
}

impl AdminServer {
    /// Binds `config.listen` and serves `process` on a thread named `admin`.
    pub fn start(config: AdminConfig, process: Process) -> io::Result<AdminServer> {
        let listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("admin_listen: cannot listen on {}: {e}", config.listen),
            )
        })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Context {
            process,
            token: config.token.filter(|t| !t.is_empty()),
            tls: config.tls.clone(),
        });
        let tls = config.tls.clone();
        let thread = ServerThread::spawn("admin", move |stopped| async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return error!(error = %e, "admin server cannot start"),
            };
            let stop = async {
                let _ = stopped.await;
            };
            let served = match tls.http() {
                None => {
                    axum::serve(listener, router(shared))
                        .with_graceful_shutdown(stop)
                        .await
                }
                Some(_) => match TlsListener::new(listener, tls, "admin") {
                    Ok(listener) => {
                        axum::serve(listener, router(shared))
                            .with_graceful_shutdown(stop)
                            .await
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = served {
                error!(error = %e, "admin server failed");
            }
        })?;
        info!(%addr, https = config.tls.http().is_some(), "admin server listening");
        Ok(AdminServer {
            addr,
            https: config.tls.http().is_some(),
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

/// Every endpoint, behind the token check, and the console's page beside it.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .merge(crate::health::routes())
        .merge(crate::cluster::routes())
        .merge(crate::keys::routes())
        .merge(crate::members::routes())
        .merge(crate::switches::routes())
        .merge(crate::metrics::routes())
        .merge(crate::drain::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        // After the layer, so outside the token check: the console's page holds no data,
        // and a browser cannot send a token when it navigates (the page asks for it).
        .merge(crate::console::routes())
        .with_state(shared)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {}", uri.path()))
}

/// Paths a load balancer or supervisor probes without credentials; they reveal nothing.
const OPEN: [&str; 2] = ["/healthz", "/readyz"];

async fn authorize(
    State(cx): State<Shared>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = &cx.token
        && !OPEN.contains(&request.uri().path())
    {
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this admin server needs `Authorization: Bearer TOKEN`",
            ));
        }
    }
    Ok(next.run(request).await)
}

/// Compares without an early exit, so the time taken tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
