//! Starting each role's node on its own mio loop: the node made by `roster_shell::nodes`,
//! its listeners, its hooks, and its thread. `shell` carries the connections' TLS (plain
//! with `ShellConfig::default()`).

use crate::nodes::{Running, spawn};
use crate::shell::{Listener, Shell};
use roster_core::data::DataCommand;
use roster_core::meta::MetaCommand;
use roster_shell::nodes::{
    BuildError, MetaSettings, MetaStore, SessionSettings, Timing, data_node, meta_node,
    session_node,
};
use roster_shell::{Clock, DataHooks, SessionHooks, ShellConfig};
use std::convert::Infallible;
use std::net::SocketAddr;

/// Starts meta node `id`, one of `peers`, listening on `listener`.
pub fn start_meta(
    id: u64,
    peers: &[(u64, String)],
    listener: Listener,
    timing: Timing,
    store: &MetaStore,
    settings: MetaSettings,
    shell: ShellConfig,
) -> Result<Running<MetaCommand>, BuildError> {
    let (name, node, hooks) = meta_node(id, peers, timing, store, settings)?;
    let clock = Clock::new();
    let shell = Shell::new(&name, node, clock, vec![listener], shell)?;
    Ok(spawn(&name, shell, hooks)?)
}

/// Starts a data node listening on `listener`, advertising `advertise`.
pub fn start_data(
    id: Option<u64>,
    listener: Listener,
    advertise: SocketAddr,
    meta: &[String],
    timing: Timing,
    shell: ShellConfig,
) -> Result<Running<DataCommand>, BuildError> {
    let clock = Clock::new();
    let (name, node) = data_node(id, advertise, meta, timing, &clock)?;
    let shell = Shell::new(&name, node, clock, vec![listener], shell)?;
    Ok(spawn(&name, shell, DataHooks::new(&name))?)
}

/// Starts a session with its client and peer listeners, advertising their addresses.
// Each argument is a distinct setting the callers hold separately; a struct bundling them
// would only be unpacked here.
#[allow(clippy::too_many_arguments)]
pub fn start_session(
    id: Option<u64>,
    client: Listener,
    peer: Listener,
    advertise_client: SocketAddr,
    advertise_peer: SocketAddr,
    meta: &[String],
    settings: SessionSettings,
    shell: ShellConfig,
) -> Result<Running<Infallible>, BuildError> {
    let (name, node) = session_node(id, advertise_client, advertise_peer, meta, settings)?;
    let listeners = vec![client, peer];
    let shell = Shell::new(&name, node, Clock::new(), listeners, shell)?;
    Ok(spawn(&name, shell, SessionHooks)?)
}
