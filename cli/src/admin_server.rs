//! Starting a process's admin server from its settings: where it listens (loopback and a
//! free port unless configured: an admin port open to the network is an operator's
//! choice) and its bearer token (the config file's `admin_token`, or `ROSTER_ADMIN_TOKEN`,
//! so a token need not appear on a command line that `ps` shows).

use crate::config::ConfigError;
use crate::roles::StartError;
use crate::runtime::resolve;
use roster_admin::{AdminConfig, AdminServer, Process};
use roster_shell::tls::Tls;

/// The environment variable that carries the admin token.
pub const TOKEN_ENV: &str = "ROSTER_ADMIN_TOKEN";

/// Starts the admin server of `process` on `listen` (default loopback, a free port),
/// serving HTTPS if `tls` is the node's (plain with `Tls::default()`).
pub fn start(
    listen: Option<&str>,
    token: Option<String>,
    process: Process,
    tls: Tls,
) -> Result<AdminServer, StartError> {
    let listen = match listen {
        Some(a) => resolve(a).map_err(|e| match e {
            StartError::Io(e) => StartError::Config(ConfigError(format!("admin_listen: {e}"))),
            e => e,
        })?,
        None => AdminConfig::loopback().listen,
    };
    let token = token.or_else(|| std::env::var(TOKEN_ENV).ok());
    Ok(AdminServer::start(
        AdminConfig { listen, token, tls },
        process,
    )?)
}
