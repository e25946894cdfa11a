//! Data and session nodes on either runtime: [`Started`], what the binary and `roster
//! dev` hold of a started node whatever runs it, and listener addresses as given.

use crate::roles::StartError;
use roster_admin::Probe;
use roster_glommio::Shards;
use roster_mio::nodes::Running;
use roster_shell::Inspector;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// A started node (mio) or group of shards (glommio). Dropping it stops it.
#[derive(Debug)]
pub enum Started<C> {
    /// One node on its mio event loop.
    Mio(Running<C>),
    /// glommio shards, each a node.
    Glommio(Shards),
}

impl<C> Started<C> {
    /// Waits at most `timeout` until it (every shard) is ready.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        match self {
            Started::Mio(r) => r.wait_ready(timeout),
            Started::Glommio(s) => s.wait_ready(timeout),
        }
    }

    /// The name of a node that stopped on its own (failed), if any.
    pub fn failed(&self) -> Option<String> {
        match self {
            Started::Mio(r) => r.is_finished().then(|| r.name().to_string()),
            Started::Glommio(s) => s.finished().map(str::to_string),
        }
    }

    /// Each node (each shard) by name, with an inspector that reaches it, if they are of
    /// type `N`.
    pub fn inspectors<N: 'static>(&self) -> Vec<(String, Inspector<N>)> {
        match self {
            Started::Mio(r) => r
                .inspector::<N>()
                .map(|i| (r.name().to_string(), i))
                .into_iter()
                .collect(),
            Started::Glommio(s) => s.inspectors::<N>(),
        }
    }

    /// Each node (each shard) as the admin server reaches it, if they are of type `N`.
    pub fn probes<N: 'static>(&self) -> Vec<Probe<N>> {
        self.inspectors::<N>()
            .into_iter()
            .map(|(name, i)| Probe::new(name, i))
            .collect()
    }

    /// Stops it and waits for its threads; the first failure.
    pub fn stop(&mut self) -> io::Result<()> {
        match self {
            Started::Mio(r) => r.stop(),
            Started::Glommio(s) => s.stop(),
        }
    }
}

/// A listener address from the command line or a file.
pub fn resolve(addr: &str) -> Result<SocketAddr, StartError> {
    let first = match addr.parse() {
        Ok(a) => Some(a),
        Err(_) => addr
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?
            .next(),
    };
    first.ok_or_else(|| {
        StartError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen on {addr}: no address"),
        ))
    })
}
