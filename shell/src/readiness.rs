//! When a node counts as ready (a condition on its state, never a sleep), and the flag the
//! shells raise for whoever waits on it.

use crate::hooks::Hooks;
use roster_core::client::Client;
use roster_core::data::DataNode;
use roster_core::group::NodeGroup;
use roster_core::io::Node;
use roster_core::meta::MetaNode;
use roster_core::session::Session;
use roster_core::slot::SlotTable;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tracing::info;

/// A flag one thread raises and others wait for.
#[derive(Debug, Default)]
pub struct Flag {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Flag {
    /// Raises the flag (idempotent).
    pub fn raise(&self) {
        let mut s = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if !*s {
            *s = true;
            self.cv.notify_all();
        }
    }

    /// Whether it is raised.
    pub fn is_raised(&self) -> bool {
        *self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits at most `timeout` for the flag; whether it was raised.
    pub fn wait(&self, timeout: Duration) -> bool {
        let s = self.set.lock().unwrap_or_else(|p| p.into_inner());
        let (s, _) = self
            .cv
            .wait_timeout_while(s, timeout, |set| !*set)
            .unwrap_or_else(|p| p.into_inner());
        *s
    }
}

/// Whether every slot of a table has a leader: the node can route every key.
pub fn table_complete(t: &SlotTable) -> bool {
    t.epoch().0 > 0 && t.slots().all(|(_, s)| s.leader.is_some())
}

/// When a node counts as ready.
pub trait Readiness {
    /// Whether the node is ready.
    fn is_ready(&self) -> bool;
    /// A word for the log when it changes (meta: `leader` or `follower`).
    fn status(&self) -> &'static str {
        ""
    }
}

impl Readiness for Session {
    fn is_ready(&self) -> bool {
        table_complete(self.table())
    }
}

impl Readiness for DataNode {
    fn is_ready(&self) -> bool {
        table_complete(self.table())
    }
}

/// A group of clients (the client library's IO threads) has nothing to wait for.
impl Readiness for NodeGroup<Client> {
    fn is_ready(&self) -> bool {
        true
    }
}

impl Readiness for MetaNode {
    fn is_ready(&self) -> bool {
        self.leader_id().is_some()
    }
    fn status(&self) -> &'static str {
        if self.is_leader() {
            "leader"
        } else {
            "follower"
        }
    }
}

/// Hooks that also publish a node's readiness (a [`Flag`]) and log its status changes.
#[derive(Debug)]
pub struct Observed<H> {
    inner: H,
    ready: Arc<Flag>,
    name: String,
    status: &'static str,
}

impl<H> Observed<H> {
    /// Wraps `inner` for the node `name`; `ready` is raised once the node is ready.
    pub fn new(inner: H, name: &str, ready: Arc<Flag>) -> Self {
        Observed {
            inner,
            ready,
            name: name.to_string(),
            status: "",
        }
    }
}

impl<N: Node + Readiness, H: Hooks<N>> Hooks<N> for Observed<H> {
    fn event(&mut self, event: N::Event) -> io::Result<()> {
        self.inner.event(event)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn observe(&mut self, node: &N) {
        self.inner.observe(node);
        if node.is_ready() {
            self.ready.raise();
        }
        let status = node.status();
        if status != self.status {
            self.status = status;
            info!(node = %self.name, status, "status");
        }
    }
}
