//! Watching the link to meta for silence. Data and session nodes heartbeat the meta leader
//! every interval and meta answers every heartbeat, so a link on which nothing arrives for
//! [`SILENT_HEARTBEATS`] intervals leads to a meta node that is stalled (`SIGSTOP`, a GC
//! pause, a host that froze) while its socket stays open. Without this check the node
//! would heartbeat into that socket until the stall ended, while the rest of the meta
//! group elected a new leader whose leases on it (one meta lease from its first look) ran
//! out and expelled it. Closing the silent link moves the node to the next meta address,
//! whose `NotLeader` names the new leader, well within that lease.
//!
//! A node that was stalled itself has not read what meta sent meanwhile; the check then
//! puts off its verdict by one interval ([`crate::liveness::Liveness::excuse`]). The link's
//! liveness is a [`Liveness`] whose idle timeout is the silence allowed.

use crate::io::ConnId;
use crate::liveness::{Due, Liveness, LivenessConfig};
use crate::time::Instant;
use std::time::Duration;

/// Heartbeat intervals without a single frame from meta after which its link is closed.
pub const SILENT_HEARTBEATS: u32 = 3;

/// The one link to meta, with the liveness of what it received.
#[derive(Debug, Clone, Default)]
pub struct MetaWatch {
    link: Option<(ConnId, Liveness)>,
    last_check: Option<Instant>,
}

impl MetaWatch {
    /// The link `conn` to meta came up at `now`.
    pub fn up(&mut self, conn: ConnId, now: Instant) {
        self.link = Some((conn, Liveness::new(now)));
    }

    /// A frame arrived on `conn` at `now` (any connection may be passed; only the meta
    /// link's counts).
    pub fn heard(&mut self, conn: ConnId, now: Instant) {
        if let Some((c, l)) = &mut self.link
            && *c == conn
        {
            l.received(now);
        }
    }

    /// `conn` closed (any connection may be passed).
    pub fn closed(&mut self, conn: ConnId) {
        if self.link.is_some_and(|(c, _)| c == conn) {
            self.link = None;
        }
    }

    /// Called every heartbeat `interval`: the link to close because meta has been silent
    /// for [`SILENT_HEARTBEATS`] intervals, if any. The link is forgotten then.
    pub fn silent(&mut self, now: Instant, interval: Duration) -> Option<ConnId> {
        // The heartbeats themselves are the keep-alives: only the idle timeout matters.
        let cfg = LivenessConfig {
            keepalive_interval: interval,
            idle_timeout: interval * SILENT_HEARTBEATS,
        };
        let late = self
            .last_check
            .is_some_and(|at| now.saturating_since(at) >= interval * 2);
        self.last_check = Some(now);
        let (conn, l) = self.link.as_mut()?;
        if late {
            // This node was stalled: meta's answers may still be unread in the socket.
            l.excuse(now, &cfg);
            return None;
        }
        if l.due(now, &cfg) != Due::Dead {
            return None;
        }
        let conn = *conn;
        self.link = None;
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HB: Duration = Duration::from_secs(1);

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn a_link_silent_for_three_heartbeats_is_closed_once() {
        let mut w = MetaWatch::default();
        w.up(ConnId(7), at(0));
        for t in [1_000, 2_000] {
            assert_eq!(w.silent(at(t), HB), None, "at {t} ms");
        }
        assert_eq!(w.silent(at(3_000), HB), Some(ConnId(7)));
        assert_eq!(w.silent(at(4_000), HB), None, "forgotten once closed");
    }

    #[test]
    fn any_frame_on_the_link_keeps_it() {
        let mut w = MetaWatch::default();
        w.up(ConnId(7), at(0));
        w.heard(ConnId(8), at(2_500));
        w.heard(ConnId(7), at(2_500));
        assert_eq!(w.silent(at(3_000), HB), None);
        assert_eq!(w.silent(at(4_000), HB), None);
        assert_eq!(w.silent(at(5_500), HB), Some(ConnId(7)));
    }

    #[test]
    fn a_node_that_was_stalled_itself_waits_one_more_interval() {
        let mut w = MetaWatch::default();
        w.up(ConnId(7), at(0));
        assert_eq!(w.silent(at(1_000), HB), None);
        // Stalled from 1 s to 9 s: the check comes late and judges nothing.
        assert_eq!(w.silent(at(9_000), HB), None);
        w.heard(ConnId(7), at(9_001));
        assert_eq!(w.silent(at(10_000), HB), None, "the queued answer was read");
        // Had nothing arrived, the link would go one interval after the excuse ran out.
        let mut quiet = MetaWatch::default();
        quiet.up(ConnId(7), at(0));
        assert_eq!(quiet.silent(at(1_000), HB), None);
        assert_eq!(quiet.silent(at(9_000), HB), None);
        assert_eq!(quiet.silent(at(10_000), HB), Some(ConnId(7)));
    }

    #[test]
    fn a_closed_link_is_not_judged() {
        let mut w = MetaWatch::default();
        w.up(ConnId(7), at(0));
        w.closed(ConnId(7));
        assert_eq!(w.silent(at(5_000), HB), None);
    }
}
