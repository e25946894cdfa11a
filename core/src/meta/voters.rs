//! Changing the meta group's voters at run time: what an operator may ask ([`VoterChange`]),
//! why a request is refused ([`VoterChangeError`]), and the leader's plan that carries an
//! accepted change out, one raft-rs configuration change at a time ([`VoterPlan`]).
//!
//! raft-rs 0.7 offers single-step changes (`ConfChange`: add a voter, add a learner, remove
//! a member) and joint consensus (`ConfChangeV2`). Each single step changes the voters by
//! one, so the old and new majorities always overlap and it is safe on its own; joint
//! consensus would only make "promote the new, remove the old" atomic, at the cost of a
//! leave-joint entry and a configuration with two quorums to reason about. We use single
//! steps:
//! - add `id`: add it as a *learner* (it receives the log but does not count), wait until it
//!   matches the leader's commit index, then promote it to voter, so the quorum never
//!   includes a member that cannot vote yet;
//! - remove `id`: one removal;
//! - replace `old` by `id`: add `id` as above, then remove `old`.
//!
//! The plan is state-driven: each step looks at the applied configuration and proposes the
//! next change only when none is pending, so it is idempotent and a repeated request after
//! a leader change picks up where the configuration stands (a learner left behind is
//! promoted, or removed by asking to remove it). It is volatile: a new leader does not
//! continue its predecessor's plan. A learner that does not catch up within the deadline is
//! removed again and the change reported failed.
//!
//! Quorum: the leader refuses a change whose resulting voters would not have a majority
//! among the members it heard from within the last election timeout (raft-rs's
//! `recent_active`, which check-quorum maintains), and re-checks before each step.

use crate::model::Text;
use crate::time::Instant;
use raft::eraftpb::{ConfChangeType, ConfState};
use std::collections::BTreeMap;
use std::fmt;

/// A change to the meta group's voters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoterChange {
    /// Add voter `id`, reachable at `address`.
    Add {
        /// Its consensus id (its `--id`).
        id: u64,
        /// Its listener.
        address: Text,
    },
    /// Remove voter (or learner) `id`.
    Remove {
        /// Its consensus id.
        id: u64,
    },
    /// Add voter `id` at `address`, then remove voter `old`.
    Replace {
        /// The voter that leaves.
        old: u64,
        /// The one that joins.
        id: u64,
        /// The joining one's listener.
        address: Text,
    },
}

impl fmt::Display for VoterChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoterChange::Add { id, address } => write!(f, "add meta {id} at {address}"),
            VoterChange::Remove { id } => write!(f, "remove meta {id}"),
            VoterChange::Replace { old, id, address } => {
                write!(f, "replace meta {old} by meta {id} at {address}")
            }
        }
    }
}

/// Why a voter change was refused. A refused change changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoterChangeError {
    /// Only the leader changes voters; this is the leader this node knows of.
    NotLeader {
        /// The leader's consensus id, if known.
        leader: Option<u64>,
    },
    /// Another change is under way.
    Busy {
        /// What it is (`None`: a configuration change a previous leader proposed).
        pending: Option<VoterChange>,
    },
    /// The request itself is malformed (id 0, empty address, replacing a voter by itself).
    Invalid(String),
    /// The id to add is already a member.
    Exists {
        /// The id.
        id: u64,
    },
    /// The id to remove or replace is not a member.
    Unknown {
        /// The id.
        id: u64,
    },
    /// The group's only voter cannot be removed.
    LastVoter,
    /// The voters after the change would not have a majority among the reachable ones.
    NoQuorum {
        /// Voters of the new configuration that are reachable.
        reachable: usize,
        /// Voters a majority of the new configuration needs.
        needed: usize,
    },
}

impl fmt::Display for VoterChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoterChangeError::NotLeader { leader: Some(l) } => {
                write!(f, "not the meta leader; meta {l} leads")
            }
            VoterChangeError::NotLeader { leader: None } => {
                write!(f, "not the meta leader, and no leader is known")
            }
            VoterChangeError::Busy { pending: Some(p) } => {
                write!(
                    f,
                    "another change is under way ({p}); retry once it is done"
                )
            }
            VoterChangeError::Busy { pending: None } => {
                write!(f, "a configuration change is being applied; retry shortly")
            }
            VoterChangeError::Invalid(why) => write!(f, "{why}"),
            VoterChangeError::Exists { id } => write!(f, "meta {id} is already a member"),
            VoterChangeError::Unknown { id } => write!(f, "meta {id} is not a member"),
            VoterChangeError::LastVoter => write!(f, "the last voter cannot be removed"),
            VoterChangeError::NoQuorum { reachable, needed } => write!(
                f,
                "would lose quorum: the new voters need {needed} reachable, {reachable} are"
            ),
        }
    }
}

impl std::error::Error for VoterChangeError {}

/// Whether a meta member votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoterRole {
    /// Counts towards quorums.
    Voter,
    /// Receives the log, does not vote (a member being added).
    Learner,
}

/// A member of the meta group as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaMember {
    /// Consensus id.
    pub id: u64,
    /// Its listener, from the replicated address book.
    pub address: Option<Text>,
    /// Voter or learner.
    pub role: VoterRole,
    /// Whether it leads.
    pub leader: bool,
    /// On the leader: the log index it matches.
    pub matched: Option<u64>,
    /// On the leader: heard from within the last election timeout.
    pub reachable: Option<bool>,
}

/// How a voter change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterOutcome {
    /// The change.
    pub change: VoterChange,
    /// `Err(why)` if it was abandoned.
    pub result: Result<(), String>,
}

/// What the leader knows of the configuration when it plans a step.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfView {
    pub(super) voters: Vec<u64>,
    pub(super) learners: Vec<u64>,
    /// id → (matched, reachable), for every member.
    pub(super) progress: BTreeMap<u64, (u64, bool)>,
    pub(super) committed: u64,
}

impl ConfView {
    pub(super) fn new(conf: &ConfState) -> Self {
        ConfView {
            voters: conf.voters.clone(),
            learners: conf.learners.clone(),
            ..Default::default()
        }
    }

    fn is_voter(&self, id: u64) -> bool {
        self.voters.contains(&id)
    }

    fn is_learner(&self, id: u64) -> bool {
        self.learners.contains(&id)
    }

    fn reachable(&self, id: u64) -> bool {
        self.progress.get(&id).is_some_and(|&(_, r)| r)
    }

    /// Checks that `voters` (a configuration to be) has a reachable majority.
    fn quorum(&self, voters: &[u64]) -> Result<(), VoterChangeError> {
        let needed = voters.len() / 2 + 1;
        let reachable = voters.iter().filter(|&&v| self.reachable(v)).count();
        if reachable < needed {
            return Err(VoterChangeError::NoQuorum { reachable, needed });
        }
        Ok(())
    }

    /// The voters with `add` added and `remove` removed.
    fn after(&self, add: Option<u64>, remove: Option<u64>) -> Vec<u64> {
        let mut v: Vec<u64> = (self.voters.iter().copied())
            .filter(|&x| Some(x) != remove)
            .collect();
        v.extend(add.filter(|a| !v.contains(a)));
        v
    }
}

/// Checks a request against the configuration (module docs). A member being added is
/// counted as reachable: it is promoted only once it has caught up, and re-checked then.
pub(crate) fn check(change: &VoterChange, view: &ConfView) -> Result<(), VoterChangeError> {
    let (add, remove) = match change {
        VoterChange::Add { id, address } => (Some((*id, address)), None),
        VoterChange::Remove { id } => (None, Some(*id)),
        VoterChange::Replace { old, id, address } => (Some((*id, address)), Some(*old)),
    };
    if let Some((id, address)) = add {
        if id == 0 {
            return Err(VoterChangeError::Invalid(
                "id 0 is reserved by the consensus library".into(),
            ));
        }
        if address.is_empty() {
            return Err(VoterChangeError::Invalid(format!(
                "meta {id} needs an address"
            )));
        }
        if remove == Some(id) {
            return Err(VoterChangeError::Invalid(format!(
                "meta {id} cannot replace itself"
            )));
        }
        if view.is_voter(id) {
            return Err(VoterChangeError::Exists { id });
        }
    }
    if let Some(old) = remove {
        let learner_only = add.is_none() && view.is_learner(old);
        if !view.is_voter(old) && !learner_only {
            return Err(VoterChangeError::Unknown { id: old });
        }
        if add.is_none() && view.voters == [old] {
            return Err(VoterChangeError::LastVoter);
        }
    }
    let mut view = view.clone();
    if let Some((id, _)) = add {
        view.progress.insert(id, (0, true));
    }
    view.quorum(&view.after(add.map(|a| a.0), remove))
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Propose this configuration change for `id` (with its address).
    Propose(ConfChangeType, u64, Text),
    /// Wait (a change is pending, a learner is catching up, quorum is short).
    Wait,
    /// The change is complete.
    Done,
    /// Abandon it (why); if a learner was added for it, remove it first.
    Abandon(String, Option<u64>),
}

/// An accepted change the leader carries out (module docs).
#[derive(Debug, Clone)]
pub(crate) struct VoterPlan {
    pub(super) change: VoterChange,
    pub(super) deadline: Instant,
}

impl VoterPlan {
    /// The next step, given the applied configuration (no change pending) and the time.
    pub(super) fn next(&self, view: &ConfView, now: Instant) -> Step {
        let (add, remove) = match &self.change {
            VoterChange::Add { id, address } => (Some((*id, address)), None),
            VoterChange::Remove { id } => (None, Some(*id)),
            VoterChange::Replace { old, id, address } => (Some((*id, address)), Some(*old)),
        };
        if let Some((id, address)) = add {
            if !view.is_voter(id) && !view.is_learner(id) {
                return Step::Propose(ConfChangeType::AddLearnerNode, id, address.clone());
            }
            if view.is_learner(id) {
                let caught_up = view
                    .progress
                    .get(&id)
                    .is_some_and(|&(matched, _)| matched >= view.committed);
                if !caught_up || view.quorum(&view.after(Some(id), None)).is_err() {
                    if now >= self.deadline {
                        let why = format!("meta {id} did not catch up in time");
                        return Step::Abandon(why, Some(id));
                    }
                    return Step::Wait;
                }
                return Step::Propose(ConfChangeType::AddNode, id, address.clone());
            }
        }
        let Some(old) = remove else {
            return Step::Done;
        };
        if !view.is_voter(old) && !view.is_learner(old) {
            return Step::Done;
        }
        if let Err(e) = view.quorum(&view.after(None, Some(old))) {
            if now >= self.deadline {
                return Step::Abandon(e.to_string(), None);
            }
            return Step::Wait;
        }
        Step::Propose(ConfChangeType::RemoveNode, old, Text::from(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn view(voters: &[u64], learners: &[u64], reachable: &[u64]) -> ConfView {
        let mut v = ConfView {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            committed: 10,
            ..Default::default()
        };
        for &id in voters.iter().chain(learners) {
            v.progress.insert(id, (10, reachable.contains(&id)));
        }
        v
    }

    fn add(id: u64) -> VoterChange {
        VoterChange::Add {
            id,
            address: Text::from(format!("m:{id}")),
        }
    }

    #[test]
    fn requests_that_would_break_the_group_are_refused() {
        let all = view(&[1, 2, 3], &[], &[1, 2, 3]);
        assert_eq!(check(&add(4), &all), Ok(()));
        assert_eq!(
            check(&add(2), &all),
            Err(VoterChangeError::Exists { id: 2 })
        );
        assert!(matches!(
            check(&add(0), &all),
            Err(VoterChangeError::Invalid(_))
        ));
        let no_address = VoterChange::Add {
            id: 4,
            address: Text::from(""),
        };
        assert!(matches!(
            check(&no_address, &all),
            Err(VoterChangeError::Invalid(_))
        ));
        let remove = |id| VoterChange::Remove { id };
        assert_eq!(check(&remove(3), &all), Ok(()));
        assert_eq!(
            check(&remove(9), &all),
            Err(VoterChangeError::Unknown { id: 9 })
        );
        assert_eq!(
            check(&remove(1), &view(&[1], &[], &[1])),
            Err(VoterChangeError::LastVoter)
        );
        // 3 down: removing 2 leaves {1, 3}, which needs both.
        let one_down = view(&[1, 2, 3], &[], &[1, 2]);
        assert_eq!(
            check(&remove(2), &one_down),
            Err(VoterChangeError::NoQuorum {
                reachable: 1,
                needed: 2
            })
        );
        assert_eq!(
            check(&remove(3), &one_down),
            Ok(()),
            "removing the dead one is fine"
        );
        let replace = VoterChange::Replace {
            old: 3,
            id: 4,
            address: Text::from("m:4"),
        };
        assert_eq!(
            check(&replace, &one_down),
            Ok(()),
            "replacing the dead one too"
        );
        let two_down = view(&[1, 2, 3, 4, 5], &[], &[1, 2, 3]);
        assert!(matches!(
            check(&add(6), &view(&[1, 2, 3], &[], &[1])),
            Err(VoterChangeError::NoQuorum { .. })
        ));
        assert_eq!(check(&remove(5), &two_down), Ok(()));
        assert!(matches!(
            check(&remove(3), &two_down),
            Err(VoterChangeError::NoQuorum { .. })
        ));
    }

    #[test]
    fn a_plan_adds_a_learner_promotes_it_once_caught_up_then_removes_the_old_voter() {
        let t0 = Instant::from_millis(0);
        let plan = VoterPlan {
            change: VoterChange::Replace {
                old: 3,
                id: 4,
                address: Text::from("m:4"),
            },
            deadline: t0 + Duration::from_secs(30),
        };
        let m4 = Text::from("m:4");
        let mut v = view(&[1, 2, 3], &[], &[1, 2, 3]);
        assert_eq!(
            plan.next(&v, t0),
            Step::Propose(ConfChangeType::AddLearnerNode, 4, m4.clone())
        );
        v.learners.push(4);
        v.progress.insert(4, (3, true));
        assert_eq!(plan.next(&v, t0), Step::Wait, "still catching up");
        v.progress.insert(4, (10, true));
        assert_eq!(
            plan.next(&v, t0),
            Step::Propose(ConfChangeType::AddNode, 4, m4)
        );
        v.learners.clear();
        v.voters.push(4);
        assert!(matches!(
            plan.next(&v, t0),
            Step::Propose(ConfChangeType::RemoveNode, 3, _)
        ));
        v.voters.retain(|&x| x != 3);
        assert_eq!(plan.next(&v, t0), Step::Done);

        let mut slow = view(&[1, 2, 3], &[4], &[1, 2, 3, 4]);
        slow.progress.insert(4, (1, true));
        assert_eq!(
            plan.next(&slow, t0 + Duration::from_secs(31)),
            Step::Abandon("meta 4 did not catch up in time".into(), Some(4))
        );
    }
}
