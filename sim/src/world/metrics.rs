//! Check (m): the metrics the nodes report agree with what the simulator saw happen, so a
//! counter that lies fails a run. Evaluated once, when the run converged and its quiet
//! period is over:
//!
//! - pushes: every push a client received was sent and counted by a session, and every
//!   push a session counts as acknowledged was received: summed over every session
//!   incarnation (a crashed one's counts are kept), sessions' `pushes_acked` ≤ distinct
//!   pushes the simulator delivered to clients (a duplicated frame counts once) ≤
//!   sessions' `pushes_sent`; likewise for delta pushes;
//! - writes: on each live session, every write it counted as queued is acknowledged,
//!   dropped, or still queued (`writes_queued` = `writes_acked` + `writes_dropped` + what
//!   its queues hold), and it observed one write latency per acknowledged write;
//! - push latency: no more observations than acknowledged pushes;
//! - publishers: the data nodes' `led_publishers` gauges sum to the publishers the
//!   workload's live clients hold (each key's publishers live once, at its leader).

use super::World;
use crate::cluster::Machine;
use roster_core::session::SessionStats;
use std::collections::BTreeSet;

/// What crashed sessions counted, kept past their crash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Retired {
    pushes_sent: u64,
    delta_pushes_sent: u64,
    pushes_acked: u64,
}

/// The pushes delivered to clients, each once: (simulated connection, request id), and
/// whether it was a delta.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pushes: BTreeSet<(usize, u64)>,
    deltas: u64,
}

impl Delivered {
    /// A push frame reached a client.
    pub(crate) fn push(&mut self, conn: usize, request: u64, delta: bool) {
        if self.pushes.insert((conn, request)) {
            self.deltas += u64::from(delta);
        }
    }
}

impl Retired {
    pub(crate) fn add(&mut self, s: &SessionStats) {
        self.pushes_sent += s.pushes_sent;
        self.delta_pushes_sent += s.delta_pushes_sent;
        self.pushes_acked += s.pushes_acked;
    }
}

impl World {
    /// Check (m); the first disagreement.
    pub(super) fn metrics_agree(&self) -> Result<(), String> {
        let mut all = self.retired_sessions;
        let mut led_publishers = 0;
        for s in &self.nodes {
            match &s.machine {
                Some(Machine::Session(m)) => {
                    let st = m.stats();
                    all.add(&st);
                    let queued = m.queued_writes_total() as u64;
                    let settled = st.writes_acked + st.writes_dropped + queued;
                    if st.writes_queued != settled {
                        return Err(format!(
                            "{} counted {} writes queued but {} acknowledged + {} dropped + \
                             {queued} queued",
                            s.name(),
                            st.writes_queued,
                            st.writes_acked,
                            st.writes_dropped
                        ));
                    }
                    if st.write_latency.count() != st.writes_acked {
                        return Err(format!(
                            "{} observed {} write latencies for {} acknowledged writes",
                            s.name(),
                            st.write_latency.count(),
                            st.writes_acked
                        ));
                    }
                    if st.push_latency.count() > st.pushes_acked {
                        return Err(format!(
                            "{} timed {} pushes but counts {} acknowledged",
                            s.name(),
                            st.push_latency.count(),
                            st.pushes_acked
                        ));
                    }
                }
                Some(Machine::Data(d)) => led_publishers += d.stats().led_publishers,
                _ => {}
            }
        }
        let delivered = self.delivered_pushes.pushes.len() as u64;
        let deltas = self.delivered_pushes.deltas;
        if !(all.pushes_acked <= delivered && delivered <= all.pushes_sent) {
            return Err(format!(
                "sessions counted {} pushes sent and {} acknowledged; clients received {delivered}",
                all.pushes_sent, all.pushes_acked
            ));
        }
        if deltas > all.delta_pushes_sent {
            return Err(format!(
                "sessions counted {} delta pushes sent; clients received {deltas}",
                all.delta_pushes_sent
            ));
        }
        let live: Vec<usize> = self
            .clients()
            .into_iter()
            .filter(|&c| self.nodes[c].machine.is_some())
            .collect();
        let held: usize = self.workload.expected(&live).values().map(Vec::len).sum();
        if led_publishers != held as u64 {
            return Err(format!(
                "data leaders report {led_publishers} publishers; live clients hold {held}"
            ));
        }
        Ok(())
    }
}
