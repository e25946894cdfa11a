//! Datum fetching and caching (docs/design.md §4.5, session side). A change notification
//! or a scan result makes a key *wanted* only if some subscriber holds an older version;
//! wanted keys are fetched from the slot's leader with `FetchDatums`, one request in
//! flight per slot (keys wanted meanwhile ride the next one, so a burst costs one round
//! trip). Datums are cached by version: the cache only ever moves to a newer version, and
//! is dropped with the key's last subscriber.

use super::outbox::{Outbox, SessionEvent};
use super::registry::{CachedDatum, Registry, TopicId};
use crate::io::ConnId;
use crate::model::{DatumVersion, SlotId};
use crate::net::Backoff;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Datum, FetchDatums, SlotRoute};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
struct SlotFetch {
    /// Keys to fetch with the next request.
    pending: BTreeSet<TopicId>,
    /// The request in flight and the keys it carries.
    in_flight: Option<(u64, Vec<TopicId>)>,
    attempts: u32,
    not_before: Option<Instant>,
}

/// Per-slot fetch state.
#[derive(Debug, Default)]
pub(crate) struct Fetcher {
    slots: BTreeMap<SlotId, SlotFetch>,
}

/// Marks `tid` wanted at `version` if a subscriber is behind it; returns whether the
/// cache must be refreshed (false: the cache already holds it, or nobody needs it).
pub(crate) fn announce(reg: &mut Registry, tid: TopicId, version: DatumVersion) -> Announced {
    let Some(topic) = reg.topic_mut(tid) else {
        return Announced::Ignored;
    };
    if !topic.interested(version) {
        return Announced::Ignored;
    }
    if topic.datum.as_ref().is_some_and(|d| d.version >= version) {
        return Announced::Cached;
    }
    topic.wanted = topic.wanted.max(Some(version));
    Announced::Fetch(topic.slot)
}

/// What an announced version calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announced {
    /// No subscriber is behind it.
    Ignored,
    /// The cache holds it: push from the cache.
    Cached,
    /// Fetch it from this slot's leader.
    Fetch(SlotId),
}

impl Fetcher {
    /// Queues `tid` for the next fetch of `slot`.
    pub(crate) fn want(&mut self, slot: SlotId, tid: TopicId) {
        self.slots.entry(slot).or_default().pending.insert(tid);
    }

    /// Slots with keys to fetch.
    pub(crate) fn pending_slots(&self) -> Vec<SlotId> {
        self.slots.keys().copied().collect()
    }

    /// Whether `slot` may send a fetch now.
    pub(crate) fn ready(&self, slot: SlotId, now: Instant) -> bool {
        self.slots.get(&slot).is_some_and(|s| {
            s.in_flight.is_none() && !s.pending.is_empty() && s.not_before.is_none_or(|t| t <= now)
        })
    }

    /// Sends the slot's pending keys to its leader on `conn`; returns the request id.
    pub(crate) fn send(
        &mut self,
        reg: &Registry,
        slot: SlotId,
        route: SlotRoute,
        conn: ConnId,
        out: &mut Outbox,
    ) -> Option<u64> {
        let s = self.slots.get_mut(&slot)?;
        let tids: Vec<TopicId> = std::mem::take(&mut s.pending)
            .into_iter()
            .filter(|t| reg.topic(*t).is_some_and(|t| t.slot == slot))
            .collect();
        if tids.is_empty() {
            self.slots.remove(&slot);
            return None;
        }
        let data_info_ids = tids
            .iter()
            .filter_map(|t| reg.topic(*t).map(|t| (*t.key).clone()))
            .collect();
        let id = out.request(
            conn,
            FetchDatums {
                route,
                data_info_ids,
            },
        );
        out.stats.fetches_sent += 1;
        s.in_flight = Some((id, tids));
        s.not_before = None;
        Some(id)
    }

    /// The leader answered `request`: caches what is newer; returns the keys to fan out.
    pub(crate) fn arrived(
        &mut self,
        reg: &mut Registry,
        slot: SlotId,
        request: u64,
        datums: Vec<Datum>,
        out: &mut Outbox,
    ) -> Vec<TopicId> {
        let Some(s) = self.slots.get_mut(&slot) else {
            return Vec::new();
        };
        if s.in_flight.as_ref().map(|f| f.0) != Some(request) {
            return Vec::new();
        }
        s.in_flight = None;
        s.attempts = 0;
        if s.pending.is_empty() {
            self.slots.remove(&slot);
        }
        let mut touched = Vec::with_capacity(datums.len());
        for d in datums {
            let Some(tid) = reg.find(&d.data_info_id) else {
                continue;
            };
            let Some(topic) = reg.topic_mut(tid) else {
                continue;
            };
            if topic.datum.as_ref().is_none_or(|c| c.version < d.version) {
                let next = CachedDatum::following(topic.datum.as_ref(), d.version, d.publishers);
                topic.datum = Some(next);
            }
            if topic.wanted.is_some_and(|w| w > d.version) {
                // The leader answered with something older than it announced (it lost
                // leadership meanwhile, say): the version scan will find the newer one.
                out.event(SessionEvent::StaleDatum {
                    data_info_id: (*topic.key).clone(),
                });
            }
            topic.wanted = None;
            touched.push(tid);
        }
        touched
    }

    /// The fetch `request` failed: its keys wait for the next attempt after a backoff, or
    /// are given up (the version scan retries them) past `limit`.
    pub(crate) fn failed(
        &mut self,
        slot: SlotId,
        request: u64,
        now: Instant,
        (limit, backoff): (u32, Backoff),
        rng: &mut Rng,
    ) -> Option<Instant> {
        let s = self.slots.get_mut(&slot)?;
        if s.in_flight.as_ref().map(|f| f.0) != Some(request) {
            return None;
        }
        let (_, tids) = s.in_flight.take()?;
        s.attempts += 1;
        if s.attempts > limit {
            s.attempts = 0;
            if s.pending.is_empty() {
                self.slots.remove(&slot);
            }
            return None;
        }
        s.pending.extend(tids);
        let at = now + backoff.delay(s.attempts - 1, rng);
        s.not_before = Some(at);
        Some(at)
    }

    /// `slot`'s leader notified a change: it serves reads, so a fetch waiting out the
    /// backoff of a refusal (`Migrating`, `NotReady`) goes at once rather than after it.
    pub(crate) fn notified(&mut self, slot: SlotId) {
        if let Some(s) = self.slots.get_mut(&slot) {
            s.not_before = None;
        }
    }

    /// A newer table arrived: fetches waiting out a backoff re-route at once.
    pub(crate) fn reroute_all(&mut self) {
        for s in self.slots.values_mut() {
            s.not_before = None;
        }
    }
}
