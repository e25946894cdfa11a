//! Access rules on a session (`session::acl`, `session::gate`): a denied request is
//! answered with an error that names the rule and changes nothing; identities come from
//! tokens and certificates; new rules apply at once and cut off revoked tokens.

use super::*;
use crate::session::acl::{Effect, Rule, TokenDigest, Who};
use crate::wire::{ErrorCode, Token};

fn rules() -> Acl {
    let texts = |v: &[&str]| v.iter().map(|s| Text::from(*s)).collect();
    let rule = |name: &str, who: &str, publish: &[&str], subscribe: &[&str]| Rule {
        name: Text::from(name),
        who: Who::parse("identity", who).unwrap(),
        effect: Effect::Allow,
        publish: texts(publish),
        subscribe: texts(subscribe),
    };
    let rules = vec![
        rule("billing-owns-svc1", "billing", &["svc1"], &["svc"]),
        rule("readers", "*", &[], &["svc1"]),
    ];
    Acl::new(
        [(TokenDigest::of("billing-secret"), Text::from("billing"))],
        rules,
    )
    .unwrap()
}

fn guarded() -> T {
    let mut t = T::new();
    let now = t.now;
    t.session.set_acl(now, Some(rules()));
    t
}

impl T {
    /// Client connection `n` says hello with `token`, announcing every feature; the
    /// frames sent to it in answer.
    fn hello_with(&mut self, n: u64, token: &str) -> Vec<Message> {
        let c = ConnId(n);
        self.input(Input::Accepted { conn: c });
        let hello = ClientHello {
            token: Token(Text::from(token)),
            ..ClientHello::new(Text::from("app"), 1)
        };
        self.frame(c, 1, hello);
        self.sent()
            .into_iter()
            .filter(|(to, _)| *to == c)
            .map(|(_, f)| f.message)
            .collect()
    }
}

fn denial(sent: &[(ConnId, Frame)], rid: u64) -> Option<(ErrorCode, String)> {
    sent.iter().find_map(|(_, f)| match &f.message {
        Message::ErrorReply(e) if f.request_id == rid => Some((e.code, e.message.to_string())),
        _ => None,
    })
}

#[test]
fn a_publish_outside_the_prefix_is_refused_by_name_and_no_subscriber_sees_it() {
    let mut t = guarded();
    t.hello_with(1, "billing-secret");
    // Another billing process, named by its certificate, reads svc2.
    t.session.authenticated(ConnId(2), Text::from("billing"));
    let reader = t.client(2);
    let known = Some(datum(&key(2), 1, &[]));
    t.subscribed(reader, &key(2), known);
    publish(&mut t, ConnId(1), 5, &key(2), publisher("rogue", 1, 1));
    let sent = t.sent();
    let (code, why) = denial(&sent, 5).expect("refused");
    assert_eq!(
        code,
        ErrorCode::Forbidden,
        "the client announced it knows the code"
    );
    assert!(
        why.contains("\"billing\" may not publish \"svc2\""),
        "{why}"
    );
    assert!(why.contains("no rule allows it"), "{why}");
    assert_eq!(count(&sent, is_batch), 0, "nothing forwarded to data");
    assert_eq!(count(&sent, is_push), 0, "no subscriber sees anything");
    assert_eq!(t.session.publisher_count(&key(2)), 0);
    assert_eq!(t.session.stats().access_denials.publish, 1);
    // Inside its prefix the same connection publishes.
    publish(&mut t, ConnId(1), 6, &key(1), publisher("mine", 1, 1));
    let sent = t.sent();
    assert!(denial(&sent, 6).is_none());
    assert_eq!(count(&sent, is_batch), 1);
}

#[test]
fn a_subscription_outside_the_prefix_is_refused_and_fetches_nothing() {
    let mut t = guarded();
    let reader = t.client(2);
    t.session.authenticated(ConnId(3), Text::from("orders"));
    t.hello_with(3, "");
    assert_eq!(
        t.session.identity(ConnId(3)),
        Some(&Identity::Named(Text::from("orders")))
    );
    let listed: Vec<Identity> = t
        .session
        .clients()
        .into_iter()
        .map(|c| c.identity)
        .collect();
    assert_eq!(
        listed,
        [Identity::Anonymous, Identity::Named(Text::from("orders"))],
        "the admin view shows who each client is"
    );
    for (conn, rid) in [(reader, 7), (ConnId(3), 8)] {
        t.frame(conn, rid, sub(&key(2), "s", None));
        let sent = t.sent();
        let (_, why) = denial(&sent, rid).expect("refused");
        assert!(why.contains("may not subscribe \"svc2\""), "{why}");
        assert_eq!(count(&sent, is_fetch), 0, "nothing fetched for it");
    }
    // The anonymous client announced no feature: it gets the code it knows.
    t.frame(reader, 9, sub(&key(1), "s", None));
    let (code, _) = denial(&t.sent(), 9).expect("anonymous may not even read svc1");
    assert_eq!(code, ErrorCode::BadRequest);
    // A named client reads what `readers` allows.
    t.frame(ConnId(3), 10, sub(&key(1), "s", None));
    let sent = t.sent();
    assert!(denial(&sent, 10).is_none());
    assert_eq!(count(&sent, is_fetch), 1);
    assert_eq!(t.session.stats().access_denials.subscribe, 3);
}

#[test]
fn an_unknown_token_is_refused_at_the_hello_and_the_connection_closed() {
    let mut t = guarded();
    let sent = t.hello_with(1, "guess");
    let refused = sent.iter().any(|m| {
        matches!(m, Message::ErrorReply(e) if e.code == ErrorCode::Forbidden
            && e.message.contains("token"))
    });
    assert!(refused, "{sent:?}");
    let closed = t.drain().is_empty() && t.session.identity(ConnId(1)).is_none();
    assert!(closed, "not served");
    assert_eq!(t.session.stats().access_denials.hellos, 1);
}

#[test]
fn an_unpublish_outside_the_prefix_is_refused() {
    let mut t = guarded();
    let c = t.client(1);
    t.frame(
        c,
        4,
        Unpublish {
            data_info_id: key(1),
            register_id: Text::from("theirs"),
            version: RegisterVersion {
                client_version: 1,
                connect_generation: 1,
            },
        },
    );
    let sent = t.sent();
    assert!(denial(&sent, 4).is_some());
    assert_eq!(count(&sent, is_batch), 0, "no removal forwarded");
}

#[test]
fn new_rules_apply_at_once_and_cut_off_a_revoked_token() {
    let mut t = guarded();
    t.hello_with(1, "billing-secret");
    let reader = t.client(2);
    let now = t.now;
    t.session.set_acl(now, Some(Acl::default()));
    let closes: Vec<ConnId> = t
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::Close { conn, .. } => Some(conn),
            _ => None,
        })
        .collect();
    assert_eq!(closes, [ConnId(1)], "the token's holder, and only it");
    // An empty rule set allows nothing; no rules at all allow everything.
    t.frame(reader, 3, sub(&key(1), "s", None));
    assert!(denial(&t.sent(), 3).is_some());
    t.session.set_acl(now, None);
    t.frame(reader, 4, sub(&key(1), "s", None));
    assert!(denial(&t.sent(), 4).is_none());
}
