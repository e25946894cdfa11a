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
use std::sync::Arc;

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

/// What a shell's connections use: the server side of each kind of listener and the client
/// side of every dial. A part that is `None` is plain TCP.
#[derive(Clone, Default)]
pub struct Tls {
    client_port: Option<Arc<ServerConfig>>,
    peer_port: Option<Arc<ServerConfig>>,
    dial: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("client_port", &self.client_port.is_some())
            .field("peer_port", &self.peer_port.is_some())
            .field("dial", &self.dial.is_some())
            .finish()
    }
}

impl Tls {
    /// A cluster node's TLS from its files: every listener and every dial.
    pub fn node(files: &TlsFiles) -> Result<Tls, TlsError> {
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
        let dial = dial_config(ca, Some((certs, key)))
            .map_err(|e| TlsError(format!("{e} (tls.cert {})", files.cert.display())))?;
        Ok(Tls {
            client_port: Some(Arc::new(client_port)),
            peer_port: Some(Arc::new(peer_port)),
            dial: Some(dial),
        })
    }

    /// A client's TLS: it trusts `roots` for the session's certificate and presents
    /// `identity` (a chain, leaf first, and its key) if given. It has no listeners.
    pub fn client(
        roots: RootCertStore,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Tls, TlsError> {
        Ok(Tls {
            dial: Some(dial_config(Arc::new(roots), identity)?),
            ..Tls::default()
        })
    }

    /// Whether any connection uses TLS.
    pub fn is_enabled(&self) -> bool {
        self.client_port.is_some() || self.peer_port.is_some() || self.dial.is_some()
    }

    /// TLS for a connection accepted on a listener of `kind`; `None` if that port is plain.
    pub fn accept(&self, kind: ListenerKind) -> Result<Option<TlsConn>, TlsError> {
        let config = match kind {
            ListenerKind::Client => &self.client_port,
            ListenerKind::Peer => &self.peer_port,
        };
        config
            .as_ref()
            .map(|c| TlsConn::server(c.clone()))
            .transpose()
            .map_err(|e| TlsError(format!("tls: {e}")))
    }

    /// TLS for a dial to `address` (`host:port`), whose certificate must name `host`;
    /// `None` if dials are plain.
    pub fn dial(&self, address: &str) -> Result<Option<TlsConn>, TlsError> {
        let Some(config) = &self.dial else {
            return Ok(None);
        };
        let name = server_name(address)?;
        TlsConn::client(config.clone(), name)
            .map(Some)
            .map_err(|e| TlsError(format!("tls: dial {address}: {e}")))
    }
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
