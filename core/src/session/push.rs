//! Push (docs/design.md §4.8): sends each subscribed connection the newest cached datum
//! of a key, with no delay when idle.
//!
//! - At most one push per (connection, key) in flight; whatever arrives meanwhile coalesces:
//!   when the ack comes, the then-newest datum goes out (one push for a whole burst).
//! - Never a version that is not newer than the last one the connection acknowledged.
//! - A push unacknowledged after `push_timeout` (or answered with an error) fails and is
//!   retried after a backoff, always with the newest datum (drop-to-latest).
//! - Bounded: at most `max_pushes_in_flight_per_conn` per connection; beyond it keys wait in
//!   a per-connection queue that holds each key at most once (so it is bounded by the
//!   connection's subscriptions, not by the change rate). After `push_retry_limit` failures
//!   in a row the connection's circuit breaker opens and its pushes pause for
//!   `breaker_cooldown`. A slow or dead subscriber therefore delays only itself.

use super::Timer;
use super::config::SessionConfig;
use super::outbox::{Outbox, SessionEvent};
use super::registry::{CachedDatum, Registry, Subscription, Topic, TopicId};
use super::timers::Timers;
use crate::io::ConnId;
use crate::model::DataInfoId;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::Message;
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;

#[derive(Debug, Default)]
struct ConnPush {
    in_flight: usize,
    waiting: VecDeque<TopicId>,
    breaker_until: Option<Instant>,
    /// The connection agreed delta pushes.
    deltas: bool,
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    conn: ConnId,
    topic: TopicId,
    version: crate::model::DatumVersion,
}

/// The pushes in flight, in send order: request ids grow and `push_timeout` is constant,
/// so the ring is sorted by id and by deadline at once (found by binary search, expired
/// from the front). A push that lands before its deadline leaves a hole until it reaches
/// the front, so the front is always a live flight.
#[derive(Debug, Default)]
struct Flights {
    ring: VecDeque<(u64, Instant, Option<Flight>)>,
    live: usize,
}

impl Flights {
    fn insert(&mut self, id: u64, deadline: Instant, f: Flight) {
        debug_assert!(self.ring.back().is_none_or(|b| b.0 < id && b.1 <= deadline));
        self.ring.push_back((id, deadline, Some(f)));
        self.live += 1;
    }

    fn slot(&mut self, id: u64) -> Option<&mut Option<Flight>> {
        let i = self.ring.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(&mut self.ring[i].2)
    }

    /// Removes the flight of `id` if `conn` sent it.
    fn take(&mut self, conn: ConnId, id: u64) -> Option<Flight> {
        let slot = self.slot(id)?;
        let f = slot.take_if(|f| f.conn == conn)?;
        self.live -= 1;
        self.skip_holes();
        Some(f)
    }

    fn skip_holes(&mut self) {
        while self.ring.front().is_some_and(|e| e.2.is_none()) {
            self.ring.pop_front();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ring.front().map(|e| e.1)
    }

    /// Removes and returns the flights whose deadline passed at `now`.
    fn due(&mut self, now: Instant) -> Vec<(u64, Flight)> {
        let mut due = Vec::new();
        while let Some(&(id, at, f)) = self.ring.front() {
            if at > now {
                break;
            }
            self.ring.pop_front();
            if let Some(f) = f {
                self.live -= 1;
                due.push((id, f));
            }
        }
        self.skip_holes();
        due
    }
}

/// Push bookkeeping that is not per subscription.
#[derive(Debug, Default)]
pub(crate) struct Pusher {
    conns: BTreeMap<ConnId, ConnPush>,
    flights: Flights,
}

/// What a push attempt needs besides the registry.
pub(crate) struct PushCtx<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a SessionConfig,
    pub(crate) out: &'a mut Outbox,
}

impl Pusher {
    /// The earliest push deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.flights.next_deadline()
    }

    /// Offers every subscriber of `topic` its newest datum.
    pub(crate) fn fan_out(&mut self, reg: &mut Registry, tid: TopicId, cx: &mut PushCtx<'_>) {
        let Some(topic) = reg.topic_mut(tid) else {
            return;
        };
        let Some(version) = topic.datum.as_ref().map(|d| d.version) else {
            return;
        };
        let Topic {
            key,
            datum: Some(datum),
            subscribers,
            ..
        } = topic
        else {
            return;
        };
        for (conn, sub) in subscribers.iter_mut() {
            if sub.pushed() < Some(version) {
                self.offer_sub(key, datum, sub, tid, *conn, cx);
            }
        }
    }

    /// Offers one connection the newest datum of `tid`.
    pub(crate) fn offer(
        &mut self,
        reg: &mut Registry,
        tid: TopicId,
        conn: ConnId,
        cx: &mut PushCtx<'_>,
    ) {
        if let Some(topic) = reg.topic_mut(tid) {
            self.offer_in(topic, tid, conn, cx);
        }
    }

    fn offer_in(&mut self, topic: &mut Topic, tid: TopicId, conn: ConnId, cx: &mut PushCtx<'_>) {
        let Some(datum) = &topic.datum else { return };
        let Some(sub) = topic.subscribers.get_mut(&conn) else {
            return;
        };
        self.offer_sub(&topic.key, datum, sub, tid, conn, cx);
    }

    /// Offers the subscription `sub` of `conn` to `tid` (whose key is `key`) `datum`.
    fn offer_sub(
        &mut self,
        key: &DataInfoId,
        datum: &CachedDatum,
        sub: &mut Subscription,
        tid: TopicId,
        conn: ConnId,
        cx: &mut PushCtx<'_>,
    ) {
        if sub.pushed() >= Some(datum.version) || busy(sub) {
            return;
        }
        let cp = self.conns.entry(conn).or_default();
        let open = cp.breaker_until.is_some_and(|t| t > cx.now);
        if open || cp.in_flight >= cx.config.max_pushes_in_flight_per_conn {
            sub.queued = true;
            cp.waiting.push_back(tid);
            return;
        }
        let push = super::delta::push_message(key, datum, sub.pushed(), cp.deltas);
        cx.out.stats.delta_pushes_sent += u64::from(matches!(push, Message::PushDelta(_)));
        let id = cx.out.request(conn, push);
        cx.out.stats.pushes_sent += 1;
        sub.in_flight = NonZeroU64::new(id);
        cp.in_flight += 1;
        let flight = Flight {
            conn,
            topic: tid,
            version: datum.version,
        };
        self.flights
            .insert(id, cx.now + cx.config.push_timeout, flight);
    }

    /// Takes the flight of `request` if `conn` sent it and its subscription still waits
    /// for it.
    fn land(&mut self, reg: &mut Registry, conn: ConnId, request: u64) -> Option<Flight> {
        let f = self.flights.take(conn, request)?;
        self.settle(reg, request, f)
    }

    /// Books a flight taken out of the ring; returns it if its subscription still waited
    /// for it.
    fn settle(&mut self, reg: &mut Registry, request: u64, f: Flight) -> Option<Flight> {
        let conn = f.conn;
        if let Some(cp) = self.conns.get_mut(&conn) {
            cp.in_flight = cp.in_flight.saturating_sub(1);
        }
        let sub = reg.topic_mut(f.topic)?.subscribers.get_mut(&conn)?;
        if sub.in_flight.map(NonZeroU64::get) != Some(request) {
            return None;
        }
        sub.in_flight = None;
        Some(f)
    }

    /// The client acknowledged `request`. Returns false if it was no push in flight.
    pub(crate) fn acked(
        &mut self,
        reg: &mut Registry,
        conn: ConnId,
        request: u64,
        cx: &mut PushCtx<'_>,
    ) -> bool {
        let Some(f) = self.land(reg, conn, request) else {
            return false;
        };
        if let Some(sub) = sub_mut(reg, f.topic, conn) {
            sub.set_pushed(sub.pushed().max(Some(f.version)));
            sub.failures = 0;
        }
        // Whatever arrived meanwhile goes out now, coalesced into one push.
        self.offer(reg, f.topic, conn, cx);
        self.drain(reg, conn, cx);
        true
    }

    /// A push failed (error reply or timeout): retry after a backoff, or open the
    /// connection's breaker after too many failures in a row.
    pub(crate) fn failed(
        &mut self,
        reg: &mut Registry,
        conn: ConnId,
        request: u64,
        cx: &mut PushCtx<'_>,
        timers: &mut Timers<Timer>,
        rng: &mut Rng,
    ) {
        if let Some(f) = self.land(reg, conn, request) {
            self.fail(reg, f, cx, timers, rng);
        }
    }

    /// Fails every push whose deadline passed.
    pub(crate) fn expire(
        &mut self,
        reg: &mut Registry,
        cx: &mut PushCtx<'_>,
        timers: &mut Timers<Timer>,
        rng: &mut Rng,
    ) {
        for (request, f) in self.flights.due(cx.now) {
            if let Some(f) = self.settle(reg, request, f) {
                self.fail(reg, f, cx, timers, rng);
            }
        }
    }

    fn fail(
        &mut self,
        reg: &mut Registry,
        f: Flight,
        cx: &mut PushCtx<'_>,
        timers: &mut Timers<Timer>,
        rng: &mut Rng,
    ) {
        let conn = f.conn;
        cx.out.stats.push_failures += 1;
        let Some(sub) = sub_mut(reg, f.topic, conn) else {
            return;
        };
        sub.failures += 1;
        if sub.failures > cx.config.push_retry_limit {
            sub.failures = 0;
            sub.queued = true;
            let cp = self.conns.entry(conn).or_default();
            cp.waiting.push_back(f.topic);
            if cp.breaker_until.is_none_or(|t| t <= cx.now) {
                let until = cx.now + cx.config.breaker_cooldown;
                cp.breaker_until = Some(until);
                timers.arm(until, Timer::BreakerClose(conn));
                cx.out.stats.breakers_opened += 1;
                cx.out.event(SessionEvent::BreakerOpened { conn });
            }
        } else {
            sub.retry_armed = true;
            let at = cx.now + cx.config.push_backoff.delay(sub.failures - 1, rng);
            timers.arm(at, Timer::PushRetry(conn, f.topic));
        }
    }

    /// A retry's backoff is over.
    pub(crate) fn retry(
        &mut self,
        reg: &mut Registry,
        conn: ConnId,
        tid: TopicId,
        cx: &mut PushCtx<'_>,
    ) {
        if let Some(sub) = sub_mut(reg, tid, conn) {
            sub.retry_armed = false;
        }
        self.offer(reg, tid, conn, cx);
    }

    /// The breaker's cooldown is over: send what waited.
    pub(crate) fn close_breaker(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) {
        if let Some(cp) = self.conns.get_mut(&conn)
            && cp.breaker_until.is_some_and(|t| t <= cx.now)
        {
            cp.breaker_until = None;
            self.drain(reg, conn, cx);
        }
    }

    /// Sends waiting keys while the connection has room.
    fn drain(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) {
        loop {
            let Some(cp) = self.conns.get_mut(&conn) else {
                return;
            };
            if cp.in_flight >= cx.config.max_pushes_in_flight_per_conn
                || cp.breaker_until.is_some_and(|t| t > cx.now)
            {
                return;
            }
            let Some(tid) = cp.waiting.pop_front() else {
                return;
            };
            if let Some(sub) = sub_mut(reg, tid, conn) {
                sub.queued = false;
            }
            self.offer(reg, tid, conn, cx);
        }
    }

    /// Records whether `conn` agreed delta pushes (at its hello, before any push).
    pub(crate) fn allow_deltas(&mut self, conn: ConnId, deltas: bool) {
        self.conns.entry(conn).or_default().deltas = deltas;
    }

    /// Forgets a closed connection.
    pub(crate) fn close(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Pushes in flight (tests, metrics).
    pub(crate) fn in_flight(&self) -> usize {
        self.flights.live
    }
}

fn busy(sub: &Subscription) -> bool {
    sub.in_flight.is_some() || sub.retry_armed || sub.queued
}

fn sub_mut(reg: &mut Registry, tid: TopicId, conn: ConnId) -> Option<&mut Subscription> {
    reg.topic_mut(tid)?.subscribers.get_mut(&conn)
}
