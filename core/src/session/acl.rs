//! Who a client is and what it may do: identities and access rules (docs/security.md).
//!
//! A client's identity is the name a token stands for, when its hello presents one, or
//! else the common name of the certificate it presented in the TLS handshake (the shell
//! reports it with [`crate::io::Node::authenticated`]), or else it is anonymous. An
//! [`Acl`] says which identities may publish and which may subscribe to which data ids,
//! by prefix. Rules are tried in order and the first that matches the identity, the
//! access and the data id decides; a request no rule matches is denied. Without an `Acl`
//! a session serves everyone, as before identities existed.
//!
//! The rules are plain values: the shells read them from a file and hand them over with
//! [`crate::session::Session::set_acl`], again whenever the file changes. A new rule set
//! applies to requests from then on; what was registered before stays.

use crate::config::ConfigError;
use crate::model::Text;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// Who a client is, as far as the rules are concerned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identity {
    /// No token and no client certificate.
    Anonymous,
    /// A token's name or a certificate's common name.
    Named(Text),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Anonymous => f.write_str("anonymous"),
            Identity::Named(n) => write!(f, "\"{n}\""),
        }
    }
}

/// Which identities a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Every client that has an identity (`"*"`); not anonymous ones.
    AnyNamed,
    /// Clients without one (`"anonymous"`).
    Anonymous,
    /// The identity of this name.
    Named(Text),
}

impl Who {
    /// `"*"`, `"anonymous"` or a name; the error names `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Who, ConfigError> {
        match s {
            "" => Err(ConfigError::new(field, "must not be empty")),
            "*" => Ok(Who::AnyNamed),
            "anonymous" => Ok(Who::Anonymous),
            name => Ok(Who::Named(Text::from(name))),
        }
    }

    fn matches(&self, identity: &Identity) -> bool {
        match (self, identity) {
            (Who::AnyNamed, Identity::Named(_)) => true,
            (Who::Anonymous, Identity::Anonymous) => true,
            (Who::Named(n), Identity::Named(i)) => n == i,
            _ => false,
        }
    }
}

/// What a request asks to do with a data id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Publish (or unpublish) under it.
    Publish,
    /// Subscribe to it.
    Subscribe,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Publish => "publish",
            Access::Subscribe => "subscribe",
        })
    }
}

/// Whether a matching rule lets the request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It does.
    Allow,
    /// It does not.
    Deny,
}

/// One rule: for the identities `who`, `effect` on publishing under any of `publish` and on
/// subscribing to any of `subscribe` (data id prefixes; `"*"` is every data id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// How denials name it: its own name, or `rule N` by its place in the file.
    pub name: Text,
    /// Whom it is about.
    pub who: Who,
    /// Allow or deny.
    pub effect: Effect,
    /// Data id prefixes it covers for publishing.
    pub publish: Vec<Text>,
    /// Data id prefixes it covers for subscribing.
    pub subscribe: Vec<Text>,
}

impl Rule {
    fn covers(&self, access: Access, data_id: &str) -> bool {
        let prefixes = match access {
            Access::Publish => &self.publish,
            Access::Subscribe => &self.subscribe,
        };
        prefixes
            .iter()
            .any(|p| p.as_str() == "*" || data_id.starts_with(p.as_str()))
    }
}

/// A token's SHA-256, which is all a rule set keeps of it: the file that holds the rules
/// holds no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// From 64 hex digits; the error names `field`.
    pub fn parse_hex(field: &'static str, hex: &str) -> Result<TokenDigest, ConfigError> {
        let bad = || ConfigError::new(field, "must be 64 hex digits (a SHA-256)");
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let s = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(s, 16).map_err(|_| bad())?;
        }
        Ok(TokenDigest(out))
    }
}

impl fmt::Display for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A request the rules refuse: the message says who, what, and which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// A session's identities and rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acl {
    tokens: BTreeMap<TokenDigest, Text>,
    rules: Vec<Rule>,
}

impl Acl {
    /// The rules, tried in order, and the tokens: each digest stands for a name. A digest
    /// listed twice is an error naming the second by its place (1 is the first).
    pub fn new(
        tokens: impl IntoIterator<Item = (TokenDigest, Text)>,
        rules: Vec<Rule>,
    ) -> Result<Acl, ConfigError> {
        let mut map = BTreeMap::new();
        for (i, (digest, name)) in tokens.into_iter().enumerate() {
            if name.is_empty() {
                let reason = format!("of token {} must not be empty", i + 1);
                return Err(ConfigError::new("identity", reason));
            }
            if map.insert(digest, name).is_some() {
                let reason = format!("of token {} is listed twice", i + 1);
                return Err(ConfigError::new("sha256", reason));
            }
        }
        Ok(Acl { tokens: map, rules })
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many tokens stand for identities.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Who a client is: the name its token stands for, else its certificate's common name,
    /// else anonymous. A token the rules do not know is refused: a client that meant to be
    /// someone must not quietly become anonymous.
    pub fn identify(
        &self,
        token: Option<TokenDigest>,
        certified: Option<&Text>,
    ) -> Result<Identity, Denied> {
        if let Some(token) = token {
            return match self.tokens.get(&token) {
                Some(name) => Ok(Identity::Named(name.clone())),
                None => Err(Denied(
                    "the token presented is not known to this session".into(),
                )),
            };
        }
        Ok(certified.map_or(Identity::Anonymous, |n| Identity::Named(n.clone())))
    }

    /// Whether `identity` may do `access` on `data_id`: the first rule that matches decides.
    pub fn check(&self, identity: &Identity, access: Access, data_id: &str) -> Result<(), Denied> {
        let decided = self
            .rules
            .iter()
            .find(|r| r.who.matches(identity) && r.covers(access, data_id));
        match decided {
            Some(rule) if rule.effect == Effect::Allow => Ok(()),
            Some(rule) => Err(Denied(format!(
                "access denied: {identity} may not {access} \"{data_id}\" ({} denies it)",
                rule.name
            ))),
            None => Err(Denied(format!(
                "access denied: {identity} may not {access} \"{data_id}\" (no rule allows it)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, who: &str, effect: Effect, publish: &[&str], subscribe: &[&str]) -> Rule {
        let texts = |v: &[&str]| v.iter().map(|s| Text::from(*s)).collect();
        Rule {
            name: Text::from(name),
            who: Who::parse("identity", who).unwrap(),
            effect,
            publish: texts(publish),
            subscribe: texts(subscribe),
        }
    }

    fn named(n: &str) -> Identity {
        Identity::Named(Text::from(n))
    }

    fn acl() -> Acl {
        let rules = vec![
            rule("no-prod", "billing", Effect::Deny, &["billing.prod."], &[]),
            rule(
                "rule 2",
                "billing",
                Effect::Allow,
                &["billing."],
                &["billing.", "shared."],
            ),
            rule("rule 3", "*", Effect::Allow, &[], &["shared."]),
            rule("rule 4", "anonymous", Effect::Allow, &[], &["public."]),
        ];
        let tokens = [(TokenDigest::of("s3cret"), Text::from("billing"))];
        Acl::new(tokens, rules).unwrap()
    }

    #[test]
    fn the_first_matching_rule_decides_and_names_itself() {
        let acl = acl();
        let billing = named("billing");
        assert!(
            acl.check(&billing, Access::Publish, "billing.Invoice")
                .is_ok()
        );
        let Err(Denied(why)) = acl.check(&billing, Access::Publish, "billing.prod.Ledger") else {
            panic!("a deny rule before an allow rule was skipped");
        };
        assert!(why.contains("no-prod denies it"), "{why}");
        assert!(
            why.contains("\"billing\" may not publish \"billing.prod.Ledger\""),
            "{why}"
        );
    }

    #[test]
    fn what_no_rule_allows_is_denied_per_access() {
        let acl = acl();
        let billing = named("billing");
        // Subscribing to its prefix does not grant publishing elsewhere.
        let Err(Denied(why)) = acl.check(&billing, Access::Publish, "shared.Config") else {
            panic!("publish granted by a subscribe prefix");
        };
        assert!(why.contains("no rule allows it"), "{why}");
        assert!(
            acl.check(&billing, Access::Subscribe, "shared.Config")
                .is_ok()
        );
        assert!(
            acl.check(&named("orders"), Access::Subscribe, "shared.X")
                .is_ok()
        );
        assert!(
            acl.check(&named("orders"), Access::Subscribe, "billing.X")
                .is_err()
        );
    }

    #[test]
    fn star_means_every_named_client_and_not_the_anonymous_ones() {
        let acl = acl();
        assert!(
            acl.check(&Identity::Anonymous, Access::Subscribe, "shared.X")
                .is_err()
        );
        assert!(
            acl.check(&Identity::Anonymous, Access::Subscribe, "public.X")
                .is_ok()
        );
        assert!(
            acl.check(&named("x"), Access::Subscribe, "public.X")
                .is_err()
        );
        let everything = vec![rule("all", "*", Effect::Allow, &["*"], &["*"])];
        let open = Acl::new([], everything).unwrap();
        assert!(
            open.check(&named("x"), Access::Publish, "any.thing")
                .is_ok()
        );
    }

    #[test]
    fn a_token_names_its_holder_over_a_certificate_and_an_unknown_one_is_refused() {
        let acl = acl();
        let cn = Text::from("orders");
        let token = |t| Some(TokenDigest::of(t));
        assert_eq!(
            acl.identify(token("s3cret"), Some(&cn)),
            Ok(named("billing"))
        );
        assert_eq!(acl.identify(None, Some(&cn)), Ok(named("orders")));
        assert_eq!(acl.identify(None, None), Ok(Identity::Anonymous));
        assert!(acl.identify(token("guess"), None).is_err());
    }

    #[test]
    fn digests_parse_from_hex_and_print_back() {
        let d = TokenDigest::of("s3cret");
        let hex = d.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(TokenDigest::parse_hex("sha256", &hex), Ok(d));
        for bad in ["", "zz", &hex[..62], &format!("{}é", &hex[..62])] {
            let e = TokenDigest::parse_hex("sha256", bad).unwrap_err();
            assert!(e.to_string().starts_with("sha256: "), "{e}");
        }
    }

    #[test]
    fn a_digest_listed_twice_is_refused_by_its_place() {
        let d = TokenDigest::of("t");
        let e = Acl::new([(d, Text::from("a")), (d, Text::from("b"))], vec![]).unwrap_err();
        assert_eq!(e.to_string(), "sha256: of token 2 is listed twice");
    }
}
