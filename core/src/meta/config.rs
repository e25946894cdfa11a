//! `MetaConfig`: everything a meta node is told at start, validated so that the rest of
//! meta never meets a nonsensical value. Each error names the offending field.

use crate::config::ConfigError;
use crate::model::{Incarnation, NodeId, ProcessId, Text};
use crate::net::Backoff;
use crate::slot::SlotCount;
use std::time::Duration;

/// One meta node of the group: its consensus id and the address nodes and peers reach it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaPeer {
    /// Consensus id, unique in the group, never 0 (raft-rs reserves 0 for "nobody").
    pub id: u64,
    /// Its listener (`host:port`): meta peers and session/data nodes both connect here.
    pub address: Text,
}

/// A meta node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaConfig {
    /// This node's consensus id; must be one of `peers`.
    pub id: u64,
    /// This run of the node (a restarted meta node gets a new one).
    pub incarnation: Incarnation,
    /// Every member of the meta group, this node included. One peer is the embedded
    /// single-node cluster.
    pub peers: Vec<MetaPeer>,
    /// Number of slots of the table (power of two, default 256).
    pub slot_count: SlotCount,
    /// Replicas per slot, leader included (default 2).
    pub replicas: usize,
    /// Balancing moves per arrangement round (default: unlimited, the round's whole plan).
    pub max_moves: usize,
    /// A new cluster's table is placed once no data node joined for this long (counted
    /// from each join, at most 5 windows from the first; default 2 s).
    pub start_window: Duration,
    /// A new cluster's table is placed as soon as this many data nodes joined (0, the
    /// default: only the start window decides).
    pub expected_data_nodes: usize,
    /// Protection mode: at most this percentage of the data nodes, and of the session
    /// nodes, is expelled per lease period, and always at least one (default 50; 100 turns
    /// protection off).
    pub max_expel_percent: u32,
    /// A session or data node that is not heard from for this long leaves (default 10 s).
    pub lease: Duration,
    /// One consensus tick (default 100 ms); the leader also re-evaluates leases and the
    /// arrangement every tick.
    pub tick: Duration,
    /// A connect to a meta peer not completed by then is abandoned (and retried).
    pub connect_timeout: Duration,
    /// Backoff of reconnects to meta peers.
    pub reconnect_backoff: Backoff,
    /// The consensus leader sends heartbeats every this many ticks (default 2).
    pub heartbeat_ticks: usize,
    /// Base election timeout in ticks (default 10). Each node's actual timeout is fixed,
    /// drawn once from its seed in `election_ticks .. 2 * election_ticks`.
    pub election_ticks: usize,
    /// Applied entries between two snapshots of the replicated state (default 1024).
    pub snapshot_interval: u64,
    /// This node joins an existing group: it starts with no voters and waits to be added
    /// (`roster meta --join`). Ignored once its log holds a snapshot.
    pub join: bool,
    /// A meta member being added that has not caught up with the leader's log by then is
    /// removed again and the change reported failed (default 30 s).
    pub catch_up_timeout: Duration,
}

impl MetaConfig {
    /// The defaults for node `id` of group `peers`.
    pub fn new(id: u64, incarnation: Incarnation, peers: Vec<MetaPeer>) -> Self {
        MetaConfig {
            id,
            incarnation,
            peers,
            slot_count: SlotCount::DEFAULT,
            replicas: 2,
            max_moves: crate::meta::ArrangeConfig::UNLIMITED,
            start_window: Duration::from_secs(2),
            expected_data_nodes: 0,
            max_expel_percent: 50,
            lease: Duration::from_secs(10),
            tick: Duration::from_millis(100),
            connect_timeout: crate::net::DEFAULT_CONNECT_TIMEOUT,
            reconnect_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            heartbeat_ticks: 2,
            election_ticks: 10,
            snapshot_interval: 1024,
            join: false,
            catch_up_timeout: Duration::from_secs(30),
        }
    }

    /// The embedded default: a group of one.
    pub fn single(address: impl Into<Text>, incarnation: Incarnation) -> Self {
        MetaConfig::new(
            1,
            incarnation,
            vec![MetaPeer {
                id: 1,
                address: address.into(),
            }],
        )
    }

    /// This node's process identity (node id = consensus id).
    pub fn process(&self) -> ProcessId {
        ProcessId {
            node: NodeId(self.id),
            incarnation: self.incarnation,
        }
    }

    /// The address of peer `id`, if configured.
    pub fn address_of(&self, id: u64) -> Option<&Text> {
        self.peers.iter().find(|p| p.id == id).map(|p| &p.address)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError::new(field, reason));
        if self.id == 0 {
            return bad("id", "0 is reserved by the consensus library".into());
        }
        if self.peers.is_empty() {
            return bad("peers", "at least this node is needed".into());
        }
        for (i, p) in self.peers.iter().enumerate() {
            if p.id == 0 {
                return bad("peers", "a peer has id 0".into());
            }
            if p.address.is_empty() {
                return bad("peers", format!("peer {} has no address", p.id));
            }
            if self.peers[..i].iter().any(|q| q.id == p.id) {
                return bad("peers", format!("peer id {} appears twice", p.id));
            }
        }
        if self.address_of(self.id).is_none() {
            return bad("peers", format!("this node's id {} is not a peer", self.id));
        }
        if self.replicas == 0 {
            return bad("replicas", "a slot needs at least its leader".into());
        }
        if self.max_moves == 0 {
            return bad("max_moves", "0 would never balance".into());
        }
        if self.max_expel_percent > 100 {
            return bad("max_expel_percent", "a percentage is at most 100".into());
        }
        if self.tick.is_zero() {
            return bad("tick", "must be positive".into());
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be positive".into());
        }
        self.reconnect_backoff.validate("reconnect_backoff")?;
        if self.lease <= self.tick {
            return bad("lease", "must be longer than one tick".into());
        }
        if self.heartbeat_ticks == 0 {
            return bad("heartbeat_ticks", "must be positive".into());
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return bad(
                "election_ticks",
                "must exceed heartbeat_ticks (raft-rs requires it)".into(),
            );
        }
        if self.catch_up_timeout.is_zero() {
            return bad("catch_up_timeout", "must be positive".into());
        }
        if self.snapshot_interval == 0 {
            return bad("snapshot_interval", "must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_field() {
        let ok = MetaConfig::single("m:1", Incarnation(1));
        assert_eq!(ok.validate(), Ok(()));
        let field = |f: fn(&mut MetaConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().field
        };
        assert_eq!(field(|c| c.id = 0), "id");
        assert_eq!(field(|c| c.id = 2), "peers");
        assert_eq!(field(|c| c.peers.push(c.peers[0].clone())), "peers");
        assert_eq!(field(|c| c.replicas = 0), "replicas");
        assert_eq!(field(|c| c.max_moves = 0), "max_moves");
        assert_eq!(field(|c| c.tick = Duration::ZERO), "tick");
        assert_eq!(field(|c| c.max_expel_percent = 101), "max_expel_percent");
        assert_eq!(field(|c| c.lease = c.tick), "lease");
        assert_eq!(
            field(|c| c.reconnect_backoff.initial = Duration::ZERO),
            "reconnect_backoff"
        );
        assert_eq!(field(|c| c.election_ticks = 2), "election_ticks");
        assert_eq!(field(|c| c.snapshot_interval = 0), "snapshot_interval");
        assert!(
            MetaConfig { replicas: 0, ..ok }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("replicas")
        );
    }
}
