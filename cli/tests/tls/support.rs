//! What the TLS tests add to `common::tls`: node files with more settings in their `[tls]`
//! table, and an HTTP client for the HTTPS admin and gateway ports.

use crate::common::tls::table;
use std::path::{Path, PathBuf};

/// A node file `dir/NAME.toml` with a `[tls]` table trusting `ca`, presenting `cert`, and
/// with the lines `extra`.
pub(crate) fn node_file_with(
    dir: &Path,
    name: &str,
    ca: &Path,
    cert: &(PathBuf, PathBuf),
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{}{extra}", table(ca, cert))).unwrap();
    path
}

/// A blocking HTTP client that trusts only the CA in `ca` (PEM): for the HTTPS admin and
/// gateway ports. Error statuses are answers, as in `roster admin`.
pub(crate) fn https_agent(ca: &Path) -> ureq::Agent {
    crate::common::tls::agent_trusting(Some(ca), false)
}
