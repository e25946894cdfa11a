//! Per-slot storage: for each data info id, its live publishers (keyed by register id, each
//! with its `RegisterVersion` and owning session process), its tombstones, its
//! `DatumVersion`, and digests of its publishers (all of them, and per owner) kept current
//! incrementally as writes apply.
//!
//! Two sets of rules apply writes:
//! - the leader's ([`SlotStore::put`], [`SlotStore::remove`], [`SlotStore::remove_owned`]):
//!   a newer `RegisterVersion` replaces, an older or equal one is ignored, and a removal
//!   leaves a tombstone that blocks older writes until it is compacted. Each effective change
//!   returns the [`LogOp`] the op-log records;
//! - a follower's ([`SlotStore::force_put`], [`SlotStore::force_remove`]): op-log entries
//!   are applied as the leader decided them, unconditionally, so a follower that replays the
//!   log reaches the leader's exact state whatever tombstones it holds.
//!
//! A key, once it has existed, stays in the map (with no publishers) after its last
//! publisher is removed, so its version never goes back; only tombstones are compacted.
//! Publishers are held behind an `Arc` shared with the op-log, so a stored publisher costs
//! one allocation beyond its strings and payload.

use super::oplog::LogOp;
use crate::digest::publisher_hash;
use crate::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, Publisher, RegisterVersion, Text,
};
use crate::time::Instant;
use crate::wire::{Digest, OwnedPublisher, ReplicaDatum};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A data info id as the store and op-log share it.
pub(crate) type Key = Arc<DataInfoId>;

/// A stored publisher and the session process that owns it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) owner: ProcessId,
    pub(crate) publisher: Publisher,
}

impl Stored {
    fn register_id(&self) -> &Text {
        &self.publisher.register_id
    }

    fn version(&self) -> RegisterVersion {
        self.publisher.version
    }

    pub(crate) fn to_owned_publisher(&self) -> OwnedPublisher {
        OwnedPublisher {
            owner: self.owner,
            publisher: self.publisher.clone(),
        }
    }
}

/// A set element: a shared publisher ordered by register id.
#[derive(Debug, Clone)]
struct Entry(Arc<Stored>);

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.0.register_id() == other.0.register_id()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.register_id().cmp(other.0.register_id())
    }
}
impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        self.0.register_id().as_str()
    }
}

/// One data info id: its publishers, tombstones, version and digests.
#[derive(Debug, Default)]
pub(crate) struct Datum {
    publishers: BTreeSet<Entry>,
    /// register id → (removed version, removal time, the session whose lapse removed it).
    tombstones: BTreeMap<Text, (RegisterVersion, Instant, Option<ProcessId>)>,
    version: DatumVersion,
    digest: Digest,
    /// Digest per owning session process, for owners with at least one publisher here.
    owners: Vec<(ProcessId, Digest)>,
}

impl Datum {
    /// Whether the key ever changed (as opposed to holding only tombstones).
    fn exists(&self) -> bool {
        self.version != DatumVersion::default()
    }

    /// The datum's version.
    pub(crate) fn version(&self) -> DatumVersion {
        self.version
    }

    /// Digest of every live publisher.
    pub(crate) fn digest(&self) -> Digest {
        self.digest
    }

    /// Digest of the live publishers `owner` owns (empty digest if none).
    pub(crate) fn owner_digest(&self, owner: ProcessId) -> Digest {
        self.owners
            .iter()
            .find(|(p, _)| *p == owner)
            .map_or_else(Digest::default, |(_, d)| *d)
    }

    /// Number of live publishers.
    pub(crate) fn len(&self) -> usize {
        self.publishers.len()
    }

    /// The live publishers, ordered by register id.
    pub(crate) fn publishers(&self) -> impl Iterator<Item = &Stored> + Clone {
        self.publishers.iter().map(|e| &*e.0)
    }

    /// The live publishers after `after` (exclusive), ordered by register id.
    pub(crate) fn publishers_after<'a>(
        &'a self,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Stored> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = after.map_or(Unbounded, Excluded);
        self.publishers
            .range::<str, _>((lower, Unbounded))
            .map(|e| &*e.0)
    }

    /// The tombstones: register id and removed version, ordered by register id.
    pub(crate) fn tombstones(&self) -> impl Iterator<Item = (&Text, RegisterVersion)> {
        self.tombstones.iter().map(|(rid, (v, _, _))| (rid, *v))
    }

    fn get(&self, register_id: &str) -> Option<&Stored> {
        self.publishers.get(register_id).map(|e| &*e.0)
    }

    /// Adds `s` to the key's digest and its owner's (hashing it once for both).
    fn digest_add(&mut self, s: &Stored) {
        let h = publisher_hash(s.register_id(), s.version());
        self.digest.insert_hash(h);
        match self.owners.iter_mut().find(|(p, _)| *p == s.owner) {
            Some((_, d)) => d.insert_hash(h),
            None => {
                let mut d = Digest::default();
                d.insert_hash(h);
                self.owners.push((s.owner, d));
            }
        }
    }

    fn digest_sub(&mut self, s: &Stored) {
        let h = publisher_hash(s.register_id(), s.version());
        self.digest.remove_hash(h);
        if let Some(i) = self.owners.iter().position(|(p, _)| *p == s.owner) {
            self.owners[i].1.remove_hash(h);
            if self.owners[i].1.count == 0 {
                self.owners.swap_remove(i);
            }
        }
    }

    /// Inserts or replaces; keeps digests current.
    fn insert(&mut self, stored: Arc<Stored>) {
        self.tombstones.remove(stored.register_id().as_str());
        self.digest_add(&stored);
        if let Some(old) = self.publishers.replace(Entry(stored)) {
            self.digest_sub(&old.0);
        }
    }

    /// Inserts or replaces unless the live publisher of the same register id is as new or
    /// newer (then nothing changes); one search of the publishers either way when it
    /// applies. Keeps digests current; returns whether it applied.
    fn insert_if_newer(&mut self, stored: &Arc<Stored>) -> bool {
        match self.publishers.replace(Entry(stored.clone())) {
            Some(old) if old.0.version() >= stored.version() => {
                // Not newer: put the live one back.
                self.publishers.replace(old);
                false
            }
            old => {
                self.tombstones.remove(stored.register_id().as_str());
                self.digest_add(stored);
                if let Some(old) = old {
                    self.digest_sub(&old.0);
                }
                true
            }
        }
    }

    /// Removes a live publisher, if present; keeps digests current.
    fn take(&mut self, register_id: &str) -> Option<Arc<Stored>> {
        let old = self.publishers.take(register_id)?;
        self.digest_sub(&old.0);
        Some(old.0)
    }

    fn clear(&mut self) {
        self.publishers.clear();
        self.tombstones.clear();
        self.owners.clear();
        self.digest = Digest::default();
    }
}

/// The storage of one slot.
#[derive(Debug, Default)]
pub(crate) struct SlotStore {
    datums: BTreeMap<Key, Datum>,
    /// Tombstones in removal order, for compaction; an entry whose tombstone was replaced
    /// or removed since is skipped.
    tombstone_queue: VecDeque<(Instant, Key, Text)>,
}

impl SlotStore {
    /// The datum of `key`, if the key ever had a publisher here. (A removal of a publisher
    /// never seen creates an entry only to hold its tombstone; such an entry has the
    /// default version and does not count as a datum.)
    pub(crate) fn datum(&self, key: &DataInfoId) -> Option<&Datum> {
        self.datums.get(key).filter(|d| d.exists())
    }

    /// The version a read of `key` reports under leader epoch `epoch`: the datum's own if
    /// the current leader changed it, else `(epoch, 0)`. Each leader epoch starts its op-log
    /// at position 1, so `(epoch, 0)` is below every change of the current leader and above
    /// every version of earlier epochs, including versions an earlier leader served for
    /// writes this node never received: reporting the datum's own older version would
    /// leave subscribers that saw such a write holding it forever (simulator seed 770). The
    /// state at `(epoch, 0)` is the one the leader took over with: it changes only through
    /// the op-log, which moves the version on.
    pub(crate) fn read_version(&self, key: &DataInfoId, epoch: LeaderEpoch) -> DatumVersion {
        let floor = DatumVersion::new(epoch, 0);
        self.datum(key).map_or(floor, |d| d.version().max(floor))
    }

    /// The entry of `key` whether it is a datum or only holds tombstones (resync pages
    /// carry both).
    pub(crate) fn entry_of(&self, key: &DataInfoId) -> Option<&Datum> {
        self.datums.get(key)
    }

    /// Keys holding at least one tombstone, ordered by key (datums or not).
    pub(crate) fn tombstoned_keys(&self) -> impl Iterator<Item = &Key> {
        self.datums
            .iter()
            .filter(|(_, d)| !d.tombstones.is_empty())
            .map(|(k, _)| k)
    }

    /// Every key that is a datum, ordered by key.
    pub(crate) fn datums(&self) -> impl Iterator<Item = (&Key, &Datum)> {
        self.datums.iter().filter(|(_, d)| d.exists())
    }

    /// Number of live publishers in the slot.
    pub(crate) fn publisher_count(&self) -> usize {
        self.datums.values().map(Datum::len).sum()
    }

    /// Every session process owning a publisher here.
    pub(crate) fn owners(&self) -> BTreeSet<ProcessId> {
        self.datums
            .values()
            .flat_map(|d| d.owners.iter().map(|(p, _)| *p))
            .collect()
    }

    fn entry(&mut self, key: &DataInfoId) -> (&Key, &mut Datum) {
        if !self.datums.contains_key(key) {
            self.datums.insert(Arc::new(key.clone()), Datum::default());
        }
        self.datums
            .range_mut::<DataInfoId, _>(key..=key)
            .next()
            .expect("the key was inserted above")
    }

    /// The datum of an owned key, created if needed, in one search of the map (at the cost
    /// of the key's `Arc`, dropped if the key is already there); returns the stored key.
    fn entry_owned(&mut self, key: DataInfoId) -> (Key, &mut Datum) {
        use std::collections::btree_map::Entry as MapEntry;
        match self.datums.entry(Arc::new(key)) {
            MapEntry::Occupied(o) => (o.key().clone(), o.into_mut()),
            MapEntry::Vacant(v) => {
                let k = v.key().clone();
                (k, v.insert(Datum::default()))
            }
        }
    }

    fn tombstone(&mut self, key: &Key, register_id: Text, version: RegisterVersion, now: Instant) {
        self.tombstone_of(key, register_id, version, now, None);
    }

    /// A tombstone; `lapsed` names the session whose lease lapsed, if that removed it.
    fn tombstone_of(
        &mut self,
        key: &Key,
        register_id: Text,
        version: RegisterVersion,
        now: Instant,
        lapsed: Option<ProcessId>,
    ) {
        if let Some(d) = self.datums.get_mut(&**key) {
            d.tombstones
                .insert(register_id.clone(), (version, now, lapsed));
            self.tombstone_queue
                .push_back((now, key.clone(), register_id));
        }
    }

    /// Leader rule for an add or replace: applied only if newer than the live publisher and
    /// than any tombstone of the same register id — or, from the session whose lapse left
    /// the tombstone, at its very version: that session is back and still holds the
    /// registration (it was cut off, not gone), and nothing newer was removed meanwhile (a
    /// newer removal would have replaced the tombstone). Returns the op to log.
    pub(crate) fn put(
        &mut self,
        key: DataInfoId,
        owner: ProcessId,
        publisher: Publisher,
        version: DatumVersion,
    ) -> Option<LogOp> {
        let (key, d) = self.entry_owned(key);
        let newer_than_tomb =
            d.tombstones
                .get(publisher.register_id.as_str())
                .is_none_or(|&(v, _, lapsed)| {
                    publisher.version > v || (publisher.version == v && lapsed == Some(owner))
                });
        if !newer_than_tomb {
            return None;
        }
        let stored = Arc::new(Stored { owner, publisher });
        if !d.insert_if_newer(&stored) {
            return None;
        }
        d.version = version;
        Some(LogOp::Put { key, entry: stored })
    }

    /// Leader rule for a removal at `removed`: removes the live publisher unless it is
    /// newer, and leaves a tombstone. A removal of an absent publisher only records the
    /// tombstone (no change to the datum, nothing logged).
    pub(crate) fn remove(
        &mut self,
        key: &DataInfoId,
        register_id: &Text,
        removed: RegisterVersion,
        version: DatumVersion,
        now: Instant,
    ) -> Option<LogOp> {
        let (k, d) = self.entry(key);
        let k = k.clone();
        let rid = register_id.as_str();
        match d.get(rid).map(Stored::version) {
            Some(live) if live > removed => None,
            Some(_) => {
                d.take(rid);
                d.version = version;
                self.tombstone(&k, register_id.clone(), removed, now);
                Some(LogOp::remove(k, register_id.clone(), removed))
            }
            None => {
                // At the same version, a removal turns a lapse's tombstone into a plain one:
                // the session itself now says the publisher is gone.
                let replace = |&(v, _, lapsed): &(RegisterVersion, Instant, Option<ProcessId>)| {
                    removed > v || (removed == v && lapsed.is_some())
                };
                if d.tombstones.get(rid).is_none_or(replace) {
                    self.tombstone(&k, register_id.clone(), removed, now);
                }
                None
            }
        }
    }

    /// Owner-checked removal (reconciliation, lease expiry): removes the publisher only if
    /// `owner` owns it, leaving a tombstone at its version. `lapsed`: the owner's lease
    /// lapsed (rather than the owner saying it no longer holds the publisher), so the
    /// tombstone lets that owner register it again at the same version if it comes back.
    pub(crate) fn remove_owned(
        &mut self,
        key: &DataInfoId,
        register_id: &str,
        owner: ProcessId,
        version: DatumVersion,
        now: Instant,
        lapsed: bool,
    ) -> Option<LogOp> {
        let k = self.datums.get_key_value(key)?.0.clone();
        let d = self.datums.get_mut(key)?;
        if d.get(register_id)?.owner != owner {
            return None;
        }
        let old = d.take(register_id)?;
        d.version = version;
        let rid = old.register_id().clone();
        let lapsed = lapsed.then_some(owner);
        self.tombstone_of(&k, rid.clone(), old.version(), now, lapsed);
        Some(LogOp::remove(k, rid, old.version()))
    }

    /// Register ids of `key` owned by `owner`.
    pub(crate) fn owned_ids(&self, key: &DataInfoId, owner: ProcessId) -> Vec<Text> {
        self.datums.get(key).map_or_else(Vec::new, |d| {
            d.publishers()
                .filter(|s| s.owner == owner)
                .map(|s| s.register_id().clone())
                .collect()
        })
    }

    /// Keys under which `owner` has publishers.
    pub(crate) fn keys_owned_by(&self, owner: ProcessId) -> Vec<Key> {
        self.datums
            .iter()
            .filter(|(_, d)| d.owners.iter().any(|(p, _)| *p == owner))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Follower: applies a logged put as the leader decided it.
    pub(crate) fn force_put(
        &mut self,
        key: &DataInfoId,
        stored: Arc<Stored>,
        version: DatumVersion,
    ) {
        let (_, d) = self.entry(key);
        d.insert(stored);
        d.version = version;
    }

    /// Follower: applies a logged removal as the leader decided it.
    pub(crate) fn force_remove(
        &mut self,
        key: &DataInfoId,
        register_id: &Text,
        removed: RegisterVersion,
        version: DatumVersion,
        now: Instant,
    ) {
        let (k, d) = self.entry(key);
        let k = k.clone();
        d.take(register_id.as_str());
        d.version = version;
        self.tombstone(&k, register_id.clone(), removed, now);
    }

    /// Resync: empties `key` (creating it if needed) and sets its version; its publishers
    /// follow through [`SlotStore::force_put`].
    pub(crate) fn reset_key(&mut self, key: &DataInfoId, version: DatumVersion) {
        let (_, d) = self.entry(key);
        d.clear();
        d.version = version;
    }

    /// Resync: records a removal the leader still remembers (after the key's reset, so it
    /// is not cleared), unless a live publisher of that register id is as new or newer. Its
    /// retention starts `now`: the follower keeps it at least as long as the leader does.
    pub(crate) fn resync_tombstone(
        &mut self,
        key: &DataInfoId,
        register_id: &Text,
        removed: RegisterVersion,
        now: Instant,
    ) {
        let (k, d) = self.entry(key);
        let k = k.clone();
        if d.get(register_id.as_str())
            .is_some_and(|p| p.version() >= removed)
        {
            return;
        }
        d.take(register_id.as_str());
        if d.tombstones
            .get(register_id.as_str())
            .is_none_or(|(v, _, _)| removed > *v)
        {
            self.tombstone(&k, register_id.clone(), removed, now);
        }
    }

    /// Resync: sets a key's version without touching its publishers.
    pub(crate) fn set_version(&mut self, key: &DataInfoId, version: DatumVersion) {
        if let Some(d) = self.datums.get_mut(key) {
            d.version = version;
        }
    }

    /// Resync: forgets a key the leader does not have.
    pub(crate) fn drop_key(&mut self, key: &DataInfoId) {
        self.datums.remove(key);
    }

    /// Drops tombstones older than `retention`; returns how many were dropped.
    pub(crate) fn compact(&mut self, now: Instant, retention: Duration) -> usize {
        let mut dropped = 0;
        while let Some((at, _, _)) = self.tombstone_queue.front() {
            if now.saturating_since(*at) < retention {
                break;
            }
            let Some((at, key, rid)) = self.tombstone_queue.pop_front() else {
                break;
            };
            if let Some(d) = self.datums.get_mut(&*key) {
                if d.tombstones
                    .get(rid.as_str())
                    .is_some_and(|(_, t, _)| *t == at)
                {
                    d.tombstones.remove(rid.as_str());
                    dropped += 1;
                }
            }
        }
        dropped
    }

    /// Whether a tombstone for `register_id` under `key` exists.
    #[cfg(test)]
    pub(crate) fn has_tombstone(&self, key: &DataInfoId, register_id: &str) -> bool {
        self.datums
            .get(key)
            .is_some_and(|d| d.tombstones.contains_key(register_id))
    }

    /// The whole slot as replicas exchange it: every key, version and owned publisher.
    pub(crate) fn snapshot(&self) -> Vec<ReplicaDatum> {
        self.datums()
            .map(|(k, d)| ReplicaDatum {
                data_info_id: (**k).clone(),
                version: d.version,
                publishers: d.publishers().map(Stored::to_owned_publisher).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::pid as p;
    use crate::model::LeaderEpoch;
    use bytes::Bytes;

    fn k() -> DataInfoId {
        DataInfoId::new("svc", "i", "g")
    }

    fn publ(rid: &str, cv: u64) -> Publisher {
        Publisher {
            register_id: Text::from(rid),
            version: RegisterVersion::new(cv, 1),
            payload: smallvec::smallvec![Bytes::from_static(b"x")],
            attributes: Vec::new(),
        }
    }

    fn v(seq: u64) -> DatumVersion {
        DatumVersion::new(LeaderEpoch(1), seq)
    }

    #[test]
    fn store_reads_report_at_least_the_current_leader_epoch() {
        let mut s = SlotStore::default();
        assert!(s.put(k(), p(1), publ("a", 1), v(3)).is_some());
        // Changed by this leader (epoch 1): its own version.
        assert_eq!(s.read_version(&k(), LeaderEpoch(1)), v(3));
        // Taken over at epoch 4 untouched: (4, 0), above anything epoch 1 served (an
        // earlier leader may have served (1, 4) for a write this node never received).
        let floor = DatumVersion::new(LeaderEpoch(4), 0);
        assert_eq!(s.read_version(&k(), LeaderEpoch(4)), floor);
        assert!(floor > v(4));
        // A key never written here reads the same way.
        let other = DataInfoId::new("other", "i", "g");
        assert_eq!(s.read_version(&other, LeaderEpoch(4)), floor);
    }

    #[test]
    fn store_newer_register_version_replaces_older_and_equal_are_ignored() {
        let mut s = SlotStore::default();
        assert!(s.put(k(), p(1), publ("a", 2), v(1)).is_some());
        assert!(
            s.put(k(), p(1), publ("a", 2), v(2)).is_none(),
            "equal ignored"
        );
        assert!(
            s.put(k(), p(1), publ("a", 1), v(2)).is_none(),
            "older ignored"
        );
        assert_eq!(
            s.datum(&k()).unwrap().version(),
            v(1),
            "ignored writes keep the version"
        );
        assert!(s.put(k(), p(2), publ("a", 3), v(2)).is_some());
        let d = s.datum(&k()).unwrap();
        assert_eq!((d.len(), d.version()), (1, v(2)));
        assert_eq!(
            d.publishers().next().unwrap().owner,
            p(2),
            "ownership moves"
        );
    }

    #[test]
    fn store_removal_tombstone_blocks_older_writes_and_is_compacted() {
        let mut s = SlotStore::default();
        let t0 = Instant::from_millis(0);
        s.put(k(), p(1), publ("a", 1), v(1));
        assert!(
            s.remove(&k(), &Text::from("a"), RegisterVersion::new(0, 9), v(2), t0)
                .is_none(),
            "a removal older than the live publisher is ignored"
        );
        assert!(
            s.remove(&k(), &Text::from("a"), RegisterVersion::new(2, 1), v(2), t0)
                .is_some()
        );
        assert!(s.has_tombstone(&k(), "a"));
        assert!(
            s.put(k(), p(1), publ("a", 2), v(3)).is_none(),
            "blocked by the tombstone"
        );
        let retention = Duration::from_secs(180);
        assert_eq!(s.compact(Instant::from_millis(179_999), retention), 0);
        assert_eq!(s.compact(Instant::from_millis(180_000), retention), 1);
        assert!(!s.has_tombstone(&k(), "a"));
        assert!(
            s.put(k(), p(1), publ("a", 2), v(3)).is_some(),
            "compacted: no longer blocks"
        );
        // The key keeps its entry and version after its last publisher goes.
        s.remove(&k(), &Text::from("a"), RegisterVersion::new(9, 1), v(4), t0);
        assert_eq!(s.datum(&k()).unwrap().version(), v(4));
        // A removal of a never-seen key only holds a tombstone; it is not a datum.
        let other = DataInfoId::new("other", "i", "g");
        assert!(
            s.remove(
                &other,
                &Text::from("z"),
                RegisterVersion::new(1, 1),
                v(5),
                t0
            )
            .is_none()
        );
        assert!(s.datum(&other).is_none() && s.has_tombstone(&other, "z"));
        s.compact(Instant::from_millis(500_000), retention);
        assert!(!s.has_tombstone(&other, "z"));
    }

    #[test]
    fn store_digests_are_maintained_incrementally_per_key_and_per_owner() {
        let mut s = SlotStore::default();
        s.put(k(), p(1), publ("a", 1), v(1));
        s.put(k(), p(1), publ("b", 1), v(2));
        s.put(k(), p(2), publ("c", 1), v(3));
        s.put(k(), p(2), publ("a", 2), v(4));
        let d = s.datum(&k()).unwrap();
        let (a2, b1, c1) = (
            RegisterVersion::new(2, 1),
            RegisterVersion::new(1, 1),
            RegisterVersion::new(1, 1),
        );
        let (ta, tb, tc) = (Text::from("a"), Text::from("b"), Text::from("c"));
        assert_eq!(d.digest(), Digest::of([(&ta, a2), (&tb, b1), (&tc, c1)]));
        assert_eq!(d.owner_digest(p(1)), Digest::of([(&tb, b1)]));
        assert_eq!(d.owner_digest(p(2)), Digest::of([(&ta, a2), (&tc, c1)]));
        assert_eq!(d.owner_digest(p(3)), Digest::default());
    }

    #[test]
    fn store_a_removal_at_the_old_generation_spares_a_replay_through_any_session() {
        let t0 = Instant::ZERO;
        let gen2 = Publisher {
            version: RegisterVersion::new(1, 2),
            ..publ("a", 1)
        };
        // The client failed over and replayed `a` (generation 2) through the same session
        // (owner 1) or another (owner 2); then the old connection's removal arrives,
        // carrying generation 1 (after the session's disconnect grace), and the old
        // session's lease expiry removes what owner 1 still owns.
        for owner in [p(1), p(2)] {
            let mut s = SlotStore::default();
            s.put(k(), p(1), publ("a", 1), v(1));
            assert!(s.put(k(), owner, gen2.clone(), v(2)).is_some());
            let old = RegisterVersion::new(1, 1);
            assert!(s.remove(&k(), &Text::from("a"), old, v(3), t0).is_none());
            if owner != p(1) {
                assert!(s.remove_owned(&k(), "a", p(1), v(3), t0, false).is_none());
            }
            let d = s.datum(&k()).unwrap();
            assert_eq!(
                d.publishers().count(),
                1,
                "owner {owner:?}: the replay stays"
            );
            assert_eq!(s.owned_ids(&k(), owner), [Text::from("a")]);
        }
    }

    #[test]
    fn store_a_lapsed_session_that_comes_back_registers_its_publisher_again() {
        let t0 = Instant::ZERO;
        let mut s = SlotStore::default();
        s.put(k(), p(1), publ("a", 1), v(1));
        s.put(k(), p(1), publ("b", 1), v(2));
        // Session 1's lease lapsed: its publishers go, leaving tombstones at their versions.
        assert!(s.remove_owned(&k(), "a", p(1), v(3), t0, true).is_some());
        assert!(s.remove_owned(&k(), "b", p(1), v(4), t0, true).is_some());
        // It was only cut off: its reconciliation offers them again, unchanged. Another
        // session may not revive them at that version, session 1 may.
        assert!(s.put(k(), p(2), publ("a", 1), v(5)).is_none());
        assert!(s.put(k(), p(1), publ("a", 1), v(5)).is_some());
        // Meanwhile `b`'s client unregistered it elsewhere: that removal, newer, wins.
        let gone = RegisterVersion::new(1, 2);
        s.remove(&k(), &Text::from("b"), gone, v(6), t0);
        assert!(s.put(k(), p(1), publ("b", 1), v(7)).is_none());
        let ids: Vec<_> = s
            .datum(&k())
            .unwrap()
            .publishers()
            .map(|p| p.register_id().clone())
            .collect();
        assert_eq!(ids, [Text::from("a")]);
        // A removal the owner asked for (reconciliation: it no longer holds `a`) blocks it.
        assert!(s.remove_owned(&k(), "a", p(1), v(8), t0, false).is_some());
        assert!(s.put(k(), p(1), publ("a", 1), v(9)).is_none());
        // So does its removal at the very version, arriving after the lapse (its client
        // left while it was cut off).
        s.put(k(), p(1), publ("c", 1), v(10));
        s.remove_owned(&k(), "c", p(1), v(11), t0, true);
        s.remove(
            &k(),
            &Text::from("c"),
            RegisterVersion::new(1, 1),
            v(12),
            t0,
        );
        assert!(s.put(k(), p(1), publ("c", 1), v(13)).is_none());
    }

    #[test]
    fn store_owner_checked_removal_spares_other_owners() {
        let mut s = SlotStore::default();
        let t0 = Instant::ZERO;
        s.put(k(), p(1), publ("a", 1), v(1));
        s.put(k(), p(2), publ("b", 1), v(2));
        assert!(s.remove_owned(&k(), "b", p(1), v(3), t0, false).is_none());
        assert!(s.remove_owned(&k(), "a", p(1), v(3), t0, false).is_some());
        assert_eq!(s.keys_owned_by(p(1)).len(), 0);
        assert_eq!(s.owned_ids(&k(), p(2)), [Text::from("b")]);
        assert!(
            s.put(k(), p(1), publ("a", 1), v(4)).is_none(),
            "tombstone at the removed version"
        );
    }
}
