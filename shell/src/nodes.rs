//! Making each role's node from validated settings, whichever shell runs it: the core's
//! config of the role (absent timings take the core's defaults), the node's identity (its
//! id and a new incarnation), its seed from the OS, and for meta, where it keeps its
//! consensus state and the state read back from there. Errors name the bad field.

use crate::clock::{Clock, os_seed};
use crate::hooks::Hooks;
use crate::logbook::MetaLog;
use crate::persist::PersistFile;
use roster_core::data::{DataConfig, DataNode};
use roster_core::meta::{MetaConfig, MetaEvent, MetaNode, MetaPeer};
use roster_core::model::{Incarnation, NodeId, ProcessId, Text};
use roster_core::rng::Rng;
use roster_core::session::{Acl, Session, SessionConfig};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;

/// Intervals and leases, in milliseconds; absent = the core's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// Heartbeat interval of data and session nodes to meta.
    pub heartbeat_ms: Option<u64>,
    /// Lease of a node in meta's membership.
    pub meta_lease_ms: Option<u64>,
    /// Lease of a session's publishers on data nodes.
    pub session_lease_ms: Option<u64>,
    /// Session version scan interval.
    pub scan_ms: Option<u64>,
    /// Data leader ↔ session reconciliation interval.
    pub reconcile_ms: Option<u64>,
    /// Meta consensus tick.
    pub meta_tick_ms: Option<u64>,
    /// Longest wait for an outbound connection to open.
    pub connect_timeout_ms: Option<u64>,
    /// How long a session keeps a closed client connection's publishers.
    pub disconnect_grace_ms: Option<u64>,
    /// How long a data node keeps a lapsed session's publishers for its clients to fail
    /// over.
    pub failover_grace_ms: Option<u64>,
}

fn ms(v: Option<u64>, default: Duration) -> Duration {
    v.map_or(default, Duration::from_millis)
}

/// A session's settings beside its addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// Intervals and leases.
    pub timing: Timing,
    /// What one client may take of it.
    pub limits: SessionLimits,
    /// The access rules in force from the start (`None`: every client may do everything);
    /// later ones come with `Session::set_acl`.
    pub acl: Option<Acl>,
}

/// A session's client limits (`roster_core::session::ClientLimits`); absent = the core's
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most client connections the session serves.
    pub max_clients: Option<usize>,
    /// Most client connections from one IP address.
    pub max_clients_per_address: Option<usize>,
    /// Most registrations (publishers and subscribers) on one connection.
    pub max_registrations_per_conn: Option<usize>,
    /// Most bytes of one publisher's payload and attributes.
    pub max_publisher_bytes: Option<usize>,
    /// How long an accepted connection may go without a hello (ms).
    pub hello_timeout_ms: Option<u64>,
}

impl SessionLimits {
    fn apply(&self, cfg: &mut SessionConfig) {
        let l = &mut cfg.limits;
        l.max_clients = self.max_clients.unwrap_or(l.max_clients);
        l.max_clients_per_address = self
            .max_clients_per_address
            .unwrap_or(l.max_clients_per_address);
        l.max_publisher_bytes = self.max_publisher_bytes.unwrap_or(l.max_publisher_bytes);
        l.hello_timeout = ms(self.hello_timeout_ms, l.hello_timeout);
        cfg.max_registrations_per_conn = self
            .max_registrations_per_conn
            .unwrap_or(cfg.max_registrations_per_conn);
    }
}

/// Meta's own settings beside timings; absent = the core's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaSettings {
    /// Snapshot and compact the log every this many applied entries.
    pub snapshot_interval: Option<u64>,
    /// A new cluster's table is placed once no data node joined for this long (ms).
    pub start_window_ms: Option<u64>,
    /// A new cluster's table is placed as soon as this many data nodes joined.
    pub expected_data_nodes: Option<usize>,
    /// Protection mode: most data (and session) nodes expelled per lease period, in percent.
    pub max_expel_percent: Option<u32>,
    /// Join an existing group: start with no voters (`MetaConfig::join`).
    pub join: bool,
}

/// Why a node could not be made.
#[derive(Debug)]
pub enum BuildError {
    /// A setting is wrong; the message names it.
    Config(String),
    /// A file could not be read or written.
    Io(io::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Config(e) => f.write_str(e),
            BuildError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<io::Error> for BuildError {
    fn from(e: io::Error) -> Self {
        BuildError::Io(e)
    }
}

/// For the shells' start-up paths, which report io errors (a glommio shard's).
impl From<BuildError> for io::Error {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Io(e) => e,
            BuildError::Config(e) => io::Error::new(io::ErrorKind::InvalidInput, e),
        }
    }
}

fn cfg_err(role: &str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Config(format!("{role}: {e}"))
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
    pub fn for_voter(voters: usize, data_dir: Option<PathBuf>) -> Result<MetaStore, BuildError> {
        match data_dir {
            Some(dir) => Ok(MetaStore::Dir(dir)),
            None if voters <= 1 => Ok(MetaStore::Memory),
            None => Err(BuildError::Config(format!(
                "data_dir: a meta node of a group of {voters} voters needs a data directory \
                 (--data-dir): without one it forgets its term and vote on restart, which \
                 can elect two leaders in one term"
            ))),
        }
    }
}

/// Meta keeps nothing on disk (`roster dev`).
#[derive(Debug, Default)]
pub struct InMemory;

impl Hooks<MetaNode> for InMemory {
    fn event(&mut self, _: MetaEvent) -> io::Result<()> {
        Ok(())
    }
}

/// Where a meta node's records go.
#[derive(Debug)]
pub enum MetaStoreHooks {
    /// Records go to the persist file.
    File(PersistFile),
    /// Records are dropped.
    Memory(InMemory),
}

/// The hooks of a meta node: its store, opened, and its log lines: one info line per
/// table it installed as leader (`slot table installed`, with `epoch=N`: tools parse it),
/// and what [`MetaLog`] tells.
#[derive(Debug)]
pub struct MetaHooks {
    name: String,
    store: MetaStoreHooks,
    log: MetaLog,
}

impl MetaHooks {
    /// Hooks of the meta node called `name`, over `store`.
    pub fn new(name: &str, store: MetaStoreHooks) -> Self {
        MetaHooks {
            name: name.to_string(),
            store,
            log: MetaLog::new(name),
        }
    }
}

impl Hooks<MetaNode> for MetaHooks {
    fn event(&mut self, event: MetaEvent) -> io::Result<()> {
        if let MetaEvent::TableInstalled(i) = &event {
            info!(
                node = %self.name,
                epoch = i.epoch.0,
                leaders_moved = i.leaders_moved,
                slots_changed = i.slots_changed,
                fewest_leaders = i.fewest_leaders,
                most_leaders = i.most_leaders,
                "slot table installed"
            );
            return Ok(());
        }
        match &mut self.store {
            MetaStoreHooks::File(f) => f.event(event),
            MetaStoreHooks::Memory(m) => m.event(event),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        match &mut self.store {
            MetaStoreHooks::File(f) => Hooks::<MetaNode>::sync(f),
            MetaStoreHooks::Memory(m) => m.sync(),
        }
    }

    fn observe(&mut self, node: &MetaNode) {
        match &mut self.store {
            MetaStoreHooks::File(f) => f.observe(node),
            MetaStoreHooks::Memory(m) => m.observe(node),
        }
        self.log.observe(node);
    }
}

/// Meta node `id`, one of `peers` (`(id, host:port)`, itself included), restored from
/// `store`; with its name for the log and the hooks that keep its state there.
pub fn meta_node(
    id: u64,
    peers: &[(u64, String)],
    timing: Timing,
    store: &MetaStore,
    settings: MetaSettings,
) -> Result<(String, MetaNode, MetaHooks), BuildError> {
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
    cfg.snapshot_interval = settings.snapshot_interval.unwrap_or(cfg.snapshot_interval);
    cfg.start_window = ms(settings.start_window_ms, cfg.start_window);
    cfg.expected_data_nodes = settings
        .expected_data_nodes
        .unwrap_or(cfg.expected_data_nodes);
    cfg.max_expel_percent = settings.max_expel_percent.unwrap_or(cfg.max_expel_percent);
    cfg.connect_timeout = ms(timing.connect_timeout_ms, cfg.connect_timeout);
    cfg.join = settings.join;
    cfg.validate().map_err(|e| cfg_err("meta", e))?;
    let rng = Rng::seed_from_u64(os_seed());
    let name = format!("meta-{id}");
    match store {
        MetaStore::Dir(dir) => {
            let (file, records) = PersistFile::open(dir)?;
            info!(records = records.len(), dir = %dir.display(), "meta state read");
            let node = MetaNode::restore(cfg, rng, records).map_err(|e| cfg_err("meta", e))?;
            let hooks = MetaHooks::new(&name, MetaStoreHooks::File(file));
            Ok((name, node, hooks))
        }
        MetaStore::Memory => {
            let node = MetaNode::new(cfg, rng).map_err(|e| cfg_err("meta", e))?;
            let hooks = MetaHooks::new(&name, MetaStoreHooks::Memory(InMemory));
            Ok((name, node, hooks))
        }
    }
}

/// A data node advertising `advertise`, made with the clock its shell will run it on;
/// with its name for the log.
pub fn data_node(
    id: Option<u64>,
    advertise: SocketAddr,
    meta: &[String],
    timing: Timing,
    clock: &Clock,
) -> Result<(String, DataNode), BuildError> {
    let process = ProcessId {
        node: NodeId(id.unwrap_or_else(|| id_from_address(&advertise))),
        incarnation: incarnation(),
    };
    let metas = meta.iter().cloned().map(Text::from).collect();
    let mut cfg = DataConfig::new(process, advertise.to_string(), metas);
    cfg.seed = os_seed();
    cfg.heartbeat_interval = ms(timing.heartbeat_ms, cfg.heartbeat_interval);
    cfg.session_lease = ms(timing.session_lease_ms, cfg.session_lease);
    cfg.failover_grace = ms(timing.failover_grace_ms, cfg.failover_grace);
    cfg.reconcile_interval = ms(timing.reconcile_ms, cfg.reconcile_interval);
    cfg.connect_timeout = ms(timing.connect_timeout_ms, cfg.connect_timeout);
    let node = DataNode::new(cfg, clock.now()).map_err(|e| cfg_err("data", e))?;
    Ok((format!("data-{}", process.node.0), node))
}

/// A session advertising its client and peer addresses; with its name for the log.
pub fn session_node(
    id: Option<u64>,
    advertise_client: SocketAddr,
    advertise_peer: SocketAddr,
    meta: &[String],
    settings: SessionSettings,
) -> Result<(String, Session), BuildError> {
    let SessionSettings {
        timing,
        limits,
        acl,
    } = settings;
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
    cfg.disconnect_grace = ms(timing.disconnect_grace_ms, cfg.disconnect_grace);
    limits.apply(&mut cfg);
    if cfg.meta_addresses.is_empty() {
        return Err(cfg_err("session", "meta: needs at least one meta address"));
    }
    let mut node = Session::new(cfg, os_seed()).map_err(|e| cfg_err("session", e))?;
    // Before the node serves anyone: no client ever sees it without its rules.
    node.set_acl(roster_core::time::Instant::ZERO, acl);
    Ok((format!("session-{}", process.node.0), node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voter_of_a_group_needs_a_data_directory() {
        let Err(BuildError::Config(e)) = MetaStore::for_voter(3, None) else {
            panic!("a group of three without a data directory was accepted");
        };
        assert!(e.starts_with("data_dir:"), "{e}");
        assert_eq!(MetaStore::for_voter(1, None).ok(), Some(MetaStore::Memory));
        assert_eq!(
            MetaStore::for_voter(3, Some("/d".into())).ok(),
            Some(MetaStore::Dir("/d".into()))
        );
    }

    #[test]
    fn absent_timings_take_the_default_and_errors_name_the_role_and_field() {
        assert_eq!(ms(None, Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(
            ms(Some(5), Duration::from_secs(1)),
            Duration::from_millis(5)
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], 7000));
        let e = session_node(None, addr, addr, &[], SessionSettings::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "session: meta: needs at least one meta address"
        );
        let (name, _) = session_node(
            Some(7),
            addr,
            addr,
            &["m:1".into()],
            SessionSettings::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(name, "session-7");
        let (name, _) = data_node(
            None,
            addr,
            &["m:1".into()],
            Timing::default(),
            &Clock::new(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(name, format!("data-{}", id_from_address(&addr)));
    }
}
