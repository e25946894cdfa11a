//! TLS on the shells' connections, with rustls: [`config`] turns PEM files into what each
//! listener and dial uses ([`Tls`]), [`stream`] wraps one connection's socket
//! ([`TlsConn`], a sans-IO rustls connection lent the socket per pass), [`identity`] reads
//! the name a client certificate gives its holder.

pub mod config;
pub mod identity;
pub mod stream;

pub use config::{Tls, TlsError, TlsFiles, load_certs, load_key, load_roots, server_name};
pub use stream::{TlsConn, TlsIo};

#[cfg(test)]
mod tests;
