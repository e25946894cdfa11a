//! Loading a node's or a client's TLS settings: PEM files into rustls configurations, with
//! errors that name the setting and the file.
//!
//! A node has three uses for TLS, all under one cluster CA: its peer ports (meta, data, a
//! session's peer port) demand a client certificate signed by that CA (mutual TLS), its
//! dials to other nodes present its own certificate, and a session's client port serves the
//! same certificate and asks clients for one only if `client_ca` is set (optional: an
//! identity for the future ACLs, never required).

use crate::admission::ListenerKind;
use crate::tls::stream::TlsConn;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A TLS setting that could not be used: the message names the field and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// A node's TLS files (PEM), as the `[tls]` table of a node file names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA: every peer's certificate must be signed by it.
    pub ca: PathBuf,
    /// This node's certificate chain (leaf first), served on every port and presented when
    /// dialling other nodes.
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
    /// CA of client certificates on a session's client port; clients may present one (an
    /// identity), and need not. `None`: clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
}

/// The provider every configuration here is built with. Named rather than taken from the
/// process default, so a dependency that enables another provider changes nothing.
// ring's provider lacks the post-quantum key exchange (hence the deprecation); aws-lc-rs,
// which has it, needs cmake and a longer build than this project's machines give. To move
// to it, change this function and the rustls features.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file `path`, for the setting `field`.
pub fn load_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let what = |e: &dyn fmt::Display| TlsError(format!("tls.{field}: {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| what(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(&e))?;
    if certs.is_empty() {
        return Err(what(&"no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The private key in the PEM file `path`, for the setting `field`.
pub fn load_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| TlsError(format!("tls.{field}: {}: {e}", path.display())))
}

/// The CA certificates in the PEM file `path` as trust roots, for the setting `field`.
pub fn load_roots(field: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(field, path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError(format!("tls.{field}: {}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The rustls configurations in force: one per kind of listener and one for dials. A part
/// that is `None` is plain TCP.
#[derive(Clone, Default)]
struct Configs {
    client_port: Option<Arc<ServerConfig>>,
    peer_port: Option<Arc<ServerConfig>>,
    http_port: Option<Arc<ServerConfig>>,
    dial: Option<Arc<ClientConfig>>,
}

/// How long an inbound connection may take over its handshake unless configured
/// (`[tls] handshake_timeout`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a shell's connections use: the server side of each kind of listener (and of the
/// process's HTTP ports) and the client side of every dial.
///
/// A handle: its clones share the configurations, so [`reload`](Tls::reload) on any of
/// them changes what every listener of every shell uses for its next handshake, while
/// connections already up keep the configuration they were made with.
#[derive(Clone)]
pub struct Tls {
    configs: Arc<RwLock<Configs>>,
    /// The files a node's TLS came from, read again by [`reload`](Tls::reload).
    files: Option<Arc<TlsFiles>>,
    handshake_timeout: Duration,
    /// Inbound connections closed for taking too long over their handshake, by every
    /// shell sharing this handle.
    timed_out: Arc<AtomicU64>,
}

impl Default for Tls {
    /// Plain TCP everywhere.
    fn default() -> Self {
        Tls {
            configs: Arc::default(),
            files: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            timed_out: Arc::default(),
        }
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.current();
        f.debug_struct("Tls")
            .field("client_port", &c.client_port.is_some())
            .field("peer_port", &c.peer_port.is_some())
            .field("http_port", &c.http_port.is_some())
            .field("dial", &c.dial.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl Tls {
    /// A cluster node's TLS from its files: every listener and every dial.
    pub fn node(files: &TlsFiles) -> Result<Tls, TlsError> {
        Ok(Tls {
            configs: Arc::new(RwLock::new(node_configs(files)?)),
            files: Some(Arc::new(files.clone())),
            ..Tls::default()
        })
    }

    /// A client's TLS: it trusts `roots` for the session's certificate and presents
    /// `identity` (a chain, leaf first, and its key) if given. It has no listeners.
    pub fn client(
        roots: RootCertStore,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Tls, TlsError> {
        let configs = Configs {
            dial: Some(dial_config(Arc::new(roots), identity)?),
            ..Configs::default()
        };
        Ok(Tls {
            configs: Arc::new(RwLock::new(configs)),
            ..Tls::default()
        })
    }

    /// The same TLS, with inbound handshakes bounded by `timeout`.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Tls {
        self.handshake_timeout = timeout;
        self
    }

    /// How long an inbound connection may take over its handshake before it is closed.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Counts an inbound connection closed because its handshake took longer than
    /// [`handshake_timeout`](Tls::handshake_timeout) (the shells call it).
    pub fn count_handshake_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// How many inbound connections were closed for an unfinished handshake so far.
    pub fn handshake_timeouts(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// The files a node's TLS was made from (`None` for plain TCP and for a client's).
    pub fn files(&self) -> Option<&TlsFiles> {
        self.files.as_deref()
    }

    /// Reads the node's files again and, if they make a whole configuration, puts it in
    /// force for every new handshake; connections already up are not touched. On an error
    /// (naming the field and the file) the configuration in force stays. `Ok(false)` for
    /// a TLS not made from files (nothing to reload).
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let fresh = node_configs(files)?;
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(true)
    }

    fn current(&self) -> Configs {
        // A panic elsewhere while the lock was held left whole configurations behind (the
        // write is one assignment), so a poisoned lock is still good to read.
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether any connection uses TLS.
    pub fn is_enabled(&self) -> bool {
        let c = self.current();
        c.client_port.is_some() || c.peer_port.is_some() || c.dial.is_some()
    }

    /// TLS for a connection accepted on a listener of `kind`; `None` if that port is plain.
    pub fn accept(&self, kind: ListenerKind) -> Result<Option<TlsConn>, TlsError> {
        let c = self.current();
        let config = match kind {
            ListenerKind::Client => c.client_port,
            ListenerKind::Peer => c.peer_port,
        };
        config
            .map(TlsConn::server)
            .transpose()
            .map_err(|e| TlsError(format!("tls: {e}")))
    }

    /// The server configuration in force for the process's HTTP ports (admin, gateway):
    /// the node's certificate, no client certificate asked for, HTTP/1.1 offered by ALPN;
    /// `None` when they are plain. Read per accepted connection, so a reload applies to
    /// the next one.
    pub fn http(&self) -> Option<Arc<ServerConfig>> {
        self.current().http_port
    }

    /// TLS for a dial to `address` (`host:port`), whose certificate must name `host`;
    /// `None` if dials are plain.
    pub fn dial(&self, address: &str) -> Result<Option<TlsConn>, TlsError> {
        let Some(config) = self.current().dial else {
            return Ok(None);
        };
        let name = server_name(address)?;
        TlsConn::client(config, name)
            .map(Some)
            .map_err(|e| TlsError(format!("tls: dial {address}: {e}")))
    }
}

/// Every configuration of a node, from its files.
fn node_configs(files: &TlsFiles) -> Result<Configs, TlsError> {
    let ca = Arc::new(load_roots("ca", &files.ca)?);
    let certs = load_certs("cert", &files.cert)?;
    let key = load_key("key", &files.key)?;
    let bad = |field: &str, path: &Path, e: &dyn fmt::Display| {
        TlsError(format!("tls.{field}: {}: {e}", path.display()))
    };
    let server = || {
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("tls: {e}")))
    };
    // Peers must present a certificate of the cluster CA.
    let peers = WebPkiClientVerifier::builder_with_provider(ca.clone(), provider())
        .build()
        .map_err(|e| bad("ca", &files.ca, &e))?;
    let peer_port = server()?
        .with_client_cert_verifier(peers)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| bad("key", &files.key, &e))?;
    // Clients may present one of `client_ca`; none is asked for without it.
    let client_port = match &files.client_ca {
        Some(path) => {
            let roots = Arc::new(load_roots("client_ca", path)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| bad("client_ca", path, &e))?;
            server()?.with_client_cert_verifier(verifier)
        }
        None => server()?.with_no_client_auth(),
    }
    .with_single_cert(certs.clone(), key.clone_key())
    .map_err(|e| bad("key", &files.key, &e))?;
    // Browsers and curl on the HTTP ports: the certificate only, HTTP/1.1 said by ALPN
    // (the servers speak nothing else).
    let mut http_port = server()?
        .with_no_client_auth()
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| bad("key", &files.key, &e))?;
    http_port.alpn_protocols = vec![b"http/1.1".to_vec()];
    let dial = dial_config(ca, Some((certs, key)))
        .map_err(|e| TlsError(format!("{e} (tls.cert {})", files.cert.display())))?;
    Ok(Configs {
        client_port: Some(Arc::new(client_port)),
        peer_port: Some(Arc::new(peer_port)),
        http_port: Some(Arc::new(http_port)),
        dial: Some(dial),
    })
}

fn dial_config(
    roots: Arc<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| TlsError(format!("tls.ca: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("tls: {e}")))?
        .with_webpki_verifier(verifier);
    let config = match identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| TlsError(format!("tls.key: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name a dialled certificate must carry: the host part of `address` (an IP address
/// or a DNS name).
pub fn server_name(address: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError(format!("tls: no server name in {address:?}: {e}")))
}
