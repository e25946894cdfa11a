//! The nodes one process runs, as the admin server reaches them: each role's nodes by
//! name, each with an inspector that runs a closure inside the node's loop.

use crate::error::{ApiError, no_answer};
use roster_core::data::DataNode;
use roster_core::meta::MetaNode;
use roster_core::session::Session;
use roster_core::time::Instant;
use roster_shell::Inspector;
use std::time::Duration;

/// How long a request waits for a node's loop: a healthy loop answers within a turn, so a
/// node slower than this is stalled, and the request says so rather than hang.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// One node of the process.
#[derive(Debug)]
pub struct Probe<N> {
    /// The node's name, as its log lines give it.
    pub name: String,
    inspector: Inspector<N>,
}

impl<N> Clone for Probe<N> {
    fn clone(&self) -> Self {
        Probe {
            name: self.name.clone(),
            inspector: self.inspector.clone(),
        }
    }
}

impl<N: 'static> Probe<N> {
    /// The node called `name`, reached through `inspector`.
    pub fn new(name: impl Into<String>, inspector: Inspector<N>) -> Self {
        Probe {
            name: name.into(),
            inspector,
        }
    }

    /// Runs `f` on the node inside its loop (which may also hand the node a command: its
    /// outputs are carried out after), off the server's own thread so a stalled node
    /// delays only this request; 503 naming the node if it does not answer.
    pub async fn ask<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut N, Instant) -> R + Send + 'static,
    {
        let inspector = self.inspector.clone();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || inspector.ask(ASK_TIMEOUT, f))
            .await
            .map_err(|e| ApiError::unavailable(format!("{name}: {e}")))?
            .map_err(|e| no_answer(&self.name, e))
    }
}

/// Every node the process runs, by role.
#[derive(Debug, Default, Clone)]
pub struct Process {
    /// Meta nodes.
    pub metas: Vec<Probe<MetaNode>>,
    /// Data nodes (with glommio, one per shard).
    pub datas: Vec<Probe<DataNode>>,
    /// Session nodes (with glommio, one per shard).
    pub sessions: Vec<Probe<Session>>,
}

impl Process {
    /// Whether the process runs no node at all.
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty() && self.datas.is_empty() && self.sessions.is_empty()
    }
}
