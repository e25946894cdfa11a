//! TLS of the binary: the `[tls]` table of a node file turned into the shells' settings,
//! and the throwaway CA and certificates of `roster dev --tls`.

use crate::config::ConfigError;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use roster_client::ClientTls;
use roster_shell::ShellConfig;
use roster_shell::tls::{Reloader, Tls, TlsFiles};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The `[tls]` table: PEM files; `ca`, `cert` and `key` are required together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsTable {
    /// The cluster CA: peers (and a session's certificate, for clients) are signed by it.
    pub ca: Option<PathBuf>,
    /// This node's certificate chain, leaf first; its names must cover the addresses the
    /// other nodes dial it at.
    pub cert: Option<PathBuf>,
    /// This node's private key.
    pub key: Option<PathBuf>,
    /// A session's client port: the CA of the certificates clients may present (optional
    /// for them).
    pub client_ca: Option<PathBuf>,
    /// How long an inbound connection may take over its TLS handshake before it is
    /// closed, in milliseconds, on every port (default 10 000).
    pub handshake_timeout_ms: Option<u64>,
}

/// The longest handshake timeout accepted: past a minute it no longer protects anything.
const MAX_HANDSHAKE_TIMEOUT_MS: u64 = 60_000;

impl TlsTable {
    /// The files, each required one present.
    pub fn files(&self) -> Result<TlsFiles, ConfigError> {
        let need = |field: &str, v: &Option<PathBuf>| {
            v.clone().ok_or_else(|| {
                ConfigError(format!(
                    "tls.{field}: missing (a [tls] table names ca, cert and key)"
                ))
            })
        };
        Ok(TlsFiles {
            ca: need("ca", &self.ca)?,
            cert: need("cert", &self.cert)?,
            key: need("key", &self.key)?,
            client_ca: self.client_ca.clone(),
        })
    }
}

/// The shell settings of a node with this `[tls]` table (plain without one).
pub fn shell_config(table: Option<&TlsTable>) -> Result<ShellConfig, ConfigError> {
    let Some(table) = table else {
        return Ok(ShellConfig::default());
    };
    let files = table.files()?;
    let mut tls = Tls::node(&files).map_err(|e| ConfigError(e.0))?;
    if let Some(ms) = table.handshake_timeout_ms {
        if ms == 0 || ms > MAX_HANDSHAKE_TIMEOUT_MS {
            return Err(ConfigError(format!(
                "tls.handshake_timeout_ms: {ms} is not between 1 and {MAX_HANDSHAKE_TIMEOUT_MS}"
            )));
        }
        tls = tls.with_handshake_timeout(Duration::from_millis(ms));
    }
    Ok(ShellConfig {
        tls,
        ..ShellConfig::default()
    })
}

/// Reloads `tls`'s files when they change or the process gets SIGHUP (`roster_shell`'s
/// [`Reloader`]); nothing for plain TCP, whose SIGHUP keeps its default (ending the
/// process). Keep the answer: dropping it stops the reloads.
pub fn watch(tls: &Tls) -> std::io::Result<Option<Reloader>> {
    if tls.files().is_none() {
        return Ok(None);
    }
    let hangup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())?;
    Reloader::start(tls, hangup)
}

/// The TLS of a session process's own clients (its gateway's, its DNS server's) to its
/// client port: trusting the cluster CA of its `[tls]` table; `None` without one.
pub fn own_client_tls(table: Option<&TlsTable>) -> Result<Option<ClientTls>, ConfigError> {
    let Some(table) = table else {
        return Ok(None);
    };
    let ca = table.files()?.ca;
    ClientTls::from_ca_file(&ca)
        .map(Some)
        .map_err(|e| ConfigError(e.to_string()))
}

/// What `roster dev --tls` made: a CA, a node certificate for 127.0.0.1 and localhost, and
/// a client certificate, as PEM files in `dir`.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// Where the files are.
    pub dir: PathBuf,
    /// The CA's certificate: what clients trust.
    pub ca: PathBuf,
    /// The nodes' certificate and key, with the CA (also the client CA).
    pub node: TlsFiles,
    /// A client certificate signed by the CA.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

/// Makes a throwaway CA and the certificates of a loopback cluster in `dir`.
pub fn generate(dir: &Path) -> Result<DevCerts, ConfigError> {
    let err = |e: &dyn std::fmt::Display| ConfigError(format!("dev --tls: {e}"));
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| err(&format!("{}: {e}", path.display())))?;
        Ok::<_, ConfigError>(path)
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "roster dev CA");
    let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
    let ca_cert = params.self_signed(&ca_key).map_err(|e| err(&e))?;
    let issuer = Issuer::new(params, ca_key);
    let issue = |names: Vec<String>, cn: &str| {
        let mut params = CertificateParams::new(names).map_err(|e| err(&e))?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().map_err(|e| err(&e))?;
        let cert = params.signed_by(&key, &issuer).map_err(|e| err(&e))?;
        Ok::<_, ConfigError>((cert.pem(), key.serialize_pem()))
    };
    let loopback = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let (node_cert, node_key) = issue(loopback, "roster dev node")?;
    let (client_cert, client_key) = issue(Vec::new(), "roster dev client")?;
    let ca = write("ca.pem", &ca_cert.pem())?;
    Ok(DevCerts {
        dir: dir.to_path_buf(),
        node: TlsFiles {
            ca: ca.clone(),
            cert: write("node.pem", &node_cert)?,
            key: write("node.key", &node_key)?,
            client_ca: Some(ca.clone()),
        },
        ca,
        client_cert: write("client.pem", &client_cert)?,
        client_key: write("client.key", &client_key)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_certificates_load_as_a_node_and_a_client() {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate(dir.path()).unwrap();
        let table = TlsTable {
            ca: Some(certs.node.ca.clone()),
            cert: Some(certs.node.cert.clone()),
            key: Some(certs.node.key.clone()),
            client_ca: certs.node.client_ca.clone(),
            handshake_timeout_ms: None,
        };
        let shell = shell_config(Some(&table)).unwrap();
        assert!(shell.tls.is_enabled());
        roster_shell::tls::load_certs("cert", &certs.client_cert).unwrap();
        roster_shell::tls::load_key("key", &certs.client_key).unwrap();
        // Without a table: plain.
        assert!(!shell_config(None).unwrap().tls.is_enabled());
    }

    #[test]
    fn a_table_missing_a_file_or_naming_a_bad_one_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate(dir.path()).unwrap();
        let table = TlsTable {
            ca: Some(certs.node.ca.clone()),
            cert: Some(certs.node.cert.clone()),
            key: None,
            client_ca: None,
            handshake_timeout_ms: None,
        };
        let e = shell_config(Some(&table)).unwrap_err();
        assert!(e.0.starts_with("tls.key: missing"), "{e}");
        // A certificate where the key should be.
        let swapped = TlsTable {
            key: Some(certs.node.cert.clone()),
            ..table
        };
        let e = shell_config(Some(&swapped)).unwrap_err();
        assert!(
            e.0.starts_with("tls.key: ") && e.0.contains("node.pem"),
            "{e}"
        );
        // A handshake timeout of nothing, or of more than a minute.
        let good = TlsTable {
            key: Some(certs.node.key.clone()),
            ..swapped
        };
        for ms in [0, 60_001] {
            let t = TlsTable {
                handshake_timeout_ms: Some(ms),
                ..good.clone()
            };
            let e = shell_config(Some(&t)).unwrap_err();
            assert!(e.0.starts_with("tls.handshake_timeout_ms: "), "{e}");
        }
        let fine = TlsTable {
            handshake_timeout_ms: Some(250),
            ..good
        };
        let tls = shell_config(Some(&fine)).unwrap().tls;
        assert_eq!(tls.handshake_timeout(), Duration::from_millis(250));
        // Unknown fields in the table are refused by name.
        let e = toml::from_str::<crate::config::NodeFile>("[tls]\ncert_file = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cert_file"), "{e}");
    }
}
