//! Where convergence is measured from for a closed client connection's publishers.
//!
//! A session keeps the publishers of a client connection that closed for
//! `disconnect_grace` (5 s by default, docs/operations.md "Failover window"), so that a
//! client failing over keeps them listed until its replay lands; a client that is really
//! gone is listed for that grace plus a write and a push. A client that died or dropped
//! an offline-unregistered publisher in the last seconds before the heal is therefore
//! listed after it by design, and measuring its removal from the heal would count the
//! documented grace as slowness. So a list that differs from the truth *only* by such
//! publishers (register ids of a client process one of whose connections closed less than
//! [`Ghosts::window`] ago) counts as converged for everything else, and the removal of
//! those publishers is measured from the end of their window instead of from the heal.
//! Liveness itself is unchanged: the run converges only once every list equals the truth.

use crate::check::Who;
use crate::net::NodeIx;
use roster_core::model::Text;
use roster_core::session::config::DEFAULT_DISCONNECT_GRACE;
use roster_core::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// The documented window after a client connection closes: the session's disconnect
/// grace, then a second for the removal's write and the push that follows it.
pub(super) fn window() -> Duration {
    DEFAULT_DISCONNECT_GRACE + Duration::from_secs(1)
}

/// Per client process, until when its closed connections' publishers may still be listed.
#[derive(Debug, Default)]
pub(super) struct Ghosts {
    until: BTreeMap<(NodeIx, u64), Instant>,
}

impl Ghosts {
    /// A connection of `client` closed (at either end) at `now`.
    pub(super) fn closed(&mut self, client: Who, now: Instant) {
        let end = now + window();
        let e = self.until.entry((client.node, client.inc)).or_insert(end);
        *e = (*e).max(end);
    }

    /// The end of the window that excuses `register_id` listed at `now`, if one does.
    /// Register ids are the workload's `c{node}.{incarnation}-p{n}`.
    pub(super) fn excused(&self, register_id: &Text, now: Instant) -> Option<Instant> {
        let owner = register_id.strip_prefix('c')?.split_once("-p")?.0;
        let (node, inc) = owner.split_once('.')?;
        let key = (node.parse().ok()?, inc.parse().ok()?);
        self.until.get(&key).copied().filter(|&end| end > now)
    }
}

/// How a probe found the lists.
#[derive(Debug)]
pub(super) enum Probe {
    /// Every list equals the truth.
    Converged,
    /// Every list equals the truth but for publishers of closed connections still in
    /// their window; the latest of those windows ends then.
    Excused(Instant),
}

/// What the probes saw since the heal, to measure convergence.
#[derive(Debug, Default)]
pub(super) struct Measure {
    /// Since when every probe found only excused differences, and the latest window end.
    excused: Option<(Instant, Instant)>,
}

impl Measure {
    /// A probe found a difference that no window excuses.
    pub(super) fn not_converged(&mut self) {
        self.excused = None;
    }

    /// A probe found only excused differences, the latest window ending at `end`.
    pub(super) fn excused(&mut self, now: Instant, end: Instant) {
        let e = self.excused.get_or_insert((now, end));
        e.1 = e.1.max(end);
    }

    /// The convergence time of a run healed at `healed` that fully converged at `now`:
    /// what was not excused counts from the heal; the excused publishers' removal counts
    /// from the end of their window.
    pub(super) fn converged(&self, healed: Instant, now: Instant) -> Duration {
        match self.excused {
            None => now.saturating_since(healed),
            Some((since, end)) => since
                .saturating_since(healed)
                .max(now.saturating_since(end.max(healed))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_closed_connections_publishers_are_excused_for_the_window_only() {
        let mut g = Ghosts::default();
        g.closed(Who { node: 7, inc: 2 }, at(1_000));
        let end = at(1_000) + window();
        assert_eq!(g.excused(&Text::from("c7.2-p3"), at(2_000)), Some(end));
        assert_eq!(g.excused(&Text::from("c7.2-p3"), end), None, "window over");
        assert_eq!(
            g.excused(&Text::from("c7.1-p3"), at(2_000)),
            None,
            "other process"
        );
        assert_eq!(
            g.excused(&Text::from("c8.2-p3"), at(2_000)),
            None,
            "other client"
        );
    }

    #[test]
    fn excused_publishers_count_from_their_windows_end() {
        let healed = at(10_000);
        let mut m = Measure::default();
        m.excused(at(11_000), at(14_000));
        // Gone 0.5 s after its window: 1 s for the rest, 0.5 s for the ghost.
        assert_eq!(m.converged(healed, at(14_500)), Duration::from_secs(1));
        // Something else broke again: measured from the heal.
        m.not_converged();
        assert_eq!(
            m.converged(healed, at(14_500)),
            Duration::from_millis(4_500)
        );
    }
}
