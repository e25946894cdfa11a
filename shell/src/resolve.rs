//! A peer's configured address as a socket address. A literal `ip:port` is parsed at once;
//! a host name goes through the system resolver, which can block for seconds (a DNS server
//! that does not answer), so the shells call [`resolve`] for names off their event loops
//! and only [`literal`] on them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// The address, if it is a literal `ip:port` (no resolver needed).
pub fn literal(addr: &str) -> Option<SocketAddr> {
    addr.parse().ok()
}

/// Resolves `addr` (`ip:port` or `host:port`) to its first socket address; may block.
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    if let Some(sa) = literal(addr) {
        return Ok(sa);
    }
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_resolver_and_names_resolve() {
        assert_eq!(
            literal("127.0.0.1:9"),
            Some(SocketAddr::from(([127, 0, 0, 1], 9)))
        );
        assert_eq!(literal("localhost:9"), None);
        assert_eq!(resolve("localhost:9").map(|a| a.port()).ok(), Some(9));
        assert!(resolve("no-port").is_err());
    }
}
