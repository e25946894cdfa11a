//! Change notification (docs/design.md §4.5): the `(data info id, version)` pairs a
//! leader changed go to every connected session as `ChangeNotify`. A session with no
//! notification unacknowledged gets one at once; changes arriving while one is in flight
//! coalesce (one entry per key, newest version) into the next, which is bounded in size.
//! An `Ack` (or an error reply, or the request timeout) clears the in-flight notification.
//!
//! Each pending change remembers when its key first changed since the last notification to
//! that session, and the notification carries how long each change waited (`waits_micros`,
//! appended to `ChangeNotify`): the leader's part of the push latency, measured on the
//! leader's own clock (the session adds its part, measured on its own).

use super::store::Key;
use crate::io::ConnId;
use crate::model::DatumVersion;
use crate::time::Instant;
use crate::wire::{ChangeNotify, DatumChange};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default)]
struct Outbox {
    /// Per key: the newest version, and when the oldest change not yet notified was made.
    pending: BTreeMap<Key, (DatumVersion, Instant)>,
    /// Request id and send time of the unacknowledged notification.
    in_flight: Option<(u64, Instant)>,
}

/// Per-session notification queues.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    sessions: BTreeMap<ConnId, Outbox>,
}

impl Notifier {
    /// Starts notifying the session on `conn`.
    pub(crate) fn add_session(&mut self, conn: ConnId) {
        self.sessions.entry(conn).or_default();
    }

    /// Stops notifying `conn`.
    pub(crate) fn remove_session(&mut self, conn: ConnId) {
        self.sessions.remove(&conn);
    }

    /// Queues a change made at `now` for every session.
    pub(crate) fn record(&mut self, key: &Key, version: DatumVersion, now: Instant) {
        for out in self.sessions.values_mut() {
            // Look up by reference first: a key is usually pending already, and its `Arc`
            // need not be cloned then.
            match out.pending.get_mut(&**key) {
                // The older change's instant stays: the next notification delivers it too.
                Some((v, _)) => *v = (*v).max(version),
                None => {
                    out.pending.insert(key.clone(), (version, now));
                }
            }
        }
    }

    /// Clears the in-flight notification of `conn` if `request_id` is it; returns whether it
    /// was.
    pub(crate) fn on_reply(&mut self, conn: ConnId, request_id: u64) -> bool {
        match self.sessions.get_mut(&conn) {
            Some(out) if out.in_flight.is_some_and(|(id, _)| id == request_id) => {
                out.in_flight = None;
                true
            }
            _ => false,
        }
    }

    /// Gives up on notifications unacknowledged for `timeout` (the version scan repairs
    /// anything lost), so the next can go.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) {
        for out in self.sessions.values_mut() {
            if out
                .in_flight
                .is_some_and(|(_, at)| now.saturating_since(at) >= timeout)
            {
                out.in_flight = None;
            }
        }
    }

    /// The notifications to send now: one per session with pending changes and none in
    /// flight, at most `bound` changes each. `next_id` allocates request ids.
    pub(crate) fn flush(
        &mut self,
        now: Instant,
        bound: usize,
        mut next_id: impl FnMut() -> u64,
    ) -> Vec<(ConnId, u64, ChangeNotify)> {
        let mut out = Vec::new();
        for (conn, ob) in &mut self.sessions {
            if ob.in_flight.is_some() || ob.pending.is_empty() {
                continue;
            }
            let n = ob.pending.len().min(bound);
            let mut changes = Vec::with_capacity(n);
            let mut waits_micros = Vec::with_capacity(n);
            while changes.len() < bound {
                let Some((key, (version, at))) = ob.pending.pop_first() else {
                    break;
                };
                changes.push(DatumChange {
                    data_info_id: (*key).clone(),
                    version,
                });
                let wait = now.saturating_since(at).as_micros();
                waits_micros.push(u32::try_from(wait).unwrap_or(u32::MAX));
            }
            let id = next_id();
            ob.in_flight = Some((id, now));
            let notify = ChangeNotify {
                changes,
                waits_micros,
            };
            out.push((*conn, id, notify));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DataInfoId, LeaderEpoch};
    use std::sync::Arc;

    fn key(s: &str) -> Key {
        Arc::new(DataInfoId::new(s, "i", "g"))
    }

    fn v(seq: u64) -> DatumVersion {
        DatumVersion::new(LeaderEpoch(1), seq)
    }

    #[test]
    fn notify_sends_at_once_when_idle_then_coalesces_until_ack() {
        let mut n = Notifier::default();
        let c = ConnId(1);
        n.add_session(c);
        let mut ids = 0..;
        let mut next = || ids.next().unwrap_or(0);
        n.record(&key("a"), v(1), Instant::ZERO);
        let first = n.flush(Instant::ZERO, 10, &mut next);
        assert_eq!(first.len(), 1, "idle: sent at once");
        let (_, id, msg) = &first[0];
        assert_eq!(msg.changes.len(), 1);
        // While in flight: three changes to two keys coalesce, nothing is sent.
        n.record(&key("a"), v(2), Instant::from_millis(1));
        n.record(&key("b"), v(3), Instant::from_millis(2));
        n.record(&key("a"), v(4), Instant::from_millis(3));
        assert!(n.flush(Instant::ZERO, 10, &mut next).is_empty());
        assert!(!n.on_reply(c, id + 100), "a foreign id does not clear");
        assert!(n.on_reply(c, *id));
        let second = n.flush(Instant::from_millis(10), 10, &mut next);
        assert_eq!(second.len(), 1);
        let changes = &second[0].2.changes;
        assert_eq!(changes.len(), 2, "one entry per key");
        assert_eq!(changes[0].version, v(4), "the newest version of a");
        assert_eq!(changes[1].version, v(3));
        // a waited since its first pending change (1 ms), not its newest (3 ms).
        assert_eq!(second[0].2.waits_micros, [9_000, 8_000]);
    }

    #[test]
    fn notify_batches_are_bounded_and_timeouts_unblock() {
        let mut n = Notifier::default();
        n.add_session(ConnId(1));
        for i in 0..5 {
            n.record(&key(&format!("k{i}")), v(i), Instant::ZERO);
        }
        let mut ids = 0..;
        let mut next = || ids.next().unwrap_or(0);
        let sent = n.flush(Instant::ZERO, 2, &mut next);
        assert_eq!(sent[0].2.changes.len(), 2);
        n.expire(Instant::from_millis(999), Duration::from_secs(1));
        assert!(n.flush(Instant::ZERO, 2, &mut next).is_empty());
        n.expire(Instant::from_millis(1000), Duration::from_secs(1));
        assert_eq!(n.flush(Instant::ZERO, 10, &mut next)[0].2.changes.len(), 3);
    }
}
