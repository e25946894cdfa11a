//! Membership (docs/design.md §4.7): which session and data processes are in the cluster
//! (`Members`, replicated through consensus) and when each one's lease runs out (`Leases`,
//! kept by the meta leader only).
//!
//! One process per node: a member is filed under its `NodeId`, so a heartbeat from a new
//! incarnation replaces the old process, which is then *retired* and may not come back.
//! A process whose lease expired merely left and may rejoin. `version` grows on every
//! change, so nodes can tell whether their view is current.

use crate::model::{NodeId, ProcessId, Role};
use crate::time::Instant;
use crate::wire::Member;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// How many replaced processes are remembered (and refused) at most.
pub const RETIRED_MAX: usize = 1024;

/// The replicated membership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    version: u64,
    by_node: BTreeMap<NodeId, Member>,
    retired: VecDeque<ProcessId>,
}

impl Members {
    /// From a snapshot's parts.
    pub fn from_parts(version: u64, members: Vec<Member>, retired: Vec<ProcessId>) -> Self {
        Members {
            version,
            by_node: members.into_iter().map(|m| (m.process.node, m)).collect(),
            retired: retired.into(),
        }
    }

    /// Grows on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every member, by node id.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.by_node.values()
    }

    /// Recently replaced processes, oldest first.
    pub fn retired(&self) -> impl Iterator<Item = ProcessId> + '_ {
        self.retired.iter().copied()
    }

    /// The current member of `node`.
    pub fn get(&self, node: NodeId) -> Option<&Member> {
        self.by_node.get(&node)
    }

    /// Whether `process` is the current process of its node.
    pub fn contains(&self, process: ProcessId) -> bool {
        self.get(process.node).is_some_and(|m| m.process == process)
    }

    /// Whether `process` was replaced by a newer incarnation.
    pub fn is_retired(&self, process: ProcessId) -> bool {
        self.retired.contains(&process)
    }

    /// The live data processes.
    pub fn data_processes(&self) -> BTreeSet<ProcessId> {
        self.by_node
            .values()
            .filter(|m| m.role == Role::Data)
            .map(|m| m.process)
            .collect()
    }

    /// Adds `member`, or updates it, or replaces its node's earlier process (retiring it).
    /// Returns whether anything changed. A retired process or a meta role is refused.
    pub fn up(&mut self, member: Member) -> bool {
        if self.is_retired(member.process) || member.role == Role::Meta {
            return false;
        }
        match self.by_node.insert(member.process.node, member.clone()) {
            Some(old) if old == member => return false,
            Some(old) if old.process != member.process => {
                if self.retired.len() == RETIRED_MAX {
                    self.retired.pop_front();
                }
                self.retired.push_back(old.process);
            }
            _ => {}
        }
        self.version += 1;
        true
    }

    /// Marks a change that is not one of membership proper but that every node must learn
    /// (a session drained): a node whose heartbeat names the old version gets the view.
    pub(super) fn bump(&mut self) {
        self.version += 1;
    }

    /// Removes `process` if it is still its node's current process. Returns whether it was.
    pub fn expire(&mut self, process: ProcessId) -> bool {
        if !self.contains(process) {
            return false;
        }
        self.by_node.remove(&process.node);
        self.version += 1;
        true
    }
}

/// Lease deadlines, kept by the meta leader. A member without a deadline (just after a
/// leader change) gets a full lease from the first time the leader looks.
#[derive(Debug, Clone)]
pub struct Leases {
    lease: Duration,
    deadline: BTreeMap<ProcessId, Instant>,
}

impl Leases {
    /// Leases of `lease` length.
    pub fn new(lease: Duration) -> Self {
        Leases {
            lease,
            deadline: BTreeMap::new(),
        }
    }

    /// `process` was heard from at `now`.
    pub fn renew(&mut self, process: ProcessId, now: Instant) {
        self.deadline.insert(process, now + self.lease);
    }

    /// When `process`'s lease runs out, if this leader has started timing it.
    pub fn deadline(&self, process: ProcessId) -> Option<Instant> {
        self.deadline.get(&process).copied()
    }

    /// Forgets every deadline (leadership lost: the next leader starts afresh).
    pub fn clear(&mut self) {
        self.deadline.clear();
    }

    /// Members whose lease ran out by `now`, longest silent first. Deadlines of processes
    /// that are no longer members are dropped.
    pub fn expired(&mut self, members: &Members, now: Instant) -> Vec<ProcessId> {
        self.deadline.retain(|p, _| members.contains(*p));
        let mut out = Vec::new();
        for m in members.iter() {
            let due = *self.deadline.entry(m.process).or_insert(now + self.lease);
            if due <= now {
                out.push((due, m.process));
            }
        }
        out.sort();
        out.into_iter().map(|(_, p)| p).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, Text};

    fn member(node: u64, inc: u64, role: Role) -> Member {
        Member {
            process: ProcessId {
                node: NodeId(node),
                incarnation: Incarnation(inc),
            },
            role,
            address: Text::from(format!("n{node}:1")),
        }
    }

    #[test]
    fn a_new_incarnation_replaces_and_retires_the_old_process() {
        let mut m = Members::default();
        assert!(m.up(member(1, 1, Role::Data)));
        assert!(!m.up(member(1, 1, Role::Data)), "same member: no change");
        assert_eq!(m.version(), 1);
        assert!(m.up(member(1, 2, Role::Data)));
        assert_eq!(m.version(), 2);
        assert!(m.is_retired(member(1, 1, Role::Data).process));
        assert!(
            !m.up(member(1, 1, Role::Data)),
            "a retired process cannot return"
        );
        assert!(!m.expire(member(1, 1, Role::Data).process));
        assert!(m.expire(member(1, 2, Role::Data).process));
        assert_eq!(m.version(), 3);
        assert!(!m.up(member(3, 1, Role::Meta)));
    }

    #[test]
    fn leases_run_out_without_heartbeats() {
        let mut m = Members::default();
        m.up(member(1, 1, Role::Data));
        m.up(member(2, 1, Role::Session));
        let mut l = Leases::new(Duration::from_secs(10));
        let t = |s: u64| Instant::from_millis(s * 1000);
        assert!(l.expired(&m, t(0)).is_empty(), "first look grants a lease");
        l.renew(member(2, 1, Role::Session).process, t(5));
        assert_eq!(l.expired(&m, t(10)), vec![member(1, 1, Role::Data).process]);
        assert_eq!(l.expired(&m, t(15)).len(), 2);
    }
}
