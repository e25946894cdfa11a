//! The outbound half of a node's peer table: per peer it dials, whether the link is down
//! (waiting for its retry instant, or idle until the role asks), connecting (with a connect
//! deadline in [`Dials`]) or up, and how many connects failed in a row. It is the one place
//! where a failed or lost connection turns into a [`Backoff`] delay and a dial into a
//! deadline, so every role retries the same way.
//!
//! Keys are whatever names a peer for the role (a data process, "meta", a meta peer's
//! consensus id); the role keeps its own per-peer data (addresses, liveness, inbound
//! connections) beside the dialer. Time and randomness are parameters: the role feeds
//! connection events in and includes [`Dialer::next_retry`] and
//! [`Dialer::next_dial_deadline`] in its `poll_timeout`.

use super::{Backoff, Dials};
use crate::io::{ConnId, ConnIds, Output};
use crate::model::Text;
use crate::rng::Rng;
use crate::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where one outbound link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No connection: dial again at `retry_at`, or, if `None`, when the role asks.
    Down {
        /// When the backoff is over.
        retry_at: Option<Instant>,
    },
    /// A connect on this connection is under way (and has a deadline).
    Connecting(ConnId),
    /// Connected on this connection.
    Up(ConnId),
}

#[derive(Debug, Clone)]
struct Link {
    state: LinkState,
    /// Failed connects (or lost connections) since the link was last up: where the next
    /// delay sits in the backoff.
    failures: u32,
}

impl Link {
    fn conn(&self) -> Option<ConnId> {
        match self.state {
            LinkState::Connecting(c) | LinkState::Up(c) => Some(c),
            LinkState::Down { .. } => None,
        }
    }
}

/// A node's outbound links, keyed by `K`.
#[derive(Debug, Clone)]
pub struct Dialer<K> {
    backoff: Backoff,
    dials: Dials,
    ids: ConnIds,
    links: BTreeMap<K, Link>,
    by_conn: BTreeMap<ConnId, K>,
}

impl<K: Ord + Copy> Dialer<K> {
    /// Links that retry after `backoff` and give a connect `connect_timeout`.
    pub fn new(backoff: Backoff, connect_timeout: Duration) -> Self {
        Dialer {
            backoff,
            dials: Dials::new(connect_timeout),
            ids: ConnIds::default(),
            links: BTreeMap::new(),
            by_conn: BTreeMap::new(),
        }
    }

    /// Adds a link that is down until `retry_at` (idle if `None`); an existing one is kept.
    pub fn insert(&mut self, key: K, retry_at: Option<Instant>) {
        self.links.entry(key).or_insert(Link {
            state: LinkState::Down { retry_at },
            failures: 0,
        });
    }

    /// Forgets the link; returns its connection, which the caller closes.
    pub fn remove(&mut self, key: K) -> Option<ConnId> {
        let conn = self.links.remove(&key)?.conn()?;
        self.unmap(conn);
        Some(conn)
    }

    /// The new connection and the output that dials `key` at `address` now (adding the
    /// link if new). A connection the link still had is forgotten here; the caller closes
    /// it.
    pub fn dial<E>(&mut self, key: K, address: Text, now: Instant) -> (ConnId, Output<E>) {
        let conn = self.ids.allocate();
        let link = self.links.entry(key).or_insert(Link {
            state: LinkState::Down { retry_at: None },
            failures: 0,
        });
        let old = link.conn();
        link.state = LinkState::Connecting(conn);
        if let Some(old) = old {
            self.unmap(old);
        }
        self.by_conn.insert(conn, key);
        (conn, self.dials.dial(now, conn, address))
    }

    /// `conn` connected: its link is up and its failures are forgotten. `None` if `conn` is
    /// not a dial of a link (any more).
    pub fn connected(&mut self, conn: ConnId) -> Option<K> {
        self.dials.settle(conn);
        let key = *self.by_conn.get(&conn)?;
        let link = self.links.get_mut(&key)?;
        if link.state != LinkState::Connecting(conn) {
            return None;
        }
        link.state = LinkState::Up(conn);
        link.failures = 0;
        Some(key)
    }

    /// `conn` closed (or its connect failed or timed out): its link goes down and retries
    /// after the backoff. Returns the link and its retry instant, `None` if `conn` was not
    /// a link's current connection.
    pub fn lost(&mut self, conn: ConnId, now: Instant, rng: &mut Rng) -> Option<(K, Instant)> {
        let key = self.unmap(conn)?;
        let at = self.back_off(key, now, rng)?;
        Some((key, at))
    }

    /// The link goes down (forgetting its connection, which the caller closes) and retries
    /// after the backoff, counting a failure; the retry instant, `None` for an unknown key.
    pub fn back_off(&mut self, key: K, now: Instant, rng: &mut Rng) -> Option<Instant> {
        let link = self.links.get_mut(&key)?;
        let old = link.conn();
        let at = now + self.backoff.after_failure(&mut link.failures, rng);
        link.state = LinkState::Down { retry_at: Some(at) };
        if let Some(old) = old {
            self.unmap(old);
        }
        Some(at)
    }

    /// The link goes down (forgetting its connection, which the caller closes) without
    /// counting a failure, to be dialled at `retry_at` (or when the role asks, if `None`).
    pub fn schedule(&mut self, key: K, retry_at: Option<Instant>) {
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        let old = link.conn();
        link.state = LinkState::Down { retry_at };
        if let Some(old) = old {
            self.unmap(old);
        }
    }

    /// `conn` was closed by the node for a reason of its own, not a failure of the link:
    /// the link goes idle without counting a failure. `None` if `conn` was not a link's.
    pub fn forget(&mut self, conn: ConnId) -> Option<K> {
        let key = self.unmap(conn)?;
        if let Some(link) = self.links.get_mut(&key) {
            link.state = LinkState::Down { retry_at: None };
        }
        Some(key)
    }

    /// The links whose retry instant has come, now idle: the caller dials those it still
    /// wants.
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        for (&key, link) in &mut self.links {
            if let LinkState::Down {
                retry_at: Some(at), ..
            } = link.state
                && at <= now
            {
                link.state = LinkState::Down { retry_at: None };
                due.push(key);
            }
        }
        due
    }

    /// Dials past their connect deadline: the caller closes each ([`Dials::abandon`]) and
    /// handles it as lost.
    pub fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        self.dials.expire(now)
    }

    /// The earliest retry instant of a down link.
    pub fn next_retry(&self) -> Option<Instant> {
        let retries = self.links.values().filter_map(|l| match l.state {
            LinkState::Down { retry_at } => retry_at,
            _ => None,
        });
        retries.min()
    }

    /// The earliest connect deadline.
    pub fn next_dial_deadline(&self) -> Option<Instant> {
        self.dials.next_deadline()
    }

    /// Where the link to `key` stands.
    pub fn state(&self, key: K) -> Option<LinkState> {
        self.links.get(&key).map(|l| l.state)
    }

    /// The link's connection, connecting or up.
    pub fn conn(&self, key: K) -> Option<ConnId> {
        self.links.get(&key)?.conn()
    }

    /// The link's connection if it is up.
    pub fn up(&self, key: K) -> Option<ConnId> {
        match self.state(key)? {
            LinkState::Up(c) => Some(c),
            _ => None,
        }
    }

    /// The link `conn` is the current connection of.
    pub fn key(&self, conn: ConnId) -> Option<K> {
        self.by_conn.get(&conn).copied()
    }

    /// Forgets `conn` as a link's connection, leaving the link's state to the caller.
    fn unmap(&mut self, conn: ConnId) -> Option<K> {
        self.dials.settle(conn);
        self.by_conn.remove(&conn)
    }
}

#[cfg(test)]
mod tests;
