//! Building and starting each role from validated settings: the runtime-independent part
//! of a node's start (core configuration, identity, listeners' addresses).

use crate::config::{ConfigError, Timing, ms};
use roster_core::data::{DataConfig, DataNode};
use roster_core::meta::{MetaCommand, MetaConfig, MetaNode, MetaPeer};
use roster_core::model::{Incarnation, NodeId, ProcessId, Text};
use roster_core::rng::Rng;
use roster_core::session::{Session, SessionConfig};
use roster_mio::nodes::{Running, spawn};
use roster_mio::shell::{Listener, Shell};
use roster_shell::persist::PersistFile;
use roster_shell::{Clock, DataHooks, Hooks, SessionHooks, ShellConfig, os_seed};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing::info;

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    /// Bad settings.
    Config(ConfigError),
    /// A socket, thread or file failed.
    Io(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

fn cfg_err(role: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Config(ConfigError(format!("{role}: {e}")))
}

/// A new incarnation: the wall clock in microseconds, so a restart is always newer.
pub fn incarnation() -> Incarnation {
    let micros = std::time::UNIX_EPOCH
        .elapsed()
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Incarnation(micros)
}

/// A node id derived from an address, when none is configured.
pub fn id_from_address(addr: &SocketAddr) -> u64 {
    u64::from(crc32c::crc32c(addr.to_string().as_bytes())) + 1_000
}

/// Meta keeps nothing on disk (`roster dev`).
#[derive(Debug, Default)]
pub struct InMemory;

impl Hooks<MetaNode> for InMemory {
    fn event(&mut self, _: roster_core::meta::MetaEvent) -> io::Result<()> {
        Ok(())
    }
}

/// Where a meta node keeps its consensus state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaStore {
    /// `meta.log` in this directory, fsynced before the node says anything it depends on.
    Dir(PathBuf),
    /// Nowhere: only for a group whose voters all live and die together, in one process
    /// (`roster dev`), or a single voter. A voter that forgot its term and vote could vote
    /// twice in one term and let two leaders be elected.
    Memory,
}

impl MetaStore {
    /// The store of one voter of a group of `voters` started on its own: a group of more
    /// than one voter needs a data directory.
    pub fn for_voter(voters: usize, data_dir: Option<PathBuf>) -> Result<MetaStore, ConfigError> {
        match data_dir {
            Some(dir) => Ok(MetaStore::Dir(dir)),
            None if voters <= 1 => Ok(MetaStore::Memory),
            None => Err(ConfigError(format!(
                "data_dir: a meta node of a group of {voters} voters needs a data directory \
                 (--data-dir): without one it forgets its term and vote on restart, which \
                 can elect two leaders in one term"
            ))),
        }
    }
}

/// Starts a meta node listening on `listener`, one of `peers`.
pub fn start_meta(
    id: u64,
    peers: &[(u64, String)],
    listener: Listener,
    timing: Timing,
    store: &MetaStore,
    snapshot_interval: Option<u64>,
) -> Result<Running<MetaCommand>, StartError> {
    let peers = peers
        .iter()
        .map(|(id, a)| MetaPeer {
            id: *id,
            address: Text::from(a.clone()),
        })
        .collect();
    let mut cfg = MetaConfig::new(id, incarnation(), peers);
    cfg.lease = ms(timing.meta_lease_ms, cfg.lease);
    cfg.tick = ms(timing.meta_tick_ms, cfg.tick);
    cfg.snapshot_interval = snapshot_interval.unwrap_or(cfg.snapshot_interval);
    cfg.connect_timeout = ms(timing.connect_timeout_ms, cfg.connect_timeout);
    cfg.validate().map_err(|e| cfg_err("meta", e))?;
    let rng = Rng::seed_from_u64(os_seed());
    let name = format!("meta-{id}");
    let clock = Clock::new();
    match store {
        MetaStore::Dir(dir) => {
            let (file, records) = PersistFile::open(dir)?;
            info!(records = records.len(), dir = %dir.display(), "meta state read");
            let node = MetaNode::restore(cfg, rng, records).map_err(|e| cfg_err("meta", e))?;
            let shell = Shell::new(&name, node, clock, vec![listener], ShellConfig::default())?;
            Ok(spawn(&name, shell, file)?)
        }
        MetaStore::Memory => {
            let node = MetaNode::new(cfg, rng).map_err(|e| cfg_err("meta", e))?;
            let shell = Shell::new(&name, node, clock, vec![listener], ShellConfig::default())?;
            Ok(spawn(&name, shell, InMemory)?)
        }
    }
}

/// A data node advertising `advertise`, made with the clock its shell will run it on;
/// with its name for the log. Shared by both runtimes.
pub fn data_node(
    id: Option<u64>,
    advertise: SocketAddr,
    meta: &[String],
    timing: Timing,
    clock: &Clock,
) -> Result<(String, DataNode), StartError> {
    let process = ProcessId {
        node: NodeId(id.unwrap_or_else(|| id_from_address(&advertise))),
        incarnation: incarnation(),
    };
    let metas = meta.iter().cloned().map(Text::from).collect();
    let mut cfg = DataConfig::new(process, advertise.to_string(), metas);
    cfg.seed = os_seed();
    cfg.heartbeat_interval = ms(timing.heartbeat_ms, cfg.heartbeat_interval);
    cfg.session_lease = ms(timing.session_lease_ms, cfg.session_lease);
    cfg.reconcile_interval = ms(timing.reconcile_ms, cfg.reconcile_interval);
    cfg.connect_timeout = ms(timing.connect_timeout_ms, cfg.connect_timeout);
    let node = DataNode::new(cfg, clock.now()).map_err(|e| cfg_err("data", e))?;
    Ok((format!("data-{}", process.node.0), node))
}

/// A session advertising its client and peer addresses; with its name for the log. Shared
/// by both runtimes.
pub fn session_node(
    id: Option<u64>,
    advertise_client: SocketAddr,
    advertise_peer: SocketAddr,
    meta: &[String],
    timing: Timing,
) -> Result<(String, Session), StartError> {
    let process = ProcessId {
        node: NodeId(id.unwrap_or_else(|| id_from_address(&advertise_peer))),
        incarnation: incarnation(),
    };
    let mut cfg = SessionConfig::new(
        process,
        Text::from(advertise_client.to_string()),
        Text::from(advertise_peer.to_string()),
    );
    cfg.meta_addresses = meta.iter().cloned().map(Text::from).collect();
    cfg.heartbeat_interval = ms(timing.heartbeat_ms, cfg.heartbeat_interval);
    cfg.scan_interval = ms(timing.scan_ms, cfg.scan_interval);
    cfg.connect_timeout = ms(timing.connect_timeout_ms, cfg.connect_timeout);
    if cfg.meta_addresses.is_empty() {
        return Err(cfg_err("session", "meta: needs at least one meta address"));
    }
    let node = Session::new(cfg, os_seed()).map_err(|e| cfg_err("session", e))?;
    Ok((format!("session-{}", process.node.0), node))
}

/// Starts a data node on the mio runtime.
pub fn start_data(
    id: Option<u64>,
    listener: Listener,
    advertise: SocketAddr,
    meta: &[String],
    timing: Timing,
) -> Result<Running<roster_core::data::DataCommand>, StartError> {
    let clock = Clock::new();
    let (name, node) = data_node(id, advertise, meta, timing, &clock)?;
    let shell = Shell::new(&name, node, clock, vec![listener], ShellConfig::default())?;
    Ok(spawn(&name, shell, DataHooks)?)
}

/// Starts a session node with its client and peer listeners on the mio runtime.
pub fn start_session(
    id: Option<u64>,
    client: Listener,
    peer: Listener,
    advertise_client: SocketAddr,
    advertise_peer: SocketAddr,
    meta: &[String],
    timing: Timing,
) -> Result<Running<Infallible>, StartError> {
    let (name, node) = session_node(id, advertise_client, advertise_peer, meta, timing)?;
    let listeners = vec![client, peer];
    let shell = Shell::new(&name, node, Clock::new(), listeners, ShellConfig::default())?;
    Ok(spawn(&name, shell, SessionHooks)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voter_of_a_group_needs_a_data_directory() {
        let e = MetaStore::for_voter(3, None).unwrap_err();
        assert!(e.0.starts_with("data_dir:"), "{e}");
        assert_eq!(MetaStore::for_voter(1, None), Ok(MetaStore::Memory));
        assert_eq!(
            MetaStore::for_voter(3, Some("/d".into())),
            Ok(MetaStore::Dir("/d".into()))
        );
    }
}
