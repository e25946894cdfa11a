//! Op-log replication (docs/design.md §4.4).
//!
//! Leader side ([`Streams`]): a follower subscribes from its next position; if that position
//! is in the log and of the current leader epoch it gets a continuous stream of
//! `OpLogAppend`s, at most `replication_window` entries unacknowledged (flow control);
//! otherwise it gets `ResyncDigests` — the slot's per-key version and digest as of the log's
//! end. A stream whose position the log truncated past is answered by `ResyncDigests` too.
//!
//! Follower side ([`Follower`]): applies appends strictly in position order (a gap or a
//! foreign epoch triggers a new subscription), and resynchronises from digests by fetching
//! only the keys whose version or digest differ, in pages, then subscribes from the
//! digests' position.
//!
//! Why resync converges to the leader's exact state: the digests describe the leader at
//! position P. Keys equal at P are equal. A differing key is fetched later, at some P' ≥ P;
//! for its register ids untouched after P the page equals the state at P, and every register
//! id touched after P is overwritten again when the follower replays P.. from the log
//! (followers apply entries unconditionally, in order, so the last entry decides both the
//! publisher and the datum version). If the log no longer holds P the follower simply gets
//! new digests and repeats.

use super::store::{SlotStore, Stored};
use crate::io::ConnId;
use crate::model::{DataInfoId, LeaderEpoch, ProcessId, SlotId, Text};
use crate::time::Instant;
use crate::wire::{
    DatumDigest, OpLogAppend, OpLogEntry, PageCursor, ReplicaDatum, ReplicaOp, ReplicaTombstone,
    ResyncDigests, ResyncFetch, ResyncPage,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::oplog::OpLog;

/// The slot's state as digests at the log's end.
pub(crate) fn resync_digests(
    slot: SlotId,
    epoch: LeaderEpoch,
    store: &SlotStore,
    log: &OpLog,
) -> ResyncDigests {
    ResyncDigests {
        slot,
        leader_epoch: epoch,
        position: log.end(),
        datums: store
            .datums()
            .map(|(k, d)| DatumDigest {
                data_info_id: (**k).clone(),
                version: d.version(),
                digest: d.digest(),
            })
            .collect(),
        tombstoned: store.tombstoned_keys().map(|k| (**k).clone()).collect(),
    }
}

/// One page of the publishers of `keys` after `after`, at most `max` publishers. Every
/// requested key the leader has appears (even with no publishers), so the follower learns
/// its version; so does a key that only holds tombstones (at the default version). A key's
/// tombstones travel with its last share of publishers and count towards `max`, but are
/// never split: a page may exceed `max` by one key's tombstones.
pub(crate) fn resync_page(
    store: &SlotStore,
    slot: SlotId,
    epoch: LeaderEpoch,
    fetch: &ResyncFetch,
    max: usize,
) -> ResyncPage {
    let mut keys: Vec<&DataInfoId> = fetch.data_info_ids.iter().collect();
    keys.sort();
    keys.dedup();
    let mut datums = Vec::new();
    let mut tombstones = Vec::new();
    let mut count = 0;
    let mut next = None;
    for key in keys {
        let after = match &fetch.after {
            Some(c) if *key < c.data_info_id => continue,
            Some(c) if *key == c.data_info_id => Some(c.register_id.as_str()),
            _ => None,
        };
        let Some(d) = store.entry_of(key) else {
            continue;
        };
        if count >= max {
            // The previous key filled the page exactly; resume at this key.
            next = Some(PageCursor {
                data_info_id: key.clone(),
                register_id: Text::new(),
            });
            break;
        }
        let mut publishers = Vec::new();
        let mut last: Option<&Stored> = None;
        for s in d.publishers_after(after) {
            if count >= max {
                break;
            }
            publishers.push(s.to_owned_publisher());
            last = Some(s);
            count += 1;
        }
        let more = last.is_some_and(|l| {
            d.publishers_after(Some(l.publisher.register_id.as_str()))
                .next()
                .is_some()
        });
        if more {
            next = last.map(|l| PageCursor {
                data_info_id: key.clone(),
                register_id: l.publisher.register_id.clone(),
            });
        } else {
            for (register_id, version) in d.tombstones() {
                tombstones.push(ReplicaTombstone {
                    data_info_id: key.clone(),
                    register_id: register_id.clone(),
                    version,
                });
                count += 1;
            }
        }
        datums.push(ReplicaDatum {
            data_info_id: key.clone(),
            version: d.version(),
            publishers,
        });
        if next.is_some() {
            break;
        }
    }
    ResyncPage {
        slot,
        leader_epoch: epoch,
        datums,
        next,
        tombstones,
    }
}

/// A follower's stream on the leader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    /// Next position to send.
    pub(crate) next: u64,
    /// First position the follower has not acknowledged.
    pub(crate) acked: u64,
    /// Whether writes wait for its acknowledgements: only a process the table lists as a
    /// follower of the slot. A former follower is still streamed to (it may not know yet,
    /// or be listed again before it notices), but it no longer holds writes.
    pub(crate) holds_writes: bool,
}

/// The leader's streams of one slot, by follower connection.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    pub(crate) by_conn: BTreeMap<ConnId, Stream>,
}

/// What the leader sends a stream next.
#[derive(Debug)]
pub(crate) enum Pumped {
    /// Entries to append.
    Append(Vec<OpLogEntry>),
    /// The log truncated past the stream: it must resync.
    Resync,
}

impl Streams {
    /// Whether a subscription from `next` at `epoch` can stream from `log` (else: resync).
    pub(crate) fn can_stream(
        log: &OpLog,
        current: LeaderEpoch,
        epoch: LeaderEpoch,
        next: u64,
    ) -> bool {
        epoch == current && next > 0 && log.can_serve(next)
    }

    /// Starts (or restarts) a stream for `conn` at `next`; whether writes wait for it.
    pub(crate) fn start(&mut self, conn: ConnId, next: u64, holds_writes: bool) {
        let stream = Stream {
            next,
            acked: next,
            holds_writes,
        };
        self.by_conn.insert(conn, stream);
    }

    /// Re-decides which streams hold writes (`follows(conn)`: its process follows the
    /// slot); whether any stopped holding them.
    pub(crate) fn hold_writes_of(&mut self, follows: impl Fn(ConnId) -> bool) -> bool {
        let mut released = false;
        for (conn, s) in &mut self.by_conn {
            let holds = follows(*conn);
            released |= s.holds_writes && !holds;
            s.holds_writes = holds;
        }
        released
    }

    /// Records an acknowledgement; ignores one going backwards or beyond what was sent.
    pub(crate) fn ack(&mut self, conn: ConnId, next: u64) {
        if let Some(s) = self.by_conn.get_mut(&conn) {
            if next > s.acked && next <= s.next {
                s.acked = next;
            }
        }
    }

    /// The lowest acknowledged position over the streams writes wait for, if any.
    pub(crate) fn min_acked(&self) -> Option<u64> {
        self.by_conn
            .values()
            .filter(|s| s.holds_writes)
            .map(|s| s.acked)
            .min()
    }

    /// What each stream should be sent now, within its window.
    pub(crate) fn pump(&mut self, log: &OpLog, window: u64, batch: usize) -> Vec<(ConnId, Pumped)> {
        let mut out = Vec::new();
        let mut broken = Vec::new();
        for (conn, s) in &mut self.by_conn {
            if s.next < log.start() {
                broken.push(*conn);
                out.push((*conn, Pumped::Resync));
                continue;
            }
            let in_flight = s.next - s.acked;
            if s.next >= log.end() || in_flight >= window {
                continue;
            }
            let room = usize::try_from(window - in_flight).unwrap_or(usize::MAX);
            let entries = log.read(s.next, batch.min(room));
            s.next += entries.len() as u64;
            out.push((*conn, Pumped::Append(entries)));
        }
        for c in broken {
            self.by_conn.remove(&c);
        }
        out
    }
}

/// Where a follower is with its leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not subscribed (no connection yet, or after an error).
    Idle,
    /// `OpLogSubscribe` sent.
    Subscribing,
    /// Receiving appends.
    Streaming,
    /// Fetching differing keys after `ResyncDigests`.
    Resyncing(Resync),
}

/// An ongoing digest resync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resync {
    epoch: LeaderEpoch,
    position: u64,
    /// Keys still to fetch, after the current batch.
    rest: Vec<DataInfoId>,
    /// The keys of the fetch in progress.
    batch: Vec<DataInfoId>,
    /// Keys of the batch already seen in a page.
    seen: BTreeSet<DataInfoId>,
}

/// A follower's view of one slot.
#[derive(Debug)]
pub(crate) struct Follower {
    /// The slot's leader in the table, if it has one.
    pub(crate) leader: Option<ProcessId>,
    /// The slot's leader epoch in the table.
    pub(crate) leader_epoch: LeaderEpoch,
    /// Leader epoch of the entries applied (after a resync: the resync's).
    pub(crate) synced_epoch: LeaderEpoch,
    /// First position not applied (0: never synced).
    pub(crate) next: u64,
    /// Where the follower is.
    pub(crate) phase: Phase,
    /// Position the leader last reported as its end (for `caught_up`).
    pub(crate) leader_end: u64,
    /// When the current request was sent (for the request timeout).
    pub(crate) since: Instant,
    /// Connection and request id of the `OpLogSubscribe` or `ResyncFetch` in flight (id 0:
    /// none). Digests and pages answering anything else are stale: a page of an abandoned
    /// fetch applied to the current batch would drop the batch's keys it does not contain.
    pub(crate) request: (ConnId, u64),
}

/// What the follower does after an input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing to send.
    Nothing,
    /// Acknowledge up to `next`.
    Ack(u64),
    /// Subscribe again from the follower's position.
    Subscribe,
    /// Fetch a page.
    Fetch(ResyncFetch),
}

impl Follower {
    /// A follower of `leader` at `leader_epoch`, keeping whatever it applied before.
    pub(crate) fn new(
        leader: Option<ProcessId>,
        leader_epoch: LeaderEpoch,
        synced_epoch: LeaderEpoch,
        next: u64,
    ) -> Self {
        Follower {
            leader,
            leader_epoch,
            synced_epoch,
            next,
            phase: Phase::Idle,
            leader_end: 0,
            since: Instant::ZERO,
            request: (ConnId(0), 0),
        }
    }

    /// Whether it applied everything the leader last reported.
    pub(crate) fn caught_up(&self) -> bool {
        self.phase == Phase::Streaming
            && self.synced_epoch == self.leader_epoch
            && self.next >= self.leader_end
    }

    /// Applies an append; a gap or foreign epoch asks for a new subscription.
    pub(crate) fn on_append(
        &mut self,
        store: &mut SlotStore,
        append: OpLogAppend,
        now: Instant,
    ) -> Next {
        if append.leader_epoch != self.leader_epoch
            || matches!(self.phase, Phase::Resyncing(_) | Phase::Idle)
        {
            return Next::Nothing;
        }
        if self.synced_epoch != append.leader_epoch {
            return Next::Subscribe;
        }
        self.phase = Phase::Streaming;
        let before = self.next;
        for e in append.entries {
            if e.position < self.next {
                continue; // duplicate
            }
            if e.position > self.next {
                return Next::Subscribe; // gap
            }
            apply_entry(store, self.synced_epoch, e, now);
            self.next += 1;
        }
        self.leader_end = self.leader_end.max(self.next);
        if self.next > before {
            Next::Ack(self.next)
        } else {
            Next::Nothing
        }
    }

    /// Starts a resync from the leader's digests: drops keys the leader lacks, then fetches
    /// the differing ones (or subscribes at once if none differ). `id` is the request the
    /// digests answer, 0 when the leader pushed them because it truncated a live stream.
    pub(crate) fn on_digests(
        &mut self,
        slot: SlotId,
        store: &mut SlotStore,
        (id, digests): (u64, ResyncDigests),
        fetch_keys: usize,
    ) -> Next {
        let current = if id == 0 {
            self.phase == Phase::Streaming
        } else {
            id == self.request.1 && self.phase == Phase::Subscribing
        };
        if !current || digests.leader_epoch != self.leader_epoch {
            return Next::Nothing;
        }
        let tombstoned: BTreeSet<&DataInfoId> = digests.tombstoned.iter().collect();
        let leader_keys: BTreeSet<&DataInfoId> = digests
            .datums
            .iter()
            .map(|d| &d.data_info_id)
            .chain(tombstoned.iter().copied())
            .collect();
        let stale: Vec<DataInfoId> = store
            .datums()
            .filter(|(k, _)| !leader_keys.contains(&***k))
            .map(|(k, _)| (**k).clone())
            .collect();
        for k in stale {
            store.drop_key(&k);
        }
        // Keys whose publishers differ, and every key holding tombstones: digests do not
        // cover removals, and a follower that lacks one could, once promoted, accept a late
        // write the removal should block (the publisher would come back).
        let mut differing: BTreeSet<DataInfoId> = digests
            .datums
            .iter()
            .filter(|d| {
                store
                    .datum(&d.data_info_id)
                    .is_none_or(|mine| mine.version() != d.version || mine.digest() != d.digest)
            })
            .map(|d| d.data_info_id.clone())
            .collect();
        differing.extend(tombstoned.into_iter().cloned());
        let differing: Vec<DataInfoId> = differing.into_iter().collect();
        self.leader_end = digests.position;
        let resync = Resync {
            epoch: digests.leader_epoch,
            position: digests.position,
            rest: differing,
            batch: Vec::new(),
            seen: BTreeSet::new(),
        };
        self.phase = Phase::Resyncing(resync);
        self.next_batch(slot, fetch_keys)
    }

    /// Moves to the next batch of keys, or finishes the resync.
    fn next_batch(&mut self, slot: SlotId, fetch_keys: usize) -> Next {
        let Phase::Resyncing(r) = &mut self.phase else {
            return Next::Nothing;
        };
        if r.rest.is_empty() {
            self.synced_epoch = r.epoch;
            self.next = r.position;
            self.phase = Phase::Subscribing;
            return Next::Subscribe;
        }
        let take = r.rest.len().min(fetch_keys);
        r.batch = r.rest.drain(..take).collect();
        r.seen.clear();
        Next::Fetch(ResyncFetch {
            slot,
            leader_epoch: r.epoch,
            data_info_ids: r.batch.clone(),
            after: None,
        })
    }

    /// Applies a resync page answering request `id`; fetches the rest, the next batch, or
    /// finishes.
    pub(crate) fn on_page(
        &mut self,
        store: &mut SlotStore,
        (id, page): (u64, ResyncPage),
        fetch_keys: usize,
        now: Instant,
    ) -> Next {
        let Phase::Resyncing(r) = &mut self.phase else {
            return Next::Nothing;
        };
        if id != self.request.1 || page.leader_epoch != r.epoch {
            return Next::Nothing;
        }
        for d in page.datums {
            if !r.batch.contains(&d.data_info_id) {
                continue;
            }
            if r.seen.insert(d.data_info_id.clone()) {
                store.reset_key(&d.data_info_id, d.version);
            } else {
                store.set_version(&d.data_info_id, d.version);
            }
            for p in d.publishers {
                let stored = Arc::new(Stored {
                    owner: p.owner,
                    publisher: p.publisher,
                });
                store.force_put(&d.data_info_id, stored, d.version);
            }
        }
        for t in page.tombstones {
            if r.seen.contains(&t.data_info_id) {
                store.resync_tombstone(&t.data_info_id, &t.register_id, t.version, now);
            }
        }
        if let Some(after) = page.next {
            return Next::Fetch(ResyncFetch {
                slot: page.slot,
                leader_epoch: r.epoch,
                data_info_ids: r.batch.clone(),
                after: Some(after),
            });
        }
        for k in &r.batch {
            if !r.seen.contains(k) {
                store.drop_key(k);
            }
        }
        r.batch.clear();
        self.next_batch(page.slot, fetch_keys)
    }
}

/// Applies one op-log entry as the leader decided it.
pub(crate) fn apply_entry(store: &mut SlotStore, epoch: LeaderEpoch, e: OpLogEntry, now: Instant) {
    let version = crate::model::DatumVersion::new(epoch, e.position);
    match e.op {
        ReplicaOp::Put {
            data_info_id,
            owner,
            publisher,
        } => {
            store.force_put(
                &data_info_id,
                Arc::new(Stored { owner, publisher }),
                version,
            );
        }
        ReplicaOp::Remove {
            data_info_id,
            register_id,
            version: removed,
        } => {
            store.force_remove(&data_info_id, &register_id, removed, version, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::{key, pid, publisher};
    use crate::model::{DatumVersion, RegisterVersion};
    use crate::wire::Encode;

    /// Runs a whole digest resync of `follower` from `leader` through the codec, with pages
    /// of at most `max` publishers; returns how many pages it took.
    fn resync(leader: &SlotStore, follower: &mut SlotStore, max: usize) -> usize {
        let (slot, epoch) = (SlotId(0), LeaderEpoch(2));
        let log = OpLog::new(16, 1);
        let through = |m: crate::wire::Message| {
            let f = crate::testkit::through_codec(crate::wire::Frame::new(7, m));
            f.message
        };
        let crate::wire::Message::ResyncDigests(d) =
            through(resync_digests(slot, epoch, leader, &log).into())
        else {
            panic!("digests")
        };
        let mut f = Follower::new(None, epoch, LeaderEpoch(1), 0);
        f.phase = Phase::Subscribing;
        f.request = (ConnId(1), 7);
        let mut next = f.on_digests(slot, follower, (7, d), 2);
        let mut pages = 0;
        while let Next::Fetch(fetch) = next {
            pages += 1;
            assert!(pages < 100, "the resync ends");
            let page = resync_page(leader, slot, epoch, &fetch, max);
            let crate::wire::Message::ResyncPage(page) = through(page.into()) else {
                panic!("page")
            };
            next = f.on_page(follower, (7, page), 2, Instant::ZERO);
        }
        assert_eq!(next, Next::Subscribe);
        pages
    }

    fn owned(rid: &str, cv: u64) -> (ProcessId, crate::model::Publisher) {
        (pid(50), publisher(rid, cv, 1))
    }

    #[test]
    fn resync_carries_tombstones_so_a_promoted_follower_refuses_late_writes() {
        let t = Instant::ZERO;
        let v = |s| DatumVersion::new(LeaderEpoch(2), s);
        let mut leader = SlotStore::default();
        // Key 1: "a" published then removed; "b" live. Key 2: many publishers (pages) and
        // a removal. Key 3: only a tombstone (a removal of a publisher never seen).
        let (o, p) = owned("a", 3);
        leader.put(key(1), o, p, v(1));
        let (o, p) = owned("b", 1);
        leader.put(key(1), o, p, v(2));
        leader.remove(
            &key(1),
            &Text::from("a"),
            RegisterVersion::new(3, 1),
            v(3),
            t,
        );
        for i in 0..5 {
            let (o, p) = owned(&format!("p{i}"), 1);
            leader.put(key(2), o, p, v(4 + i));
        }
        leader.remove(
            &key(2),
            &Text::from("p4"),
            RegisterVersion::new(1, 1),
            v(9),
            t,
        );
        leader.remove(
            &key(3),
            &Text::from("z"),
            RegisterVersion::new(9, 1),
            v(10),
            t,
        );
        // The follower missed the removals: it still holds "a" (and "p4"), without any
        // tombstone, and key 2 equal by version is irrelevant: tombstoned keys are fetched.
        let mut follower = SlotStore::default();
        let (o, p) = owned("a", 3);
        follower.force_put(
            &key(1),
            Arc::new(Stored {
                owner: o,
                publisher: p,
            }),
            v(1),
        );
        let (o, p) = owned("p4", 1);
        follower.force_put(
            &key(2),
            Arc::new(Stored {
                owner: o,
                publisher: p,
            }),
            v(8),
        );
        let pages = resync(&leader, &mut follower, 2);
        assert!(pages >= 3, "key 2 spans pages: {pages}");
        assert_eq!(follower.snapshot(), leader.snapshot(), "same publishers");
        for (k, rid) in [(1, "a"), (2, "p4"), (3, "z")] {
            assert!(follower.has_tombstone(&key(k), rid), "tombstone {k}/{rid}");
        }
        assert!(
            follower.datum(&key(3)).is_none(),
            "a tombstone alone is no datum"
        );
        // Promoted, the follower refuses the late writes the removals block.
        let (o, p) = owned("a", 3);
        assert!(
            follower.put(key(1), o, p, v(20)).is_none(),
            "a stays removed"
        );
        let (o, p) = owned("z", 9);
        assert!(
            follower.put(key(3), o, p, v(21)).is_none(),
            "z stays removed"
        );
        let (o, p) = owned("a", 4);
        assert!(
            follower.put(key(1), o, p, v(22)).is_some(),
            "newer writes pass"
        );
    }

    #[test]
    fn a_page_from_an_older_leader_decodes_without_tombstones() {
        // An older leader's page ends after `next`: the appended field takes its default.
        let page = ResyncPage {
            slot: SlotId(3),
            leader_epoch: LeaderEpoch(2),
            datums: Vec::new(),
            next: None,
            tombstones: vec![ReplicaTombstone {
                data_info_id: key(1),
                register_id: Text::from("a"),
                version: RegisterVersion::new(1, 1),
            }],
        };
        let bytes = crate::wire::Frame::new(1, page.clone()).to_bytes().unwrap();
        let new = crate::wire::Frame::decode(bytes.clone()).unwrap();
        assert_eq!(
            new.message,
            page.clone().into(),
            "a new follower reads them"
        );
        // The field is a count (u32) and one tombstone; cut it off and fix body_len.
        let old_len = bytes.len()
            - page
                .tombstones
                .iter()
                .map(|t| t.encoded_len())
                .sum::<usize>()
            - 4;
        let mut raw = bytes[..old_len].to_vec();
        let body = (old_len - crate::wire::HEADER_LEN) as u32;
        raw[4..8].copy_from_slice(&body.to_be_bytes());
        let old = crate::wire::Frame::decode(bytes::Bytes::from(raw)).unwrap();
        let crate::wire::Message::ResyncPage(old) = old.message else {
            panic!("a page")
        };
        assert!(old.tombstones.is_empty());
        assert_eq!(old.datums, page.datums);
    }
}
