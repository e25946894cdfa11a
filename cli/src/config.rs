//! Configuration: TOML files and command-line flags, validated before anything starts.
//!
//! Every setting is optional in a file; what is absent takes the core's default (docs/design.md
//! §8), never zero. Unknown fields and wrong types are errors that name the field, and the
//! core's own validation (`validate()` of each role's config) names the field of a value
//! out of range. Shared by every runtime: nothing here knows about an event loop.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration error, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Intervals and leases, in milliseconds; absent = the core's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Heartbeat interval of data and session nodes to meta.
    #[arg(long, value_name = "MS")]
    pub heartbeat_ms: Option<u64>,
    /// Lease of a node in meta's membership.
    #[arg(long, value_name = "MS")]
    pub meta_lease_ms: Option<u64>,
    /// Lease of a session's publishers on data nodes.
    #[arg(long, value_name = "MS")]
    pub session_lease_ms: Option<u64>,
    /// Session version scan interval.
    #[arg(long, value_name = "MS")]
    pub scan_ms: Option<u64>,
    /// Data leader ↔ session reconciliation interval.
    #[arg(long, value_name = "MS")]
    pub reconcile_ms: Option<u64>,
    /// Meta consensus tick (elections take 10 ticks).
    #[arg(long, value_name = "MS")]
    pub meta_tick_ms: Option<u64>,
    /// Longest wait for an outbound connection to open (to meta, data or a peer).
    #[arg(long, value_name = "MS")]
    pub connect_timeout_ms: Option<u64>,
    /// How long a session keeps a closed client connection's publishers (default 5000; a
    /// failing-over client replays them meanwhile).
    #[arg(long, value_name = "MS")]
    pub disconnect_grace_ms: Option<u64>,
    /// How long a data node keeps a lapsed session's publishers for its clients to fail
    /// over (default 15000; more than a client's idle timeout + connect deadline).
    #[arg(long, value_name = "MS")]
    pub failover_grace_ms: Option<u64>,
}

impl Timing {
    /// Flags override the file.
    pub fn or(self, file: Timing) -> Timing {
        Timing {
            heartbeat_ms: self.heartbeat_ms.or(file.heartbeat_ms),
            meta_lease_ms: self.meta_lease_ms.or(file.meta_lease_ms),
            session_lease_ms: self.session_lease_ms.or(file.session_lease_ms),
            scan_ms: self.scan_ms.or(file.scan_ms),
            reconcile_ms: self.reconcile_ms.or(file.reconcile_ms),
            meta_tick_ms: self.meta_tick_ms.or(file.meta_tick_ms),
            connect_timeout_ms: self.connect_timeout_ms.or(file.connect_timeout_ms),
            disconnect_grace_ms: self.disconnect_grace_ms.or(file.disconnect_grace_ms),
            failover_grace_ms: self.failover_grace_ms.or(file.failover_grace_ms),
        }
    }

    /// Short leases and intervals so that fail-over takes seconds (tests, demos).
    pub fn fast() -> Timing {
        Timing {
            heartbeat_ms: Some(200),
            meta_lease_ms: Some(1_500),
            session_lease_ms: Some(2_000),
            scan_ms: Some(1_000),
            reconcile_ms: Some(1_000),
            meta_tick_ms: Some(50),
            connect_timeout_ms: None,
            disconnect_grace_ms: None,
            failover_grace_ms: None,
        }
    }
}

/// The shells take the same settings without the file's and the flags' derives.
impl From<Timing> for roster_shell::nodes::Timing {
    fn from(t: Timing) -> Self {
        roster_shell::nodes::Timing {
            heartbeat_ms: t.heartbeat_ms,
            meta_lease_ms: t.meta_lease_ms,
            session_lease_ms: t.session_lease_ms,
            scan_ms: t.scan_ms,
            reconcile_ms: t.reconcile_ms,
            meta_tick_ms: t.meta_tick_ms,
            connect_timeout_ms: t.connect_timeout_ms,
            disconnect_grace_ms: t.disconnect_grace_ms,
            failover_grace_ms: t.failover_grace_ms,
        }
    }
}

/// Which IO shell runs a role's nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Portable: one mio event loop (one thread) per node.
    #[default]
    Mio,
    /// Linux io_uring, thread-per-core: shards pinned to cores, each a node.
    Glommio,
}

/// A role's runtime, settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Runtime {
    /// One mio event loop per node.
    #[default]
    Mio,
    /// glommio shards, each an independent node.
    Glommio {
        /// Shards per process (per node of `roster dev`).
        shards: usize,
    },
}

/// The runtime flags of data, session and dev.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct RuntimeArgs {
    /// IO runtime of the data and session nodes (meta always runs on mio).
    #[arg(long, value_enum, value_name = "RUNTIME")]
    pub runtime: Option<RuntimeKind>,
    /// glommio: shards in this process, each an independent node pinned to a core (default:
    /// one per available core; for `dev`, one per node).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

impl RuntimeArgs {
    /// Flags over the file; `default_shards` when glommio is asked for without a count.
    pub fn settle(self, file: &NodeFile, default_shards: usize) -> Result<Runtime, ConfigError> {
        let shards = self.shards.or(file.shards);
        match self.runtime.or(file.runtime).unwrap_or_default() {
            RuntimeKind::Mio if shards.is_some() => Err(ConfigError(
                "shards: only the glommio runtime has shards (add --runtime glommio)".into(),
            )),
            RuntimeKind::Mio => Ok(Runtime::Mio),
            RuntimeKind::Glommio => match shards.unwrap_or(default_shards) {
                0 => Err(ConfigError("shards: must be at least 1".into())),
                shards => Ok(Runtime::Glommio { shards }),
            },
        }
    }
}

/// One shard per core this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Settings of one node, from a file (`--config`) and flags; absent = default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Node id (data, session; default: derived from the peer address). Meta: consensus id.
    pub id: Option<u64>,
    /// Peer listener (`host:port`; port 0 picks a free one).
    pub listen: Option<String>,
    /// Session client listener.
    pub client_listen: Option<String>,
    /// Meta addresses (data, session).
    pub meta: Option<Vec<String>>,
    /// Meta consensus group: `id=host:port` entries, this node included (meta).
    pub peers: Option<Vec<String>>,
    /// Directory of meta's persisted consensus state (meta).
    pub data_dir: Option<PathBuf>,
    /// Meta snapshots its state and compacts its log every this many entries (meta).
    pub snapshot_interval: Option<u64>,
    /// A new cluster's slot table is placed once no data node joined for this long (meta).
    pub start_window_ms: Option<u64>,
    /// A new cluster's slot table is placed as soon as this many data nodes joined (meta).
    pub expected_data_nodes: Option<usize>,
    /// Protection mode: at most this percentage of the data nodes, and of the sessions, is
    /// expelled per lease period, at least one (meta; 100 turns it off).
    pub max_expel_percent: Option<u32>,
    /// This meta node joins an existing group: it starts with no voters and waits for the
    /// leader to add it (`roster admin meta add`); ignored once its data dir holds state.
    pub join: Option<bool>,
    /// The admin HTTP server's address (default: loopback, a free port).
    pub admin_listen: Option<String>,
    /// The DNS interface's address, UDP and TCP (session; default: none). See docs/dns.md.
    pub dns_listen: Option<String>,
    /// TTL of the DNS interface's records, in seconds (session; default 2, at most 3600).
    pub dns_ttl: Option<u32>,
    /// A bearer token the admin server requires (also `ROSTER_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// The HTTP/JSON gateway's address (session; none unless set).
    pub http_listen: Option<String>,
    /// IO runtime (data, session): `mio` (default) or `glommio`.
    pub runtime: Option<RuntimeKind>,
    /// glommio shards (data, session; default: one per available core).
    pub shards: Option<usize>,
    /// Intervals and leases.
    #[serde(default)]
    pub timing: Timing,
    /// What one client may take of a session (session).
    #[serde(default)]
    pub limits: Limits,
    /// TLS on every port and dial of the node (mio runtime; docs/operations.md, "TLS").
    pub tls: Option<crate::tls::TlsTable>,
    /// The access-rule file, reloaded on change (session; docs/security.md).
    pub acl: Option<PathBuf>,
}

/// A session's client limits (`[limits]` in the file); absent = the core's default
/// (docs/operations.md, "Limits").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most client connections the session serves (default 100000).
    pub max_clients: Option<usize>,
    /// Most client connections from one IP address (default 10000).
    pub max_clients_per_address: Option<usize>,
    /// Most registrations, publishers and subscribers, on one connection (default 100000).
    pub max_registrations_per_conn: Option<usize>,
    /// Most bytes of one publisher's payload and attributes (default 1048576).
    pub max_publisher_bytes: Option<usize>,
    /// How long an accepted connection may go without a hello (default 10000).
    pub hello_timeout_ms: Option<u64>,
}

impl From<Limits> for roster_shell::nodes::SessionLimits {
    fn from(l: Limits) -> Self {
        roster_shell::nodes::SessionLimits {
            max_clients: l.max_clients,
            max_clients_per_address: l.max_clients_per_address,
            max_registrations_per_conn: l.max_registrations_per_conn,
            max_publisher_bytes: l.max_publisher_bytes,
            hello_timeout_ms: l.hello_timeout_ms,
        }
    }
}

impl NodeFile {
    /// Reads a TOML file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<NodeFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        NodeFile::parse(&text)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
    }

    /// Parses a node file's text; errors name the field (and where it is).
    pub fn parse(text: &str) -> Result<NodeFile, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }
}

/// The meta flags beside timings (`roster meta`); flags override the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct MetaArgs {
    /// Snapshot the state, and compact the log file, every N applied entries.
    #[arg(long, value_name = "N")]
    pub snapshot_interval: Option<u64>,
    /// Place a new cluster's slot table once no data node joined for this long (default
    /// 2000; at most 5 windows after the first joined).
    #[arg(long, value_name = "MS")]
    pub start_window_ms: Option<u64>,
    /// Place a new cluster's slot table as soon as this many data nodes joined.
    #[arg(long, value_name = "N")]
    pub expected_data_nodes: Option<usize>,
    /// Protection mode: expel at most this percentage of the data nodes, and of the
    /// sessions, per lease period, at least one (default 50; 100 turns it off).
    #[arg(long, value_name = "PERCENT")]
    pub max_expel_percent: Option<u32>,
    /// Join an existing meta group: start with no voters and wait to be added (`roster
    /// admin meta add ID ADDR` on the group); `--peers` then lists this node and any
    /// members it may dial. Ignored once the data dir holds state.
    #[arg(long)]
    pub join: bool,
}

impl MetaArgs {
    /// Flags over the file.
    pub fn settle(self, file: &NodeFile) -> roster_shell::nodes::MetaSettings {
        roster_shell::nodes::MetaSettings {
            snapshot_interval: self.snapshot_interval.or(file.snapshot_interval),
            start_window_ms: self.start_window_ms.or(file.start_window_ms),
            expected_data_nodes: self.expected_data_nodes.or(file.expected_data_nodes),
            max_expel_percent: self.max_expel_percent.or(file.max_expel_percent),
            join: self.join || file.join.unwrap_or(false),
        }
    }
}

/// Parses `id=host:port` meta peer entries.
pub fn parse_peers(entries: &[String]) -> Result<Vec<(u64, String)>, ConfigError> {
    entries
        .iter()
        .map(|e| {
            let (id, addr) = e.split_once('=').ok_or_else(|| {
                ConfigError(format!("peers: {e:?} is not of the form id=host:port"))
            })?;
            let id = id
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("peers: {id:?} in {e:?} is not a number")))?;
            Ok((id, addr.trim().to_string()))
        })
        .collect()
}

/// The longest TTL of DNS records accepted: longer would keep resolvers answering with
/// instances long gone.
pub const MAX_DNS_TTL: u32 = 3_600;

/// Checks a DNS TTL setting (seconds).
pub fn dns_ttl(ttl: Option<u32>) -> Result<Option<u32>, ConfigError> {
    match ttl {
        Some(t) if t > MAX_DNS_TTL => Err(ConfigError(format!(
            "dns_ttl: {t} is more than {MAX_DNS_TTL} seconds (lists change with every push)"
        ))),
        t => Ok(t),
    }
}

/// Splits a comma-separated address list.
pub fn split_addrs(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_keeps_defaults_and_unknown_fields_are_named() {
        let f: NodeFile =
            toml::from_str("listen = \"127.0.0.1:0\"\n[timing]\nscan_ms = 5\n").unwrap();
        assert_eq!(f.timing.scan_ms, Some(5));
        assert_eq!(f.timing.heartbeat_ms, None);
        let e = toml::from_str::<NodeFile>("lisen = \"x\"").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let e = toml::from_str::<NodeFile>("[timing]\nheartbeat_ms = \"fast\"").unwrap_err();
        assert!(e.to_string().contains("heartbeat_ms"), "{e}");
    }

    #[test]
    fn the_runtime_comes_from_flags_over_the_file_and_shards_need_glommio() {
        let file: NodeFile = toml::from_str("runtime = \"glommio\"\nshards = 3\n").unwrap();
        let none = RuntimeArgs::default();
        assert_eq!(none.settle(&file, 8), Ok(Runtime::Glommio { shards: 3 }));
        assert_eq!(
            none.settle(&NodeFile::default(), 8),
            Ok(Runtime::Mio),
            "mio stays the default"
        );
        let glommio = RuntimeArgs {
            runtime: Some(RuntimeKind::Glommio),
            shards: None,
        };
        assert_eq!(
            glommio.settle(&NodeFile::default(), 2),
            Ok(Runtime::Glommio { shards: 2 })
        );
        let mio = RuntimeArgs {
            runtime: Some(RuntimeKind::Mio),
            shards: None,
        };
        let e = mio.settle(&file, 8).unwrap_err();
        assert!(e.0.contains("--runtime glommio"), "{e}");
        let zero = RuntimeArgs {
            runtime: Some(RuntimeKind::Glommio),
            shards: Some(0),
        };
        assert!(zero.settle(&NodeFile::default(), 8).is_err());
    }

    #[test]
    fn the_example_file_of_the_operations_guide_is_a_valid_config() {
        let guide = include_str!("../../docs/operations.md");
        let block = guide
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/operations.md has a toml block");
        let f: NodeFile = toml::from_str(block).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.runtime, Some(RuntimeKind::Mio));
        assert_eq!(f.timing.meta_tick_ms, Some(100));
        assert_eq!(parse_peers(f.peers.as_deref().unwrap()).unwrap().len(), 3);
        assert_eq!(f.limits.max_clients_per_address, Some(10_000));
    }

    #[test]
    fn limits_are_read_and_a_misspelt_one_is_named() {
        let f: NodeFile = toml::from_str(
            "[limits]
max_publisher_bytes = 4096
",
        )
        .unwrap();
        let l: roster_shell::nodes::SessionLimits = f.limits.into();
        assert_eq!(l.max_publisher_bytes, Some(4096));
        assert_eq!(l.max_clients, None, "absent: the core's default");
        let e = toml::from_str::<NodeFile>(
            "[limits]
max_client = 1
",
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_client"), "{e}");
    }

    #[test]
    fn meta_flags_override_the_file() {
        let f: NodeFile =
            toml::from_str("expected_data_nodes = 4\nmax_expel_percent = 30\n").unwrap();
        let flags = MetaArgs {
            max_expel_percent: Some(60),
            ..MetaArgs::default()
        };
        let s = flags.settle(&f);
        assert_eq!(s.expected_data_nodes, Some(4));
        assert_eq!(s.max_expel_percent, Some(60));
        assert_eq!(s.start_window_ms, None);
        let e = toml::from_str::<NodeFile>("max_expel_percent = -1").unwrap_err();
        assert!(e.to_string().contains("max_expel_percent"), "{e}");
    }

    #[test]
    fn dns_settings_come_from_the_file_and_long_ttls_are_refused() {
        let f: NodeFile = toml::from_str("dns_listen = \"127.0.0.1:8600\"\ndns_ttl = 5\n").unwrap();
        assert_eq!(f.dns_listen.as_deref(), Some("127.0.0.1:8600"));
        assert_eq!(dns_ttl(f.dns_ttl), Ok(Some(5)));
        assert_eq!(dns_ttl(None), Ok(None));
        let e = dns_ttl(Some(MAX_DNS_TTL + 1)).unwrap_err();
        assert!(e.0.contains("dns_ttl"), "{e}");
    }

    #[test]
    fn peers_parse_or_say_why_not() {
        let p = parse_peers(&["1=a:1".into(), "2 = b:2".into()]).unwrap();
        assert_eq!(p, vec![(1, "a:1".into()), (2, "b:2".into())]);
        assert!(
            parse_peers(&["a:1".into()])
                .unwrap_err()
                .0
                .contains("id=host:port")
        );
    }
}
