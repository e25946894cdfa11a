//! Operator requests meta replicates (docs/operations.md, "Draining a session" and
//! "Decommissioning a data node"): which session nodes are draining and which data nodes
//! are leaving ([`Ops`], part of [`super::MetaState`], changed only by the committed
//! `SessionDrain` and `DataDecommission` commands, so they survive a meta leader change),
//! and the leader's side of a request ([`MetaNode::request`]).
//!
//! - A draining session learns it from the `ClusterView` (its `draining` field) and tells
//!   its clients to move; meta does nothing else about it.
//! - A leaving data node is handed to [`super::arrange_leaving`], which moves every copy
//!   off it the way balancing moves them (leaders only to caught-up followers). It is
//!   *empty*, safe to stop, once the installed table holds none of its slots.
//!
//! Requests are checked against the applied state and refused with a reason (nothing is
//! proposed): only the leader proposes, a drain names a session member and a
//! decommission a data member, and the last data node that is not leaving cannot leave.
//! Asking for the state a node is already in changes nothing and is not an error.

use super::node::MetaNode;
use super::state::Command;
use crate::model::{NodeId, ProcessId, Role, Text};
use crate::slot::SlotTable;
use std::collections::BTreeSet;
use std::fmt;

/// Draining sessions and leaving data nodes, by node (a restarted process stays drained).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ops {
    draining: BTreeSet<NodeId>,
    leaving: BTreeSet<NodeId>,
}

impl Ops {
    /// The state a snapshot holds.
    pub fn from_parts(draining: Vec<NodeId>, leaving: Vec<NodeId>) -> Self {
        Ops {
            draining: draining.into_iter().collect(),
            leaving: leaving.into_iter().collect(),
        }
    }

    /// Session nodes being drained, in id order.
    pub fn draining(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.draining.iter().copied()
    }

    /// Data nodes being decommissioned, in id order.
    pub fn leaving(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.leaving.iter().copied()
    }

    /// Whether session node `node` is draining.
    pub fn is_draining(&self, node: NodeId) -> bool {
        self.draining.contains(&node)
    }

    /// Whether data node `node` is being decommissioned.
    pub fn is_leaving(&self, node: NodeId) -> bool {
        self.leaving.contains(&node)
    }

    /// The processes among `live` whose node is leaving.
    pub fn leaving_processes(&self, live: &BTreeSet<ProcessId>) -> BTreeSet<ProcessId> {
        live.iter()
            .copied()
            .filter(|p| self.leaving.contains(&p.node))
            .collect()
    }

    pub(super) fn set_draining(&mut self, node: NodeId, on: bool) -> bool {
        set(&mut self.draining, node, on)
    }

    pub(super) fn set_leaving(&mut self, node: NodeId, on: bool) -> bool {
        set(&mut self.leaving, node, on)
    }
}

fn set(s: &mut BTreeSet<NodeId>, node: NodeId, on: bool) -> bool {
    if on { s.insert(node) } else { s.remove(&node) }
}

/// An operator's request to meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsRequest {
    /// Drain session node `0`: its clients move to other sessions.
    Drain(NodeId),
    /// End the drain of session node `0`: it takes clients again.
    Undrain(NodeId),
    /// Decommission data node `0`: every slot copy moves off it.
    Decommission(NodeId),
    /// Take data node `0` back: the arrangement may place slots on it again.
    Recommission(NodeId),
}

/// Why a request was refused; nothing was proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsRefusal {
    /// This meta node does not lead; ask the leader (its meta peer address, when known).
    NotLeader {
        /// The leader's address.
        leader: Option<Text>,
    },
    /// No member has this node id.
    UnknownNode(NodeId),
    /// The node is a member of another role.
    WrongRole {
        /// The node.
        node: NodeId,
        /// Its role.
        role: Role,
    },
    /// Every other data node is leaving (or there is none): nowhere to move the slots.
    LastDataNode(NodeId),
    /// raft-rs dropped the proposal (e.g. leadership is being transferred); retry.
    Dropped,
}

impl fmt::Display for OpsRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpsRefusal::NotLeader { leader: Some(l) } => {
                write!(f, "this meta node does not lead; the leader is at {l}")
            }
            OpsRefusal::NotLeader { leader: None } => write!(f, "meta has no leader"),
            OpsRefusal::UnknownNode(n) => write!(f, "no member is node {}", n.0),
            OpsRefusal::WrongRole { node, role } => {
                write!(f, "node {} is a {role:?} node", node.0)
            }
            OpsRefusal::LastDataNode(n) => write!(
                f,
                "node {} cannot leave: no other data node would hold its slots",
                n.0
            ),
            OpsRefusal::Dropped => write!(f, "the proposal was dropped; retry"),
        }
    }
}

impl std::error::Error for OpsRefusal {}

/// One data node being decommissioned, as the installed table has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decommission {
    /// The node.
    pub node: NodeId,
    /// Slots it leads in the installed table.
    pub leaders: usize,
    /// Slot copies (led or followed) it holds in the installed table.
    pub replicas: usize,
}

impl Decommission {
    /// Whether the node holds no slot: safe to stop.
    pub fn is_empty(&self) -> bool {
        self.replicas == 0
    }
}

/// What meta's applied state says of the operator's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsReport {
    /// Session nodes being drained.
    pub draining: Vec<NodeId>,
    /// Data nodes being decommissioned, with what they still hold.
    pub decommissions: Vec<Decommission>,
}

/// What `node` holds in `table`.
pub fn holdings(table: &SlotTable, node: NodeId) -> Decommission {
    let mut d = Decommission {
        node,
        leaders: 0,
        replicas: 0,
    };
    for (_, slot) in table.slots() {
        if slot.leader.is_some_and(|l| l.node == node) {
            d.leaders += 1;
        }
        d.replicas += slot.replicas().filter(|p| p.node == node).count();
    }
    d
}

impl MetaNode {
    /// Proposes an operator's request (module docs). `Ok(true)`: proposed, applied once
    /// committed (watch [`MetaNode::ops_report`]); `Ok(false)`: the node is in that state
    /// already.
    pub fn request(&mut self, request: OpsRequest) -> Result<bool, OpsRefusal> {
        if !self.is_leader() {
            return Err(OpsRefusal::NotLeader {
                leader: self.leader_address(),
            });
        }
        let state = self.state();
        let role_of = |node: NodeId| state.members.get(node).map(|m| m.role);
        let expect = |node: NodeId, want: Role| match role_of(node) {
            None => Err(OpsRefusal::UnknownNode(node)),
            Some(role) if role != want => Err(OpsRefusal::WrongRole { node, role }),
            Some(_) => Ok(()),
        };
        let command = match request {
            OpsRequest::Drain(node) | OpsRequest::Undrain(node) => {
                let on = matches!(request, OpsRequest::Drain(_));
                if state.ops.is_draining(node) == on {
                    return Ok(false);
                }
                if on {
                    expect(node, Role::Session)?;
                }
                Command::SessionDrain { node, draining: on }
            }
            OpsRequest::Decommission(node) | OpsRequest::Recommission(node) => {
                let on = matches!(request, OpsRequest::Decommission(_));
                if state.ops.is_leaving(node) == on {
                    return Ok(false);
                }
                if on {
                    expect(node, Role::Data)?;
                    let staying = state
                        .members
                        .data_processes()
                        .into_iter()
                        .filter(|p| p.node != node && !state.ops.is_leaving(p.node))
                        .count();
                    if staying == 0 {
                        return Err(OpsRefusal::LastDataNode(node));
                    }
                }
                Command::DataDecommission { node, leaving: on }
            }
        };
        if self.propose_ops(command) {
            Ok(true)
        } else {
            Err(OpsRefusal::Dropped)
        }
    }

    /// The operator's requests as this node's applied state has them (any meta node).
    pub fn ops_report(&self) -> OpsReport {
        let state = self.state();
        OpsReport {
            draining: state.ops.draining().collect(),
            decommissions: state
                .ops
                .leaving()
                .map(|n| holdings(&state.table, n))
                .collect(),
        }
    }
}
