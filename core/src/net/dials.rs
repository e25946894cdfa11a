//! Connect deadlines: each dial has one, kept here as a core timer, so a host that vanished
//! (power loss, a partition that drops packets) costs a node the connect timeout and not the
//! kernel's SYN retries (about two minutes on Linux).
//!
//! A role (or [`super::Dialer`]) asks [`Dials::dial`] for the `Output::Connect` of a new
//! connection, tells [`Dials::settle`] when the connection is established or gone, includes
//! [`Dials::next_deadline`] in its `poll_timeout`, and on every timeout takes
//! [`Dials::expire`]'s connections: it closes each (`Output::Close`, [`TIMED_OUT`]) and
//! treats it as a failed connect, exactly as if the driver had reported `Input::Closed`.

use crate::io::{ConnId, Output};
use crate::model::Text;
use crate::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a connect may take by default: far above a healthy network's round trip, far
/// below the kernel's SYN retries.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The reason given when a dial is closed for taking too long.
pub const TIMED_OUT: &str = "connect timed out";

/// The dials of one node still waiting to connect, with their deadlines.
#[derive(Debug, Clone)]
pub struct Dials {
    timeout: Duration,
    pending: BTreeMap<ConnId, Instant>,
}

impl Dials {
    /// Dials that give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Dials {
            timeout,
            pending: BTreeMap::new(),
        }
    }

    /// The output that opens `conn` to `address`; its deadline runs from `now`.
    pub fn dial<E>(&mut self, now: Instant, conn: ConnId, address: Text) -> Output<E> {
        self.pending.insert(conn, now + self.timeout);
        Output::Connect { conn, address }
    }

    /// `conn` connected, closed, or was closed by the node: no deadline any more.
    pub fn settle(&mut self, conn: ConnId) {
        self.pending.remove(&conn);
    }

    /// Whether `conn` is still connecting.
    pub fn is_pending(&self, conn: ConnId) -> bool {
        self.pending.contains_key(&conn)
    }

    /// The dials whose deadline has passed at `now`, forgotten here.
    pub fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        let mut late = Vec::new();
        self.pending.retain(|&conn, &mut deadline| {
            let keep = deadline > now;
            if !keep {
                late.push(conn);
            }
            keep
        });
        late
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    /// The output that abandons a late dial.
    pub fn abandon<E>(conn: ConnId) -> Output<E> {
        Output::Close {
            conn,
            reason: Text::from_static(TIMED_OUT),
        }
    }
}

impl Default for Dials {
    fn default() -> Self {
        Dials::new(DEFAULT_CONNECT_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn a_dial_expires_at_its_deadline_unless_settled() {
        let mut d = Dials::new(Duration::from_millis(100));
        let o: Output<()> = d.dial(at(0), ConnId(1), Text::from("a:1"));
        assert!(matches!(
            o,
            Output::Connect {
                conn: ConnId(1),
                ..
            }
        ));
        let _: Output<()> = d.dial(at(50), ConnId(2), Text::from("b:1"));
        let _: Output<()> = d.dial(at(60), ConnId(3), Text::from("c:1"));
        d.settle(ConnId(3));
        assert_eq!(d.next_deadline(), Some(at(100)));
        assert!(d.expire(at(99)).is_empty());
        assert_eq!(d.expire(at(100)), vec![ConnId(1)]);
        assert_eq!(d.next_deadline(), Some(at(150)));
        assert!(d.is_pending(ConnId(2)));
        assert_eq!(d.expire(at(1_000)), vec![ConnId(2)]);
        assert_eq!(d.next_deadline(), None);
        assert!(
            d.expire(at(2_000)).is_empty(),
            "a settled dial never expires"
        );
    }
}
