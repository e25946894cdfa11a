//! The checks the `config` and `acl` cargo-fuzz targets run (fuzz/fuzz_targets/), and that
//! cli/tests/config_corpus.rs replays over `fuzz/corpus/config/` and `fuzz/corpus/acl/` on
//! stable. An access-rule file goes through its parser, and what it yields must hold
//! together (`check_acl_file`).
//!
//! For `config`: a node file's
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
        acl: None,
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

/// Runs an access-rule file's text (`data`, if UTF-8) through its parser; panics if the
/// parser panics, if a refusal is empty, or if a file it accepts gives rules that name
/// themselves badly or decide a request inconsistently (a data id a rule lists is covered
/// by it, so an `allow` rule first in the file lets its identity through).
pub fn check_acl_file(data: &[u8]) {
    use roster_core::session::acl::{Effect, Who};
    use roster_core::session::{Access, Identity};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let acl = match crate::acl::parse(text) {
        Ok(acl) => acl,
        Err(e) => return said_what(&e, None),
    };
    let Some(first) = acl.rules().first() else {
        return;
    };
    assert!(!first.name.is_empty(), "a rule without a name: {first:?}");
    let identity = match &first.who {
        Who::Named(n) => Identity::Named(n.clone()),
        Who::AnyNamed => Identity::Named("someone".into()),
        Who::Anonymous => Identity::Anonymous,
    };
    for (access, prefixes) in [
        (Access::Publish, &first.publish),
        (Access::Subscribe, &first.subscribe),
    ] {
        for p in prefixes {
            let decided = acl.check(&identity, access, p);
            match first.effect {
                Effect::Allow => assert!(decided.is_ok(), "{p}: {decided:?}"),
                Effect::Deny => assert!(decided.is_err(), "{p}: allowed"),
            }
        }
    }
}
