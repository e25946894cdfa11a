//! The simulated operator: turns switches on and off mid-run, as `roster admin switch set`
//! would, and the checks of what the switches promise (docs/operations.md, "Switches").
//!
//! A plan ([`Step`]s, in `SimConfig::operator`; empty by default, so a seed's run is what
//! it was before switches existed) names switches by workload key and client index. At a
//! step's time the world asks a random live meta node (a follower forwards to the leader)
//! and re-asks every 200 ms until the leader's applied switches satisfy the change, as the
//! admin API does. From then on:
//!
//! - **stop push holds**, after every step: no session sends a push of a data id its
//!   applied switches hold;
//! - **switches reach every session** within `SimConfig::operator_bound` of the commit
//!   (checked only in runs without crashes, pauses or partitions, which can keep a session
//!   from meta for longer);
//! - **client-off removes**: from the bound on, until the operator asks to let the client
//!   back, no subscriber's list holds a publisher of that client, neither the lists
//!   delivered nor the last list each subscriber holds at the bound.
//!
//! Lifting a hold must let every list converge: the run's liveness check (after healing)
//! covers it, since plans lift every switch before the fault phase ends.

use crate::check::Violation;
use crate::net::NodeIx;
use roster_core::model::{SwitchChange, Switches, Text, canonical_ip};
use roster_core::time::Instant;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A switch the operator turns, by workload key and client index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop every push.
    StopAllPushes,
    /// Stop the pushes of workload key `key`'s data id.
    StopPush {
        /// Workload key index.
        key: usize,
    },
    /// Switch off client `client` (its index among the clients).
    ClientOff {
        /// Client index.
        client: usize,
    },
}

/// One operator action at a time of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub action: Action,
    /// On or off.
    pub on: bool,
}

/// The address a simulated node connects from: one per node, so client-off can name one
/// client.
pub fn address_of(node: NodeIx) -> IpAddr {
    let n = node as u32;
    IpAddr::V4(Ipv4Addr::new(10, 200, (n >> 8) as u8, n as u8))
}

/// The client node whose register ids start `c{node}.` (`workload`'s naming).
fn owner_of(register_id: &str) -> Option<NodeIx> {
    register_id
        .strip_prefix('c')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The operator's progress and what the checks need.
#[derive(Debug, Default)]
pub struct Operator {
    /// Client nodes switched off, with when the switch committed.
    off: BTreeMap<NodeIx, Instant>,
}

impl Operator {
    /// The change `step` asks for, given the data id of each workload key and the node of
    /// each client index.
    pub fn change(
        step: &Step,
        data_id: impl Fn(usize) -> Text,
        client: impl Fn(usize) -> NodeIx,
    ) -> SwitchChange {
        let on = step.on;
        match step.action {
            Action::StopAllPushes => SwitchChange::StopAllPushes { on },
            Action::StopPush { key } => SwitchChange::StopPush {
                data_id: data_id(key),
                on,
            },
            Action::ClientOff { client: c } => SwitchChange::ClientOff {
                address: canonical_ip(address_of(client(c))),
                on,
            },
        }
    }

    /// The operator asks for `step` (its client, for client-off, is `client`). A client
    /// let back may return as soon as the change commits, which can be any moment now: its
    /// lists are no longer checked.
    pub fn asked(&mut self, step: &Step, client: Option<NodeIx>) {
        if let (Action::ClientOff { .. }, Some(c), false) = (step.action, client, step.on) {
            self.off.remove(&c);
        }
    }

    /// `step` committed at `now` (its client, for client-off, is `client`).
    pub fn committed(&mut self, step: &Step, client: Option<NodeIx>, now: Instant) {
        if let (Action::ClientOff { .. }, Some(c), true) = (step.action, client, step.on) {
            self.off.entry(c).or_insert(now);
        }
    }

    /// Check "stop push holds": session `name`, whose applied switches are `switches`,
    /// sends a push of `data_id`.
    pub fn on_push(name: &str, switches: &Switches, data_id: &str) -> Result<(), Violation> {
        if switches.holds_pushes(data_id) {
            return Err(Violation {
                property: "operator: stop push holds",
                detail: format!(
                    "{name} pushed {data_id} while its switches (version {}) hold it",
                    switches.version
                ),
            });
        }
        Ok(())
    }

    /// Check "client-off removes": a list at `now` holding `register_ids` (`whose` list,
    /// for the report).
    pub fn on_list<'a>(
        &self,
        now: Instant,
        bound: Duration,
        whose: &str,
        register_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Violation> {
        for id in register_ids {
            let Some(owner) = owner_of(id) else { continue };
            if let Some(&since) = self.off.get(&owner)
                && now >= since + bound
            {
                return Err(Violation {
                    property: "operator: client-off removes its publishers",
                    detail: format!(
                        "{whose} holds {id} {:?} after its client was switched off",
                        now - since
                    ),
                });
            }
        }
        Ok(())
    }

    /// Check "switches reach every session": `laggards` are the sessions that have not
    /// applied `version` by the bound.
    pub fn on_bound(version: u64, laggards: &[String]) -> Result<(), Violation> {
        if laggards.is_empty() {
            return Ok(());
        }
        Err(Violation {
            property: "operator: switches reach every session in bounded time",
            detail: format!("{laggards:?} have not applied switches version {version}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_ids_name_their_client_node() {
        assert_eq!(owner_of("c17.2-p3"), Some(17));
        assert_eq!(owner_of("x17.2-p3"), None);
        let mut op = Operator::default();
        let step = Step {
            at: Duration::ZERO,
            action: Action::ClientOff { client: 0 },
            on: true,
        };
        op.committed(&step, Some(17), Instant::ZERO);
        let bound = Duration::from_secs(1);
        let early = Instant::ZERO + Duration::from_millis(500);
        assert!(
            op.on_list(early, bound, "s", ["c17.1-p0"]).is_ok(),
            "in the bound"
        );
        let late = Instant::ZERO + bound;
        assert!(op.on_list(late, bound, "s", ["c16.1-p0"]).is_ok());
        assert!(op.on_list(late, bound, "s", ["c17.1-p0"]).is_err());
    }
}
