//! The data node's connections: the link to meta and the links to other data nodes that
//! this node opens and keeps open (reconnecting with a jittered, doubling backoff), the
//! connections sessions and data nodes open to it, and what is forgotten when any of them
//! closes.

use super::slots::SlotRole;
use super::{DataNode, Peer};
use crate::data::replica::Phase;
use crate::io::ConnId;
use crate::model::{ProcessId, Role};
use crate::time::Instant;
use crate::wire::PeerHello;

/// A connection this node opens and keeps open, with reconnect backoff.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) conn: Option<ConnId>,
    pub(super) connected: bool,
    pub(super) retry_at: Option<Instant>,
    /// Failed connects in a row: the next retry's place in the backoff.
    pub(super) attempts: u32,
}

impl Link {
    pub(super) fn new(retry_at: Option<Instant>) -> Self {
        Link {
            conn: None,
            connected: false,
            retry_at,
            attempts: 0,
        }
    }
}

impl DataNode {
    fn hello(&self) -> PeerHello {
        PeerHello::new(Role::Data, self.cfg.process, self.cfg.address.clone())
    }

    pub(super) fn connect_meta(&mut self, now: Instant) {
        let n = self.cfg.meta_addresses.len();
        let address = self.cfg.meta_addresses[self.meta_index % n].clone();
        let conn = self.conn_ids.allocate();
        self.conns.insert(conn, Peer::Meta);
        self.meta.conn = Some(conn);
        self.meta.connected = false;
        self.meta.retry_at = None;
        let connect = self.dials.dial(now, conn, address);
        self.out.push_back(connect);
    }

    pub(super) fn ensure_peer(&mut self, process: ProcessId) {
        if self.data_conns.contains_key(&process)
            || self
                .peers
                .get(&process)
                .is_some_and(|l| l.conn.is_some() || l.retry_at.is_some())
        {
            return;
        }
        let Some(address) = self.member_addresses.get(&process).cloned() else {
            return;
        };
        let conn = self.conn_ids.allocate();
        self.conns.insert(conn, Peer::Data(process));
        let link = self.peers.entry(process).or_insert_with(|| Link::new(None));
        link.conn = Some(conn);
        link.connected = false;
        link.retry_at = None;
        let connect = self.dials.dial(self.now, conn, address);
        self.out.push_back(connect);
    }

    pub(super) fn forget_conn(&mut self, conn: ConnId) {
        self.agreements.remove(&conn);
        let Some(peer) = self.conns.remove(&conn) else {
            return;
        };
        self.pending.retain(|(c, _), _| *c != conn);
        self.notifier.remove_session(conn);
        for ls in self.slots.values_mut() {
            match &mut ls.role {
                SlotRole::Leader(l) => {
                    l.streams.by_conn.remove(&conn);
                    l.writes.retain(|w| w.conn != conn);
                    if let Peer::Session(p) = peer {
                        l.reconcile.runs.remove(&p);
                    }
                }
                SlotRole::Follower(f) => {
                    if let Peer::Data(p) = peer {
                        if f.leader == Some(p) {
                            f.phase = Phase::Idle;
                        }
                    }
                }
            }
        }
        // A session may hold several connections to us (one it opened for an old
        // incarnation at our address, one for us; both say hello here): when the one we use
        // closes, fall back to another still open rather than forget the session, which
        // would leave its reconciliation, and so the reads of every slot we lead, waiting
        // for a connection the session has no reason to open.
        let survivor = self
            .conns
            .iter()
            .find(|&(_, &other)| other == peer)
            .map(|(&c, _)| c);
        match peer {
            Peer::Session(p) if self.session_conns.get(&p) == Some(&conn) => {
                self.session_conns.remove(&p);
                if let Some(c) = survivor {
                    self.session_conns.insert(p, c);
                    self.notifier.add_session(c);
                }
            }
            Peer::Data(p) => {
                if self.data_conns.get(&p) == Some(&conn) {
                    self.data_conns.remove(&p);
                }
                if let Some(link) = self.peers.get_mut(&p) {
                    if link.conn == Some(conn) {
                        link.conn = None;
                        link.connected = false;
                    }
                }
            }
            _ => {}
        }
        if self.meta.conn == Some(conn) {
            self.meta.conn = None;
            self.meta.connected = false;
        }
    }

    pub(super) fn on_connected(&mut self, now: Instant, conn: ConnId) {
        match self.conns.get(&conn).copied() {
            Some(Peer::Meta) => {
                self.meta.connected = true;
                self.meta.attempts = 0;
                let hello = self.hello();
                self.send(conn, 0, hello);
                self.heartbeat();
            }
            Some(Peer::Data(p)) => {
                if let Some(l) = self.peers.get_mut(&p) {
                    l.connected = true;
                    l.attempts = 0;
                }
                self.data_conns.insert(p, conn);
                let hello = self.hello();
                self.send(conn, 0, hello);
                self.subscribe_idle(now);
            }
            _ => {}
        }
    }

    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId) {
        let peer = self.conns.get(&conn).copied();
        self.forget_conn(conn);
        match peer {
            Some(Peer::Meta) => {
                self.meta_index += 1;
                let b = self
                    .cfg
                    .reconnect_backoff
                    .after_failure(&mut self.meta.attempts, &mut self.rng);
                self.meta.retry_at = Some(now + b);
            }
            Some(Peer::Data(p)) => {
                if let Some(l) = self.peers.get_mut(&p) {
                    let b = self
                        .cfg
                        .reconnect_backoff
                        .after_failure(&mut l.attempts, &mut self.rng);
                    l.retry_at = Some(now + b);
                }
            }
            _ => {}
        }
    }
}
