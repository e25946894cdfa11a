//! Session leases (docs/design.md §4.7): a data node remembers when it last heard from
//! each session process (any frame on its connection, or its presence in the membership
//! meta pushes). A process silent for longer than the lease, and absent from the
//! membership, has left; once `failover_grace` passed on top, the node removes the
//! publishers it still owns from the slots it leads (owner-checked, so publishers its
//! clients already re-registered through another session — newer version, new owner —
//! stay). The grace exists because a session can lose its lease while its clients are
//! alive: stalled (a GC pause, `SIGSTOP`) or cut off, it is expelled by meta while its
//! clients are still waiting out their idle timeout; removing its publishers before they
//! failed over would show subscribers lists without live publishers. The caller passes
//! lease + grace to [`Leases::expire`].

use crate::model::ProcessId;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// When each known session process was last heard from.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    last_heard: BTreeMap<ProcessId, Instant>,
}

impl Leases {
    /// `process` was heard from at `now`.
    pub(crate) fn renew(&mut self, process: ProcessId, now: Instant) {
        let at = self.last_heard.entry(process).or_insert(now);
        *at = (*at).max(now);
    }

    /// Starts a lease for `process` at `now` unless it already has one (owners found in a
    /// slot this node just took over get a full lease from the takeover).
    pub(crate) fn track(&mut self, process: ProcessId, now: Instant) {
        self.last_heard.entry(process).or_insert(now);
    }

    /// Removes and returns every process whose lease lapsed at `now`, except members.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        lease: Duration,
        members: &BTreeSet<ProcessId>,
    ) -> Vec<ProcessId> {
        let expired: Vec<ProcessId> = self
            .last_heard
            .iter()
            .filter(|(p, at)| !members.contains(p) && now.saturating_since(**at) >= lease)
            .map(|(p, _)| *p)
            .collect();
        for p in &expired {
            self.last_heard.remove(p);
        }
        expired
    }

    /// Whether `process` currently holds a lease.
    #[cfg(test)]
    pub(crate) fn holds(&self, process: ProcessId) -> bool {
        self.last_heard.contains_key(&process)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::pid as p;

    #[test]
    fn lease_expires_only_silent_non_members() {
        let lease = Duration::from_secs(20);
        let mut l = Leases::default();
        l.renew(p(1), Instant::from_millis(0));
        l.renew(p(2), Instant::from_millis(0));
        l.track(p(3), Instant::from_millis(0));
        l.renew(p(1), Instant::from_millis(15_000));
        let members = BTreeSet::from([p(3)]);
        assert!(
            l.expire(Instant::from_millis(19_999), lease, &members)
                .is_empty()
        );
        assert_eq!(
            l.expire(Instant::from_millis(20_000), lease, &members),
            [p(2)]
        );
        assert!(l.holds(p(1)) && l.holds(p(3)) && !l.holds(p(2)));
        // Tracking does not reset a running lease.
        l.track(p(1), Instant::from_millis(34_000));
        assert_eq!(
            l.expire(Instant::from_millis(35_000), lease, &members),
            [p(1)]
        );
    }
}
