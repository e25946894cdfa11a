//! The virtual network: connections between node endpoints with TCP's semantics, a latency
//! distribution, and the message faults and partitions of a run.
//!
//! A connection is two ends, each a (node, incarnation, `ConnId`). Opening one takes a
//! latency to reach the listener (`Input::Accepted` there) and another to come back
//! (`Input::Connected` at the opener). Frames on one direction arrive in order (each
//! delivery is scheduled no earlier than the previous one of that direction) unless the run
//! injects reordering. A lost frame breaks the connection at that point, as a TCP stream
//! that cannot deliver a segment does: nothing later on it arrives, and both ends hear
//! `Input::Closed` after a detection delay. A node's own `Output::Close` reaches the peer
//! after the frames it sent before. A partition blocks directions between nodes: a frame in a
//! blocked direction is lost (so its connection breaks), and connection attempts across it
//! fail.

use roster_core::io::ConnId;
use roster_core::rng::Rng;
use roster_core::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// Index of a node in the cluster (meta, data, session and client nodes alike).
pub type NodeIx = usize;

/// One end of a connection.
#[derive(Debug, Clone, Copy)]
pub struct End {
    /// The node.
    pub node: NodeIx,
    /// Its incarnation when the connection was made.
    pub inc: u64,
    /// The node's id for the connection.
    pub conn: ConnId,
    /// Frames may still be delivered here and `Closed` not yet reported.
    pub open: bool,
}

/// A connection between two ends; end 0 opened it, end 1 accepted it.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The ends.
    pub ends: [End; 2],
    /// Broken by a fault: nothing more is delivered either way.
    pub broken: bool,
    /// The latest scheduled delivery towards each end (in-order delivery).
    last: [Instant; 2],
    /// Nothing reaches an end before it is accepted / connected, reordered or not.
    floor: [Instant; 2],
}

/// What a frame sent on a connection becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Not sent: the connection is gone or the receiver already closed its end.
    Dropped,
    /// Lost, and the connection breaks: report `Closed` to both ends.
    Break,
    /// Delivered at these instants (twice when duplicated).
    Deliver(Instant, Option<Instant>),
}

/// Message faults of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Weather {
    /// Probability that a frame is lost (breaking its connection).
    pub loss: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame stalls (overtaken by other connections' frames).
    pub reorder: f64,
}

/// Connections, latency and partitions.
#[derive(Debug)]
pub struct Net {
    conns: Vec<Conn>,
    by_end: BTreeMap<(NodeIx, ConnId), (usize, usize)>,
    next_inbound: BTreeMap<NodeIx, u64>,
    blocked: BTreeMap<(NodeIx, NodeIx), u32>,
    latency_min: Duration,
    latency_tail: Duration,
    /// Current message faults (cleared when the run heals).
    pub weather: Weather,
}

impl Net {
    /// A network with no connections and the given latency distribution.
    pub fn new(latency_min: Duration, latency_tail: Duration, weather: Weather) -> Self {
        Net {
            conns: Vec::new(),
            by_end: BTreeMap::new(),
            next_inbound: BTreeMap::new(),
            blocked: BTreeMap::new(),
            latency_min,
            latency_tail,
            weather,
        }
    }

    /// One message latency: the floor plus an exponential tail.
    pub fn latency(&self, rng: &mut Rng) -> Duration {
        let tail = self.latency_tail.as_nanos() as f64;
        if tail == 0.0 {
            return self.latency_min;
        }
        // Exponential by inversion, capped at 20 means.
        let u = (rng.below(1 << 30) as f64 + 1.0) / (1u64 << 30) as f64;
        let t = (-u.ln() * tail).min(20.0 * tail);
        self.latency_min + Duration::from_nanos(t as u64)
    }

    /// How long a broken connection takes to be noticed by an end.
    pub fn detect_delay(&self, rng: &mut Rng) -> Duration {
        Duration::from_millis(rng.range_inclusive(50, 3_000))
    }

    /// Whether frames from `a` to `b` are blocked by a partition.
    pub fn is_blocked(&self, a: NodeIx, b: NodeIx) -> bool {
        self.blocked.contains_key(&(a, b))
    }

    /// Blocks the direction `a` → `b` (partitions may overlap: blocks are counted).
    pub fn block(&mut self, a: NodeIx, b: NodeIx) {
        *self.blocked.entry((a, b)).or_insert(0) += 1;
    }

    /// Lifts one block of the direction `a` → `b`.
    pub fn unblock(&mut self, a: NodeIx, b: NodeIx) {
        if let Some(n) = self.blocked.get_mut(&(a, b)) {
            *n -= 1;
            if *n == 0 {
                self.blocked.remove(&(a, b));
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Number of blocked directions.
    pub fn blocked_count(&self) -> usize {
        self.blocked.len()
    }

    /// Opens a connection from `(a, a_inc, a_conn)` to `(b, b_inc)`, accepted at
    /// `accept_at` and reported connected at `connected_at`. Returns its index.
    pub fn open(
        &mut self,
        a: (NodeIx, u64, ConnId),
        b: (NodeIx, u64),
        accept_at: Instant,
        connected_at: Instant,
    ) -> usize {
        let next = self.next_inbound.entry(b.0).or_insert(0);
        *next += 1;
        let b_conn = ConnId(*next);
        let ix = self.conns.len();
        self.conns.push(Conn {
            ends: [
                End {
                    node: a.0,
                    inc: a.1,
                    conn: a.2,
                    open: true,
                },
                End {
                    node: b.0,
                    inc: b.1,
                    conn: b_conn,
                    open: false,
                },
            ],
            broken: false,
            last: [connected_at, accept_at],
            floor: [connected_at, accept_at],
        });
        self.by_end.insert((a.0, a.2), (ix, 0));
        ix
    }

    /// Opens the accepting end (its `Accepted` is being delivered).
    pub fn accept(&mut self, ix: usize) -> Option<End> {
        let c = &mut self.conns[ix];
        if c.broken || !c.ends[0].open {
            return None;
        }
        c.ends[1].open = true;
        let e = c.ends[1];
        self.by_end.insert((e.node, e.conn), (ix, 1));
        Some(e)
    }

    /// The connection and end a node names `conn`.
    pub fn lookup(&self, node: NodeIx, conn: ConnId) -> Option<(usize, usize)> {
        self.by_end.get(&(node, conn)).copied()
    }

    /// A connection by index.
    pub fn conn(&self, ix: usize) -> &Conn {
        &self.conns[ix]
    }

    /// What becomes of a frame sent from end `from` of connection `ix` at `now`.
    pub fn send(&mut self, ix: usize, from: usize, now: Instant, rng: &mut Rng) -> Fate {
        let to = 1 - from;
        let (src, dst) = (self.conns[ix].ends[from].node, self.conns[ix].ends[to].node);
        let c = &self.conns[ix];
        if c.broken || !c.ends[from].open {
            return Fate::Dropped;
        }
        let w = self.weather;
        if self.is_blocked(src, dst) || (w.loss > 0.0 && rng.chance(w.loss)) {
            self.conns[ix].broken = true;
            return Fate::Break;
        }
        let mut lat = self.latency(rng);
        if w.reorder > 0.0 && rng.chance(w.reorder) {
            // A retransmission-sized stall: frames of other connections overtake this one,
            // later frames of this connection queue behind it (TCP's head-of-line blocking).
            lat += Duration::from_millis(rng.range_inclusive(20, 400));
        }
        let c = &mut self.conns[ix];
        let at = (now + lat).max(c.floor[to]).max(c.last[to]);
        c.last[to] = at;
        let dup = if w.duplicate > 0.0 && rng.chance(w.duplicate) {
            // Delivered again right behind the original, before anything later.
            Some(at)
        } else {
            None
        };
        Fate::Deliver(at, dup)
    }

    /// Whether a frame may be delivered to end `to` of `ix` now.
    pub fn deliverable(&self, ix: usize, to: usize) -> bool {
        let c = &self.conns[ix];
        !c.broken && c.ends[to].open
    }

    /// The node closed end `from`: no `Closed` for it; the peer hears `Closed` at the
    /// returned instant, after the frames already sent to it.
    pub fn close(&mut self, ix: usize, from: usize, now: Instant, rng: &mut Rng) -> Instant {
        let e = self.conns[ix].ends[from];
        self.by_end.remove(&(e.node, e.conn));
        self.conns[ix].ends[from].open = false;
        let lat = self.latency(rng);
        let c = &mut self.conns[ix];
        let at = (now + lat).max(c.last[1 - from]);
        c.last[1 - from] = at;
        at
    }

    /// Breaks a connection (a fault): nothing more is delivered on it.
    pub fn break_conn(&mut self, ix: usize) {
        self.conns[ix].broken = true;
    }

    /// Reports end `to` closed: returns it if it was still open (then `Closed` is due).
    pub fn hang_up(&mut self, ix: usize, to: usize) -> Option<End> {
        let e = self.conns[ix].ends[to];
        if !e.open {
            return None;
        }
        self.conns[ix].ends[to].open = false;
        self.by_end.remove(&(e.node, e.conn));
        Some(e)
    }

    /// Every connection with an open end at `node`: (index, that end's index).
    pub fn conns_of(&self, node: NodeIx) -> Vec<(usize, usize)> {
        self.by_end
            .range((node, ConnId(0))..=(node, ConnId(u64::MAX)))
            .map(|(_, &v)| v)
            .collect()
    }

    /// Connections dialled to `node` (incarnation `inc`) whose `Accepted` it has not yet
    /// handled, e.g. because it was paused. The kernel completed their handshakes, so when
    /// the process dies their dialers must hear a reset like every other peer.
    pub fn unaccepted_to(&self, node: NodeIx, inc: u64) -> Vec<usize> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                let e = c.ends[1];
                !c.broken && e.node == node && e.inc == inc && !e.open && c.ends[0].open
            })
            .map(|(ix, _)| ix)
            .collect()
    }

    /// Forgets a crashed node's ends (its process is gone: nothing is reported to it).
    pub fn forget(&mut self, node: NodeIx) {
        for (ix, end) in self.conns_of(node) {
            self.hang_up(ix, end);
        }
    }
}
