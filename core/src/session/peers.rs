//! The session's connections to other servers: one to every data node in the membership
//! (opened by the session, `PeerHello` first, reused in both directions) and one to meta
//! (following `NotLeader`, heartbeating every interval). The links' states, connect
//! deadlines and jittered backoff are a [`Dialer`]'s; this module knows where each link
//! dials and which meta address is next. Data nodes that connect to the session instead
//! are recognised by their `PeerHello`.

use super::outbox::Outbox;
use crate::io::ConnId;
use crate::model::{ProcessId, Role, TableEpoch, Text};
use crate::net::{Backoff, Dialer};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Heartbeat, Member, PeerHello};
use std::collections::BTreeMap;

/// Who is at the other end of a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Peer {
    /// A data node's process.
    Data(ProcessId),
    /// Meta.
    Meta,
}

/// Identity and timing the links need.
#[derive(Debug, Clone)]
pub(crate) struct LinkConfig {
    pub(crate) hello: PeerHello,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: std::time::Duration,
}

/// Every server connection.
#[derive(Debug)]
pub(crate) struct Peers {
    cfg: LinkConfig,
    /// The links the session opens (one per data member, one to meta).
    dialer: Dialer<Peer>,
    /// Where each link dials.
    addresses: BTreeMap<Peer, Text>,
    /// Data nodes that connected to the session instead.
    accepted: BTreeMap<ConnId, Peer>,
    meta_addresses: Vec<Text>,
    meta_index: usize,
}

impl Peers {
    pub(crate) fn new(cfg: LinkConfig, meta_addresses: Vec<Text>, rng: &mut Rng) -> Self {
        let meta_index = if meta_addresses.is_empty() {
            0
        } else {
            rng.below(meta_addresses.len() as u64) as usize
        };
        let mut dialer = Dialer::new(cfg.backoff, cfg.connect_timeout);
        let mut addresses = BTreeMap::new();
        if let Some(a) = meta_addresses.get(meta_index) {
            addresses.insert(Peer::Meta, a.clone());
            dialer.insert(Peer::Meta, Some(Instant::ZERO));
        }
        Peers {
            cfg,
            dialer,
            addresses,
            accepted: BTreeMap::new(),
            meta_addresses,
            meta_index,
        }
    }

    fn open(&mut self, peer: Peer, now: Instant, out: &mut Outbox) {
        if let Some(address) = self.addresses.get(&peer) {
            let (_, connect) = self.dialer.dial(peer, address.clone(), now);
            out.push(connect);
        }
    }

    /// Connects to every data member not yet linked and drops links to departed ones;
    /// returns the links it closed.
    pub(crate) fn set_members(
        &mut self,
        members: &[Member],
        now: Instant,
        out: &mut Outbox,
    ) -> Vec<ConnId> {
        let data: BTreeMap<ProcessId, &Text> = members
            .iter()
            .filter(|m| m.role == Role::Data)
            .map(|m| (m.process, &m.address))
            .collect();
        let gone: Vec<Peer> = self
            .addresses
            .iter()
            .filter(|(peer, address)| match peer {
                Peer::Data(p) => data.get(p).is_none_or(|a| *a != *address),
                Peer::Meta => false,
            })
            .map(|(peer, _)| *peer)
            .collect();
        let mut closed = Vec::new();
        for peer in gone {
            self.addresses.remove(&peer);
            if let Some(conn) = self.dialer.remove(peer) {
                out.close(conn, "left the membership");
                closed.push(conn);
            }
        }
        for (p, address) in data {
            let peer = Peer::Data(p);
            if let std::collections::btree_map::Entry::Vacant(e) = self.addresses.entry(peer) {
                e.insert(address.clone());
                self.open(peer, now, out);
            }
        }
        closed
    }

    /// An outbound connection is up: say hello (and heartbeat meta at once).
    pub(crate) fn connected(
        &mut self,
        conn: ConnId,
        hb: &Heartbeat,
        out: &mut Outbox,
    ) -> Option<Peer> {
        let peer = self.dialer.connected(conn)?;
        out.send(conn, 0, self.cfg.hello.clone());
        if peer == Peer::Meta {
            out.request(conn, hb.clone());
        }
        Some(peer)
    }

    /// A data node connected to the session and said hello.
    pub(crate) fn accept(&mut self, conn: ConnId, hello: &PeerHello) {
        self.accepted.insert(conn, Peer::Data(hello.process));
    }

    /// Who is at the other end of `conn`, if a server.
    pub(crate) fn peer(&self, conn: ConnId) -> Option<Peer> {
        self.dialer
            .key(conn)
            .or_else(|| self.accepted.get(&conn).copied())
    }

    /// A server connection ended; returns when to reconnect (if the session opened it).
    pub(crate) fn closed(&mut self, conn: ConnId, now: Instant, rng: &mut Rng) -> Option<Instant> {
        if self.accepted.remove(&conn).is_some() {
            return None;
        }
        match self.dialer.key(conn)? {
            Peer::Meta => self.next_meta_later(now, rng),
            Peer::Data(_) => self.dialer.lost(conn, now, rng).map(|(_, at)| at),
        }
    }

    /// Moves the meta link to the next configured address, retried after the backoff.
    fn next_meta_later(&mut self, now: Instant, rng: &mut Rng) -> Option<Instant> {
        self.meta_index = (self.meta_index + 1) % self.meta_addresses.len().max(1);
        let next = self.meta_addresses.get(self.meta_index).cloned();
        if let (Some(a), Some(address)) = (next, self.addresses.get_mut(&Peer::Meta)) {
            *address = a;
        }
        self.dialer.back_off(Peer::Meta, now, rng)
    }

    /// Meta says another node leads: go there now. If it knows no leader (an election is
    /// on), try the next configured address after the backoff, not at once: redialling at
    /// once spins against a meta group without a leader. Returns the retry instant then.
    pub(crate) fn not_leader(
        &mut self,
        conn: ConnId,
        leader: Option<Text>,
        now: Instant,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Option<Instant> {
        if self.dialer.conn(Peer::Meta) != Some(conn) {
            return None;
        }
        out.close(conn, "meta is not the leader");
        let Some(next) = leader.filter(|a| !a.is_empty()) else {
            return self.next_meta_later(now, rng);
        };
        self.addresses.insert(Peer::Meta, next);
        self.open(Peer::Meta, now, out);
        None
    }

    /// Dials past their connect deadline, forgotten by the dialer: the caller closes each
    /// and handles it as a closed connection.
    pub(crate) fn expire_dials(&mut self, now: Instant) -> Vec<ConnId> {
        self.dialer.expire(now)
    }

    /// The earliest connect deadline.
    pub(crate) fn next_dial_deadline(&self) -> Option<Instant> {
        self.dialer.next_dial_deadline()
    }

    /// Reopens links whose backoff is over; returns the next retry instant, if any.
    pub(crate) fn reconnect_due(&mut self, now: Instant, out: &mut Outbox) -> Option<Instant> {
        for peer in self.dialer.due(now) {
            self.open(peer, now, out);
        }
        self.dialer.next_retry()
    }

    /// The ready connection to a data process.
    pub(crate) fn data_conn(&self, process: ProcessId) -> Option<ConnId> {
        self.dialer.up(Peer::Data(process))
    }

    /// The ready connection to meta.
    pub(crate) fn meta_conn(&self) -> Option<ConnId> {
        self.dialer.up(Peer::Meta)
    }

    /// Heartbeat frame content.
    pub(crate) fn heartbeat(
        &self,
        table_epoch: TableEpoch,
        members_version: u64,
        switches_version: u64,
    ) -> Heartbeat {
        Heartbeat {
            process: self.cfg.hello.process,
            role: Role::Session,
            address: self.cfg.hello.address.clone(),
            table_epoch,
            members_version,
            slots: Vec::new(),
            switches_version,
        }
    }
}
