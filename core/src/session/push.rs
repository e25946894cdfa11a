//! Push (docs/design.md §4.8, docs/protocol.md §6.2): sends each subscribed connection the
//! newest cached datum of a key, with no delay when idle.
//!
//! - At most one push per (connection, key) awaits its ack within `push_timeout`; whatever
//!   arrives meanwhile coalesces: when the ack comes, the then-newest datum goes out (one
//!   push for a whole burst). A push that timed out may still be on its way to (or unread
//!   by) the client while its retry goes out, so the client may hold several pushes of one
//!   key at once, in non-decreasing version order (a retry may repeat the version).
//! - Never a version that is not newer than the last one the connection acknowledged.
//! - Never a key whose pushes an operator switch holds (`switches`).
//! - A push unacknowledged after `push_timeout` (or answered with an error) fails and is
//!   retried after a backoff, always with the newest datum (drop-to-latest).
//! - A late ack (of a push that timed out) still counts: the client holds that version,
//!   and it is reading again. The key's newest datum goes out at once if it is newer (a
//!   retry waiting out its backoff is not waited for), and an open breaker closes.
//! - Bounded: at most `max_pushes_in_flight_per_conn` per connection; beyond it keys wait in
//!   a per-connection queue that holds each key at most once (so it is bounded by the
//!   connection's subscriptions, not by the change rate). After `push_retry_limit` failures
//!   in a row the connection's circuit breaker opens and its pushes pause for
//!   `breaker_cooldown`. A slow or dead subscriber therefore delays only itself.
//! - Bounded per node: the bytes of every push in flight, over all connections, stay
//!   within `push_budget_bytes` (one push may exceed it when nothing else is in flight).
//!   A push that does not fit waits in its connection's queue, and the connection waits
//!   in a node-wide queue for room, served in order as acknowledgements (or timeouts, or
//!   closes) give room back.
//! - When the breaker closes (its cool-down is over, or a late ack shows the client reads
//!   again), every key the connection is behind on is pushed its newest datum, whatever
//!   state its push was in. So a consumer that stalls and then acknowledges what it read
//!   holds the newest list of every key within a push round trip of its first late ack,
//!   and one that acknowledges nothing late within one push timeout after the cool-down.

use super::Timer;
use super::config::SessionConfig;
use super::outbox::{Outbox, SessionEvent};
use super::registry::{CachedDatum, Registry, Subscription, Topic, TopicId};
use super::timers::Timers;
use crate::io::ConnId;
use crate::model::{DataInfoId, DatumVersion, Switches};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{HEADER_LEN, Message};
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU64;

#[derive(Debug, Default)]
struct ConnPush {
    in_flight: usize,
    waiting: VecDeque<TopicId>,
    breaker_until: Option<Instant>,
    /// Listed in `Pusher::starved`.
    starved: bool,
    /// Pushes that timed out, by request id, with what they carried: a stalled client may
    /// still read and acknowledge them. Only the newest are kept ([`late_bound`]); losing
    /// an older one costs a re-push, never a key.
    late: BTreeMap<u64, (TopicId, DatumVersion)>,
    /// The connection agreed delta pushes.
    deltas: bool,
}

/// Timed-out pushes remembered per connection: a few rounds of a full window, enough for
/// every retry of a stall's keys to be matched when the client catches up.
fn late_bound(config: &SessionConfig) -> usize {
    config.max_pushes_in_flight_per_conn.saturating_mul(4)
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    conn: ConnId,
    topic: TopicId,
    version: DatumVersion,
    /// Its encoded size, counted against the node's budget until it lands.
    bytes: usize,
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

    /// Removes every flight of `conn` (closed).
    fn take_conn(&mut self, conn: ConnId) -> Vec<Flight> {
        let mut taken = Vec::new();
        for e in &mut self.ring {
            if let Some(f) = e.2.take_if(|f| f.conn == conn) {
                taken.push(f);
            }
        }
        self.live -= taken.len();
        self.skip_holes();
        taken
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
    /// Bytes of the pushes in flight, against `push_budget_bytes`.
    bytes_in_flight: usize,
    /// Connections with a push held back for room in the budget, in the order they hit it
    /// (each at most once: `ConnPush::starved`).
    starved: VecDeque<ConnId>,
}

/// What became of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offered {
    /// Pushed.
    Sent,
    /// Waiting in the connection's queue (breaker, per-connection bound or budget).
    Queued,
    /// Nothing to push (already has it, or already in flight or scheduled).
    Nothing,
}

/// What a push attempt needs besides the registry.
pub(crate) struct PushCtx<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a SessionConfig,
    pub(crate) out: &'a mut Outbox,
    /// The operator switches: a key whose pushes they hold is not pushed (`switches`).
    pub(crate) switches: &'a Switches,
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
        self.offer_topic(reg, tid, conn, cx);
    }

    fn offer_topic(
        &mut self,
        reg: &mut Registry,
        tid: TopicId,
        conn: ConnId,
        cx: &mut PushCtx<'_>,
    ) -> Offered {
        match reg.topic_mut(tid) {
            Some(topic) => self.offer_in(topic, tid, conn, cx),
            None => Offered::Nothing,
        }
    }

    fn offer_in(
        &mut self,
        topic: &mut Topic,
        tid: TopicId,
        conn: ConnId,
        cx: &mut PushCtx<'_>,
    ) -> Offered {
        let Some(datum) = &topic.datum else {
            return Offered::Nothing;
        };
        let Some(sub) = topic.subscribers.get_mut(&conn) else {
            return Offered::Nothing;
        };
        self.offer_sub(&topic.key, datum, sub, tid, conn, cx)
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
    ) -> Offered {
        if sub.pushed() >= Some(datum.version) || busy(sub) {
            return Offered::Nothing;
        }
        // Held by an operator switch: nothing is queued or armed, so lifting the hold
        // offers the key afresh (`switches::release_held`).
        if cx.switches.holds_pushes(key.data_id.as_str()) {
            return Offered::Nothing;
        }
        let cp = self.conns.entry(conn).or_default();
        let open = cp.breaker_until.is_some_and(|t| t > cx.now);
        let full = cp.in_flight >= cx.config.max_pushes_in_flight_per_conn;
        // The message (and its size, for the budget) is made only for a push that may go.
        let push = (!open && !full)
            .then(|| super::delta::push_message(key, datum, sub.pushed(), cp.deltas));
        let bytes = push.as_ref().map_or(0, |m| HEADER_LEN + m.body_len());
        let over_budget = push.is_some()
            && self.bytes_in_flight > 0
            && self.bytes_in_flight + bytes > cx.config.push_budget_bytes;
        let Some(push) = push.filter(|_| !over_budget) else {
            sub.queued = true;
            cp.waiting.push_back(tid);
            if over_budget && !cp.starved {
                cp.starved = true;
                self.starved.push_back(conn);
            }
            return Offered::Queued;
        };
        cx.out.stats.delta_pushes_sent += u64::from(matches!(push, Message::PushDelta(_)));
        let id = cx.out.request(conn, push);
        cx.out.stats.pushes_sent += 1;
        sub.in_flight = NonZeroU64::new(id);
        cp.in_flight += 1;
        self.bytes_in_flight += bytes;
        let flight = Flight {
            conn,
            topic: tid,
            version: datum.version,
            bytes,
        };
        self.flights
            .insert(id, cx.now + cx.config.push_timeout, flight);
        Offered::Sent
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
        self.bytes_in_flight -= f.bytes;
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

    /// The client acknowledged `request`. Returns false if it was no push of this
    /// connection's, in flight or timed out.
    pub(crate) fn acked(
        &mut self,
        reg: &mut Registry,
        conn: ConnId,
        request: u64,
        cx: &mut PushCtx<'_>,
    ) -> bool {
        let Some(f) = self.land(reg, conn, request) else {
            return self.acked_late(reg, conn, request, cx);
        };
        if let Some(sub) = sub_mut(reg, f.topic, conn) {
            sub.acknowledged(f.version);
        }
        // Whatever arrived meanwhile goes out now, coalesced into one push.
        self.offer(reg, f.topic, conn, cx);
        self.drain(reg, conn, cx);
        self.serve_starved(reg, cx);
        true
    }

    /// The client acknowledged a push that had timed out: it holds that version, which
    /// must not hide that a newer one is owed, and it reads again, so nothing it is behind
    /// on waits for a backoff or a cool-down any more.
    fn acked_late(
        &mut self,
        reg: &mut Registry,
        conn: ConnId,
        request: u64,
        cx: &mut PushCtx<'_>,
    ) -> bool {
        let Some(cp) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some((tid, version)) = cp.late.remove(&request) else {
            return false;
        };
        let open = cp.breaker_until.is_some();
        if let Some(sub) = sub_mut(reg, tid, conn) {
            sub.acknowledged(version);
            // Its retry's timer will find nothing to do (or send early, harmlessly).
            sub.retry_armed = false;
        }
        if open {
            self.resume(reg, conn, cx);
        } else {
            self.offer(reg, tid, conn, cx);
            self.drain(reg, conn, cx);
        }
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
        self.serve_starved(reg, cx);
    }

    /// Fails every push whose deadline passed.
    pub(crate) fn expire(
        &mut self,
        reg: &mut Registry,
        cx: &mut PushCtx<'_>,
        timers: &mut Timers<Timer>,
        rng: &mut Rng,
    ) {
        let bound = late_bound(cx.config);
        for (request, f) in self.flights.due(cx.now) {
            if let Some(f) = self.settle(reg, request, f) {
                if let Some(cp) = self.conns.get_mut(&f.conn) {
                    cp.late.insert(request, (f.topic, f.version));
                    while cp.late.len() > bound {
                        cp.late.pop_first();
                    }
                }
                self.fail(reg, f, cx, timers, rng);
            }
        }
        self.serve_starved(reg, cx);
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

    /// The breaker's cooldown is over: push the connection everything it is behind on.
    pub(crate) fn close_breaker(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) {
        if let Some(cp) = self.conns.get(&conn)
            && cp.breaker_until.is_some_and(|t| t <= cx.now)
        {
            self.resume(reg, conn, cx);
        }
    }

    /// Closes the connection's breaker and offers the newest datum of every key it is
    /// behind on: what waited in its queue first, then every other subscription, so that
    /// no key depends on having been queued, nor waits for a retry's backoff or the next
    /// version scan. Keys beyond the in-flight bound wait in the queue as usual.
    fn resume(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) {
        if let Some(cp) = self.conns.get_mut(&conn) {
            cp.breaker_until = None;
        }
        self.drain(reg, conn, cx);
        for tid in reg.subscriptions(conn) {
            if let Some(sub) = sub_mut(reg, tid, conn)
                && sub.in_flight.is_none()
            {
                sub.retry_armed = false;
            }
            self.offer(reg, tid, conn, cx);
        }
    }

    /// Sends waiting keys while the connection has room; false if one was held back for
    /// room in the node's budget.
    fn drain(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) -> bool {
        loop {
            let Some(cp) = self.conns.get_mut(&conn) else {
                return true;
            };
            if cp.in_flight >= cx.config.max_pushes_in_flight_per_conn
                || cp.breaker_until.is_some_and(|t| t > cx.now)
            {
                return true;
            }
            let Some(tid) = cp.waiting.pop_front() else {
                return true;
            };
            if let Some(sub) = sub_mut(reg, tid, conn) {
                sub.queued = false;
            }
            if self.offer_topic(reg, tid, conn, cx) == Offered::Queued {
                // Held again (no room in the budget): it went back to the queue's end, so
                // stop rather than cycle; room coming back resumes this connection.
                return false;
            }
        }
    }

    /// Gives room that came back in the budget to the connections that waited for it, in
    /// the order they hit it, until the next one's push does not fit.
    fn serve_starved(&mut self, reg: &mut Registry, cx: &mut PushCtx<'_>) {
        while self.bytes_in_flight < cx.config.push_budget_bytes {
            let Some(conn) = self.starved.pop_front() else {
                return;
            };
            if let Some(cp) = self.conns.get_mut(&conn) {
                cp.starved = false;
            }
            if !self.drain(reg, conn, cx) {
                // Not enough room yet for that connection's next push (it is listed again):
                // the next acknowledgement resumes the queue where it stands.
                return;
            }
        }
    }

    /// Records whether `conn` agreed delta pushes (at its hello, before any push).
    pub(crate) fn allow_deltas(&mut self, conn: ConnId, deltas: bool) {
        self.conns.entry(conn).or_default().deltas = deltas;
    }

    /// Forgets a closed connection, giving its pushes' room in the budget back.
    pub(crate) fn close(&mut self, reg: &mut Registry, conn: ConnId, cx: &mut PushCtx<'_>) {
        for f in self.flights.take_conn(conn) {
            self.bytes_in_flight -= f.bytes;
        }
        self.conns.remove(&conn);
        self.starved.retain(|c| *c != conn);
        self.serve_starved(reg, cx);
    }

    /// Bytes of the pushes in flight (tests, metrics).
    pub(crate) fn bytes_in_flight(&self) -> usize {
        self.bytes_in_flight
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
