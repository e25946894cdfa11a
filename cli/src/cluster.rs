//! `roster dev`: a whole cluster in one process on loopback, every node on its own event
//! loop with listeners on free ports (with glommio, each data and session node is a group
//! of shards, as a separate process would be). Readiness is a condition on the nodes' state (meta has
//! a leader; every data node and session holds a table that routes every slot), never a
//! sleep.

use crate::acl::AclWatch;
use crate::config::{Runtime, Timing};
use crate::roles::StartError;
use crate::runtime::Started;
use roster_admin::{Probe, Process};
use roster_core::data::{DataCommand, DataNode};
use roster_core::meta::{MetaCommand, MetaNode};
use roster_core::session::Session;
use roster_glommio::roles::{start_data_shards, start_session_shards};
use roster_mio::nodes::Running;
use roster_mio::roles::{start_data, start_meta, start_session};
use roster_mio::shell::Listener;
use roster_shell::nodes::{MetaSettings, MetaStore, SessionLimits, SessionSettings};
use roster_shell::tls::Tls;
use roster_shell::{ListenerKind, ShellConfig};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How big a dev cluster is.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Meta nodes (a consensus group when more than one).
    pub metas: usize,
    /// Data nodes.
    pub datas: usize,
    /// Session nodes.
    pub sessions: usize,
    /// Intervals and leases.
    pub timing: Timing,
    /// Runtime of the data and session nodes (meta runs on mio).
    pub runtime: Runtime,
    /// TLS of every node (default plain).
    pub tls: Tls,
    /// The sessions' access-rule file, reloaded on change (default: none, open access).
    pub acl: Option<PathBuf>,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            metas: 1,
            datas: 3,
            sessions: 2,
            timing: Timing::default(),
            runtime: Runtime::Mio,
            tls: Tls::default(),
            acl: None,
        }
    }
}

/// A running dev cluster; dropping it stops every node.
#[derive(Debug)]
pub struct DevCluster {
    /// Dropped first: it reaches into the sessions.
    acl_watch: Option<AclWatch>,
    sessions: Vec<Started<Infallible>>,
    datas: Vec<Started<DataCommand>>,
    metas: Vec<Running<MetaCommand>>,
    /// Session client addresses, for clients.
    pub session_addrs: Vec<String>,
    /// Meta addresses.
    pub meta_addrs: Vec<String>,
}

const LOOPBACK: &str = "127.0.0.1:0";

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl DevCluster {
    /// Starts the cluster (not waiting for readiness).
    pub fn start(o: DevOptions) -> Result<DevCluster, StartError> {
        if o.metas == 0 || o.datas == 0 || o.sessions == 0 {
            return Err(StartError::Config(crate::config::ConfigError(
                "dev: --meta, --data and --sessions must each be at least 1".into(),
            )));
        }
        let shell = ShellConfig {
            tls: o.tls.clone(),
            ..ShellConfig::default()
        };
        let timing = o.timing.into();
        // Read before anything starts: a bad file names itself and starts nothing.
        let acl = o.acl.as_deref().map(crate::acl::load_stamped).transpose()?;
        let session_settings = SessionSettings {
            timing,
            limits: SessionLimits::default(),
            acl: acl.as_ref().map(|(acl, _)| acl.clone()),
        };
        let meta_listeners = (0..o.metas)
            .map(|_| Listener::bind(ListenerKind::Peer, LOOPBACK))
            .collect::<Result<Vec<_>, _>>()?;
        let peers = meta_listeners
            .iter()
            .enumerate()
            .map(|(i, l)| Ok((i as u64 + 1, l.local_addr()?.to_string())))
            .collect::<Result<Vec<_>, std::io::Error>>()?;
        let meta_addrs: Vec<String> = peers.iter().map(|(_, a)| a.clone()).collect();
        // Every data node (each glommio shard is one) is known: the table is placed as
        // soon as they all joined, without waiting for the start window.
        let settings = MetaSettings {
            expected_data_nodes: Some(match o.runtime {
                Runtime::Mio => o.datas,
                Runtime::Glommio { shards } => o.datas * shards,
            }),
            ..MetaSettings::default()
        };
        let mut metas = Vec::new();
        for (i, l) in meta_listeners.into_iter().enumerate() {
            // The voters live and die together with this process: nothing to persist.
            metas.push(start_meta(
                i as u64 + 1,
                &peers,
                l,
                timing,
                &MetaStore::Memory,
                settings,
                shell.clone(),
            )?);
        }
        let mut datas = Vec::new();
        for i in 0..o.datas {
            let id = Some(101 + i as u64);
            datas.push(match o.runtime {
                Runtime::Mio => {
                    let l = Listener::bind(ListenerKind::Peer, LOOPBACK)?;
                    let addr = l.local_addr()?;
                    Started::Mio(start_data(id, l, addr, &meta_addrs, timing, shell.clone())?)
                }
                Runtime::Glommio { shards } => Started::Glommio(start_data_shards(
                    id,
                    any_port(),
                    shards,
                    &meta_addrs,
                    timing,
                    shell.clone(),
                )?),
            });
        }
        let mut sessions = Vec::new();
        let mut session_addrs = Vec::new();
        for i in 0..o.sessions {
            let id = Some(201 + i as u64);
            let (session, client) = match o.runtime {
                Runtime::Mio => {
                    let c = Listener::bind(ListenerKind::Client, LOOPBACK)?;
                    let p = Listener::bind(ListenerKind::Peer, LOOPBACK)?;
                    let (ca, pa) = (c.local_addr()?, p.local_addr()?);
                    let s = start_session(
                        id,
                        c,
                        p,
                        ca,
                        pa,
                        &meta_addrs,
                        session_settings.clone(),
                        shell.clone(),
                    )?;
                    (Started::Mio(s), ca)
                }
                Runtime::Glommio { shards } => {
                    let (c, p) = (any_port(), any_port());
                    let s = start_session_shards(
                        id,
                        c,
                        p,
                        shards,
                        &meta_addrs,
                        session_settings.clone(),
                        shell.clone(),
                    )?;
                    let client = s.bound().next().map_or(c, |(_, a)| a[0]);
                    (Started::Glommio(s), client)
                }
            };
            session_addrs.push(client.to_string());
            sessions.push(session);
        }
        let acl_watch = match (o.acl, acl) {
            (Some(path), Some((_, read))) => {
                let inspectors = sessions.iter().flat_map(Started::inspectors).collect();
                Some(AclWatch::start(path, read, inspectors)?)
            }
            _ => None,
        };
        Ok(DevCluster {
            acl_watch,
            sessions,
            datas,
            metas,
            session_addrs,
            meta_addrs,
        })
    }

    /// Every node, as the admin server reaches them.
    pub fn process(&self) -> Process {
        Process {
            metas: self
                .metas
                .iter()
                .filter_map(|m| Some(Probe::new(m.name(), m.inspector::<MetaNode>()?)))
                .collect(),
            datas: self
                .datas
                .iter()
                .flat_map(Started::probes::<DataNode>)
                .collect(),
            sessions: self
                .sessions
                .iter()
                .flat_map(Started::probes::<Session>)
                .collect(),
        }
    }

    /// Waits at most `timeout` until every node is ready; whether they all are.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        self.metas.iter().all(|m| m.wait_ready(left()))
            && self.datas.iter().all(|d| d.wait_ready(left()))
            && self.sessions.iter().all(|s| s.wait_ready(left()))
    }

    /// The name of a node that stopped on its own (failed), if any.
    pub fn failed(&self) -> Option<String> {
        let meta = self.metas.iter().find(|r| r.is_finished());
        meta.map(|r| r.name().to_string()).or_else(|| {
            let datas = self.datas.iter().map(Started::failed);
            datas
                .chain(self.sessions.iter().map(Started::failed))
                .flatten()
                .next()
        })
    }

    /// Stops every node: sessions, then data, then meta.
    pub fn stop(mut self) {
        self.acl_watch = None;
        self.sessions.clear();
        self.datas.clear();
        self.metas.clear();
    }
}
