//! What a session shows an operator (the admin API): its clients and what it holds under a
//! key, as plain values read from the registry, never changing it.

use super::{Identity, Session};
use crate::io::ConnId;
use crate::model::{DataInfoId, DatumVersion, ProcessId, Publisher, SlotId};
use std::net::IpAddr;

/// One open client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The shell's id of the connection.
    pub conn: ConnId,
    /// The client's address, if the driver told where the connection comes from.
    pub address: Option<IpAddr>,
    /// Publishers it owns.
    pub publishers: usize,
    /// Keys it subscribes to.
    pub subscribed_keys: usize,
    /// Registrations (publishers and subscriptions) it holds.
    pub registrations: usize,
    /// Who it is to the access rules (docs/security.md): a token's identity, a
    /// certificate's common name, or anonymous.
    pub identity: Identity,
}

/// A publisher a session holds for one of its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPublisherView {
    /// The client connection that registered it.
    pub conn: ConnId,
    /// The client's address, if the driver told.
    pub address: Option<IpAddr>,
    /// The publisher.
    pub publisher: Publisher,
}

/// One client connection's subscription to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberView {
    /// The client connection.
    pub conn: ConnId,
    /// The client's address, if the driver told.
    pub address: Option<IpAddr>,
    /// The subscription's register ids on that connection.
    pub register_ids: Vec<String>,
    /// The version the client last acknowledged, if any.
    pub acknowledged: Option<DatumVersion>,
    /// A push to it awaits its acknowledgement.
    pub push_in_flight: bool,
}

/// Everything a session holds under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeyView {
    /// The slot the key hashes to.
    pub slot: SlotId,
    /// The version of the list the session caches, if it fetched one.
    pub cached: Option<DatumVersion>,
    /// Its clients' publishers, ordered by register id.
    pub publishers: Vec<SessionPublisherView>,
    /// Its clients' subscriptions, ordered by connection.
    pub subscribers: Vec<SubscriberView>,
}

impl Session {
    /// This session's process (node id and incarnation).
    pub fn process(&self) -> ProcessId {
        self.config.process
    }

    /// Every open client connection, ordered by connection id.
    pub fn clients(&self) -> Vec<ClientView> {
        let mut out: Vec<ClientView> = self
            .registry
            .clients()
            .map(|(conn, c)| ClientView {
                conn,
                address: self.switches.address(conn),
                publishers: c.publisher_count(),
                subscribed_keys: c.subscribed_keys(),
                registrations: c.registrations(),
                identity: self.identity(conn).cloned().unwrap_or(Identity::Anonymous),
            })
            .collect();
        out.sort_unstable_by_key(|c| c.conn);
        out
    }

    /// What the session holds under `key`, if any client publishes or subscribes to it.
    pub fn key_view(&self, key: &DataInfoId) -> Option<SessionKeyView> {
        let topic = self.registry.topic(self.registry.find(key)?)?;
        let mut publishers: Vec<SessionPublisherView> = topic
            .publishers
            .iter()
            .map(|e| SessionPublisherView {
                conn: e.conn,
                address: self.switches.address(e.conn),
                publisher: (*e.publisher).clone(),
            })
            .collect();
        publishers.sort_unstable_by(|a, b| a.publisher.register_id.cmp(&b.publisher.register_id));
        let subscribers = topic
            .subscribers
            .iter()
            .map(|(&conn, s)| SubscriberView {
                conn,
                address: self.switches.address(conn),
                register_ids: s.register_ids.iter().map(str::to_string).collect(),
                acknowledged: s.pushed(),
                push_in_flight: s.in_flight.is_some(),
            })
            .collect();
        Some(SessionKeyView {
            slot: topic.slot,
            cached: topic.datum.as_ref().map(|d| d.version),
            publishers,
            subscribers,
        })
    }
}
