//! `NodeGroup`: many nodes of one role behind one driver, as one [`Node`].
//!
//! A process that embeds many clients (a load generator, an application with one client per
//! tenant) should not pay a thread, a poll set and a wake-up per client. The group lets one
//! event loop run them all: members join and leave through commands, and the group renames
//! their connections so that the driver sees one id space.
//!
//! - Members only open connections (`Output::Connect`); the group gives each one an id of
//!   its own and routes inputs back to the member under the member's id. A group has no
//!   listeners, so a connection the driver reports as accepted is closed.
//! - A member that leaves is dropped with its connections, which the group closes.
//! - Output is drained member by member, in the order members took input; the driver
//!   writes each connection once per drain whatever the order.

use crate::io::{ConnId, ConnIds, Input, Node, Output};
use crate::model::Text;
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};

/// A member of a group, named by whoever makes it join (unique within the group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u64);

/// What the embedding asks of a group.
#[derive(Debug)]
pub enum GroupCommand<N: Node> {
    /// Adds `node` as `member`. An id already in the group is refused (the node is
    /// dropped): ids are the embedding's to keep unique, and replacing a live member
    /// would strand its connections.
    Join {
        /// Its id.
        member: MemberId,
        /// The node.
        node: N,
    },
    /// A command for one member; ignored if it has left.
    Command {
        /// The member.
        member: MemberId,
        /// The command.
        command: N::Command,
    },
    /// Drops a member and closes its connections.
    Leave {
        /// The member.
        member: MemberId,
    },
}

/// An event of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent<E> {
    /// The member.
    pub member: MemberId,
    /// Its event.
    pub event: E,
}

#[derive(Debug)]
struct Member<N> {
    node: N,
    /// Queued in `ready`: it took input and may have output.
    ready: bool,
}

/// Many nodes of one role as one node (see the module docs).
#[derive(Debug)]
pub struct NodeGroup<N: Node> {
    members: BTreeMap<MemberId, Member<N>>,
    /// The group's id of a connection → its member and the member's id of it.
    routes: BTreeMap<ConnId, (MemberId, ConnId)>,
    /// The reverse of `routes`.
    names: BTreeMap<(MemberId, ConnId), ConnId>,
    ids: ConnIds,
    ready: VecDeque<MemberId>,
    /// Output of the group itself (closes of a leaving member's connections).
    out: VecDeque<Output<GroupEvent<N::Event>>>,
}

impl<N: Node> Default for NodeGroup<N> {
    fn default() -> Self {
        NodeGroup {
            members: BTreeMap::new(),
            routes: BTreeMap::new(),
            names: BTreeMap::new(),
            ids: ConnIds::default(),
            ready: VecDeque::new(),
            out: VecDeque::new(),
        }
    }
}

impl<N: Node> NodeGroup<N> {
    /// An empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A member's node.
    pub fn member(&self, member: MemberId) -> Option<&N> {
        self.members.get(&member).map(|m| &m.node)
    }

    /// Feeds `input` to `member` (if it is still in the group) and queues it for draining.
    fn feed(&mut self, now: Instant, member: MemberId, input: Input<N::Command>) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        m.node.handle_input(now, input);
        queue(&mut self.ready, member, m);
    }

    /// The member's view of a group connection, if it is routed.
    fn route(&self, conn: ConnId) -> Option<(MemberId, ConnId)> {
        self.routes.get(&conn).copied()
    }

    fn forget(&mut self, conn: ConnId) -> Option<(MemberId, ConnId)> {
        let route = self.routes.remove(&conn)?;
        self.names.remove(&route);
        Some(route)
    }

    fn join(&mut self, member: MemberId, node: N) {
        if self.members.contains_key(&member) {
            return;
        }
        // A new node may want to act at once (a client connects on its first timeout,
        // which is due immediately); queueing it lets the driver drain whatever it has.
        self.members.insert(member, Member { node, ready: true });
        self.ready.push_back(member);
    }

    fn leave(&mut self, member: MemberId) {
        if self.members.remove(&member).is_none() {
            return;
        }
        let conns: Vec<_> = self
            .names
            .range((member, ConnId(0))..=(member, ConnId(u64::MAX)))
            .map(|(_, &conn)| conn)
            .collect();
        for conn in conns {
            self.forget(conn);
            self.out.push_back(Output::Close {
                conn,
                reason: Text::from_static("its group member left"),
            });
        }
    }

    /// Renames one output of `member` into the group's id space; `None` if it concerns a
    /// connection the group does not route (already closed).
    fn rename(
        &mut self,
        member: MemberId,
        out: Output<N::Event>,
    ) -> Option<Output<GroupEvent<N::Event>>> {
        Some(match out {
            Output::Send { conn, frame } => Output::Send {
                conn: *self.names.get(&(member, conn))?,
                frame,
            },
            Output::Connect { conn, address } => {
                let ours = self.ids.allocate();
                self.routes.insert(ours, (member, conn));
                self.names.insert((member, conn), ours);
                Output::Connect {
                    conn: ours,
                    address,
                }
            }
            Output::Close { conn, reason } => {
                let ours = *self.names.get(&(member, conn))?;
                self.forget(ours);
                Output::Close { conn: ours, reason }
            }
            Output::Event(event) => Output::Event(GroupEvent { member, event }),
        })
    }
}

/// Queues `m` for draining, once however often it takes input before the driver drains.
fn queue<N>(ready: &mut VecDeque<MemberId>, member: MemberId, m: &mut Member<N>) {
    if !m.ready {
        m.ready = true;
        ready.push_back(member);
    }
}

impl<N: Node> Node for NodeGroup<N> {
    type Command = GroupCommand<N>;
    type Event = GroupEvent<N::Event>;

    fn handle_input(&mut self, now: Instant, input: Input<Self::Command>) {
        match input {
            Input::Connected { conn } => {
                if let Some((member, inner)) = self.route(conn) {
                    self.feed(now, member, Input::Connected { conn: inner });
                }
            }
            Input::Accepted { conn } => self.out.push_back(Output::Close {
                conn,
                reason: Text::from_static("a node group accepts no connections"),
            }),
            Input::Closed { conn } => {
                if let Some((member, inner)) = self.forget(conn) {
                    self.feed(now, member, Input::Closed { conn: inner });
                }
            }
            Input::Frame { conn, frame } => {
                if let Some((member, inner)) = self.route(conn) {
                    self.feed(now, member, Input::Frame { conn: inner, frame });
                }
            }
            Input::Command(GroupCommand::Join { member, node }) => self.join(member, node),
            Input::Command(GroupCommand::Command { member, command }) => {
                self.feed(now, member, Input::Command(command));
            }
            Input::Command(GroupCommand::Leave { member }) => self.leave(member),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for (&member, m) in &mut self.members {
            if m.node.poll_timeout().is_some_and(|t| t <= now) {
                m.node.handle_timeout(now);
                queue(&mut self.ready, member, m);
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output<Self::Event>> {
        if let Some(out) = self.out.pop_front() {
            return Some(out);
        }
        while let Some(&member) = self.ready.front() {
            let next = self.members.get_mut(&member).and_then(|m| {
                let out = m.node.poll_output();
                m.ready = out.is_some();
                out
            });
            match next {
                Some(out) => {
                    if let Some(out) = self.rename(member, out) {
                        return Some(out);
                    }
                }
                None => {
                    self.ready.pop_front();
                }
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.members
            .values()
            .filter_map(|m| m.node.poll_timeout())
            .min()
    }
}

#[cfg(test)]
mod tests;
