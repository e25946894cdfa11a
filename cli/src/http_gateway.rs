//! Starting the HTTP/JSON gateway (`roster_gateway`) from a role's settings: where it
//! listens (`http_listen`; loopback and a free port for `roster dev`) and the session
//! client addresses its client connects to.

use crate::config::ConfigError;
use crate::roles::StartError;
use crate::runtime::resolve;
use roster_client::ClientTls;
use roster_gateway::{GatewayConfig, GatewayServer};
use roster_shell::tls::Tls;
use std::net::SocketAddr;

/// Starts a gateway on `listen` (default loopback, a free port), a client of `sessions`
/// (with `tls` if they take TLS), serving HTTPS if `serve_tls` is the node's.
pub fn start(
    listen: Option<&str>,
    sessions: &[String],
    tls: Option<ClientTls>,
    serve_tls: Tls,
) -> Result<GatewayServer, StartError> {
    let listen = match listen {
        Some(a) => resolve(a).map_err(|e| match e {
            StartError::Io(e) => StartError::Config(ConfigError(format!("http_listen: {e}"))),
            e => e,
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let mut config = GatewayConfig::new(listen, sessions.iter().cloned());
    config.tls = tls;
    config.serve_tls = serve_tls;
    Ok(GatewayServer::start(config)?)
}
