//! What nodes tell the operator's log beside their errors, at info and rate-limited, each
//! line with the node's name and the process ids it is about:
//! - meta: who leads and in which term, members that join, are replaced or are expelled,
//!   and protection mode holding expulsions back (warned at most every 10 s while it holds);
//! - data: each table it applies (what it now leads and follows, what it took over and
//!   handed off), sessions whose publishers it dropped, and a summary of what
//!   reconciliation repaired, at most every 10 s.
//!
//! Lines are read from the node's state after each turn (meta) or from its events (data),
//! so nothing here changes what a node does.

use roster_core::data::DataEvent;
use roster_core::meta::MetaNode;
use roster_core::model::ProcessId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Repeated lines (protection mode, reconciliation summaries) at most this often.
const EVERY: Duration = Duration::from_secs(10);

/// A meta node's log lines.
#[derive(Debug)]
pub struct MetaLog {
    name: String,
    leader: Option<(Option<u64>, u64)>,
    members_version: Option<u64>,
    members: BTreeMap<ProcessId, String>,
    held: Vec<ProcessId>,
    held_logged: Option<Instant>,
}

impl MetaLog {
    /// The log of the meta node called `name`.
    pub fn new(name: &str) -> Self {
        MetaLog {
            name: name.to_string(),
            leader: None,
            members_version: None,
            members: BTreeMap::new(),
            held: Vec::new(),
            held_logged: None,
        }
    }

    /// Logs what changed since the last turn.
    pub fn observe(&mut self, node: &MetaNode) {
        let leader = (node.leader_id(), node.term());
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            match leader.0 {
                Some(id) => {
                    info!(node = %self.name, leader = id, term = leader.1, me = node.id(), "meta leader")
                }
                None => info!(node = %self.name, term = leader.1, "meta group has no leader"),
            }
        }
        self.members(node);
        self.protection(node);
    }

    fn members(&mut self, node: &MetaNode) {
        let members = &node.state().members;
        if self.members_version == Some(members.version()) {
            return;
        }
        // Only the leader tells: every meta node applies the same changes.
        let tell = node.is_leader() && self.members_version.is_some();
        self.members_version = Some(members.version());
        let now: BTreeMap<ProcessId, String> = members
            .iter()
            .map(|m| (m.process, format!("{:?}", m.role).to_lowercase()))
            .collect();
        if tell {
            let nodes_now: BTreeSet<u64> = now.keys().map(|p| p.node.0).collect();
            for (p, role) in &now {
                if !self.members.contains_key(p) {
                    let replaced = self.members.keys().any(|q| q.node == p.node);
                    let what = if replaced {
                        "member replaced"
                    } else {
                        "member joined"
                    };
                    info!(node = %self.name, process = %p, role = %role, "{what}");
                }
            }
            for (p, role) in &self.members {
                if !now.contains_key(p) && !nodes_now.contains(&p.node.0) {
                    info!(node = %self.name, process = %p, role = %role, "member expelled");
                }
            }
        }
        self.members = now;
    }

    fn protection(&mut self, node: &MetaNode) {
        let held = node.protection();
        let now = Instant::now();
        let due = self
            .held_logged
            .is_none_or(|t| now.duration_since(t) >= EVERY);
        if held != self.held.as_slice() || (!held.is_empty() && due) {
            if held.is_empty() {
                info!(node = %self.name, "protection mode: no expulsion held back");
            } else {
                let list: Vec<String> = held.iter().map(ToString::to_string).collect();
                warn!(
                    node = %self.name,
                    held = held.len(),
                    processes = %list.join(","),
                    "protection mode: expired nodes kept as members"
                );
            }
            self.held = held.to_vec();
            self.held_logged = Some(now);
        }
    }
}

/// A data node's log lines.
#[derive(Debug)]
pub struct DataLog {
    name: String,
    repairs: Repairs,
    logged: Option<Instant>,
}

/// What reconciliation repaired since the last summary.
#[derive(Debug, Default)]
struct Repairs {
    slots: BTreeSet<u16>,
    sessions: BTreeSet<ProcessId>,
    added: usize,
    removed: usize,
}

impl DataLog {
    /// The log of the data node called `name`.
    pub fn new(name: &str) -> Self {
        DataLog {
            name: name.to_string(),
            repairs: Repairs::default(),
            logged: None,
        }
    }

    /// Logs `event`, or adds it to the next summary.
    pub fn event(&mut self, event: DataEvent) {
        match event {
            DataEvent::TableApplied {
                epoch,
                leading,
                following,
                took_over,
                handed_off,
            } => info!(
                node = %self.name,
                epoch = epoch.0,
                leading,
                following,
                took_over,
                handed_off,
                "slot table applied"
            ),
            DataEvent::OwnerDropped { session, removed } => info!(
                node = %self.name,
                session = %session,
                removed,
                "session gone: its publishers removed"
            ),
            DataEvent::Reconciled {
                slot,
                session,
                added,
                removed,
            } => {
                let r = &mut self.repairs;
                r.slots.insert(slot.0);
                r.sessions.insert(session);
                r.added += added;
                r.removed += removed;
                self.flush_due();
            }
        }
    }

    /// Writes the reconciliation summary if one is due.
    pub fn flush_due(&mut self) {
        let now = Instant::now();
        let due = self.logged.is_none_or(|t| now.duration_since(t) >= EVERY);
        if !due || self.repairs.slots.is_empty() {
            return;
        }
        let r = std::mem::take(&mut self.repairs);
        let sessions: Vec<String> = r.sessions.iter().map(ToString::to_string).collect();
        info!(
            node = %self.name,
            slots = r.slots.len(),
            sessions = %sessions.join(","),
            added = r.added,
            removed = r.removed,
            "reconciliation repaired publishers"
        );
        self.logged = Some(now);
    }
}
