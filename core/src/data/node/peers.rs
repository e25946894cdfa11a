//! The data node's connections: the link to meta and the links to other data nodes that
//! this node opens and keeps open (their states, connect deadlines and jittered backoff are
//! the node's [`crate::net::Dialer`]'s; here is when to dial whom), the connections
//! sessions and data nodes open to it, and what is forgotten when any of them closes.

use super::slots::SlotRole;
use super::{DataNode, Peer};
use crate::data::replica::Phase;
use crate::io::ConnId;
use crate::model::{ProcessId, Role};
use crate::net::LinkState;
use crate::time::Instant;
use crate::wire::PeerHello;

/// The links this node opens and keeps open (the node's [`crate::net::Dialer`] keys).
/// Meta sorts first so that, when both are due, meta is dialled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Dialed {
    /// The link to meta (whichever meta address is current).
    Meta,
    /// The link to another data node.
    Data(ProcessId),
}

impl DataNode {
    fn hello(&self) -> PeerHello {
        PeerHello::new(Role::Data, self.cfg.process, self.cfg.address.clone())
    }

    pub(super) fn connect_meta(&mut self, now: Instant) {
        let n = self.cfg.meta_addresses.len();
        let address = self.cfg.meta_addresses[self.meta_index % n].clone();
        let (conn, connect) = self.dialer.dial(Dialed::Meta, address, now);
        self.conns.insert(conn, Peer::Meta);
        self.out.push_back(connect);
    }

    pub(super) fn ensure_peer(&mut self, process: ProcessId) {
        let busy = match self.dialer.state(Dialed::Data(process)) {
            Some(LinkState::Down { retry_at }) => retry_at.is_some(),
            Some(LinkState::Connecting(_) | LinkState::Up(_)) => true,
            None => false,
        };
        if busy || self.data_conns.contains_key(&process) {
            return;
        }
        let Some(address) = self.member_addresses.get(&process).cloned() else {
            return;
        };
        let (conn, connect) = self.dialer.dial(Dialed::Data(process), address, self.now);
        self.conns.insert(conn, Peer::Data(process));
        self.out.push_back(connect);
    }

    pub(super) fn forget_conn(&mut self, conn: ConnId) {
        self.agreements.remove(&conn);
        let Some(peer) = self.conns.remove(&conn) else {
            return;
        };
        self.pending.retain(|(c, _), _| *c != conn);
        self.meta_watch.closed(conn);
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
            Peer::Data(p) if self.data_conns.get(&p) == Some(&conn) => {
                self.data_conns.remove(&p);
            }
            _ => {}
        }
        self.dialer.forget(conn);
    }

    pub(super) fn on_connected(&mut self, now: Instant, conn: ConnId) {
        match self.conns.get(&conn).copied() {
            Some(Peer::Meta) => {
                self.dialer.connected(conn);
                self.meta_watch.up(conn, now);
                let hello = self.hello();
                self.send(conn, 0, hello);
                self.heartbeat();
            }
            Some(Peer::Data(p)) => {
                self.dialer.connected(conn);
                self.data_conns.insert(p, conn);
                let hello = self.hello();
                self.send(conn, 0, hello);
                self.subscribe_idle(now);
            }
            _ => {}
        }
    }

    /// A connection ended. A link to meta moves on to the next meta address after the
    /// backoff; a link to a data node without a connection of its own (this one, or one
    /// the peer had opened) is redialled after the backoff.
    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId) {
        let peer = self.conns.get(&conn).copied();
        self.forget_conn(conn);
        match peer {
            Some(Peer::Meta) => {
                self.meta_index += 1;
                self.dialer.back_off(Dialed::Meta, now, &mut self.rng);
            }
            Some(Peer::Data(p)) if self.dialer.conn(Dialed::Data(p)).is_none() => {
                self.dialer.back_off(Dialed::Data(p), now, &mut self.rng);
            }
            _ => {}
        }
    }
}
