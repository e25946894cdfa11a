//! A client's TLS: which CA it trusts for the session's certificate and, optionally, the
//! certificate it presents (an identity on sessions that ask for one).

use crate::Error;
use roster_shell::tls::{Tls, load_certs, load_key, load_roots};
pub use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// TLS settings of a client ([`ClientOptions::tls`](crate::ClientOptions::tls)).
///
/// ```no_run
/// let tls = roster_client::ClientTls::from_ca_file("/etc/roster/ca.pem")?
///     .with_identity_files("/etc/my-app/client.pem", "/etc/my-app/client.key")?;
/// let client = roster_client::Client::builder()
///     .sessions(["roster.internal:9600"])
///     .tls(tls)
///     .build()?;
/// # Ok::<(), roster_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientTls {
    roots: RootCertStore,
    /// Shared: a key is not `Clone` (rustls makes copying one explicit).
    identity: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
}

impl ClientTls {
    /// Trusts the CA certificates in `roots`.
    pub fn new(roots: RootCertStore) -> ClientTls {
        ClientTls {
            roots,
            identity: None,
        }
    }

    /// Trusts the CA certificates of a PEM file; [`Error::Config`] names the file.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<ClientTls, Error> {
        let roots = load_roots("ca", path.as_ref()).map_err(|e| Error::Config(e.0))?;
        Ok(ClientTls::new(roots))
    }

    /// Presents this certificate chain (leaf first) and key.
    pub fn with_identity(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> ClientTls {
        self.identity = Some(Arc::new((chain, key)));
        self
    }

    /// Presents the certificate chain and key of these PEM files; [`Error::Config`]
    /// names the file.
    pub fn with_identity_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ClientTls, Error> {
        let chain = load_certs("cert", cert.as_ref()).map_err(|e| Error::Config(e.0))?;
        let key = load_key("key", key.as_ref()).map_err(|e| Error::Config(e.0))?;
        Ok(self.with_identity(chain, key))
    }

    /// What the client's IO thread dials with.
    pub(crate) fn shell(&self) -> Result<Tls, Error> {
        let identity = self
            .identity
            .as_ref()
            .map(|id| (id.0.clone(), id.1.clone_key()));
        Tls::client(self.roots.clone(), identity).map_err(|e| Error::Config(e.0))
    }
}
