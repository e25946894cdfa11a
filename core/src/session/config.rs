//! The session's configuration: identities, addresses and every bound and interval of its
//! mechanisms (docs/design.md §8 gives the defaults). [`SessionConfig::validate`] names the
//! offending field, so an operator's mistake is reported before the node starts.

use crate::config::ConfigError;
use crate::liveness::LivenessConfig;
use crate::model::{ProcessId, Text};
use crate::net::Backoff;
use crate::session::limits::ClientLimits;
use crate::slot::SlotCount;
use std::time::Duration;

/// The default `disconnect_grace`: a failing-over client's replay lands within a few
/// hundred milliseconds (first backoff at most 100 ms, a dial and a hello on a live
/// session); 5 s also covers a first dial that fails fast (refused) and the second backoff,
/// and stays short next to the idle timeout that bounds a silent client's disappearance.
pub const DEFAULT_DISCONNECT_GRACE: Duration = Duration::from_secs(5);

/// Everything a session is configured with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// This run of the session (its incarnation changes on every start).
    pub process: ProcessId,
    /// Where clients connect.
    pub client_address: Text,
    /// Where peers (data, meta) reach this session; sent in `PeerHello` and heartbeats.
    pub peer_address: Text,
    /// Meta nodes to heartbeat (follows `NotLeader`). Empty: no meta; the cluster view is
    /// installed by whoever sends `ClusterView` on a peer connection (tests, embedded setups).
    pub meta_addresses: Vec<Text>,
    /// Slot count until the first table says otherwise.
    pub slot_count: SlotCount,
    /// Heartbeat period to meta (default 1 s).
    pub heartbeat_interval: Duration,
    /// Version scan period per slot (default 5 s).
    pub scan_interval: Duration,
    /// How long a request to a data node may stay unanswered before it counts as failed.
    pub request_timeout: Duration,
    /// Retries of one write batch before it is dropped and left to reconciliation.
    pub write_retry_limit: u32,
    /// Backoff between write (and fetch) retries.
    pub write_backoff: Backoff,
    /// Most writes in one `WriteBatch`.
    pub max_batch_ops: usize,
    /// Most writes queued per slot; beyond it the oldest are dropped (and counted).
    pub max_queued_writes_per_slot: usize,
    /// How long a push may stay unacknowledged before it counts as failed.
    pub push_timeout: Duration,
    /// Failed pushes in a row to one connection and data info id before the connection's
    /// circuit breaker opens.
    pub push_retry_limit: u32,
    /// Backoff between push retries.
    pub push_backoff: Backoff,
    /// Most pushes in flight per client connection (over all its data info ids).
    pub max_pushes_in_flight_per_conn: usize,
    /// Most bytes of pushes in flight (sent, not yet acknowledged) over every connection
    /// of the session: its write budget. A subscribe storm's full lists queue behind it
    /// instead of all being encoded into write buffers at once, so the peak memory of a
    /// storm is this budget, not lists times subscribers. One push larger than the budget
    /// still goes out when nothing else is in flight.
    pub push_budget_bytes: usize,
    /// How long an open circuit breaker stays open before one probe push.
    pub breaker_cooldown: Duration,
    /// How long a closed client connection's publishers stay before their removal is
    /// forwarded (default 5 s; zero: removed at once). A client that fails over replays
    /// them through some session meanwhile, so its subscribers never see them missing; a
    /// client that died is listed this much longer (docs/operations.md, "failover window").
    pub disconnect_grace: Duration,
    /// Backoff of reconnects to data and meta.
    pub reconnect_backoff: Backoff,
    /// A connect to data or meta not completed by then is abandoned (and retried).
    pub connect_timeout: Duration,
    /// Most registrations (publishers plus subscribers) one client connection may hold.
    pub max_registrations_per_conn: usize,
    /// Most publishers in one `ReconcilePage`.
    pub reconcile_page_size: usize,
    /// Keep-alive interval and idle timeout of client connections and of the connections
    /// the session opens to data nodes (3 s, 10 s).
    pub liveness: LivenessConfig,
    /// What one client may take of the session (`super::limits`).
    pub limits: ClientLimits,
}

impl SessionConfig {
    /// The defaults, for the given identity and addresses.
    pub fn new(process: ProcessId, client_address: Text, peer_address: Text) -> Self {
        SessionConfig {
            process,
            client_address,
            peer_address,
            meta_addresses: Vec::new(),
            slot_count: SlotCount::DEFAULT,
            heartbeat_interval: Duration::from_secs(1),
            scan_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(3),
            write_retry_limit: 5,
            write_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            max_batch_ops: 512,
            max_queued_writes_per_slot: 100_000,
            push_timeout: Duration::from_secs(2),
            push_retry_limit: 3,
            push_backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(5)),
            max_pushes_in_flight_per_conn: 64,
            push_budget_bytes: 32 << 20,
            breaker_cooldown: Duration::from_secs(30),
            disconnect_grace: DEFAULT_DISCONNECT_GRACE,
            reconnect_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
            connect_timeout: crate::net::DEFAULT_CONNECT_TIMEOUT,
            max_registrations_per_conn: 100_000,
            reconcile_page_size: 512,
            liveness: LivenessConfig::DEFAULT,
            limits: ClientLimits::default(),
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = |field, d: Duration| {
            if d.is_zero() {
                Err(ConfigError::new(field, "must be greater than zero"))
            } else {
                Ok(())
            }
        };
        let positive = |field, n: usize| {
            if n == 0 {
                Err(ConfigError::new(field, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        if self.client_address.is_empty() {
            return Err(ConfigError::new("client_address", "must not be empty"));
        }
        if self.peer_address.is_empty() {
            return Err(ConfigError::new("peer_address", "must not be empty"));
        }
        if self.meta_addresses.iter().any(|a| a.is_empty()) {
            return Err(ConfigError::new(
                "meta_addresses",
                "contains an empty address",
            ));
        }
        nonzero("heartbeat_interval", self.heartbeat_interval)?;
        nonzero("scan_interval", self.scan_interval)?;
        nonzero("request_timeout", self.request_timeout)?;
        nonzero("push_timeout", self.push_timeout)?;
        nonzero("breaker_cooldown", self.breaker_cooldown)?;
        nonzero("connect_timeout", self.connect_timeout)?;
        self.write_backoff.validate("write_backoff")?;
        self.push_backoff.validate("push_backoff")?;
        self.reconnect_backoff.validate("reconnect_backoff")?;
        positive("max_batch_ops", self.max_batch_ops)?;
        positive(
            "max_queued_writes_per_slot",
            self.max_queued_writes_per_slot,
        )?;
        positive(
            "max_pushes_in_flight_per_conn",
            self.max_pushes_in_flight_per_conn,
        )?;
        positive("push_budget_bytes", self.push_budget_bytes)?;
        positive(
            "max_registrations_per_conn",
            self.max_registrations_per_conn,
        )?;
        positive("reconcile_page_size", self.reconcile_page_size)?;
        self.liveness.validate()?;
        self.limits.validate()?;
        if self.heartbeat_interval >= Duration::from_secs(10) {
            return Err(ConfigError::new(
                "heartbeat_interval",
                "must be shorter than meta's 10 s lease",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, NodeId};

    fn config() -> SessionConfig {
        let p = ProcessId {
            node: NodeId(1),
            incarnation: Incarnation(1),
        };
        SessionConfig::new(p, Text::from("s:1"), Text::from("s:2"))
    }

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let c = config();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.scan_interval, Duration::from_secs(5));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = config();
        c.client_address = Text::new();
        assert_eq!(c.validate().unwrap_err().field, "client_address");
        let mut c = config();
        c.scan_interval = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "scan_interval");
        let mut c = config();
        c.push_backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(c.validate().unwrap_err().field, "push_backoff");
        let mut c = config();
        c.max_pushes_in_flight_per_conn = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "max_pushes_in_flight_per_conn");
        assert!(e.to_string().contains("max_pushes_in_flight_per_conn"));
        let mut c = config();
        c.meta_addresses = vec![Text::new()];
        assert_eq!(c.validate().unwrap_err().field, "meta_addresses");
        let mut c = config();
        c.liveness.idle_timeout = c.liveness.keepalive_interval;
        assert_eq!(c.validate().unwrap_err().field, "idle_timeout");
        let mut c = config();
        c.liveness.keepalive_interval = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "keepalive_interval");
    }
}
