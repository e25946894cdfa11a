//! A client's TLS: which CA it trusts for the session's certificate and, optionally, the
//! certificate it presents (an identity on sessions that ask for one).

use crate::Error;
use roster_shell::tls::{Tls, load_certs, load_key, load_roots};
pub use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, OnceLock};

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
///
/// Clients made with one `ClientTls` (or clones of it) share IO threads: make it once and
/// clone it for each client rather than loading the files per client.
#[derive(Debug, Clone)]
pub struct ClientTls {
    roots: RootCertStore,
    /// Shared: a key is not `Clone` (rustls makes copying one explicit).
    identity: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
    /// The rustls configuration, made by the first client and shared by its clones (the
    /// key of the IO threads they share).
    built: Arc<OnceLock<Result<Arc<Tls>, String>>>,
}

impl ClientTls {
    /// Trusts the CA certificates in `roots`.
    pub fn new(roots: RootCertStore) -> ClientTls {
        ClientTls {
            roots,
            identity: None,
            built: Arc::default(),
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
        self.built = Arc::default();
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

    /// What the client's IO threads dial with.
    pub(crate) fn shell(&self) -> Result<Arc<Tls>, Error> {
        let built = self.built.get_or_init(|| {
            let identity = self
                .identity
                .as_ref()
                .map(|id| (id.0.clone(), id.1.clone_key()));
            Tls::client(self.roots.clone(), identity)
                .map(Arc::new)
                .map_err(|e| e.0)
        });
        built.clone().map_err(Error::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_config_error_naming_it() {
        let e = ClientTls::from_ca_file("/nonexistent/roster-ca.pem").unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("/nonexistent/roster-ca.pem")),
            "{e}"
        );
    }

    #[test]
    fn trusting_no_ca_is_a_config_error() {
        let empty = ClientTls::new(RootCertStore::empty());
        assert!(matches!(empty.shell(), Err(Error::Config(_))));
        let built = crate::Client::builder()
            .sessions(["127.0.0.1:1"])
            .tls(empty)
            .build();
        assert!(matches!(built, Err(Error::Config(_))));
    }
}
