//! The session's access gate: the rules in force ([`Acl`]) and who each client connection
//! is, decided at its hello and decided again whenever the rules change.
//!
//! A connection's identity comes from its hello's token or from the certificate its TLS
//! handshake proved (reported before the hello, since the handshake comes first). The gate
//! keeps only the token's digest, never the token, so that a rule set that no longer knows
//! the token can be told apart from one that does: such a connection is cut off at the
//! reload, as it would have been refused at its hello.

use crate::io::ConnId;
use crate::model::Text;
use crate::session::acl::{Access, Acl, Denied, Identity, TokenDigest};
use crate::session::{Session, SessionEvent};
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorReply, Features, Message, Token};
use std::collections::BTreeMap;

/// Requests refused by the access rules, per kind, for metrics. Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessDenials {
    /// Hellos refused: a token the rules do not know.
    pub hellos: u64,
    /// Publishes and unpublishes refused.
    pub publish: u64,
    /// Subscriptions refused.
    pub subscribe: u64,
}

/// Who a connection that said hello is, as the gate remembers it.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    token: Option<TokenDigest>,
    identity: Identity,
}

/// The rules and the identities of the session's client connections.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    acl: Option<Acl>,
    /// Common names proved by TLS handshakes, for connections that have not said hello.
    certified: BTreeMap<ConnId, Text>,
    admitted: BTreeMap<ConnId, Admitted>,
}

impl Gate {
    /// Whether rules are in force (without them every client may do everything).
    pub(crate) fn enforcing(&self) -> bool {
        self.acl.is_some()
    }

    /// Connection `conn`'s handshake proved a certificate with this common name.
    pub(crate) fn certified(&mut self, conn: ConnId, common_name: Text) {
        self.certified.insert(conn, common_name);
    }

    /// Who a hello on `conn` presenting `token` makes it, or why it is refused. Without
    /// rules a token means nothing (but is kept, should rules come). Either way what the
    /// handshake proved is used up: a refused hello closes the connection.
    pub(crate) fn identify(&mut self, conn: ConnId, token: &Token) -> Result<Admitted, Denied> {
        let certified = self.certified.remove(&conn);
        let token = (!token.reveal().is_empty()).then(|| TokenDigest::of(token.reveal()));
        let identity = match &self.acl {
            Some(acl) => acl.identify(token, certified.as_ref())?,
            None => certified.map_or(Identity::Anonymous, Identity::Named),
        };
        Ok(Admitted { token, identity })
    }

    /// `conn` is served from now on, as `admitted`.
    pub(crate) fn admit(&mut self, conn: ConnId, admitted: Admitted) {
        self.admitted.insert(conn, admitted);
    }

    /// Whether `conn` may do `access` on `data_id`. A connection that has not said hello
    /// is anonymous (the session answers its requests as it always has).
    pub(crate) fn check(&self, conn: ConnId, access: Access, data_id: &str) -> Result<(), Denied> {
        let Some(acl) = &self.acl else {
            return Ok(());
        };
        let anonymous = Identity::Anonymous;
        let identity = self.admitted.get(&conn).map_or(&anonymous, |a| &a.identity);
        acl.check(identity, access, data_id)
    }

    /// Who `conn` is, once it said hello.
    pub(crate) fn identity(&self, conn: ConnId) -> Option<&Identity> {
        self.admitted.get(&conn).map(|a| &a.identity)
    }

    /// Puts `acl` in force (`None`: none). Every connection is identified again under it;
    /// those it refuses are returned, to be closed with the reason.
    pub(crate) fn set(&mut self, acl: Option<Acl>) -> Vec<(ConnId, Denied)> {
        self.acl = acl;
        let Some(acl) = &self.acl else {
            return Vec::new();
        };
        let mut refused = Vec::new();
        for (conn, a) in &mut self.admitted {
            // A certificate's name cannot change on a live connection: keep it.
            let certified = match (&a.token, &a.identity) {
                (None, Identity::Named(n)) => Some(n.clone()),
                _ => None,
            };
            match acl.identify(a.token, certified.as_ref()) {
                Ok(identity) => a.identity = identity,
                Err(denied) => refused.push((*conn, denied)),
            }
        }
        for (conn, _) in &refused {
            self.admitted.remove(conn);
        }
        refused
    }

    /// `conn` closed.
    pub(crate) fn forget(&mut self, conn: ConnId) {
        self.certified.remove(&conn);
        self.admitted.remove(&conn);
    }
}

/// The refusal a client hears when the rules deny it: `Forbidden` if its hello announced
/// that it knows the code, else `BadRequest` (retrying unchanged is as useless).
pub(crate) fn forbidden(features: Features, denied: Denied) -> ErrorReply {
    let code = match features.contains(Features::ACCESS_DENIED) {
        true => ErrorCode::Forbidden,
        false => ErrorCode::BadRequest,
    };
    ErrorReply {
        code,
        message: Text::from(denied.0),
    }
}

impl Session {
    /// Puts `acl` in force (`None`: every client may do everything), from the next request
    /// on. Clients whose token the new rules do not know are cut off; what clients
    /// registered before stays registered.
    pub fn set_acl(&mut self, now: Instant, acl: Option<Acl>) {
        for (conn, denied) in self.gate.set(acl) {
            self.out.stats.access_denials.hellos += 1;
            self.out.event(SessionEvent::ProtocolViolation {
                conn,
                reason: Text::from(denied.0.as_str()),
            });
            self.out.close(conn, &denied.0);
            self.conn_closed(now, conn);
        }
    }

    /// Who client connection `conn` is, once it said hello.
    pub fn identity(&self, conn: ConnId) -> Option<&Identity> {
        self.gate.identity(conn)
    }

    /// Refuses a registration the rules deny (true): answered, counted, nothing changed.
    pub(super) fn refuse_by_rules(&mut self, conn: ConnId, rid: u64, message: &Message) -> bool {
        if !self.gate.enforcing() {
            return false;
        }
        let (access, data_id) = match message {
            Message::Publish(p) => (Access::Publish, &p.data_info_id.data_id),
            Message::Unpublish(u) => (Access::Publish, &u.data_info_id.data_id),
            Message::Subscribe(s) => (Access::Subscribe, &s.data_info_id.data_id),
            _ => return false,
        };
        let Err(denied) = self.gate.check(conn, access, data_id) else {
            return false;
        };
        let denials = &mut self.out.stats.access_denials;
        match access {
            Access::Publish => denials.publish += 1,
            Access::Subscribe => denials.subscribe += 1,
        }
        let features = self.agreement(conn).map_or(Features::NONE, |a| a.features);
        self.out.send(conn, rid, forbidden(features, denied));
        true
    }
}
