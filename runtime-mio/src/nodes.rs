//! Running a node on its own thread: spawn a [`Shell`] with its hooks, learn when the node
//! is ready (a condition on its state, never a sleep), stop it and join it.

use crate::shell::{Handle, Hooks, Shell};
use roster_core::data::{DataEvent, DataNode};
use roster_core::io::Node;
use roster_core::meta::MetaNode;
use roster_core::session::{Session, SessionEvent};
use roster_core::slot::SlotTable;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, info, warn};

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

/// Hooks of a session: its events go to the log; ready once its table routes every key.
#[derive(Debug, Default)]
pub struct SessionHooks;

impl Hooks<Session> for SessionHooks {
    fn event(&mut self, event: SessionEvent) -> io::Result<()> {
        match event {
            SessionEvent::TableInstalled { epoch } => debug!(epoch = epoch.0, "table installed"),
            SessionEvent::WritesDropped { .. } | SessionEvent::BreakerOpened { .. } => {
                warn!(?event, "session")
            }
            other => debug!(event = ?other, "session"),
        }
        Ok(())
    }
}

/// Hooks of a data node (it has no events).
#[derive(Debug, Default)]
pub struct DataHooks;

impl Hooks<DataNode> for DataHooks {
    fn event(&mut self, event: DataEvent) -> io::Result<()> {
        match event {}
    }
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

struct Observed<H> {
    inner: H,
    ready: Arc<Flag>,
    name: String,
    status: &'static str,
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

/// A node running on its own thread. Dropping it stops and joins it.
#[derive(Debug)]
pub struct Running<C> {
    name: String,
    handle: Handle<C>,
    thread: Option<JoinHandle<io::Result<()>>>,
    ready: Arc<Flag>,
}

/// Starts `shell` on a thread named `name`.
pub fn spawn<N, H>(name: &str, shell: Shell<N>, hooks: H) -> io::Result<Running<N::Command>>
where
    N: Node + Readiness + Send + 'static,
    N::Command: Send + 'static,
    H: Hooks<N> + Send + 'static,
{
    let ready = Arc::new(Flag::default());
    let handle = shell.handle();
    let mut hooks = Observed {
        inner: hooks,
        ready: ready.clone(),
        name: name.to_string(),
        status: "",
    };
    let thread_name = name.to_string();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let r = shell.run(&mut hooks).map(drop);
            match &r {
                Ok(()) => info!(node = %thread_name, "stopped"),
                Err(e) => tracing::error!(node = %thread_name, error = %e, "node failed"),
            }
            r
        })?;
    Ok(Running {
        name: name.to_string(),
        handle,
        thread: Some(thread),
        ready,
    })
}

impl<C> Running<C> {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits at most `timeout` for the node to be ready.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.ready.wait(timeout)
    }

    /// Whether the node's thread has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// A handle to its loop.
    pub fn handle(&self) -> &Handle<C> {
        &self.handle
    }

    /// Stops the node and waits for its thread; the loop's result.
    pub fn stop(&mut self) -> io::Result<()> {
        self.handle.stop();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other(format!("{} panicked", self.name)))),
            None => Ok(()),
        }
    }
}

impl<C> Drop for Running<C> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
