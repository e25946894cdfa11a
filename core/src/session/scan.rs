//! The periodic version scan (the repair loop of docs/design.md §4.5). Every `scan_interval`
//! the session sends each slot's leader one `VersionScan` with the version it holds of
//! every key its subscribers watch there; the leader answers the keys whose version
//! differs, which are then fetched exactly like notified changes. The scan also re-offers
//! the cached datum to every subscriber still behind it, so a push given up after its
//! retries (or held back by a breaker) is repaired too — not only a lost notification.

use super::{ReqKind, Session};
use crate::time::Instant;
use crate::wire::{DatumChange, VersionScan};

impl Session {
    pub(super) fn scan(&mut self, now: Instant) {
        let slots: Vec<_> = self.registry.slots().collect();
        for slot in slots {
            let mut known = Vec::new();
            for tid in self.registry.slot_topics(slot) {
                let Some(t) = self.registry.topic(tid) else {
                    continue;
                };
                if t.subscribers.is_empty() {
                    continue;
                }
                known.push(DatumChange {
                    data_info_id: (*t.key).clone(),
                    version: t.held_version(),
                });
                if t.datum.is_some() {
                    self.fan_out(now, tid);
                }
            }
            if known.is_empty() {
                continue;
            }
            let (Some(route), Some(conn)) = (self.table.route(slot), self.leader_conn(slot)) else {
                continue;
            };
            let id = self.out.request(conn, VersionScan { route, known });
            self.out.stats.scans_sent += 1;
            self.track(now, id, conn, ReqKind::Scan(slot));
        }
    }
}
