//! The data node's counters, as plain values ([`DataStats`], read with
//! [`DataNode::stats`](super::DataNode::stats)). Counters only grow; the gauges (marked so)
//! are computed when read, from the node's state, so they cannot drift from it.

/// What a data node did and holds. See docs/operations.md, "Metrics", for each as exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataStats {
    /// Gauge: live publishers over every slot held (led or followed).
    pub publishers: u64,
    /// Gauge: live publishers in the slots this node leads.
    pub led_publishers: u64,
    /// Gauge: session processes connected.
    pub session_connections: u64,
    /// Gauge: data processes connected (either direction).
    pub data_connections: u64,
    /// Gauge: slots led.
    pub slots_led: u64,
    /// Gauge: slots followed.
    pub slots_followed: u64,
    /// Gauge: the installed slot table's epoch.
    pub table_epoch: u64,
    /// Gauge: the largest number of op-log entries a follower streaming one of this
    /// node's slots has not acknowledged (leader side: log end minus its ack).
    pub follower_lag_entries: u64,
    /// Gauge: followed slots that have not caught up with their leader.
    pub followed_slots_behind: u64,
    /// `WriteBatch`es served (admitted).
    pub write_batches: u64,
    /// `WriteBatch`es refused (`Moved`, `EpochMismatch`, bad keys).
    pub write_batches_refused: u64,
    /// Write ops that changed a datum (each is an op-log entry).
    pub writes_applied: u64,
    /// `ChangeNotify` messages sent to sessions.
    pub notifications_sent: u64,
    /// Changes those notifications carried.
    pub changes_notified: u64,
    /// `FetchDatums` served.
    pub fetches_served: u64,
    /// Datums those fetches returned.
    pub datums_fetched: u64,
    /// `VersionScan`s served.
    pub scans_served: u64,
    /// Keys those scans found the session behind on (each a repair the session then
    /// fetches: a notification it missed).
    pub scan_repairs: u64,
    /// Slot tables installed.
    pub tables_installed: u64,
    /// Times this node became a slot's leader (a new leader epoch).
    pub leaderships_gained: u64,
    /// Times this node stopped leading a slot.
    pub leaderships_lost: u64,
    /// Reconciliation runs started with a session.
    pub reconcile_runs: u64,
    /// Reconciliation runs that completed.
    pub reconcile_runs_completed: u64,
    /// Publishers reconciliation added (or refreshed) from a session's registrations.
    pub reconcile_added: u64,
    /// Publishers reconciliation removed (the owning session no longer has them).
    pub reconcile_removed: u64,
    /// Publishers removed because their session's lease lapsed.
    pub lease_removed: u64,
}
