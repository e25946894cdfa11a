//! The registry: the session's clients' publishers and subscribers, the source of truth for
//! them (docs/design.md §2). Keys are interned as [`TopicId`]s; each topic holds its publishers
//! (by register id), its subscribed connections with their push state, and the cached datum.
//! Topics are indexed by slot for write routing, the version scan and reconciliation.
//! Each client connection has one compact record ([`ClientConn`]): its registrations and its
//! liveness.

use super::conn_map::ConnMap;
use super::delta::DatumDelta;
use super::key_index::KeyIndex;
use super::owned;
use super::publishers::{Entry, Publishers};
use crate::io::ConnId;
use crate::liveness::SweepStamp;
use crate::model::{DataInfoId, DatumVersion, Publisher, RegisterVersion, SlotId, Text};
use crate::slot::SlotCount;
use crate::time::Instant;
use crate::wire::PublisherList;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;
use std::sync::Arc;

/// An interned data info id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TopicId(pub(crate) u32);

/// A publisher and the client connection that registered it. The publisher is shared with
/// the writes queued for it, which then cost a pointer each, not a copy.
#[derive(Debug, Clone)]
pub(crate) struct PubEntry {
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) conn: ConnId,
}

/// The register ids of one connection's subscriptions to one key; almost always one.
/// Plain boxed strings (16 bytes, not a `Text`'s 32): a session holds one per subscriber.
#[derive(Debug, Clone)]
pub(crate) enum RegisterIds {
    One(Box<str>),
    Many(Vec<Box<str>>),
}

impl RegisterIds {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let ids = match self {
            RegisterIds::One(t) => std::slice::from_ref(t),
            RegisterIds::Many(v) => v.as_slice(),
        };
        ids.iter().map(|t| &**t)
    }

    /// Adds `id`; false if it was there already.
    fn insert(&mut self, id: Box<str>) -> bool {
        if self.iter().any(|t| *t == *id) {
            return false;
        }
        match self {
            RegisterIds::One(t) => *self = RegisterIds::Many(vec![t.clone(), id]),
            RegisterIds::Many(v) => v.push(id),
        }
        true
    }

    /// Removes `id`; true if none remain.
    fn remove(&mut self, id: &str) -> bool {
        match self {
            RegisterIds::One(t) => **t == *id,
            RegisterIds::Many(v) => {
                v.retain(|t| **t != *id);
                v.is_empty()
            }
        }
    }
}

/// One client connection's subscriptions to one key, with that connection's push state.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) register_ids: RegisterIds,
    /// The last version the client acknowledged (or said it held), if `has_pushed`
    /// (an `Option` would take 8 more bytes per subscriber; see [`Subscription::pushed`]).
    pushed_version: DatumVersion,
    has_pushed: bool,
    /// Request id of the push in flight, if any.
    pub(crate) in_flight: Option<NonZeroU64>,
    /// Failed pushes in a row.
    pub(crate) failures: u32,
    /// A retry is scheduled (after a failure's backoff).
    pub(crate) retry_armed: bool,
    /// Waiting in the connection's push queue.
    pub(crate) queued: bool,
}

impl Subscription {
    /// The last version the client acknowledged (or said it held).
    pub(crate) fn pushed(&self) -> Option<DatumVersion> {
        self.has_pushed.then_some(self.pushed_version)
    }

    pub(crate) fn set_pushed(&mut self, v: Option<DatumVersion>) {
        self.has_pushed = v.is_some();
        self.pushed_version = v.unwrap_or_default();
    }

    /// The client acknowledged a push of `version`: it holds at least that, and its pushes
    /// of this key no longer fail in a row.
    pub(crate) fn acknowledged(&mut self, version: DatumVersion) {
        self.set_pushed(self.pushed().max(Some(version)));
        self.failures = 0;
    }
}

/// A datum as cached: its list encoded once, when the version is fetched, so that a fan-out
/// clones a pointer per connection and each push copies the encoding instead of encoding
/// every publisher again.
#[derive(Debug, Clone)]
pub(crate) struct CachedDatum {
    pub(crate) version: DatumVersion,
    pub(crate) publishers: PublisherList,
    /// The change from the datum this one replaced, shared by every push of it as a delta
    /// (built by [`CachedDatum::following`]).
    pub(crate) delta: Option<Arc<DatumDelta>>,
}

/// Everything the session knows under one key.
#[derive(Debug)]
pub(crate) struct Topic {
    /// Shared with the writes queued under it.
    pub(crate) key: Arc<DataInfoId>,
    pub(crate) slot: SlotId,
    pub(crate) publishers: Publishers,
    pub(crate) subscribers: BTreeMap<ConnId, Subscription>,
    pub(crate) datum: Option<CachedDatum>,
    /// The newest version announced (notification or scan) that the cache does not hold.
    pub(crate) wanted: Option<DatumVersion>,
}

impl Topic {
    /// Whether some subscriber holds a version older than `version` (or none).
    pub(crate) fn interested(&self, version: DatumVersion) -> bool {
        self.subscribers
            .values()
            .any(|s| s.pushed() < Some(version))
    }

    /// The version the session holds for the scan: the cached datum's, else the oldest
    /// a subscriber holds.
    pub(crate) fn held_version(&self) -> DatumVersion {
        match &self.datum {
            Some(d) => d.version,
            None => self
                .subscribers
                .values()
                .map(|s| s.pushed().unwrap_or_default())
                .min()
                .unwrap_or_default(),
        }
    }
}

/// A client connection's record: its registrations, for their removal on disconnect, and
/// its liveness (kept here rather than in a map of its own). Kept to 40 bytes: a session
/// holds one per connection, most of them subscriber-only, and the record is a good part of
/// what an idle subscriber costs.
#[derive(Debug, Default)]
pub(crate) struct ClientConn {
    /// Its publishers, boxed: a subscriber-only connection has none (8 bytes, not 32).
    publishers: Option<Box<PubIndex>>,
    /// The topics it subscribes to (a boxed slice: few per connection, rarely changed).
    subscribed: Box<[TopicId]>,
    registrations: u32,
    /// When a frame last arrived from the client (the idle timeout runs from it).
    pub(crate) heard: Instant,
    /// The liveness sweep during which a frame was last sent to it (for keep-alives).
    pub(crate) sent: SweepStamp,
}

/// A connection's publishers as `(topic, register id)` handles. A handle is appended when
/// the connection takes a publisher on and left in place when it loses it (unpublished, or
/// replayed on a newer connection): a registration costs one append, and the disconnect
/// path checks each handle against the registry ([`Registry::remove_owned`]), so a stale
/// handle removes nothing. `live` counts what the connection owns; when stale handles
/// outnumber it the handles are compacted, so they stay within about twice that.
#[derive(Debug, Default)]
struct PubIndex {
    handles: Vec<(TopicId, Text)>,
    live: usize,
}

impl PubIndex {
    fn needs_compaction(&self) -> bool {
        self.handles.len() > 2 * self.live + 16
    }
}

impl ClientConn {
    /// Registrations (publishers and subscriptions) it holds.
    pub(crate) fn registrations(&self) -> usize {
        self.registrations as usize
    }

    /// Publishers it owns.
    pub(crate) fn publisher_count(&self) -> usize {
        self.publishers.as_ref().map_or(0, |p| p.live)
    }

    /// Keys it subscribes to.
    pub(crate) fn subscribed_keys(&self) -> usize {
        self.subscribed.len()
    }

    /// It lost one of its publishers (unpublished, or taken over by another connection).
    fn lose_publisher(&mut self) {
        self.registrations = self.registrations.saturating_sub(1);
        if let Some(idx) = &mut self.publishers {
            idx.live = idx.live.saturating_sub(1);
        }
    }

    fn subscribe(&mut self, id: TopicId) {
        let mut v = std::mem::take(&mut self.subscribed).into_vec();
        v.push(id);
        self.subscribed = v.into_boxed_slice();
    }

    fn unsubscribe(&mut self, id: TopicId) {
        if self.subscribed.contains(&id) {
            let v: Vec<TopicId> = self
                .subscribed
                .iter()
                .copied()
                .filter(|t| *t != id)
                .collect();
            self.subscribed = v.into_boxed_slice();
        }
    }
}

/// What a publish or unpublish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The registry changed; forward it.
    Changed,
    /// Already superseded by a newer version; nothing to forward.
    Superseded,
}

/// All registrations of the session's clients.
#[derive(Debug)]
pub(crate) struct Registry {
    topics: Vec<Option<Topic>>,
    free: Vec<u32>,
    /// Topics by [`key_hash`]. Keys whose hashes collide are told apart by comparing them.
    by_key: KeyIndex,
    by_slot: BTreeMap<SlotId, BTreeSet<TopicId>>,
    slot_count: SlotCount,
    conns: ConnMap<ClientConn>,
}

/// A deterministic 64-bit hash of a key for the registry's index: an Fx-style multiply
/// over each part's bytes eight at a time and its length, finished by SplitMix64.
fn key_hash(key: &DataInfoId) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let add = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut h = 0;
    for part in [&key.data_id, &key.instance_id, &key.group] {
        let bytes = part.as_bytes();
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = add(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        // The tail as a little-endian word, byte by byte: a copy into a zeroed array
        // would call `memcpy` for each of the three parts of every key looked up.
        let mut tail = 0u64;
        for (i, &b) in chunks.remainder().iter().enumerate() {
            tail |= u64::from(b) << (8 * i);
        }
        h = add(add(h, tail), bytes.len() as u64);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

impl Registry {
    pub(crate) fn new(slot_count: SlotCount) -> Self {
        Registry {
            topics: Vec::new(),
            free: Vec::new(),
            by_key: KeyIndex::default(),
            by_slot: BTreeMap::new(),
            slot_count,
            conns: ConnMap::default(),
        }
    }

    pub(crate) fn slot_count(&self) -> SlotCount {
        self.slot_count
    }

    pub(crate) fn find(&self, key: &DataInfoId) -> Option<TopicId> {
        self.by_key
            .find(key_hash(key), |id| self.key_of(id) == Some(key))
    }

    pub(crate) fn topic(&self, id: TopicId) -> Option<&Topic> {
        self.topics.get(id.0 as usize).and_then(Option::as_ref)
    }

    pub(crate) fn topic_mut(&mut self, id: TopicId) -> Option<&mut Topic> {
        self.topics.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// The topic of `key`, created if needed.
    pub(crate) fn intern(&mut self, key: &DataInfoId) -> TopicId {
        if let Some(id) = self.find(key) {
            return id;
        }
        let key = owned::key(key);
        let slot = self.slot_count.slot_of(&key);
        let hash = key_hash(&key);
        let topic = Topic {
            key: Arc::new(key),
            slot,
            publishers: Publishers::default(),
            subscribers: BTreeMap::new(),
            datum: None,
            wanted: None,
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.topics[i as usize] = Some(topic);
                TopicId(i)
            }
            None => {
                self.topics.push(Some(topic));
                TopicId((self.topics.len() - 1) as u32)
            }
        };
        self.by_key.insert(hash, id);
        self.by_slot.entry(slot).or_default().insert(id);
        id
    }

    /// Forgets a topic nobody publishes or subscribes to any more (and its cached datum).
    pub(crate) fn release_if_unused(&mut self, id: TopicId) {
        let Some(t) = self.topic(id) else { return };
        if !t.publishers.is_empty() || !t.subscribers.is_empty() {
            return;
        }
        if let Some(t) = self.topics[id.0 as usize].take() {
            self.by_key.remove(key_hash(&t.key), id);
            if let Some(set) = self.by_slot.get_mut(&t.slot) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_slot.remove(&t.slot);
                }
            }
            self.free.push(id.0);
        }
    }

    /// Topics of one slot, ordered by key.
    pub(crate) fn slot_topics(&self, slot: SlotId) -> Vec<TopicId> {
        let mut ids: Vec<TopicId> = self
            .by_slot
            .get(&slot)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        ids.sort_by(|a, b| self.key_of(*a).cmp(&self.key_of(*b)));
        ids
    }

    fn key_of(&self, id: TopicId) -> Option<&DataInfoId> {
        self.topic(id).map(|t| &*t.key)
    }

    /// Slots with at least one topic.
    pub(crate) fn slots(&self) -> impl Iterator<Item = SlotId> + '_ {
        self.by_slot.keys().copied()
    }

    /// Re-files every topic after the slot count changed.
    pub(crate) fn reindex(&mut self, count: SlotCount) {
        if count == self.slot_count {
            return;
        }
        self.slot_count = count;
        self.by_slot.clear();
        for (i, t) in self.topics.iter_mut().enumerate() {
            if let Some(t) = t {
                t.slot = count.slot_of(&t.key);
                self.by_slot
                    .entry(t.slot)
                    .or_default()
                    .insert(TopicId(i as u32));
            }
        }
    }

    /// Registers or replaces a publisher for `conn`, if newer than what is held; returns
    /// the topic's key and slot and the publisher as stored (one search of the topic's
    /// publishers), or `None` if superseded.
    pub(crate) fn publish(
        &mut self,
        conn: ConnId,
        id: TopicId,
        publisher: Publisher,
    ) -> Option<(Arc<DataInfoId>, SlotId, Arc<Publisher>)> {
        let topic = self
            .topics
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)?;
        // The connection that held the publisher until now, if not `conn`.
        let previous;
        let entry = match topic.publishers.entry(&publisher.register_id) {
            Entry::Occupied(e) if e.publisher.version >= publisher.version => return None,
            Entry::Occupied(e) => {
                previous = Some(e.conn);
                // The id stays the one the connection's handle holds (the first
                // registration's buffer, which the handle keeps alive anyway).
                let stored = owned::publisher(publisher, Some(&e.publisher.register_id));
                *e = PubEntry {
                    publisher: Arc::new(stored),
                    conn,
                };
                e
            }
            Entry::Vacant(v) => {
                previous = None;
                v.insert(PubEntry {
                    publisher: Arc::new(owned::publisher(publisher, None)),
                    conn,
                })
            }
        };
        let stored = (topic.key.clone(), topic.slot, entry.publisher.clone());
        if previous != Some(conn) {
            if let Some(old) = previous.and_then(|p| self.conns.get_mut(p)) {
                old.lose_publisher();
            }
            let c = self.conns.get_or_insert_with(conn, ClientConn::default);
            c.registrations += 1;
            let idx = c.publishers.get_or_insert_default();
            idx.handles.push((id, stored.2.register_id.clone()));
            idx.live += 1;
            if idx.needs_compaction() {
                compact_handles(&self.topics, conn, idx);
            }
        }
        Some(stored)
    }

    /// Removes a publisher if `version` is newer than the registration.
    pub(crate) fn unpublish(
        &mut self,
        id: TopicId,
        register_id: &Text,
        version: RegisterVersion,
    ) -> Applied {
        let Some(topic) = self.topic_mut(id) else {
            return Applied::Superseded;
        };
        match topic.publishers.get(register_id) {
            Some(old) if old.publisher.version < version => {
                let conn = old.conn;
                topic.publishers.remove(register_id);
                if let Some(c) = self.conns.get_mut(conn) {
                    c.lose_publisher();
                }
                Applied::Changed
            }
            Some(_) => Applied::Superseded,
            // Unknown here (never seen, or already removed): still forward the tombstone.
            None => Applied::Changed,
        }
    }

    /// Removes `conn`'s publisher `register_id` if `conn` still owns it, returning its
    /// version for the removal sent to data.
    pub(crate) fn remove_owned(
        &mut self,
        conn: ConnId,
        id: TopicId,
        register_id: &Text,
    ) -> Option<RegisterVersion> {
        let topic = self.topic_mut(id)?;
        let entry = topic.publishers.get(register_id)?;
        if entry.conn != conn {
            return None;
        }
        let version = entry.publisher.version;
        topic.publishers.remove(register_id);
        Some(version)
    }

    /// Removes publisher `register_id` of topic `id` whoever owns it (an operator switch
    /// removes it), returning its owner and version for the removal sent to data.
    pub(crate) fn remove_any(
        &mut self,
        id: TopicId,
        register_id: &Text,
    ) -> Option<(ConnId, RegisterVersion)> {
        let entry = self.topic_mut(id)?.publishers.remove(register_id)?;
        if let Some(c) = self.conns.get_mut(entry.conn) {
            c.lose_publisher();
        }
        Some((entry.conn, entry.publisher.version))
    }

    /// Every topic, in id order.
    pub(crate) fn topic_ids(&self) -> Vec<TopicId> {
        self.topics
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some())
            .map(|(i, _)| TopicId(i as u32))
            .collect()
    }

    /// Adds a subscription; returns true if it is the connection's first on this key.
    ///
    /// A subscription the connection already has (the same register id) states in `known`
    /// what the client holds, which replaces what the session took it to hold: the client
    /// may hold less than it acknowledged (it acknowledges a delta push it could not apply,
    /// then subscribes again with `known` absent to get the whole list). A new subscription
    /// on a key the connection has does not lower it.
    pub(crate) fn subscribe(
        &mut self,
        conn: ConnId,
        id: TopicId,
        register_id: &Text,
        known: Option<DatumVersion>,
    ) -> bool {
        let register_id: Box<str> = register_id.as_str().into();
        let Some(topic) = self.topic_mut(id) else {
            return false;
        };
        let (first, added) = match topic.subscribers.get_mut(&conn) {
            Some(sub) => {
                let added = sub.register_ids.insert(register_id);
                sub.set_pushed(if added {
                    sub.pushed().max(known)
                } else {
                    known
                });
                (false, added)
            }
            None => {
                topic.subscribers.insert(
                    conn,
                    Subscription {
                        register_ids: RegisterIds::One(register_id),
                        pushed_version: known.unwrap_or_default(),
                        has_pushed: known.is_some(),
                        in_flight: None,
                        failures: 0,
                        retry_armed: false,
                        queued: false,
                    },
                );
                (true, true)
            }
        };
        let c = self.conns.get_or_insert_with(conn, ClientConn::default);
        if added {
            c.registrations += 1;
        }
        if first {
            c.subscribe(id);
        }
        first
    }

    /// Removes a subscription; drops the connection's push state for the key with the last.
    pub(crate) fn unsubscribe(&mut self, conn: ConnId, id: TopicId, register_id: &str) {
        let Some(topic) = self.topic_mut(id) else {
            return;
        };
        let Some(sub) = topic.subscribers.get_mut(&conn) else {
            return;
        };
        if !sub.register_ids.iter().any(|t| t == register_id) {
            return;
        }
        if sub.register_ids.remove(register_id) {
            topic.subscribers.remove(&conn);
            if let Some(c) = self.conns.get_mut(conn) {
                c.unsubscribe(id);
            }
        }
        if let Some(c) = self.conns.get_mut(conn) {
            c.registrations = c.registrations.saturating_sub(1);
        }
        self.release_if_unused(id);
    }

    /// Registrations a connection holds.
    #[cfg(test)]
    pub(crate) fn registrations(&self, conn: ConnId) -> usize {
        self.conns.get(conn).map_or(0, ClientConn::registrations)
    }

    /// A client said hello on `conn` at `now` (its send stamped `sent`): its record, for its
    /// registrations and liveness, until [`Registry::close`].
    pub(crate) fn open(&mut self, conn: ConnId, now: Instant, sent: SweepStamp) {
        let c = self.conns.get_or_insert_with(conn, ClientConn::default);
        c.heard = now;
        c.sent = sent;
    }

    /// The record of client connection `conn`, if open.
    pub(crate) fn client_mut(&mut self, conn: ConnId) -> Option<&mut ClientConn> {
        self.conns.get_mut(conn)
    }

    /// Whether `conn` is an open client connection.
    pub(crate) fn is_client(&self, conn: ConnId) -> bool {
        self.conns.contains_key(conn)
    }

    /// The topics `conn` subscribes to, in the order it subscribed.
    pub(crate) fn subscriptions(&self, conn: ConnId) -> Vec<TopicId> {
        self.conns
            .get(conn)
            .map_or_else(Vec::new, |c| c.subscribed.to_vec())
    }

    /// Open client connections.
    pub(crate) fn client_count(&self) -> usize {
        self.conns.len()
    }

    /// Every open client connection's record, in no particular order.
    pub(crate) fn clients(&self) -> impl Iterator<Item = (ConnId, &ClientConn)> {
        self.conns.iter()
    }

    /// Every open client connection's record, in connection id order.
    pub(crate) fn clients_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut ClientConn)> {
        self.conns.sorted_mut().into_iter()
    }

    /// Forgets a closed connection: removes its subscriptions and returns the keys of the
    /// publishers it may still own, ordered and without repeats (the caller removes those
    /// it still owns, at once or after the grace).
    pub(crate) fn close(&mut self, conn: ConnId) -> Vec<(TopicId, Text)> {
        let Some(c) = self.conns.remove(conn) else {
            return Vec::new();
        };
        for &id in &c.subscribed {
            if let Some(t) = self.topic_mut(id) {
                t.subscribers.remove(&conn);
            }
            self.release_if_unused(id);
        }
        let mut keys = c.publishers.map_or_else(Vec::new, |idx| idx.handles);
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Drops the handles of `conn`'s index that no longer name a publisher it owns, and
/// repeats.
fn compact_handles(topics: &[Option<Topic>], conn: ConnId, idx: &mut PubIndex) {
    idx.handles.sort_unstable();
    idx.handles.dedup();
    idx.handles.retain(|(t, r)| {
        topics
            .get(t.0 as usize)
            .and_then(Option::as_ref)
            .and_then(|t| t.publishers.get(r))
            .is_some_and(|e| e.conn == conn)
    });
    idx.live = idx.handles.len();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LeaderEpoch, RegisterVersion};

    fn key(n: u32) -> DataInfoId {
        DataInfoId::new(format!("svc{n}"), "i", "g")
    }

    fn publisher(id: &str, v: u64, g: u64) -> Publisher {
        Publisher {
            register_id: Text::from(id),
            version: RegisterVersion::new(v, g),
            payload: Default::default(),
            attributes: vec![],
        }
    }

    #[test]
    fn registry_keeps_only_newer_versions_and_indexes_by_slot() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let t = r.intern(&key(1));
        assert!(r.publish(ConnId(1), t, publisher("a", 2, 1)).is_some());
        assert!(
            r.publish(ConnId(1), t, publisher("a", 1, 1)).is_none(),
            "superseded"
        );
        let slot = SlotCount::DEFAULT.slot_of(&key(1));
        assert_eq!(r.slot_topics(slot), vec![t]);
        assert_eq!(
            r.unpublish(t, &Text::from("a"), RegisterVersion::new(2, 1)),
            Applied::Superseded
        );
        assert_eq!(
            r.unpublish(t, &Text::from("a"), RegisterVersion::new(3, 1)),
            Applied::Changed
        );
        r.release_if_unused(t);
        assert_eq!(r.find(&key(1)), None);
        assert!(r.slot_topics(slot).is_empty());
    }

    #[test]
    fn keys_sharing_a_hash_bucket_stay_apart() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let (a, b) = (key(1), key(2));
        let tb = r.intern(&b);
        // Force a collision: file `b`'s topic under `a`'s hash as well, ahead of `a`'s.
        r.by_key.insert(key_hash(&a), tb);
        assert_eq!(r.find(&a), None);
        let ta = r.intern(&a);
        assert_ne!(ta, tb);
        assert_eq!(r.find(&a), Some(ta));
        assert_eq!(r.intern(&a), ta);
        assert_eq!(r.find(&b), Some(tb));
        r.release_if_unused(ta);
        assert_eq!(r.find(&a), None);
        assert_eq!(r.find(&b), Some(tb));
    }

    #[test]
    fn a_replayed_publisher_belongs_to_the_new_connection() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let t = r.intern(&key(1));
        r.publish(ConnId(1), t, publisher("a", 1, 1));
        r.publish(ConnId(2), t, publisher("a", 1, 2));
        let keys = r.close(ConnId(1));
        assert_eq!(r.remove_owned(ConnId(1), t, &keys[0].1), None);
        assert_eq!(
            r.remove_owned(ConnId(2), t, &Text::from("a")),
            Some(RegisterVersion::new(1, 2))
        );
    }

    #[test]
    fn a_connection_s_publisher_handles_stay_bounded_under_churn() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let t = r.intern(&key(1));
        let (c, a) = (ConnId(1), Text::from("a"));
        for n in 1..=1_000u64 {
            assert!(r.publish(c, t, publisher("a", 2 * n, 1)).is_some());
            assert_eq!(r.registrations(c), 1);
            let removed = r.unpublish(t, &a, RegisterVersion::new(2 * n + 1, 1));
            assert_eq!(removed, Applied::Changed);
            assert_eq!(r.registrations(c), 0);
            let idx = r.conns.get(c).unwrap().publishers.as_ref().unwrap();
            // Compacted once stale handles pass 2 × live + 16 (live was 1 at the append).
            assert!(idx.handles.len() <= 18, "{} handles", idx.handles.len());
        }
        r.publish(c, t, publisher("a", 5_000, 1));
        r.publish(c, t, publisher("b", 1, 1));
        assert_eq!(r.registrations(c), 2);
        let keys = r.close(c);
        assert_eq!(
            keys,
            vec![(t, a), (t, Text::from("b"))],
            "each once, in order"
        );
    }

    #[test]
    fn a_takeover_moves_the_registration_to_the_new_connection() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let t = r.intern(&key(1));
        r.publish(ConnId(1), t, publisher("a", 1, 1));
        r.publish(ConnId(1), t, publisher("a", 2, 1));
        assert_eq!(
            r.registrations(ConnId(1)),
            1,
            "a newer version is no new registration"
        );
        // The replay on the client's next connection: same client version, newer generation.
        assert!(r.publish(ConnId(2), t, publisher("a", 2, 2)).is_some());
        assert_eq!(r.registrations(ConnId(1)), 0);
        assert_eq!(r.registrations(ConnId(2)), 1);
    }

    #[test]
    fn subscriptions_share_push_state_per_connection() {
        let mut r = Registry::new(SlotCount::DEFAULT);
        let t = r.intern(&key(1));
        let v = DatumVersion::new(LeaderEpoch(1), 4);
        assert!(r.subscribe(ConnId(1), t, &Text::from("s1"), Some(v)));
        assert!(!r.subscribe(ConnId(1), t, &Text::from("s2"), None));
        let topic = r.topic(t).unwrap();
        assert_eq!(topic.subscribers[&ConnId(1)].pushed(), Some(v));
        assert!(!topic.interested(v));
        assert!(topic.interested(DatumVersion::new(LeaderEpoch(1), 5)));
        r.unsubscribe(ConnId(1), t, "s1");
        assert!(r.topic(t).is_some());
        r.unsubscribe(ConnId(1), t, "s2");
        assert!(r.topic(t).is_none(), "an unused topic is released");
    }
}
