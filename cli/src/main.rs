//! `roster`: run any role, a whole dev cluster, or publish and subscribe from the shell.

use clap::{Parser, Subcommand};
use roster::acl::AclWatch;
use roster::cluster::{DevCluster, DevOptions};
use roster::config::{
    ConfigError, MetaArgs, NodeFile, Runtime, RuntimeArgs, Timing, cores, parse_peers, split_addrs,
};
use roster::roles::StartError;
use roster::runtime::{Started, resolve};
use roster::tls::shell_config;
use roster_admin::{AdminServer, Probe, Process};
use roster_client::{Client, ClientOptions, ClientTls, PublisherRef, Update};
use roster_core::data::DataNode;
use roster_core::meta::MetaNode;
use roster_core::session::Session;
use roster_dns::{DnsConfig, DnsServer};
use roster_gateway::GatewayServer;
use roster_glommio::roles::{start_data_shards, start_session_shards};
use roster_mio::roles::{start_data, start_meta, start_session};
use roster_mio::shell::Listener;
use roster_shell::Flag;
use roster_shell::ListenerKind;
use roster_shell::nodes::{MetaStore, SessionSettings};
use roster_shell::tls::Tls;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// mimalloc, tuned for a server (see `roster::alloc`).
#[global_allocator]
static ALLOC: roster::alloc::MiMalloc = roster::alloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "A service registry: publish, subscribe, and the nodes that serve them."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// TOML file with any of the settings below; flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Node id (meta: consensus id).
    #[arg(long)]
    id: Option<u64>,
    /// Peer listener address (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// Meta addresses, comma-separated (data, session).
    #[arg(long, value_name = "ADDRS")]
    meta: Option<String>,
    /// Admin HTTP server address (default: loopback, a free port).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    #[command(flatten)]
    timing: Timing,
}

impl NodeArgs {
    fn merged(&self) -> Result<NodeFile, StartError> {
        let mut f = match &self.config {
            Some(p) => NodeFile::load(p)?,
            None => NodeFile::default(),
        };
        f.id = self.id.or(f.id);
        f.listen = self.listen.clone().or(f.listen);
        if let Some(m) = &self.meta {
            f.meta = Some(split_addrs(m));
        }
        f.timing = self.timing.or(f.timing);
        f.admin_listen = self.admin_listen.clone().or(f.admin_listen);
        Ok(f)
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// A whole cluster in this process on loopback (meta, data, sessions).
    Dev {
        /// Meta nodes.
        #[arg(long = "meta", default_value_t = 1)]
        metas: usize,
        /// Data nodes.
        #[arg(long = "data", default_value_t = 3)]
        datas: usize,
        /// Session nodes.
        #[arg(long, default_value_t = 2)]
        sessions: usize,
        /// Admin HTTP server address (default: loopback, a free port).
        #[arg(long, value_name = "ADDR")]
        admin_listen: Option<String>,
        /// TLS on every port, under a throwaway CA made in a temporary directory (printed:
        /// `tls ca PATH`, what clients trust with --tls-ca).
        #[arg(long)]
        tls: bool,
        /// HTTP/JSON gateway address (default: loopback, a free port); a client of every
        /// session, so it fails over.
        #[arg(long, value_name = "ADDR")]
        http_listen: Option<String>,
        /// DNS interface address, UDP and TCP (default: loopback, a free port).
        #[arg(long, value_name = "ADDR")]
        dns_listen: Option<String>,
        /// TTL of the DNS records, in seconds (default 2).
        #[arg(long, value_name = "SECONDS")]
        dns_ttl: Option<u32>,
        /// The sessions' access-rule file, reloaded on change (docs/security.md).
        #[arg(long, value_name = "FILE")]
        acl: Option<PathBuf>,
        #[command(flatten)]
        timing: Timing,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// One meta node; its consensus state persists in --data-dir.
    Meta {
        #[command(flatten)]
        node: NodeArgs,
        /// The meta group, `id=host:port` comma-separated, this node included (default:
        /// this node alone, id 1).
        #[arg(long, value_name = "PEERS")]
        peers: Option<String>,
        /// Directory of the persisted consensus state (required in a group of several).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        settings: MetaArgs,
    },
    /// One data node (with --runtime glommio, one per shard).
    Data {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// One session node (client and peer listeners are separate; with --runtime glommio,
    /// one per shard, all on the client port).
    Session {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        runtime: RuntimeArgs,
        /// Client listener address.
        #[arg(long, value_name = "ADDR")]
        client_listen: Option<String>,
        /// Serve the HTTP/JSON gateway here too, a client of this session (default: none).
        #[arg(long, value_name = "ADDR")]
        http_listen: Option<String>,
        /// Serve DNS (UDP and TCP) on this address: `<data_id>.service.roster.` SRV, A
        /// and AAAA records (docs/dns.md).
        #[arg(long, value_name = "ADDR")]
        dns_listen: Option<String>,
        /// TTL of the DNS records, in seconds (default 2).
        #[arg(long, value_name = "SECONDS")]
        dns_ttl: Option<u32>,
        /// The access-rule file, reloaded on change (docs/security.md; default: the
        /// file's `acl`, else none: every client may do everything).
        #[arg(long, value_name = "FILE")]
        acl: Option<PathBuf>,
    },
    /// Publishes instances of DATA_ID (one per PAYLOAD) and holds them until interrupted;
    /// says "published" once the session acknowledged them all.
    Publish {
        /// Session client addresses, comma-separated; the client fails over across them.
        #[arg(long, value_name = "ADDRS")]
        session: String,
        /// The service key.
        data_id: String,
        /// One publisher per payload (by convention `ip:port`).
        #[arg(required = true)]
        payload: Vec<String>,
        #[command(flatten)]
        access: ClientAccess,
    },
    /// Prints every list pushed for DATA_ID.
    Subscribe {
        /// Session client addresses, comma-separated; the client fails over across them.
        #[arg(long, value_name = "ADDRS")]
        session: String,
        /// The service key.
        data_id: String,
        /// Exit after the first list.
        #[arg(long)]
        once: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Longest wait for a connection to a session to open before trying the next.
        #[arg(long, value_name = "MS")]
        connect_timeout_ms: Option<u64>,
        #[command(flatten)]
        access: ClientAccess,
    },
    /// Operate a cluster over its admin HTTP API (status, slots, key, ...).
    Admin(roster::admin::AdminArgs),
}

fn main() -> ExitCode {
    roster::alloc::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raised by SIGINT or SIGTERM.
fn shutdown_flag() -> Result<Arc<Flag>, StartError> {
    let flag = Arc::new(Flag::default());
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    let f = flag.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                tracing::info!(signal = sig, "shutting down");
                f.raise();
            }
        })?;
    Ok(flag)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Waits for a signal while watching for a node that stopped by itself.
fn hold(stop: &Flag, failed: impl Fn() -> Option<String>) -> Result<(), StartError> {
    while !stop.wait(Duration::from_millis(200)) {
        if let Some(name) = failed() {
            return Err(StartError::Io(std::io::Error::other(format!(
                "{name} stopped unexpectedly (see the log)"
            ))));
        }
    }
    Ok(())
}

/// Holds a started data or session node until a signal, then stops its admin server and
/// it (every shard).
fn serve<C>(stop: &Flag, mut node: Started<C>, admin: AdminServer) -> Result<(), StartError> {
    let r = hold(stop, || node.failed());
    drop(admin);
    node.stop()?;
    r
}

/// Starts an HTTP/JSON gateway on `listen`, a client of `sessions`, and says where it
/// listens (`http http://ADDR`, `http https://ADDR` with the node's TLS).
fn http(
    listen: Option<&str>,
    sessions: &[String],
    tls: Option<ClientTls>,
    serve_tls: &Tls,
) -> Result<GatewayServer, StartError> {
    let server = roster::http_gateway::start(listen, sessions, tls, serve_tls.clone())?;
    say(&format!(
        "http {}://{}",
        server.scheme(),
        server.local_addr()
    ));
    Ok(server)
}

/// Starts the process's admin server and says where it listens (`admin http://ADDR`, or
/// `admin https://ADDR` with the node's TLS: tools and tests read the line).
fn admin(
    listen: Option<&str>,
    token: Option<String>,
    process: Process,
    tls: &Tls,
) -> Result<AdminServer, StartError> {
    let server = roster::admin_server::start(listen, token, process, tls.clone())?;
    say(&format!(
        "admin {}://{}",
        server.scheme(),
        server.local_addr()
    ));
    Ok(server)
}

/// Starts a DNS server learning lists from these sessions and says where it listens
/// (`dns ADDR`: tools and tests read the line). `ttl` was checked by `config::dns_ttl`.
fn dns(
    listen: &str,
    sessions: &[String],
    ttl: Option<u32>,
    tls: Option<ClientTls>,
) -> Result<DnsServer, StartError> {
    let listen = resolve(listen).map_err(|e| match e {
        StartError::Io(e) => StartError::Config(ConfigError(format!("dns_listen: {e}"))),
        e => e,
    })?;
    let mut config = DnsConfig::new(listen, sessions.iter().cloned());
    if let Some(t) = ttl {
        config.ttl = t;
    }
    config.tls = tls;
    let server = DnsServer::start(config)?;
    say(&format!("dns {}", server.local_addr()));
    Ok(server)
}

/// The address the process's own client reaches its session at: a listener on every
/// interface is reached on loopback.
fn own_client_addr(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr.to_string()
}

fn bind(kind: ListenerKind, addr: &str) -> Result<(Listener, SocketAddr), StartError> {
    let l = Listener::bind(kind, addr)?;
    let a = l.local_addr()?;
    Ok((l, a))
}

fn meta_list(f: &NodeFile) -> Vec<String> {
    f.meta.clone().unwrap_or_default()
}

fn run(cmd: Cmd) -> Result<(), StartError> {
    match cmd {
        Cmd::Admin(args) => {
            roster::admin::run(args).map_err(|e| StartError::Io(std::io::Error::other(e)))
        }
        Cmd::Dev {
            metas,
            datas,
            sessions,
            admin_listen,
            tls,
            http_listen,
            dns_listen,
            dns_ttl,
            acl,
            timing,
            runtime,
        } => {
            let runtime = runtime.settle(&NodeFile::default(), 1)?;
            let dns_ttl = roster::config::dns_ttl(dns_ttl)?;
            let stop = shutdown_flag()?;
            // Kept (and removed) until the cluster stops.
            let dev_tls = match tls {
                true => Some(dev_certificates()?),
                false => None,
            };
            let tls = match &dev_tls {
                Some((_, certs)) => Tls::node(&certs.node).map_err(|e| ConfigError(e.0))?,
                None => Tls::default(),
            };
            let cluster = DevCluster::start(DevOptions {
                metas,
                datas,
                sessions,
                timing,
                runtime,
                tls: tls.clone(),
                acl,
            })?;
            if let Some((_, certs)) = &dev_tls {
                say(&format!(
                    "tls ca {}  (clients trust it: roster subscribe --tls-ca {} ...; a client \
                     certificate: {}, key {})",
                    certs.ca.display(),
                    certs.ca.display(),
                    certs.client_cert.display(),
                    certs.client_key.display()
                ));
            }
            say(&format!("meta {}", cluster.meta_addrs.join(",")));
            let _reload = roster::tls::watch(&tls)?;
            let admin = admin(admin_listen.as_deref(), None, cluster.process(), &tls)?;
            say(&format!(
                "console {}://{}/ui/",
                admin.scheme(),
                admin.local_addr()
            ));
            // The gateway and the DNS server are clients of the sessions: with TLS, trusting
            // the dev CA.
            let own_tls = match &dev_tls {
                Some((_, certs)) => Some(ClientTls::from_ca_file(&certs.ca).map_err(client_err)?),
                None => None,
            };
            let http = http(
                http_listen.as_deref(),
                &cluster.session_addrs,
                own_tls.clone(),
                &tls,
            )?;
            let dns = dns(
                dns_listen.as_deref().unwrap_or("127.0.0.1:0"),
                &cluster.session_addrs,
                dns_ttl,
                own_tls,
            )?;
            let ready = loop {
                if cluster.wait_ready(Duration::from_millis(200)) {
                    break true;
                }
                if stop.is_raised() || cluster.failed().is_some() {
                    break false;
                }
            };
            if ready {
                say(&format!("sessions {}", cluster.session_addrs.join(",")));
                let trust = match &dev_tls {
                    Some((_, certs)) => format!(" --tls-ca {}", certs.ca.display()),
                    None => String::new(),
                };
                say(&format!(
                    "ready: try  roster subscribe --session {}{trust} my.service",
                    cluster.session_addrs.join(",")
                ));
            }
            let r = hold(&stop, || cluster.failed());
            drop(dns);
            drop(http);
            drop(admin);
            cluster.stop();
            r
        }
        Cmd::Meta {
            node,
            peers,
            data_dir,
            settings,
        } => {
            let f = node.merged()?;
            let listen = f.listen.clone().unwrap_or_else(|| "127.0.0.1:9700".into());
            let shell = shell_config(f.tls.as_ref())?;
            let tls = shell.tls.clone();
            let _reload = roster::tls::watch(&tls)?;
            let (l, addr) = bind(ListenerKind::Peer, &listen)?;
            let peers = match peers.map(|p| split_addrs(&p)).or(f.peers.clone()) {
                Some(p) => parse_peers(&p)?,
                None => vec![(f.id.unwrap_or(1), addr.to_string())],
            };
            let id = f.id.unwrap_or(1);
            let store = MetaStore::for_voter(peers.len(), data_dir.or(f.data_dir.clone()))?;
            let stop = shutdown_flag()?;
            let settings = settings.settle(&f);
            let mut m = start_meta(id, &peers, l, f.timing.into(), &store, settings, shell)?;
            say(&format!("meta {id} listening {addr}"));
            let process = Process {
                metas: m
                    .inspector::<MetaNode>()
                    .map(|i| Probe::new(m.name(), i))
                    .into_iter()
                    .collect(),
                ..Process::default()
            };
            let admin = admin(
                f.admin_listen.as_deref(),
                f.admin_token.clone(),
                process,
                &tls,
            )?;
            let r = hold(&stop, || m.is_finished().then(|| m.name().to_string()));
            drop(admin);
            m.stop()?;
            r
        }
        Cmd::Data { node, runtime } => {
            let f = node.merged()?;
            let listen = f.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
            let meta = meta_list(&f);
            let stop = shutdown_flag()?;
            let shell = shell_config(f.tls.as_ref())?;
            let tls = shell.tls.clone();
            let _reload = roster::tls::watch(&tls)?;
            let d = match runtime.settle(&f, cores())? {
                Runtime::Mio => {
                    let (l, addr) = bind(ListenerKind::Peer, &listen)?;
                    let d = start_data(f.id, l, addr, &meta, f.timing.into(), shell)?;
                    say(&format!("data listening {addr}"));
                    Started::Mio(d)
                }
                Runtime::Glommio { shards } => {
                    let (listen, timing) = (resolve(&listen)?, f.timing.into());
                    let d = start_data_shards(f.id, listen, shards, &meta, timing, shell)?;
                    for (i, (_, addrs)) in d.bound().enumerate() {
                        say(&format!(
                            "data listening {} (shard {i} of {shards})",
                            addrs[0]
                        ));
                    }
                    Started::Glommio(d)
                }
            };
            let process = Process {
                datas: d.probes::<DataNode>(),
                ..Process::default()
            };
            let admin = admin(
                f.admin_listen.as_deref(),
                f.admin_token.clone(),
                process,
                &tls,
            )?;
            serve(&stop, d, admin)
        }
        Cmd::Session {
            node,
            runtime,
            client_listen,
            http_listen,
            dns_listen,
            dns_ttl,
            acl,
        } => {
            let f = node.merged()?;
            let client_listen = client_listen
                .or(f.client_listen.clone())
                .unwrap_or_else(|| "127.0.0.1:9600".into());
            let peer_listen = f.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
            let meta = meta_list(&f);
            // Checked before any node starts, as every other setting.
            let dns_ttl = roster::config::dns_ttl(dns_ttl.or(f.dns_ttl))?;
            let acl_file = acl.or(f.acl.clone());
            let acl = acl_file
                .as_deref()
                .map(roster::acl::load_stamped)
                .transpose()?;
            let stop = shutdown_flag()?;
            let shell = shell_config(f.tls.as_ref())?;
            let tls = shell.tls.clone();
            let _reload = roster::tls::watch(&tls)?;
            let mut client_addr = None;
            let s = match runtime.settle(&f, cores())? {
                Runtime::Mio => {
                    let (c, ca) = bind(ListenerKind::Client, &client_listen)?;
                    client_addr = Some(ca);
                    let (p, pa) = bind(ListenerKind::Peer, &peer_listen)?;
                    let settings = SessionSettings {
                        timing: f.timing.into(),
                        limits: f.limits.into(),
                        acl: acl.as_ref().map(|(acl, _)| acl.clone()),
                    };
                    let s = start_session(f.id, c, p, ca, pa, &meta, settings, shell)?;
                    say(&format!("session listening client={ca} peer={pa}"));
                    Started::Mio(s)
                }
                Runtime::Glommio { shards } => {
                    let (c, p) = (resolve(&client_listen)?, resolve(&peer_listen)?);
                    let settings = SessionSettings {
                        timing: f.timing.into(),
                        limits: f.limits.into(),
                        acl: acl.as_ref().map(|(acl, _)| acl.clone()),
                    };
                    let s = start_session_shards(f.id, c, p, shards, &meta, settings, shell)?;
                    for (i, (_, a)) in s.bound().enumerate() {
                        client_addr = Some(a[0]);
                        say(&format!(
                            "session listening client={} peer={} (shard {i} of {shards})",
                            a[0], a[1]
                        ));
                    }
                    Started::Glommio(s)
                }
            };
            let _acl_watch = match (acl_file, acl) {
                (Some(path), Some((_, read))) => Some(AclWatch::start(path, read, s.inspectors())?),
                _ => None,
            };
            let process = Process {
                sessions: s.probes::<Session>(),
                ..Process::default()
            };
            let admin = admin(
                f.admin_listen.as_deref(),
                f.admin_token.clone(),
                process,
                &tls,
            )?;
            // The gateway and the DNS server are clients of this session's own client port.
            // With TLS they trust the cluster CA, which signed this session's certificate.
            let own = client_addr.map(own_client_addr);
            let own_tls = roster::tls::own_client_tls(f.tls.as_ref())?;
            let http = match (http_listen.or(f.http_listen.clone()), &own) {
                (Some(listen), Some(ca)) => Some(http(
                    Some(&listen),
                    std::slice::from_ref(ca),
                    own_tls.clone(),
                    &tls,
                )?),
                _ => None,
            };
            let dns = match (dns_listen.or(f.dns_listen.clone()), &own) {
                (Some(listen), Some(ca)) => {
                    Some(dns(&listen, std::slice::from_ref(ca), dns_ttl, own_tls)?)
                }
                _ => None,
            };
            let r = serve(&stop, s, admin);
            drop(dns);
            drop(http);
            r
        }
        Cmd::Publish {
            session,
            data_id,
            payload,
            access,
        } => {
            let stop = shutdown_flag()?;
            let client = client(&session, None, &access)?;
            let pubs = payload
                .iter()
                .map(|p| client.publish(&data_id, [p.clone().into_bytes()]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(client_err)?;
            // Announced once the session acknowledged every one of them, not merely when
            // connected: a script reading "published" can rely on it.
            let mut announced = false;
            while !stop.wait(Duration::from_millis(20)) {
                if let Some(e) = pubs.iter().find_map(|p| p.rejected()) {
                    return Err(client_err(e));
                }
                if !announced
                    && pubs
                        .iter()
                        .all(|p| p.wait_registered(Duration::ZERO).is_ok())
                {
                    announced = true;
                    say(&format!("published {} under {data_id}", pubs.len()));
                }
            }
            drop(pubs);
            Ok(())
        }
        Cmd::Subscribe {
            session,
            data_id,
            once,
            json,
            connect_timeout_ms,
            access,
        } => {
            let stop = shutdown_flag()?;
            let client = client(&session, connect_timeout_ms, &access)?;
            let sub = client.subscribe(&data_id).map_err(client_err)?;
            while !stop.is_raised() {
                if let Some(e) = sub.rejected() {
                    return Err(client_err(e));
                }
                match sub.recv_timeout(Duration::from_millis(200)) {
                    Ok(u) => {
                        say(&render(&data_id, &u, json));
                        if once {
                            break;
                        }
                    }
                    Err(roster_client::Error::Timeout) => {}
                    Err(e) => return Err(client_err(e)),
                }
            }
            Ok(())
        }
    }
}

/// `roster dev --tls`'s certificates in a temporary directory (removed when dropped).
fn dev_certificates() -> Result<(tempfile::TempDir, roster::tls::DevCerts), StartError> {
    let dir = tempfile::Builder::new()
        .prefix("roster-dev-tls-")
        .tempdir()?;
    let certs = roster::tls::generate(dir.path())?;
    Ok((dir, certs))
}

/// How `roster publish` and `roster subscribe` prove who they are.
#[derive(Debug, clap::Args)]
struct ClientAccess {
    /// Connect with TLS, trusting the CA certificates of this PEM file.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Present this client certificate (PEM; with --tls-key): its common name is the
    /// client's identity to the access rules.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The environment variable that carries a client's access token: never a flag, which
/// `ps` would show.
const TOKEN_ENV: &str = "ROSTER_TOKEN";

fn client(
    addrs: &str,
    connect_timeout_ms: Option<u64>,
    access: &ClientAccess,
) -> Result<Client, StartError> {
    let mut options = ClientOptions::new(split_addrs(addrs));
    options.tls = match (&access.tls_ca, &access.tls_cert, &access.tls_key) {
        (Some(ca), Some(cert), Some(key)) => {
            let tls = ClientTls::from_ca_file(ca).map_err(client_err)?;
            Some(tls.with_identity_files(cert, key).map_err(client_err)?)
        }
        (Some(ca), _, _) => Some(ClientTls::from_ca_file(ca).map_err(client_err)?),
        _ => None,
    };
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        options.token = token.into();
    }
    if let Some(ms) = connect_timeout_ms {
        options.connect_timeout = Duration::from_millis(ms);
    }
    Client::with_options(options).map_err(client_err)
}

fn client_err(e: roster_client::Error) -> StartError {
    match e {
        roster_client::Error::Config(_) | roster_client::Error::InvalidKey(_) => {
            StartError::Config(roster::config::ConfigError(e.to_string()))
        }
        e => StartError::Io(std::io::Error::other(e.to_string())),
    }
}

fn render(data_id: &str, u: &Update, json: bool) -> String {
    let payloads = |p: PublisherRef<'_>| -> Vec<String> {
        p.payload()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    if json {
        let publishers: Vec<_> = u
            .publishers()
            .iter()
            .map(|p| {
                serde_json::json!({
                    "register_id": p.register_id(),
                    "payload": payloads(p),
                })
            })
            .collect();
        serde_json::json!({
            "data_id": data_id,
            "data_info_id": u.data_info_id().to_string(),
            "version": [u.version().leader_epoch.0, u.version().seq],
            "publishers": publishers,
        })
        .to_string()
    } else {
        let list: Vec<String> = u.publishers().iter().flat_map(payloads).collect();
        format!(
            "{data_id} v{}.{}: {} publisher(s) [{}]",
            u.version().leader_epoch.0,
            u.version().seq,
            u.publishers().len(),
            list.join(", ")
        )
    }
}
