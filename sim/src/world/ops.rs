//! The simulated operator's drains and decommissions (docs/operations.md, "Draining a
//! session", "Decommissioning a data node"), asked of the meta leader as `roster admin
//! drain|decommission` would, and re-asked every 200 ms until the leader's applied state
//! holds them. `SimConfig::ops_bound` after one committed, in a run without crashes,
//! pauses or partitions:
//!
//! - **a drained session keeps no client**: every client it had moved to another session;
//! - **a decommissioned data node holds no slot**: the installed table names it nowhere.
//!
//! A decommission or recommission counts as a fault action for the epoch check (d).
//! What users feel is checked by the run's own checks all along: no list may lack a live
//! client's publisher while its session drains or its slot's leader moves off (`felt`),
//! and every list converges after healing.

use super::{Ev, Kind, World, ms};
use crate::check::Violation;
use crate::cluster::Machine;
use crate::net::NodeIx;
use roster_core::meta::{OpsRequest, holdings};
use roster_core::model::NodeId;
use std::time::Duration;

/// What the operator asks, by node position among its role's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsAction {
    /// Drain the `n`th session (`false`: undrain it).
    Drain(usize, bool),
    /// Decommission the `n`th data node (`false`: recommission it).
    Decommission(usize, bool),
}

/// One drain or decommission at a time of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsStep {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub action: OpsAction,
}

impl World {
    /// The node step `i` names, and its id.
    fn ops_target(&self, i: usize) -> Option<(NodeIx, NodeId, OpsRequest)> {
        let (kind, n, on) = match self.cfg.ops[i].action {
            OpsAction::Drain(n, on) => (Kind::Session, n, on),
            OpsAction::Decommission(n, on) => (Kind::Data, n, on),
        };
        let ix = (0..self.nodes.len())
            .filter(|&x| self.nodes[x].kind == kind)
            .nth(n)?;
        let id = match self.nodes[ix].machine.as_ref()? {
            Machine::Session(s) => s.process().node,
            Machine::Data(d) => d.process().node,
            _ => return None,
        };
        let request = match (kind, on) {
            (Kind::Session, true) => OpsRequest::Drain(id),
            (Kind::Session, false) => OpsRequest::Undrain(id),
            (_, true) => OpsRequest::Decommission(id),
            (_, false) => OpsRequest::Recommission(id),
        };
        Some((ix, id, request))
    }

    /// The meta leader, if one runs and is not paused.
    pub(super) fn meta_leader_ix(&self) -> Option<NodeIx> {
        self.nodes.iter().position(|n| {
            matches!(&n.machine, Some(Machine::Meta(m)) if m.is_leader())
                && n.paused_until.is_none()
        })
    }

    fn meta_leader(&self) -> Option<&roster_core::meta::MetaNode> {
        match self.nodes[self.meta_leader_ix()?].machine.as_ref()? {
            Machine::Meta(m) => Some(m),
            _ => None,
        }
    }

    /// Step `i` begins. A decommission or recommission moves slots, so the epoch check
    /// (d) counts it as a fault action: its tables are bounded like a fault's.
    pub(super) fn ops_start(&mut self, i: usize) {
        if matches!(self.cfg.ops[i].action, OpsAction::Decommission(..)) {
            self.epochs.on_fault();
        }
        self.ops_ask(i);
    }

    /// Asks the meta leader for step `i` (none known: asked again at the check).
    pub(super) fn ops_ask(&mut self, i: usize) {
        if let Some((_, _, request)) = self.ops_target(i) {
            if let Some(ix) = self.meta_leader_ix() {
                self.record("operator", ix, None, Some(format!("{request:?}")));
                self.step(ix, |m, _| {
                    if let Machine::Meta(m) = m {
                        // A refusal (a new leader not yet settled) is asked again.
                        let _ = m.request(request);
                    }
                });
            }
        }
        self.queue
            .push(self.now + ms(200), Ev::OpsCheck { step: i });
    }

    /// Step `i` holds on the meta leader: committed, checked after the bound. Otherwise
    /// asked again.
    pub(super) fn ops_check(&mut self, i: usize) {
        let Some((_, id, request)) = self.ops_target(i) else {
            return;
        };
        let held = self.meta_leader().map(|m| {
            let ops = &m.state().ops;
            match request {
                OpsRequest::Drain(_) => ops.is_draining(id),
                OpsRequest::Undrain(_) => !ops.is_draining(id),
                OpsRequest::Decommission(_) => ops.is_leaving(id),
                OpsRequest::Recommission(_) => !ops.is_leaving(id),
            }
        });
        if held == Some(true) {
            self.stats.operator_steps += 1;
            let at = self.now + self.cfg.ops_bound;
            self.queue.push(at, Ev::OpsBound { step: i });
        } else {
            self.ops_ask(i);
        }
    }

    /// The bound after step `i` committed: a drained session has no client left, a
    /// decommissioned data node holds no slot.
    pub(super) fn ops_bound(&mut self, i: usize) {
        let f = &self.cfg.faults;
        if f.crash > 0 || f.pause > 0 || f.partition > 0 {
            return;
        }
        let Some((ix, id, request)) = self.ops_target(i) else {
            return;
        };
        let detail = match request {
            OpsRequest::Drain(_) => match &self.nodes[ix].machine {
                Some(Machine::Session(s)) if !s.clients().is_empty() => Some((
                    "operator: a drained session keeps no client",
                    format!(
                        "{} still has {} clients {:?} after it was drained",
                        self.name(ix),
                        s.clients().len(),
                        self.cfg.ops_bound
                    ),
                )),
                _ => None,
            },
            OpsRequest::Decommission(_) => self.meta_leader().and_then(|m| {
                let h = holdings(&m.state().table, id);
                (!h.is_empty()).then(|| {
                    (
                        "operator: a decommissioned data node holds no slot",
                        format!("node {} still holds {h:?}", id.0),
                    )
                })
            }),
            _ => None,
        };
        if let Some((property, detail)) = detail {
            self.fail(Violation { property, detail });
        }
    }
}
