//! What a shell does with a node's events beside its IO: the [`Hooks`] trait, and the hooks
//! of the session and data roles (their events go to the log).

use crate::logbook::DataLog;
use roster_core::data::{DataEvent, DataNode};
use roster_core::io::Node;
use roster_core::session::{Session, SessionEvent};
use std::io;
use tracing::{debug, info, warn};

/// What the embedding does with a node's events and state.
pub trait Hooks<N: Node> {
    /// A node event (meta: a record to persist; client: an update). An error stops the
    /// loop: for meta, state that cannot be made durable must not be acted on.
    fn event(&mut self, event: N::Event) -> io::Result<()>;
    /// Makes the events so far durable; called before any output that follows them.
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Called after every turn of the loop, e.g. to publish readiness.
    fn observe(&mut self, _node: &N) {}
}

/// Hooks of a session: its events go to the log; ready once its table routes every key.
#[derive(Debug, Default)]
pub struct SessionHooks;

impl Hooks<Session> for SessionHooks {
    fn event(&mut self, event: SessionEvent) -> io::Result<()> {
        match event {
            SessionEvent::TableInstalled { epoch } => debug!(epoch = epoch.0, "table installed"),
            SessionEvent::SwitchesApplied { version } => info!(version, "switches applied"),
            SessionEvent::Draining { draining, clients } => {
                info!(draining, clients, "session drain changed")
            }
            SessionEvent::WritesDropped { .. } | SessionEvent::BreakerOpened { .. } => {
                warn!(?event, "session")
            }
            other => debug!(event = ?other, "session"),
        }
        Ok(())
    }
}

/// Hooks of a data node: its events go to the log ([`DataLog`]).
#[derive(Debug)]
pub struct DataHooks {
    log: DataLog,
}

impl DataHooks {
    /// Hooks of the data node called `name`.
    pub fn new(name: &str) -> Self {
        DataHooks {
            log: DataLog::new(name),
        }
    }
}

impl Hooks<DataNode> for DataHooks {
    fn event(&mut self, event: DataEvent) -> io::Result<()> {
        self.log.event(event);
        Ok(())
    }

    fn observe(&mut self, _node: &DataNode) {
        self.log.flush_due();
    }
}
