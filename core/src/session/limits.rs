//! What one client may take of a session, so that no client (buggy, hostile, or a fleet
//! behind one address) can crowd out the others: how many clients the session serves, how
//! many of them may come from one address, how large one publisher may be, and how long a
//! connection may stay without a hello. Registrations per connection are bounded by
//! `SessionConfig::max_registrations_per_conn`, checked beside these.
//!
//! Each refusal is an `ErrorReply` that names the limit and its value, counted in
//! [`LimitRefusals`]; a refused hello also closes that connection. Nothing else changes:
//! other clients, and the refused client's other registrations, go on as before.

use crate::config::ConfigError;
use crate::io::ConnId;
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// The limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Most client connections (that said hello) the session serves (default 100,000).
    pub max_clients: usize,
    /// Most of them from one IP address (default 10,000: a NAT or a host of many
    /// processes is still one address).
    pub max_clients_per_address: usize,
    /// Most bytes of one publisher's payload and attributes together (default 1 MiB).
    pub max_publisher_bytes: usize,
    /// A connection that has not said hello this long after it was accepted is closed
    /// (default 10 s).
    pub hello_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            max_clients: 100_000,
            max_clients_per_address: 10_000,
            max_publisher_bytes: 1 << 20,
            hello_timeout: Duration::from_secs(10),
        }
    }
}

impl ClientLimits {
    /// Every limit must let something through; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("max_clients", self.max_clients),
            ("max_clients_per_address", self.max_clients_per_address),
            ("max_publisher_bytes", self.max_publisher_bytes),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, n)| *n == 0) {
            return Err(ConfigError::new(field, "must be at least 1"));
        }
        if self.hello_timeout.is_zero() {
            return Err(ConfigError::new(
                "hello_timeout",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

/// Refusals per limit, for metrics. Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitRefusals {
    /// Hellos refused: the session served `max_clients`.
    pub clients: u64,
    /// Hellos refused: the address had `max_clients_per_address`.
    pub clients_per_address: u64,
    /// Registrations refused: the connection held `max_registrations_per_conn`.
    pub registrations: u64,
    /// Publishers refused: larger than `max_publisher_bytes`.
    pub publisher_bytes: u64,
    /// Connections closed without a hello within `hello_timeout`.
    pub hello_timeouts: u64,
}

/// Which limit a request ran into, with the message its refusal carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverLimit(pub(crate) String);

/// The counts the limits are checked against.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// Clients (that said hello) per address.
    per_address: BTreeMap<IpAddr, usize>,
    /// The address each counted client was counted under.
    counted: BTreeMap<ConnId, IpAddr>,
    /// Accepted connections in accept order, with the instant their hello is due.
    hello_due: VecDeque<(Instant, ConnId)>,
}

impl Admission {
    /// A connection was accepted at `now`: its hello is due by `now + hello_timeout`.
    pub(crate) fn accepted(&mut self, conn: ConnId, now: Instant, limits: &ClientLimits) {
        self.hello_due.push_back((now + limits.hello_timeout, conn));
    }

    /// Whether a client from `address` may say hello to a session that serves `clients`.
    pub(crate) fn admit(
        &self,
        clients: usize,
        address: Option<IpAddr>,
        limits: &ClientLimits,
        refusals: &mut LimitRefusals,
    ) -> Result<(), OverLimit> {
        if clients >= limits.max_clients {
            refusals.clients += 1;
            let max = limits.max_clients;
            return Err(OverLimit(format!(
                "this session serves its limit of {max} clients (max_clients); try another"
            )));
        }
        let from = address.map_or(0, |a| self.per_address.get(&a).copied().unwrap_or(0));
        if from >= limits.max_clients_per_address {
            refusals.clients_per_address += 1;
            let max = limits.max_clients_per_address;
            return Err(OverLimit(format!(
                "{max} clients from this address already (max_clients_per_address)"
            )));
        }
        Ok(())
    }

    /// Client `conn` from `address` said hello and was admitted.
    pub(crate) fn opened(&mut self, conn: ConnId, address: Option<IpAddr>) {
        if let Some(a) = address {
            *self.per_address.entry(a).or_default() += 1;
            self.counted.insert(conn, a);
        }
    }

    /// `conn` closed (any connection may be passed).
    pub(crate) fn closed(&mut self, conn: ConnId) {
        if let Some(a) = self.counted.remove(&conn)
            && let Some(n) = self.per_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&a);
            }
        }
    }

    /// Connections whose hello was due by `now`, among which the caller closes those that
    /// have not said one. Forgets them.
    pub(crate) fn hello_overdue(&mut self, now: Instant) -> Vec<ConnId> {
        let mut due = Vec::new();
        while let Some(&(at, conn)) = self.hello_due.front() {
            if at > now {
                break;
            }
            self.hello_due.pop_front();
            due.push(conn);
        }
        due
    }
}

/// Whether a publisher of `bytes` fits.
pub(crate) fn check_publisher(
    bytes: usize,
    limits: &ClientLimits,
    refusals: &mut LimitRefusals,
) -> Result<(), OverLimit> {
    if bytes <= limits.max_publisher_bytes {
        return Ok(());
    }
    refusals.publisher_bytes += 1;
    let max = limits.max_publisher_bytes;
    Err(OverLimit(format!(
        "publisher of {bytes} bytes is over max_publisher_bytes ({max})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn clients_are_bounded_in_all_and_per_address() {
        let limits = ClientLimits {
            max_clients: 3,
            max_clients_per_address: 2,
            ..ClientLimits::default()
        };
        let (mut a, mut r) = (Admission::default(), LimitRefusals::default());
        for (conn, clients) in [(1, 0), (2, 1)] {
            assert!(a.admit(clients, ip(1), &limits, &mut r).is_ok());
            a.opened(ConnId(conn), ip(1));
        }
        let e = a.admit(2, ip(1), &limits, &mut r).unwrap_err();
        assert!(e.0.contains("max_clients_per_address"), "{e:?}");
        assert!(
            a.admit(2, ip(2), &limits, &mut r).is_ok(),
            "another address"
        );
        let e = a.admit(3, ip(2), &limits, &mut r).unwrap_err();
        assert!(e.0.contains("max_clients)"), "{e:?}");
        a.closed(ConnId(1));
        assert!(a.admit(1, ip(1), &limits, &mut r).is_ok(), "a slot freed");
        assert_eq!((r.clients, r.clients_per_address), (1, 1));
    }

    #[test]
    fn hellos_fall_due_in_accept_order() {
        let limits = ClientLimits::default();
        let mut a = Admission::default();
        a.accepted(ConnId(1), Instant::ZERO, &limits);
        a.accepted(ConnId(2), Instant::ZERO + Duration::from_secs(1), &limits);
        assert!(
            a.hello_overdue(Instant::ZERO + Duration::from_secs(9))
                .is_empty()
        );
        assert_eq!(
            a.hello_overdue(Instant::ZERO + Duration::from_secs(10)),
            vec![ConnId(1)]
        );
    }

    #[test]
    fn a_publisher_over_the_size_limit_is_named() {
        let limits = ClientLimits {
            max_publisher_bytes: 10,
            ..ClientLimits::default()
        };
        let mut r = LimitRefusals::default();
        assert!(check_publisher(10, &limits, &mut r).is_ok());
        let e = check_publisher(11, &limits, &mut r).unwrap_err();
        assert!(e.0.contains("max_publisher_bytes (10)"), "{e:?}");
        assert_eq!(r.publisher_bytes, 1);
        assert!(
            ClientLimits {
                max_clients: 0,
                ..limits
            }
            .validate()
            .is_err()
        );
    }
}
