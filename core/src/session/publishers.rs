//! One topic's publishers by register id. Every registration inserts here, so an insert
//! must not walk a tree comparing strings: entries sit densely in a vector, found through
//! an open-addressing index (linear probing over a power-of-two table at most half full)
//! keyed by a fixed 64-bit hash of the register id, which each entry keeps so that probes
//! compare integers and compare strings only on a hash match. Removal swaps the last entry
//! into the hole and shifts later probes back (no tombstones). The storage order depends on
//! the history of insertions and removals; the one caller that needs register id order
//! (reconciliation pages) asks for it ([`Publishers::sorted_after`]).

use super::registry::PubEntry;

use super::probe::EMPTY;

/// A deterministic 64-bit hash of a register id: an Fx-style multiply over its bytes eight
/// at a time and its length, finished by SplitMix64.
pub(crate) fn id_hash(id: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let add = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut h = 0;
    let mut chunks = id.chunks_exact(8);
    for c in &mut chunks {
        h = add(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    let mut tail = 0u64;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        tail |= u64::from(b) << (8 * i);
    }
    h = add(add(h, tail), id.len() as u64);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// A topic's publishers.
#[derive(Debug, Default)]
pub(crate) struct Publishers {
    /// Each entry with the hash of its register id.
    entries: Vec<(u64, PubEntry)>,
    /// Positions in `entries` by hash; a power of two in size (or empty), at most half full.
    index: Vec<u32>,
}

/// The result of [`Publishers::entry`].
pub(crate) enum Entry<'a> {
    Occupied(&'a mut PubEntry),
    Vacant(Vacant<'a>),
}

/// Where a new publisher goes: the index slot its search ended on.
pub(crate) struct Vacant<'a> {
    map: &'a mut Publishers,
    hash: u64,
    slot: usize,
}

impl<'a> Vacant<'a> {
    /// Inserts `entry`, whose register id is the one searched for.
    pub(crate) fn insert(self, entry: PubEntry) -> &'a mut PubEntry {
        let pos = self.map.entries.len();
        self.map.index[self.slot] = pos as u32;
        self.map.entries.push((self.hash, entry));
        &mut self.map.entries[pos].1
    }
}

impl Publishers {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every publisher, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PubEntry> {
        self.entries.iter().map(|(_, e)| e)
    }

    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    fn home(hash: u64, mask: usize) -> usize {
        hash as usize & mask
    }

    /// The index slot holding `id` (`Ok`), or the free slot its probe ended on (`Err`).
    fn search(&self, id: &str, hash: u64) -> Result<usize, usize> {
        let mask = self.mask();
        let mut i = Self::home(hash, mask);
        loop {
            let pos = self.index[i];
            if pos == EMPTY {
                return Err(i);
            }
            let (h, e) = &self.entries[pos as usize];
            if *h == hash && *e.publisher.register_id == *id {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn slot_of(&self, id: &str) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        self.search(id, id_hash(id.as_bytes())).ok()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&PubEntry> {
        let i = self.slot_of(id)?;
        Some(&self.entries[self.index[i] as usize].1)
    }

    /// The publisher `id`, or where it would go: one search either way.
    pub(crate) fn entry(&mut self, id: &str) -> Entry<'_> {
        if (self.entries.len() + 1) * 2 > self.index.len() {
            self.grow();
        }
        let hash = id_hash(id.as_bytes());
        match self.search(id, hash) {
            Ok(i) => Entry::Occupied(&mut self.entries[self.index[i] as usize].1),
            Err(slot) => Entry::Vacant(Vacant {
                map: self,
                hash,
                slot,
            }),
        }
    }

    /// Doubles the index (at least 8 slots: most topics have a few publishers, and each
    /// doubling is an allocation) and re-files every entry.
    fn grow(&mut self) {
        let size = (self.index.len() * 2).max(8);
        self.index = vec![EMPTY; size];
        let mask = size - 1;
        for (pos, (hash, _)) in self.entries.iter().enumerate() {
            let mut i = Self::home(*hash, mask);
            while self.index[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.index[i] = pos as u32;
        }
    }

    /// Removes and returns publisher `id`.
    pub(crate) fn remove(&mut self, id: &str) -> Option<PubEntry> {
        let slot = self.slot_of(id)?;
        let mask = self.mask();
        let entries = &self.entries;
        let pos = super::probe::take(&mut self.index, slot, entries.len(), |p| {
            Self::home(entries[p as usize].0, mask)
        });
        Some(self.entries.swap_remove(pos).1)
    }

    /// The first `limit` publishers whose register id sorts after `after` (all, if `None`),
    /// in register id order, and how many sort after it in all.
    pub(crate) fn sorted_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<&PubEntry>, usize) {
        let mut found: Vec<&PubEntry> = self
            .iter()
            .filter(|e| after.is_none_or(|a| *e.publisher.register_id > *a))
            .collect();
        let total = found.len();
        let by_id =
            |a: &&PubEntry, b: &&PubEntry| a.publisher.register_id.cmp(&b.publisher.register_id);
        if limit == 0 {
            found.clear();
        } else if total > limit {
            found.select_nth_unstable_by(limit - 1, by_id);
            found.truncate(limit);
        }
        found.sort_unstable_by(by_id);
        (found, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ConnId;
    use crate::model::{Publisher, RegisterVersion, Text};
    use quickcheck::{Arbitrary, Gen, QuickCheck};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn entry(id: &str, conn: u64) -> PubEntry {
        PubEntry {
            publisher: Arc::new(Publisher {
                register_id: Text::from(id),
                version: RegisterVersion::new(1, 1),
                payload: Default::default(),
                attributes: vec![],
            }),
            conn: ConnId(conn),
        }
    }

    fn insert(p: &mut Publishers, id: &str, conn: u64) -> bool {
        match p.entry(id) {
            Entry::Occupied(e) => {
                e.conn = ConnId(conn);
                false
            }
            Entry::Vacant(v) => {
                v.insert(entry(id, conn));
                true
            }
        }
    }

    #[test]
    fn finds_inserts_removes_and_pages_in_id_order() {
        let mut p = Publishers::default();
        assert!(p.get("a").is_none());
        assert!(p.remove("a").is_none());
        for n in 0..500u64 {
            assert!(insert(&mut p, &format!("id-{n}"), n));
        }
        assert!(!insert(&mut p, "id-7", 1_000), "already there");
        assert_eq!(p.get("id-7").map(|e| e.conn), Some(ConnId(1_000)));
        for n in (0..500u64).step_by(2) {
            assert_eq!(
                p.remove(&format!("id-{n}")).map(|e| e.conn.0 % 1_000),
                Some(n % 1_000)
            );
        }
        assert_eq!(p.len(), 250);
        for n in 0..500u64 {
            assert_eq!(p.get(&format!("id-{n}")).is_some(), n % 2 == 1, "{n}");
        }
        let mut ids: Vec<String> = (0..500)
            .filter(|n| n % 2 == 1)
            .map(|n| format!("id-{n}"))
            .collect();
        ids.sort();
        let (page, total) = p.sorted_after(Some(&ids[99]), 10);
        assert_eq!(total, 150);
        let page: Vec<&str> = page.iter().map(|e| &*e.publisher.register_id).collect();
        assert_eq!(
            page,
            ids[100..110].iter().map(String::as_str).collect::<Vec<_>>()
        );
        let (all, total) = p.sorted_after(None, 1_000);
        assert_eq!((all.len(), total), (250, 250));
        assert_eq!(p.sorted_after(None, 0).0.len(), 0);
    }

    #[test]
    fn the_id_hash_reads_every_byte() {
        // The tail (after the last full eight bytes) counts as much as the rest.
        let ids = [
            "",
            "a",
            "b",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefgh\0",
        ];
        let hashes: std::collections::BTreeSet<u64> =
            ids.iter().map(|i| id_hash(i.as_bytes())).collect();
        assert_eq!(hashes.len(), ids.len());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8),
        Remove(u8),
        Page(Option<u8>, u8),
    }

    /// Few distinct ids, so that inserts, hits and misses all happen.
    fn id(n: u8) -> String {
        format!("p{}", n % 48)
    }

    impl Arbitrary for Op {
        fn arbitrary(g: &mut Gen) -> Self {
            match u8::arbitrary(g) % 3 {
                0 => Op::Insert(u8::arbitrary(g), u8::arbitrary(g)),
                1 => Op::Remove(u8::arbitrary(g)),
                _ => Op::Page(Option::arbitrary(g), u8::arbitrary(g) % 20),
            }
        }
    }

    fn behaves_like_a_btree_map(ops: Vec<Op>) -> bool {
        let mut p = Publishers::default();
        let mut model: BTreeMap<String, u64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(n, c) => {
                    let new = insert(&mut p, &id(n), u64::from(c));
                    if new != model.insert(id(n), u64::from(c)).is_none() {
                        return false;
                    }
                }
                Op::Remove(n) => {
                    let got = p.remove(&id(n)).map(|e| e.conn.0);
                    if got != model.remove(&id(n)) {
                        return false;
                    }
                }
                Op::Page(after, limit) => {
                    let after = after.map(id);
                    let (page, total) = p.sorted_after(after.as_deref(), usize::from(limit));
                    let want: Vec<(&String, &u64)> = model
                        .iter()
                        .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
                        .collect();
                    let got: Vec<(&str, u64)> = page
                        .iter()
                        .map(|e| (&*e.publisher.register_id, e.conn.0))
                        .collect();
                    let want_page: Vec<(&str, u64)> = want
                        .iter()
                        .take(usize::from(limit))
                        .map(|(k, v)| (k.as_str(), **v))
                        .collect();
                    if total != want.len() || got != want_page {
                        return false;
                    }
                }
            }
            if p.len() != model.len() {
                return false;
            }
        }
        model
            .iter()
            .all(|(k, v)| p.get(k).map(|e| e.conn.0) == Some(*v))
            && (0..48u8).all(|n| p.get(&id(n)).is_some() == model.contains_key(&id(n)))
    }

    #[test]
    fn any_sequence_of_operations_matches_a_btree_map() {
        QuickCheck::new()
            .tests(2_000)
            .quickcheck(behaves_like_a_btree_map as fn(Vec<Op>) -> bool);
    }
}
