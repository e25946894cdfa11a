//! Starting data and session nodes as glommio shards: each role's listener plan and each
//! shard's identity, its node made by `roster_shell::nodes`.
//!
//! A glommio process of N shards is N nodes. Shard `i` takes node id `id + i·2³²` when an
//! id is configured (so the shards of processes with small distinct ids never collide),
//! else an id derived from its own peer address as on mio. Its peer port is `port + i`
//! (or a free one with port 0); a session's client port is shared by all its shards.

use crate::shards::{ListenerPlan, Shards, launch};
use roster_shell::nodes::{BuildError, SessionSettings, Timing, data_node, session_node};
use roster_shell::{DataHooks, ListenerKind, SessionHooks, ShellConfig};
use std::net::SocketAddr;

/// The node id of shard `index` (see the module docs).
pub fn shard_id(id: Option<u64>, index: usize) -> Option<u64> {
    id.map(|id| id.wrapping_add((index as u64) << 32))
}

/// Starts `shards` data nodes; shard `i` listens on `listen`'s port `+ i`.
pub fn start_data_shards(
    id: Option<u64>,
    listen: SocketAddr,
    shards: usize,
    meta: &[String],
    timing: Timing,
    shell: ShellConfig,
) -> Result<Shards, BuildError> {
    let meta = meta.to_vec();
    let plan = [ListenerPlan {
        kind: ListenerKind::Peer,
        addr: listen,
        shared: false,
    }];
    let shards = launch(&plan, shards, shell, move |cx| {
        let id = shard_id(id, cx.index);
        let (name, node) = data_node(id, cx.addrs[0], &meta, timing, &cx.clock)?;
        let hooks = DataHooks::new(&name);
        Ok((name, node, hooks))
    })?;
    Ok(shards)
}

/// Starts `shards` sessions sharing the client port; shard `i` has peer port `peer`'s
/// `+ i`.
pub fn start_session_shards(
    id: Option<u64>,
    client: SocketAddr,
    peer: SocketAddr,
    shards: usize,
    meta: &[String],
    settings: SessionSettings,
    shell: ShellConfig,
) -> Result<Shards, BuildError> {
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
    let shards = launch(&plan, shards, shell, move |cx| {
        let id = shard_id(id, cx.index);
        let (client, peer) = (cx.addrs[0], cx.addrs[1]);
        let (name, node) = session_node(id, client, peer, &meta, settings.clone())?;
        Ok((name, node, SessionHooks))
    })?;
    Ok(shards)
}
