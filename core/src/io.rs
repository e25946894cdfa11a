//! The sans-IO surface every role shares: connections as ids, what a driver feeds a node
//! (`Input`), what it drains from it (`Output`), and the `Node` trait that ties them to
//! time. quinn-proto and str0m are the model: `handle_*` methods take `now`, `poll_output`
//! drains everything the node wants done, `poll_timeout` says when to call back.
//!
//! Connections: the driver names every connection a peer opens to the node
//! (`Input::Accepted`) with an id of its choosing below [`ConnId::OUTBOUND_BIT`]; the node
//! names every connection it opens (`Output::Connect`) with an id that has that bit set,
//! drawn from its own [`ConnIds`]. Either side learns of the end of a connection through
//! `Input::Closed` (the driver) or `Output::Close` (the node).

use crate::model::Text;
use crate::time::Instant;
use crate::wire::Frame;

/// A connection, named by whoever opened it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl ConnId {
    /// Set on the ids of connections the node opened; clear on those the driver accepted.
    pub const OUTBOUND_BIT: u64 = 1 << 63;

    /// Whether the node opened this connection.
    pub fn is_outbound(self) -> bool {
        self.0 & Self::OUTBOUND_BIT != 0
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_outbound() {
            write!(f, "out#{}", self.0 & !Self::OUTBOUND_BIT)
        } else {
            write!(f, "in#{}", self.0)
        }
    }
}

/// Allocates the ids of the connections a node opens.
#[derive(Debug, Clone, Default)]
pub struct ConnIds {
    next: u64,
}

impl ConnIds {
    /// A fresh outbound id, never returned before by this allocator.
    pub fn allocate(&mut self) -> ConnId {
        self.next += 1;
        ConnId(ConnId::OUTBOUND_BIT | self.next)
    }
}

/// Something that happened, fed to a node by its driver.
// A frame is most of what a node is fed; boxing it to shrink the other variants would cost an
// allocation per received frame to save copying a couple of hundred bytes per input.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<C> {
    /// A connection the node asked for with `Output::Connect` is established.
    Connected {
        /// The node's id for it.
        conn: ConnId,
    },
    /// A peer opened a connection to one of the node's listeners.
    Accepted {
        /// The driver's id for it.
        conn: ConnId,
    },
    /// A connection ended: closed by the peer, failed, or failed to connect. Not reported
    /// for connections the node closed itself.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// A frame arrived on a connection.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// A command from the application embedding the node (client: publish, subscribe).
    Command(C),
}

/// Something a node wants done, drained by its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<E> {
    /// Send a frame on a connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// Open a connection to `address`; report `Input::Connected` or `Input::Closed`.
    Connect {
        /// The id the node gives the connection.
        conn: ConnId,
        /// Where to connect (`host:port`).
        address: Text,
    },
    /// Close a connection; no `Input::Closed` follows.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why, for the log.
        reason: Text,
    },
    /// A role-specific event for the application or the driver (client: a new list for a
    /// subscriber; meta: state to persist).
    Event(E),
}

/// A role's state machine as its driver sees it.
///
/// The driver's loop: feed inputs with `handle_input`, call `handle_timeout` once `now`
/// reaches `poll_timeout()`, and after each call drain `poll_output` until it is `None`.
pub trait Node {
    /// Application commands the node takes.
    type Command;
    /// Events the node emits.
    type Event;

    /// Feeds one input.
    fn handle_input(&mut self, now: Instant, input: Input<Self::Command>);
    /// A peer opened a connection from `address`: `Input::Accepted`, for a driver that
    /// knows where the connection comes from (the shells do). Roles that care where a
    /// connection comes from (a session refuses clients an operator switched off) override
    /// it; the others take it as `Input::Accepted`.
    fn accepted_from(&mut self, now: Instant, conn: ConnId, address: std::net::IpAddr) {
        let _ = address;
        self.handle_input(now, Input::Accepted { conn });
    }
    /// The peer of inbound connection `conn` proved in the TLS handshake that it holds a
    /// certificate with this common name. Only a session uses it (a client's identity for
    /// the access rules); the others ignore it.
    fn authenticated(&mut self, conn: ConnId, common_name: Text) {
        let _ = (conn, common_name);
    }
    /// Runs whatever timers are due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next thing to do, if any.
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;
    /// When `handle_timeout` should next be called; `None` if no timer is armed.
    fn poll_timeout(&self) -> Option<Instant>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_ids_are_distinct_and_marked() {
        let mut ids = ConnIds::default();
        let a = ids.allocate();
        let b = ids.allocate();
        assert_ne!(a, b);
        assert!(a.is_outbound() && b.is_outbound());
        assert!(!ConnId(5).is_outbound());
        assert_eq!(ConnId(5).to_string(), "in#5");
        assert_eq!(a.to_string(), "out#1");
    }
}
