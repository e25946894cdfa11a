//! Operator switches on a session (docs/operations.md, "Switches"): the newest set meta sent
//! (`ClusterView.switches`, applied only if its version is newer), and what each switch
//! does here.
//!
//! - Stop pushes (all, or of one data id): no push of a held key leaves the session
//!   (`push` asks [`Switches::holds_pushes`] before each one); registrations, writes and
//!   fetches go on, so the cache keeps the newest list. When a hold is lifted, every
//!   subscriber behind on a key it held is offered the newest list at once.
//! - Client-off: a client connection from a switched-off address is refused at its hello
//!   (`ErrorReply`, then closed); those open when the switch arrives are closed. The
//!   publishers of such a connection are removed at once (no disconnect grace: the client
//!   is not expected back), and so are those of its connections still in their grace.
//!   The address is what the driver told [`crate::io::Node::accepted_from`]; a connection
//!   whose address the driver did not tell is never refused.
//! - Blacklist: a `Publish` or `Subscribe` of a blacklisted data id is answered with an
//!   `ErrorReply` naming the switch and changes nothing; the publishers of the data id the
//!   session holds when the switch arrives are removed (their removal forwarded to data).

use super::writes::Write;
use super::{Session, SessionEvent};
use crate::io::ConnId;
use crate::model::{Switches, Text};
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorReply};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The switches a session applies, and what it needs to apply them.
#[derive(Debug, Default)]
pub(crate) struct SwitchState {
    /// The newest switches meta sent.
    pub(crate) current: Switches,
    /// `current.clients_off`, parsed.
    off: BTreeSet<IpAddr>,
    /// Where each client connection comes from, when the driver told: kept until the
    /// connection is closed and its grace, if any, is over.
    addresses: BTreeMap<ConnId, IpAddr>,
}

impl SwitchState {
    /// Whether `conn` comes from a switched-off address.
    pub(crate) fn is_off(&self, conn: ConnId) -> bool {
        self.addresses
            .get(&conn)
            .is_some_and(|a| self.off.contains(a))
    }

    /// Records where `conn` comes from.
    pub(crate) fn remember(&mut self, conn: ConnId, address: IpAddr) {
        self.addresses.insert(conn, address.to_canonical());
    }

    /// Forgets `conn` (closed, and its grace over).
    pub(crate) fn forget(&mut self, conn: ConnId) {
        self.addresses.remove(&conn);
    }
}

/// Why a client connection is refused or closed.
fn off_reason(address: &IpAddr) -> String {
    format!("client {address} is switched off (switch client-off)")
}

impl Session {
    /// The operator switches this session applies.
    pub fn switches(&self) -> &Switches {
        &self.switches.current
    }

    /// Applies `next` if it is newer than the switches in force.
    pub(super) fn apply_switches(&mut self, now: Instant, next: Switches) {
        if next.version <= self.switches.current.version {
            return;
        }
        let old = std::mem::replace(&mut self.switches.current, next);
        self.switches.off = self
            .switches
            .current
            .clients_off
            .iter()
            .filter_map(|a| a.as_str().parse::<IpAddr>().ok())
            .map(|a| a.to_canonical())
            .collect();
        let version = self.switches.current.version;
        self.out.event(SessionEvent::SwitchesApplied { version });
        self.evict_off_clients(now);
        let banned: BTreeSet<Text> = self
            .switches
            .current
            .blacklisted_data_ids
            .difference(&old.blacklisted_data_ids)
            .cloned()
            .collect();
        if !banned.is_empty() {
            self.remove_blacklisted(now, &banned);
        }
        self.release_held(now, &old);
    }

    /// Answers a `Publish` or `Subscribe` of a blacklisted `data_id` (true), or lets it
    /// through (false).
    pub(super) fn refuse_blacklisted(&mut self, conn: ConnId, rid: u64, data_id: &Text) -> bool {
        if !self.switches.current.is_blacklisted(data_id) {
            return false;
        }
        let message = format!("data id {data_id} is blacklisted (switch blacklist)");
        let reply = ErrorReply {
            code: ErrorCode::BadRequest,
            message: Text::from(message),
        };
        self.out.send(conn, rid, reply);
        true
    }

    /// Refuses a client's hello from a switched-off address (true).
    pub(super) fn refuse_off_client(&mut self, conn: ConnId, rid: u64) -> bool {
        let Some(address) = self.switches.addresses.get(&conn).copied() else {
            return false;
        };
        if !self.switches.off.contains(&address) {
            return false;
        }
        let reason = off_reason(&address);
        let reply = ErrorReply {
            code: ErrorCode::BadRequest,
            message: Text::from(reason.as_str()),
        };
        self.out.send(conn, rid, reply);
        self.out.close(conn, &reason);
        self.inbound.remove(&conn);
        self.switches.forget(conn);
        true
    }

    /// Closes the client connections of switched-off addresses and removes their
    /// publishers, and those of such connections still in their grace, at once.
    fn evict_off_clients(&mut self, now: Instant) {
        if self.switches.off.is_empty() {
            return;
        }
        let open: Vec<ConnId> = self
            .registry
            .clients_mut()
            .map(|(conn, _)| conn)
            .filter(|&conn| self.switches.is_off(conn))
            .collect();
        for conn in open {
            let reason = self.switches.addresses.get(&conn).map(off_reason);
            self.out.close(conn, &reason.unwrap_or_default());
            // As if the driver reported it closed: `client_closed` skips the grace.
            self.conn_closed(now, conn);
        }
        let graced: Vec<ConnId> = self
            .graces
            .keys()
            .copied()
            .filter(|&conn| self.switches.is_off(conn))
            .collect();
        for conn in graced {
            if let Some(keys) = self.graces.remove(&conn) {
                self.remove_publishers(now, conn, keys);
            }
            self.switches.forget(conn);
        }
    }

    /// Removes every publisher of the data ids in `banned` this session holds.
    fn remove_blacklisted(&mut self, now: Instant, banned: &BTreeSet<Text>) {
        for tid in self.registry.topic_ids() {
            let Some(topic) = self.registry.topic(tid) else {
                continue;
            };
            if !banned.contains(&topic.key.data_id) {
                continue;
            }
            let (slot, key) = (topic.slot, topic.key.clone());
            let ids: Vec<Text> = topic
                .publishers
                .iter()
                .map(|e| e.publisher.register_id.clone())
                .collect();
            for register_id in ids {
                if let Some((_, version)) = self.registry.remove_any(tid, &register_id) {
                    self.forward(now, slot, Write::remove(key.clone(), register_id, version));
                }
            }
            self.registry.release_if_unused(tid);
        }
    }

    /// Offers the newest list of every key `old` held and the switches in force do not.
    fn release_held(&mut self, now: Instant, old: &Switches) {
        let current = &self.switches.current;
        let was_holding = old.pushes_stopped || !old.push_stopped_data_ids.is_empty();
        if !was_holding {
            return;
        }
        let lifted: Vec<_> = self
            .registry
            .topic_ids()
            .into_iter()
            .filter(|&tid| {
                self.registry.topic(tid).is_some_and(|t| {
                    let id = t.key.data_id.as_str();
                    old.holds_pushes(id) && !current.holds_pushes(id)
                })
            })
            .collect();
        for tid in lifted {
            self.fan_out(now, tid);
        }
    }
}
