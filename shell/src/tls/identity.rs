//! Who a client certificate names: the common name of its subject, which the session's
//! access rules take as the client's identity (docs/security.md). Read only from a
//! certificate the handshake already verified against the configured client CA.

use crate::admission::ListenerKind;
use crate::tls::TlsConn;
use roster_core::model::Text;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The identity to report to the node (`Node::authenticated`) for an inbound connection
/// from listener `kind` at its first frame: the common name of the client certificate its
/// handshake verified, on a client port only (peers are nodes, not clients).
pub fn client_identity(kind: Option<ListenerKind>, tls: Option<&TlsConn>) -> Option<Text> {
    if kind != Some(ListenerKind::Client) {
        return None;
    }
    let der = tls?.peer_certificate()?;
    common_name(der).map(Text::from)
}

/// The first common name of the subject of the DER certificate `der`; `None` if it has
/// none or is not a certificate (a verified one always is).
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    #[test]
    fn the_subject_common_name_is_the_identity() {
        let mut params = CertificateParams::new(vec!["billing.local".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "acme");
        params
            .distinguished_name
            .push(DnType::CommonName, "billing");
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert_eq!(common_name(cert.der()).as_deref(), Some("billing"));
    }

    #[test]
    fn no_common_name_or_no_certificate_is_none() {
        let params = CertificateParams::new(vec!["x.local".into()]).unwrap();
        let mut params = params;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert_eq!(common_name(cert.der()), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
