//! `Protection`: meta's protection mode (docs/design.md §4.7). A network blip that silences
//! most session or data nodes at once must not empty the membership, so within any one
//! lease period the meta leader expels at most `max_expel_percent` percent of the nodes of
//! each role (of those that were members when the period began), and always at least one,
//! so that a single dead node of a small cluster still leaves. Expirations beyond that are
//! *held back*: the process stays a member until the window allows it to leave, or until
//! it heartbeats again and its lease is renewed. Held-back processes are visible
//! ([`Protection::held`]) for logs and an admin view.
//!
//! Kept by the meta leader only and volatile: a new leader starts with an empty window.

use super::membership::Members;
use crate::model::{ProcessId, Role};
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Expulsions of the last lease period and the processes held back.
#[derive(Debug, Clone)]
pub struct Protection {
    window: Duration,
    percent: u32,
    recent: VecDeque<(Instant, Role)>,
    held: Vec<ProcessId>,
}

impl Protection {
    /// At most `percent` percent of a role expelled per `window` (the lease).
    pub fn new(window: Duration, percent: u32) -> Self {
        Protection {
            window,
            percent,
            recent: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// Of the `expired` members (longest silent first), those that may be expelled at
    /// `now`; records them as expelled and the rest as held back.
    pub fn admit(
        &mut self,
        members: &Members,
        expired: Vec<ProcessId>,
        now: Instant,
    ) -> Vec<ProcessId> {
        while self
            .recent
            .front()
            .is_some_and(|&(at, _)| at + self.window <= now)
        {
            self.recent.pop_front();
        }
        self.held.clear();
        let mut out = Vec::new();
        for role in [Role::Data, Role::Session] {
            let members_of_role = members.iter().filter(|m| m.role == role).count();
            let expelled = self.recent.iter().filter(|&&(_, r)| r == role).count();
            let population = members_of_role + expelled;
            let share = population * self.percent as usize / 100;
            let mut allowed = share.max(1).saturating_sub(expelled);
            for p in expired
                .iter()
                .copied()
                .filter(|p| members.get(p.node).is_some_and(|m| m.role == role))
            {
                if allowed > 0 {
                    allowed -= 1;
                    self.recent.push_back((now, role));
                    out.push(p);
                } else {
                    self.held.push(p);
                }
            }
        }
        out
    }

    /// The processes whose lease ran out but that protection keeps as members, as of the
    /// last [`Protection::admit`].
    pub fn held(&self) -> &[ProcessId] {
        &self.held
    }

    /// Forgets everything (leadership changed).
    pub fn clear(&mut self) {
        self.recent.clear();
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, NodeId, Text};
    use crate::wire::Member;

    fn member(node: u64, role: Role) -> Member {
        Member {
            process: ProcessId {
                node: NodeId(node),
                incarnation: Incarnation(1),
            },
            role,
            address: Text::from(format!("n{node}:1")),
        }
    }

    #[test]
    fn at_most_the_share_of_a_role_leaves_per_lease_period_and_at_least_one() {
        let mut members = Members::default();
        let datas: Vec<Member> = (1..=4).map(|n| member(n, Role::Data)).collect();
        let session = member(10, Role::Session);
        for m in datas.iter().chain([&session]) {
            members.up(m.clone());
        }
        let mut p = Protection::new(Duration::from_secs(10), 50);
        let t = |s: u64| Instant::from_millis(s * 1000);
        let mut expired: Vec<ProcessId> = datas.iter().map(|m| m.process).collect();
        expired.push(session.process);
        let out = p.admit(&members, expired.clone(), t(0));
        assert_eq!(
            out,
            vec![datas[0].process, datas[1].process, session.process],
            "half the data nodes, and the lone session (at least one)"
        );
        assert_eq!(p.held(), &[datas[2].process, datas[3].process]);
        for q in &out {
            members.expire(*q);
        }
        assert!(p.admit(&members, expired[2..4].to_vec(), t(5)).is_empty());
        assert_eq!(p.held().len(), 2, "still held within the lease period");
        let out = p.admit(&members, expired[2..4].to_vec(), t(10));
        assert_eq!(out.len(), 1, "a new period: half of the two left");
        members.expire(out[0]);
        assert_eq!(p.admit(&members, vec![], t(11)), vec![]);
        assert!(
            p.held().is_empty(),
            "a process that heartbeats is no longer held"
        );
    }
}
