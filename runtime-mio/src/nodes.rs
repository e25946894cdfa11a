//! Running a node on its own thread: spawn a [`Shell`] with its hooks, learn when the node
//! is ready (a condition on its state, never a sleep), stop it and join it.

use crate::shell::{Handle, Shell};
use roster_core::io::Node;
use roster_shell::{Flag, Hooks, Inspector, Observed, Readiness};
use std::any::Any;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::info;

/// A node running on its own thread. Dropping it stops and joins it.
#[derive(Debug)]
pub struct Running<C> {
    name: String,
    handle: Handle<C>,
    thread: Option<JoinHandle<io::Result<()>>>,
    ready: Arc<Flag>,
    /// An `Inspector` of the node, typed by the caller that asks for it (`Running` is
    /// generic over the node's commands only, which is what most holders need).
    inspector: Arc<dyn Any + Send + Sync>,
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
    let inspector = Arc::new(shell.inspector());
    let mut hooks = Observed::new(hooks, name, ready.clone());
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
        inspector,
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

    /// An inspector of the node, if it is of type `N`.
    pub fn inspector<N: 'static>(&self) -> Option<Inspector<N>> {
        self.inspector.downcast_ref::<Inspector<N>>().cloned()
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
