//! `DataConfig`: every tunable of a data node, with the defaults of docs/design.md §8, and
//! its validation (each error names the offending field).

use crate::config::ConfigError;
use crate::model::{ProcessId, Text};
use crate::net::Backoff;
use std::time::Duration;

/// The default `failover_grace`: a client's failover with the default liveness and dial
/// settings (10 s idle timeout, 3 s connect deadline, 0.1 s first backoff) plus margin.
pub const DEFAULT_FAILOVER_GRACE: Duration = Duration::from_secs(15);

/// Configuration of one data node process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataConfig {
    /// This process (node id and incarnation; a restart must use a new incarnation).
    pub process: ProcessId,
    /// Address of this node's peer listener, as announced to meta and peers.
    pub address: Text,
    /// Meta addresses to heartbeat; the node follows `NotLeader` redirections among them.
    pub meta_addresses: Vec<Text>,
    /// Seed of the node's random generator (reconnect jitter).
    pub seed: u64,
    /// Entries kept per slot op-log before the oldest are truncated (default 64 Ki).
    pub oplog_capacity: usize,
    /// How long a removal's tombstone blocks older writes before it is compacted.
    pub tombstone_retention: Duration,
    /// A session process neither heard from nor in the membership for this long has left
    /// (default 20 s); its publishers go `failover_grace` later.
    pub session_lease: Duration,
    /// How long after a session's lease ran out the publishers it still owns stay (default
    /// 15 s): the time its clients have to fail over and replay them through another
    /// session (which takes them over, so the owner-checked removal spares them). It must
    /// exceed a client's failover time — idle timeout (10 s) + connect deadline (3 s) + first
    /// backoff (≤ 0.1 s) by default — for any `session_lease`, so that no live client's
    /// publisher is ever missing (docs/operations.md, "failover window").
    pub failover_grace: Duration,
    /// Period of leader ↔ session reconciliation per slot once reconciled (default 5 s).
    pub reconcile_interval: Duration,
    /// Period of heartbeats to meta, and of the lease check (default 1 s).
    pub heartbeat_interval: Duration,
    /// A request of this node unanswered for this long is given up and retried.
    pub request_timeout: Duration,
    /// Longest a `WriteAccepted` waits for followers to acknowledge replication.
    pub replication_ack_timeout: Duration,
    /// Most op-log entries per `OpLogAppend`.
    pub append_batch: usize,
    /// Most entries sent to a follower and not yet acknowledged (flow control).
    pub replication_window: u64,
    /// Most publishers per `ResyncPage`.
    pub resync_page_publishers: usize,
    /// Most keys per `ResyncFetch` / `ReconcileFetch` request.
    pub fetch_keys: usize,
    /// Most changes per `ChangeNotify`.
    pub notify_batch: usize,
    /// Backoff of reconnects to meta and to other data nodes.
    pub reconnect_backoff: Backoff,
    /// A connect to meta or another data node not completed by then is abandoned.
    pub connect_timeout: Duration,
    /// A `KeepAlive` goes to a session connection on which nothing was sent for this long
    /// (checked every `heartbeat_interval`), so the session's idle timeout never closes a
    /// healthy but quiet connection.
    pub keepalive_interval: Duration,
}

impl DataConfig {
    /// The defaults for `process` listening at `address`, heartbeating `meta_addresses`.
    pub fn new(process: ProcessId, address: impl Into<Text>, meta_addresses: Vec<Text>) -> Self {
        DataConfig {
            process,
            address: address.into(),
            meta_addresses,
            seed: 0,
            oplog_capacity: 64 * 1024,
            tombstone_retention: Duration::from_secs(180),
            session_lease: Duration::from_secs(20),
            failover_grace: DEFAULT_FAILOVER_GRACE,
            reconcile_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            replication_ack_timeout: Duration::from_millis(500),
            append_batch: 512,
            replication_window: 4096,
            resync_page_publishers: 512,
            fetch_keys: 1024,
            notify_batch: 400,
            reconnect_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
            connect_timeout: crate::net::DEFAULT_CONNECT_TIMEOUT,
            keepalive_interval: Duration::from_secs(3),
        }
    }

    /// Checks every field; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason: &'static str| Err(ConfigError::new(field, reason));
        if self.address.is_empty() {
            return err("address", "must not be empty");
        }
        if self.meta_addresses.is_empty() {
            return err("meta_addresses", "needs at least one meta address");
        }
        let positive_counts: [(&'static str, u64); 6] = [
            ("oplog_capacity", self.oplog_capacity as u64),
            ("append_batch", self.append_batch as u64),
            ("replication_window", self.replication_window),
            ("resync_page_publishers", self.resync_page_publishers as u64),
            ("fetch_keys", self.fetch_keys as u64),
            ("notify_batch", self.notify_batch as u64),
        ];
        for (field, v) in positive_counts {
            if v == 0 {
                return err(field, "must be at least 1");
            }
        }
        let positive_durations = [
            ("session_lease", self.session_lease),
            ("reconcile_interval", self.reconcile_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("request_timeout", self.request_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("connect_timeout", self.connect_timeout),
        ];
        for (field, d) in positive_durations {
            if d.is_zero() {
                return err(field, "must be longer than zero");
            }
        }
        self.reconnect_backoff.validate("reconnect_backoff")?;
        if self.session_lease <= self.heartbeat_interval {
            return err("session_lease", "must be longer than heartbeat_interval");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, NodeId};

    fn cfg() -> DataConfig {
        let p = ProcessId {
            node: NodeId(1),
            incarnation: Incarnation(1),
        };
        DataConfig::new(p, "d1:9600", vec![Text::from("m:9700")])
    }

    #[test]
    fn config_defaults_are_valid_and_match_the_design() {
        let c = cfg();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.oplog_capacity, 65_536);
        assert_eq!(c.session_lease, Duration::from_secs(20));
        assert_eq!(c.failover_grace, Duration::from_secs(15));
        assert_eq!(c.reconcile_interval, Duration::from_secs(5));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
    }

    #[test]
    fn config_validation_names_the_bad_field() {
        let mut c = cfg();
        c.oplog_capacity = 0;
        assert_eq!(c.validate().unwrap_err().field, "oplog_capacity");
        let mut c = cfg();
        c.meta_addresses.clear();
        assert_eq!(c.validate().unwrap_err().field, "meta_addresses");
        let mut c = cfg();
        c.session_lease = Duration::from_millis(500);
        assert_eq!(c.validate().unwrap_err().field, "session_lease");
        let mut c = cfg();
        c.keepalive_interval = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "keepalive_interval");
        let mut c = cfg();
        c.reconnect_backoff = Backoff::new(Duration::from_secs(1), Duration::from_millis(1));
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "reconnect_backoff");
        assert!(e.to_string().contains("reconnect_backoff"));
    }
}
