//! What the TLS tests (`tls.rs`, `tls_ops.rs`) share: a CA made with rcgen that issues
//! loopback certificates as PEM files, and node files with a `[tls]` table.

#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use std::path::{Path, PathBuf};

/// A CA whose certificate is `dir/NAME.pem`.
pub(crate) struct Ca {
    pub(crate) pem: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A loopback certificate `dir/NAME.pem` and key `dir/NAME.key` (common name NAME);
    /// expired a year ago if `expired`.
    pub(crate) fn issue(&self, dir: &Path, name: &str, expired: bool) -> (PathBuf, PathBuf) {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// A node file `dir/NAME.toml` with a `[tls]` table: it trusts `ca` and presents `cert`.
pub(crate) fn node_file(dir: &Path, name: &str, ca: &Path, cert: &(PathBuf, PathBuf)) -> PathBuf {
    node_file_with(dir, name, ca, cert, "")
}

/// The same with `extra` lines in the `[tls]` table.
pub(crate) fn node_file_with(
    dir: &Path,
    name: &str,
    ca: &Path,
    (cert, key): &(PathBuf, PathBuf),
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n{extra}",
        ca.display().to_string(),
        cert.display().to_string(),
        key.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A blocking HTTP client that trusts only the CA in `ca` (PEM): for the HTTPS admin and
/// gateway ports. Error statuses are answers, as in `roster admin`.
pub(crate) fn https_agent(ca: &Path) -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = roster_shell::tls::load_certs("ca", ca)
        .unwrap()
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}
