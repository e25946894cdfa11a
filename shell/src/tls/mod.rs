//! TLS on the shells' connections, with rustls: [`config`] turns PEM files into what each
//! listener and dial uses ([`Tls`], a handle shared by every listener and reloadable),
//! [`stream`] wraps one connection's socket ([`TlsConn`], a sans-IO rustls connection lent
//! the socket per pass), [`identity`] reads the name a client certificate gives its holder,
//! [`watch`] reloads the files when they change or on SIGHUP ([`Reloader`]), and
//! [`fuzzing`] is the check the handshake fuzz target runs.

pub mod config;
pub mod fuzzing;
pub mod identity;
pub mod stream;
pub mod watch;

pub use config::{
    DEFAULT_HANDSHAKE_TIMEOUT, Tls, TlsError, TlsFiles, load_certs, load_key, load_roots,
    server_name,
};
pub use stream::{TlsConn, TlsIo};
pub use watch::Reloader;

#[cfg(test)]
mod tests;
