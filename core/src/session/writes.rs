//! Write forwarding (docs/design.md §4.3): publisher writes queue per slot in the order
//! the session accepted them and leave as `WriteBatch`es to the slot's leader, at most one
//! batch in flight per slot. A failed batch (timeout, refusal, lost connection) is resent
//! whole, in place, after a backoff — or at once when a newer slot table re-routes it — up
//! to `write_retry_limit` times; then it is dropped with a `WritesDropped` event and the
//! data leader's reconciliation restores it from the session's registry (docs/design.md §4.6).
//!
//! Writes wait as [`Write`]s, which share the registry's key and publisher: queuing one
//! costs two reference counts and 24 bytes (16, and the instant it was queued at, for the
//! write latency), not a copy of the ~200-byte `WriteOp`, which is
//! built only when its batch goes out (from exactly what was queued, so a resend is the same
//! batch). The queues are found by slot number in a vector, not searched for: every
//! registration queues a write.

use super::outbox::{Outbox, SessionEvent, SessionStats};
use crate::io::ConnId;
use crate::model::{DataInfoId, Publisher, RegisterVersion, SlotId, Text};
use crate::net::Backoff;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{SlotRoute, WriteBatch, WriteOp};
use std::collections::VecDeque;
use std::sync::Arc;

/// A write waiting to be sent: a [`WriteOp`] whose key and publisher are shared.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// Add or replace `publisher` under `key`.
    Put {
        key: Arc<DataInfoId>,
        publisher: Arc<Publisher>,
    },
    /// A removal, boxed: rarer than puts, and unboxed it would double every queued write.
    Remove(Box<Removal>),
}

/// Remove `register_id` under `key`, leaving a tombstone at `version`.
#[derive(Debug, Clone)]
pub(crate) struct Removal {
    pub(crate) key: Arc<DataInfoId>,
    pub(crate) register_id: Text,
    pub(crate) version: RegisterVersion,
}

impl Write {
    /// Remove `register_id` under `key`, leaving a tombstone at `version`.
    pub(crate) fn remove(
        key: Arc<DataInfoId>,
        register_id: Text,
        version: RegisterVersion,
    ) -> Self {
        Write::Remove(Box::new(Removal {
            key,
            register_id,
            version,
        }))
    }

    /// The op on the wire.
    fn op(&self) -> WriteOp {
        match self {
            Write::Put { key, publisher } => WriteOp::Put {
                data_info_id: DataInfoId::clone(key),
                publisher: Publisher::clone(publisher),
            },
            Write::Remove(r) => WriteOp::Remove {
                data_info_id: DataInfoId::clone(&r.key),
                register_id: r.register_id.clone(),
                version: r.version,
            },
        }
    }
}

#[derive(Debug)]
struct Batch {
    /// The writes, each with when it was queued.
    ops: Vec<(Write, Instant)>,
    /// Failed sends so far.
    attempts: u32,
    /// The request carrying it, while one is outstanding.
    request: Option<u64>,
}

#[derive(Debug, Default)]
struct SlotWrites {
    /// Writes waiting, each with when it was queued.
    queue: VecDeque<(Write, Instant)>,
    batch: Option<Batch>,
    /// No resend before this instant (backoff after a failure).
    not_before: Option<Instant>,
}

impl SlotWrites {
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.batch.is_none()
    }

    /// Something to send, nothing in flight, no backoff.
    fn may_send(&self, now: Instant) -> bool {
        !self.idle()
            && self.batch.as_ref().is_none_or(|b| b.request.is_none())
            && self.not_before.is_none_or(|t| t <= now)
    }
}

/// Per-slot write queues, by slot number; a slot has one only while it has writes queued
/// or in flight (an idle slot's is dropped, as is the memory of a drained burst).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    slots: Vec<Option<Box<SlotWrites>>>,
}

impl Writer {
    /// Queues a write; evicts the oldest queued write if the slot's queue is full. Returns
    /// whether the slot may send now (as [`Writer::ready`], without a second search).
    pub(crate) fn enqueue(
        &mut self,
        slot: SlotId,
        op: Write,
        bound: usize,
        now: Instant,
        out: &mut Outbox,
    ) -> bool {
        let i = usize::from(slot.0);
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let s = self.slots[i].get_or_insert_default();
        if s.queue.len() >= bound {
            s.queue.pop_front();
            out.stats.writes_dropped += 1;
            out.event(SessionEvent::WritesDropped { slot, ops: 1 });
        }
        s.queue.push_back((op, now));
        s.may_send(now)
    }

    /// Slots with writes to send.
    pub(crate) fn pending_slots(&self) -> Vec<SlotId> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .map(|i| SlotId(i as u16))
            .collect()
    }

    fn get(&self, slot: SlotId) -> Option<&SlotWrites> {
        self.slots.get(usize::from(slot.0))?.as_deref()
    }

    fn get_mut(&mut self, slot: SlotId) -> Option<&mut SlotWrites> {
        self.slots.get_mut(usize::from(slot.0))?.as_deref_mut()
    }

    /// Drops `slot`'s queue (it went idle).
    fn remove(&mut self, slot: SlotId) {
        if let Some(s) = self.slots.get_mut(usize::from(slot.0)) {
            *s = None;
        }
    }

    /// Whether `slot` may send now: something to send, nothing in flight, no backoff.
    pub(crate) fn ready(&self, slot: SlotId, now: Instant) -> bool {
        self.get(slot).is_some_and(|s| s.may_send(now))
    }

    /// Sends the slot's current batch (forming it from the queue if needed) with `route`
    /// on `conn`; returns the request id. Call only when [`Writer::ready`].
    pub(crate) fn send(
        &mut self,
        slot: SlotId,
        route: SlotRoute,
        conn: ConnId,
        max_ops: usize,
        out: &mut Outbox,
    ) -> Option<u64> {
        let s = self.get_mut(slot)?;
        if s.batch.is_none() {
            let n = s.queue.len().min(max_ops);
            if n == 0 {
                return None;
            }
            s.batch = Some(Batch {
                ops: s.queue.drain(..n).collect(),
                attempts: 0,
                request: None,
            });
        }
        let batch = s.batch.as_mut()?;
        let id = out.request(
            conn,
            WriteBatch {
                route,
                ops: batch.ops.iter().map(|(w, _)| w.op()).collect(),
            },
        );
        batch.request = Some(id);
        s.not_before = None;
        out.stats.write_batches_sent += 1;
        Some(id)
    }

    /// The leader applied the batch carried by `request` (at `now`).
    pub(crate) fn accepted(
        &mut self,
        slot: SlotId,
        request: u64,
        now: Instant,
        stats: &mut SessionStats,
    ) {
        if let Some(s) = self.get_mut(slot)
            && s.batch.as_ref().and_then(|b| b.request) == Some(request)
        {
            if let Some(b) = s.batch.take() {
                stats.writes_acked += b.ops.len() as u64;
                for (_, queued) in &b.ops {
                    stats.write_latency.observe(now.saturating_since(*queued));
                }
            }
            if s.idle() {
                self.remove(slot);
            }
        }
    }

    /// The batch carried by `request` failed: schedule its resend after a backoff, or drop
    /// it once past `limit`. Returns when the slot may send again.
    pub(crate) fn failed(
        &mut self,
        slot: SlotId,
        request: u64,
        now: Instant,
        (limit, backoff): (u32, Backoff),
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Option<Instant> {
        let s = self.get_mut(slot)?;
        let batch = s.batch.as_mut()?;
        if batch.request != Some(request) {
            return None;
        }
        batch.request = None;
        batch.attempts += 1;
        if batch.attempts > limit {
            let ops = batch.ops.len();
            s.batch = None;
            out.stats.writes_dropped += ops as u64;
            out.event(SessionEvent::WritesDropped { slot, ops });
            if s.idle() {
                self.remove(slot);
                return None;
            }
            return Some(now);
        }
        let at = now + backoff.delay(batch.attempts - 1, rng);
        s.not_before = Some(at);
        Some(at)
    }

    /// A newer slot table arrived: batches waiting out a backoff re-route at once.
    pub(crate) fn reroute_all(&mut self) {
        for s in self.slots.iter_mut().flatten() {
            s.not_before = None;
        }
    }

    /// Writes waiting or in flight over every slot (tests, the simulator's metric check).
    pub(crate) fn queued_total(&self) -> usize {
        (0..self.slots.len())
            .map(|i| self.queued(SlotId(i as u16)))
            .sum()
    }

    /// Writes waiting or in flight for `slot` (tests, metrics).
    pub(crate) fn queued(&self, slot: SlotId) -> usize {
        self.get(slot).map_or(0, |s| {
            s.queue.len() + s.batch.as_ref().map_or(0, |b| b.ops.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_write_is_two_pointers() {
        assert_eq!(std::mem::size_of::<Write>(), 16);
    }
}
