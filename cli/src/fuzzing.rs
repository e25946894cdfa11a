//! The check the `config` cargo-fuzz target runs (fuzz/fuzz_targets/config.rs), and that
//! cli/tests/config_corpus.rs replays over `fuzz/corpus/config/` on stable: a node file's
//! text goes through the parser and every check a role makes of the file before it starts
//! (runtime, meta settings, peers, DNS TTL, the `[tls]` table, and the core's validation of
//! each role's config). Nothing may panic, and every refusal must say what is wrong: the
//! checks of one setting name it first (`shards: ...`, `tls.key: ...`).

use crate::config::{ConfigError, MetaArgs, NodeFile, RuntimeArgs, dns_ttl, parse_peers};
use roster_shell::Clock;
use roster_shell::nodes::{self, BuildError, MetaStore, SessionSettings};
use std::net::SocketAddr;

/// Shards asked for when the file picks glommio without a count (any positive number).
const DEFAULT_SHARDS: usize = 2;

/// Runs a node file's text (`data`, if UTF-8: a file that is not is refused on reading)
/// through the parser and the start-up checks; panics if anything panics or an error
/// does not say what is wrong.
pub fn check_node_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match NodeFile::parse(text) {
        Ok(f) => f,
        Err(e) => return said_what(&e.0, None),
    };
    if let Err(e) = RuntimeArgs::default().settle(&file, DEFAULT_SHARDS) {
        said_what(&e.0, Some("shards: "));
    }
    let meta_settings = MetaArgs::default().settle(&file);
    let peers = match file.peers.as_deref().map(parse_peers) {
        Some(Err(e)) => return said_what(&e.0, Some("peers: ")),
        Some(Ok(p)) => p,
        None => vec![(1, "127.0.0.1:1".to_string())],
    };
    if let Err(ConfigError(e)) = dns_ttl(file.dns_ttl) {
        said_what(&e, Some("dns_ttl: "));
    }
    if let Some(Err(ConfigError(e))) = file.tls.as_ref().map(|t| t.files()) {
        said_what(&e, Some("tls."));
    }
    // The core's validation of each role's config, as the roles build it.
    let addr = SocketAddr::from(([127, 0, 0, 1], 7000));
    let meta = file
        .meta
        .clone()
        .unwrap_or_else(|| vec!["127.0.0.1:1".into()]);
    let timing = nodes::Timing::from(file.timing);
    let settings = SessionSettings {
        timing,
        limits: file.limits.into(),
    };
    built(nodes::session_node(file.id, addr, addr, &meta, settings).map(drop));
    built(nodes::data_node(file.id, addr, &meta, timing, &Clock::new()).map(drop));
    let id = file.id.unwrap_or(peers[0].0);
    let store = MetaStore::Memory;
    built(nodes::meta_node(id, &peers, timing, &store, meta_settings).map(drop));
}

/// A node builder's refusal must say what is wrong.
fn built(r: Result<(), BuildError>) {
    if let Err(e) = r {
        said_what(&e.to_string(), None);
    }
}

/// An error message is more than blank and, for a check of one setting, starts with it.
fn said_what(message: &str, field: Option<&str>) {
    assert!(!message.trim().is_empty(), "an empty error message");
    if let Some(field) = field {
        assert!(
            message.starts_with(field),
            "{message:?} does not start with {field:?}"
        );
    }
}
