//! Data and session nodes on either runtime: the glommio start of each role (its listener
//! plan and per-shard identity) and [`Started`], what the binary and `roster dev` hold of
//! a started node whatever runs it.
//!
//! A glommio process of N shards is N nodes. Shard `i` takes node id `id + i·2³²` when an
//! id is configured (so the shards of processes with small distinct ids never collide),
//! else an id derived from its own peer address as on mio. Its peer port is `port + i`
//! (or a free one with port 0); a session's client port is shared by all its shards.

use crate::config::Timing;
use crate::roles::{StartError, data_node, session_node};
use roster_glommio::{ListenerPlan, Shards};
use roster_mio::nodes::Running;
use roster_shell::ListenerKind;
use roster_shell::{DataHooks, SessionHooks};
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

/// The node id of shard `index` (see the module docs).
pub fn shard_id(id: Option<u64>, index: usize) -> Option<u64> {
    id.map(|id| id.wrapping_add((index as u64) << 32))
}

fn to_io(e: StartError) -> io::Error {
    match e {
        StartError::Io(e) => e,
        StartError::Config(e) => io::Error::new(io::ErrorKind::InvalidInput, e.0),
    }
}

/// Starts `shards` data nodes on glommio; shard `i` listens on `listen`'s port `+ i`.
pub fn start_data_shards(
    id: Option<u64>,
    listen: SocketAddr,
    shards: usize,
    meta: &[String],
    timing: Timing,
) -> Result<Shards, StartError> {
    let meta = meta.to_vec();
    let plan = [ListenerPlan {
        kind: ListenerKind::Peer,
        addr: listen,
        shared: false,
    }];
    let shards = roster_glommio::launch(&plan, shards, move |cx| {
        let id = shard_id(id, cx.index);
        let (name, node) = data_node(id, cx.addrs[0], &meta, timing, &cx.clock).map_err(to_io)?;
        Ok((name, node, DataHooks))
    })?;
    Ok(shards)
}

/// Starts `shards` sessions on glommio, sharing the client port; shard `i` has peer port
/// `peer`'s `+ i`.
pub fn start_session_shards(
    id: Option<u64>,
    client: SocketAddr,
    peer: SocketAddr,
    shards: usize,
    meta: &[String],
    timing: Timing,
) -> Result<Shards, StartError> {
    let meta = meta.to_vec();
    let plan = [
        ListenerPlan {
            kind: ListenerKind::Client,
            addr: client,
            shared: true,
        },
        ListenerPlan {
            kind: ListenerKind::Peer,
            addr: peer,
            shared: false,
        },
    ];
    let shards = roster_glommio::launch(&plan, shards, move |cx| {
        let id = shard_id(id, cx.index);
        let (client, peer) = (cx.addrs[0], cx.addrs[1]);
        let (name, node) = session_node(id, client, peer, &meta, timing).map_err(to_io)?;
        Ok((name, node, SessionHooks))
    })?;
    Ok(shards)
}
