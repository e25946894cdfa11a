//! The access-rule file of a session (docs/security.md): reading it into the core's
//! [`Acl`], and keeping every session of the process on its latest version ([`AclWatch`]).
//!
//! The file is TOML: `[[token]]` tables say which identity a token's SHA-256 stands for,
//! `[[rule]]` tables say which identities may publish and subscribe under which data id
//! prefixes, tried in order. Errors name the file, the table by its place, and the field.
//! A file that stops parsing leaves the rules last read in force: a typo during an edit
//! must not open or close the registry.

use crate::config::ConfigError;
use roster_core::model::Text;
use roster_core::session::Session;
use roster_core::session::acl::{Acl, Effect, Rule, TokenDigest, Who};
use roster_shell::Inspector;
use roster_shell::tls::watch::{RELOAD_POLL, Stamp, stamp};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    #[serde(default)]
    token: Vec<TokenTable>,
    #[serde(default)]
    rule: Vec<RuleTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenTable {
    identity: String,
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    name: Option<String>,
    identity: String,
    #[serde(default)]
    effect: EffectName,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EffectName {
    #[default]
    Allow,
    Deny,
}

/// The rules in `text`; the error names the table by its place (1 is the first) and the
/// field.
pub fn parse(text: &str) -> Result<Acl, String> {
    let file: AclFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut tokens = Vec::with_capacity(file.token.len());
    for (i, t) in file.token.into_iter().enumerate() {
        let place = |e: roster_core::config::ConfigError| format!("token {}: {e}", i + 1);
        let digest = TokenDigest::parse_hex("sha256", &t.sha256).map_err(place)?;
        tokens.push((digest, Text::from(t.identity)));
    }
    let rules = file
        .rule
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(i + 1, r))
        .collect::<Result<Vec<_>, _>>()?;
    Acl::new(tokens, rules).map_err(|e| e.to_string())
}

fn rule(n: usize, r: RuleTable) -> Result<Rule, String> {
    let place = |e: String| format!("rule {n}: {e}");
    let who = Who::parse("identity", &r.identity).map_err(|e| place(e.to_string()))?;
    let prefixes = |field: &str, v: Vec<String>| -> Result<Vec<Text>, String> {
        if v.iter().any(String::is_empty) {
            let why = "an empty prefix would match every data id; write \"*\" to mean that";
            return Err(place(format!("{field}: {why}")));
        }
        Ok(v.into_iter().map(Text::from).collect())
    };
    let publish = prefixes("publish", r.publish)?;
    let subscribe = prefixes("subscribe", r.subscribe)?;
    if publish.is_empty() && subscribe.is_empty() {
        return Err(place(
            "needs a publish or a subscribe list: it covers nothing".into(),
        ));
    }
    Ok(Rule {
        name: Text::from(r.name.unwrap_or_else(|| format!("rule {n}"))),
        who,
        effect: match r.effect {
            EffectName::Allow => Effect::Allow,
            EffectName::Deny => Effect::Deny,
        },
        publish,
        subscribe,
    })
}

/// The rules in the file at `path`; the error names the file.
pub fn load(path: &Path) -> Result<Acl, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("acl file {}: {e}", path.display())))?;
    parse(&text).map_err(|e| ConfigError(format!("acl file {}: {e}", path.display())))
}

/// Keeps sessions on the latest rules of a file: a thread that looks at it every second
/// and hands a changed, valid version to every session. Dropping it stops the thread.
#[derive(Debug)]
pub struct AclWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AclWatch {
    /// Watches `path` for `sessions`, which already run the rules read at `read`.
    pub fn start(
        path: PathBuf,
        read: Stamp,
        sessions: Vec<(String, Inspector<Session>)>,
    ) -> std::io::Result<AclWatch> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("acl-watch".into())
            .spawn(move || watch(&path, read, &sessions, &flag))?;
        Ok(AclWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AclWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Reads the rules at `path` and the stamp they were read at, for [`AclWatch::start`].
pub fn load_stamped(path: &Path) -> Result<(Acl, Stamp), ConfigError> {
    let before = stamp(path);
    Ok((load(path)?, before))
}

fn watch(
    path: &Path,
    mut seen: Stamp,
    sessions: &[(String, Inspector<Session>)],
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(RELOAD_POLL);
        let now = stamp(path);
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        let acl = match load(path) {
            Ok(acl) => acl,
            Err(e) => {
                warn!(error = %e, "access rules not reloaded; the previous ones stay in force");
                continue;
            }
        };
        let rules = acl.rules().len();
        for (name, inspector) in sessions {
            let acl = acl.clone();
            let applied = inspector.ask(Duration::from_secs(5), move |s, now| {
                s.set_acl(now, Some(acl));
            });
            if let Err(e) = applied {
                warn!(node = name.as_str(), error = ?e, "access rules not applied");
            }
        }
        info!(file = %path.display(), rules, "access rules reloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::session::{Access, Identity};

    const FILE: &str = r#"
        [[token]]
        identity = "billing"
        sha256 = "7ba1b5c5f3fbcdd8f8bbf4ed8bd9cc7d2d10b0aeeb4d5b5f0e0e1a1f6cd1a001"

        [[rule]]
        name = "no prod writes"
        identity = "billing"
        effect = "deny"
        publish = ["billing.prod."]

        [[rule]]
        identity = "billing"
        publish = ["billing."]
        subscribe = ["*"]
    "#;

    #[test]
    fn a_file_reads_into_ordered_rules_that_name_themselves() {
        let acl = parse(FILE).unwrap();
        assert_eq!(acl.token_count(), 1);
        let billing = Identity::Named(Text::from("billing"));
        let e = acl
            .check(&billing, Access::Publish, "billing.prod.X")
            .unwrap_err();
        assert!(e.0.contains("no prod writes denies it"), "{}", e.0);
        assert!(acl.check(&billing, Access::Publish, "billing.X").is_ok());
        assert!(acl.check(&billing, Access::Subscribe, "anything").is_ok());
        assert_eq!(acl.rules()[1].name, "rule 2");
    }

    #[test]
    fn errors_name_the_table_and_the_field() {
        let cases = [
            (
                "[[rule]]\nidentity = \"\"\npublish = [\"a\"]",
                "rule 1: identity",
            ),
            (
                "[[rule]]\nidentity = \"a\"\npublish = [\"\"]",
                "rule 1: publish",
            ),
            (
                "[[rule]]\nidentity = \"a\"",
                "rule 1: needs a publish or a subscribe",
            ),
            (
                "[[rule]]\nidentity = \"a\"\neffect = \"maybe\"\npublish = [\"a\"]",
                "effect",
            ),
            ("[[rule]]\nidentity = \"a\"\npublsh = [\"a\"]", "publsh"),
            (
                "[[token]]\nidentity = \"a\"\nsha256 = \"xyz\"",
                "token 1: sha256",
            ),
        ];
        for (text, names) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(names), "{text:?} gave {e:?}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = load(Path::new("/nonexistent/acl.toml")).unwrap_err();
        assert!(e.0.starts_with("acl file /nonexistent/acl.toml: "), "{e}");
    }
}
