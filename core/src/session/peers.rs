//! The session's connections to other servers: one to every data node in the membership
//! (opened by the session, `PeerHello` first, reused in both directions) and one to meta
//! (following `NotLeader`, heartbeating every interval). Lost connections come back with a
//! jittered backoff. Data nodes that connect to the session instead are recognised by their
//! `PeerHello`.

use super::outbox::Outbox;
use crate::io::{ConnId, ConnIds};
use crate::model::{ProcessId, Role, TableEpoch, Text};
use crate::net::Backoff;
use crate::net::Dials;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Heartbeat, Member, PeerHello};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Ready,
    Down { retry_at: Instant },
}

#[derive(Debug)]
struct Link {
    address: Text,
    conn: Option<ConnId>,
    state: State,
    attempts: u32,
}

/// Who is at the other end of a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    ids: ConnIds,
    dials: Dials,
    data: BTreeMap<ProcessId, Link>,
    by_conn: BTreeMap<ConnId, Peer>,
    meta_addresses: Vec<Text>,
    meta_index: usize,
    meta: Option<Link>,
}

impl Peers {
    pub(crate) fn new(cfg: LinkConfig, meta_addresses: Vec<Text>, rng: &mut Rng) -> Self {
        let meta_index = if meta_addresses.is_empty() {
            0
        } else {
            rng.below(meta_addresses.len() as u64) as usize
        };
        let meta = meta_addresses.get(meta_index).map(|a| Link {
            address: a.clone(),
            conn: None,
            state: State::Down {
                retry_at: Instant::ZERO,
            },
            attempts: 0,
        });
        Peers {
            dials: Dials::new(cfg.connect_timeout),
            cfg,
            ids: ConnIds::default(),
            data: BTreeMap::new(),
            by_conn: BTreeMap::new(),
            meta_addresses,
            meta_index,
            meta,
        }
    }

    fn open(&mut self, link_peer: Peer, now: Instant, out: &mut Outbox) {
        let conn = self.ids.allocate();
        let link = match link_peer {
            Peer::Data(p) => self.data.get_mut(&p),
            Peer::Meta => self.meta.as_mut(),
        };
        if let Some(link) = link {
            link.conn = Some(conn);
            link.state = State::Connecting;
            out.push(self.dials.dial(now, conn, link.address.clone()));
            self.by_conn.insert(conn, link_peer);
        }
    }

    /// Connects to every data member not yet linked and drops links to departed ones.
    pub(crate) fn set_members(&mut self, members: &[Member], now: Instant, out: &mut Outbox) {
        let data: BTreeMap<ProcessId, &Text> = members
            .iter()
            .filter(|m| m.role == Role::Data)
            .map(|m| (m.process, &m.address))
            .collect();
        let gone: Vec<ProcessId> = self
            .data
            .iter()
            .filter(|(p, l)| data.get(p).is_none_or(|a| **a != l.address))
            .map(|(p, _)| *p)
            .collect();
        for p in gone {
            if let Some(conn) = self.data.remove(&p).and_then(|l| l.conn) {
                self.by_conn.remove(&conn);
                self.dials.settle(conn);
                out.close(conn, "left the membership");
            }
        }
        for (p, address) in data {
            if let std::collections::btree_map::Entry::Vacant(e) = self.data.entry(p) {
                e.insert(Link {
                    address: address.clone(),
                    conn: None,
                    state: State::Connecting,
                    attempts: 0,
                });
                self.open(Peer::Data(p), now, out);
            }
        }
    }

    /// An outbound connection is up: say hello (and heartbeat meta at once).
    pub(crate) fn connected(
        &mut self,
        conn: ConnId,
        hb: &Heartbeat,
        out: &mut Outbox,
    ) -> Option<Peer> {
        self.dials.settle(conn);
        let peer = *self.by_conn.get(&conn)?;
        let link = match peer {
            Peer::Data(p) => self.data.get_mut(&p)?,
            Peer::Meta => self.meta.as_mut()?,
        };
        link.state = State::Ready;
        link.attempts = 0;
        out.send(conn, 0, self.cfg.hello.clone());
        if peer == Peer::Meta {
            out.request(conn, hb.clone());
        }
        Some(peer)
    }

    /// A data node connected to the session and said hello.
    pub(crate) fn accept(&mut self, conn: ConnId, hello: &PeerHello) {
        self.by_conn.insert(conn, Peer::Data(hello.process));
    }

    /// Who is at the other end of `conn`, if a server.
    pub(crate) fn peer(&self, conn: ConnId) -> Option<Peer> {
        self.by_conn.get(&conn).copied()
    }

    /// A server connection ended; returns when to reconnect (if the session opened it).
    pub(crate) fn closed(&mut self, conn: ConnId, now: Instant, rng: &mut Rng) -> Option<Instant> {
        self.dials.settle(conn);
        let peer = self.by_conn.remove(&conn)?;
        let backoff = self.cfg.backoff;
        if peer == Peer::Meta && self.meta.as_ref().is_some_and(|l| l.conn == Some(conn)) {
            return self.next_meta_later(now, backoff, rng);
        }
        let Peer::Data(p) = peer else { return None };
        let link = self.data.get_mut(&p)?;
        if link.conn != Some(conn) {
            return None;
        }
        Some(down(link, now, backoff, rng))
    }

    /// Moves the meta link to the next configured address, retried after the backoff.
    fn next_meta_later(
        &mut self,
        now: Instant,
        backoff: Backoff,
        rng: &mut Rng,
    ) -> Option<Instant> {
        self.meta_index = (self.meta_index + 1) % self.meta_addresses.len().max(1);
        let next = self.meta_addresses.get(self.meta_index).cloned();
        let link = self.meta.as_mut()?;
        if let Some(a) = next {
            link.address = a;
        }
        Some(down(link, now, backoff, rng))
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
        if self.meta.as_ref().and_then(|l| l.conn) != Some(conn) {
            return None;
        }
        self.by_conn.remove(&conn);
        out.close(conn, "meta is not the leader");
        let backoff = self.cfg.backoff;
        let Some(next) = leader.filter(|a| !a.is_empty()) else {
            return self.next_meta_later(now, backoff, rng);
        };
        if let Some(link) = self.meta.as_mut() {
            link.address = next;
        }
        self.open(Peer::Meta, now, out);
        None
    }

    /// Dials past their connect deadline, forgotten by the dialer: the caller closes each
    /// and handles it as a closed connection.
    pub(crate) fn expire_dials(&mut self, now: Instant) -> Vec<ConnId> {
        self.dials.expire(now)
    }

    /// The earliest connect deadline.
    pub(crate) fn next_dial_deadline(&self) -> Option<Instant> {
        self.dials.next_deadline()
    }

    /// Reopens links whose backoff is over; returns the next retry instant, if any.
    pub(crate) fn reconnect_due(&mut self, now: Instant, out: &mut Outbox) -> Option<Instant> {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        let links = self
            .data
            .iter()
            .map(|(p, l)| (Peer::Data(*p), l))
            .chain(self.meta.iter().map(|l| (Peer::Meta, l)));
        for (peer, link) in links {
            if let State::Down { retry_at } = link.state {
                if retry_at <= now {
                    due.push(peer);
                } else {
                    next = Some(next.map_or(retry_at, |n| n.min(retry_at)));
                }
            }
        }
        for peer in due {
            self.open(peer, now, out);
        }
        next
    }

    /// The ready connection to a data process.
    pub(crate) fn data_conn(&self, process: ProcessId) -> Option<ConnId> {
        let link = self.data.get(&process)?;
        (link.state == State::Ready).then_some(link.conn).flatten()
    }

    /// The ready connection to meta.
    pub(crate) fn meta_conn(&self) -> Option<ConnId> {
        let link = self.meta.as_ref()?;
        (link.state == State::Ready).then_some(link.conn).flatten()
    }

    /// Heartbeat frame content.
    pub(crate) fn heartbeat(&self, table_epoch: TableEpoch, members_version: u64) -> Heartbeat {
        Heartbeat {
            process: self.cfg.hello.process,
            role: Role::Session,
            address: self.cfg.hello.address.clone(),
            table_epoch,
            members_version,
            slots: Vec::new(),
        }
    }
}

fn down(link: &mut Link, now: Instant, backoff: Backoff, rng: &mut Rng) -> Instant {
    let at = now + backoff.after_failure(&mut link.attempts, rng);
    link.conn = None;
    link.state = State::Down { retry_at: at };
    at
}
