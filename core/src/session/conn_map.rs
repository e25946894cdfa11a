//! The registry's client records by connection id. Every frame from a client and every
//! frame sent to one looks its connection up, so a lookup must not walk a tree: records sit
//! densely in a vector, found through an open-addressing index (linear probing, a fixed
//! multiplicative hash, so nothing depends on a per-process seed) that holds at most half
//! as many positions as it has slots, so probes stay short. Removal swaps the last record
//! into the hole and closes the index's gap by shifting later probes back (no tombstones).
//! The storage order depends on the order of insertions and removals, so the one ordered
//! walk ([`ConnMap::sorted_mut`]) sorts by connection id.

use crate::io::ConnId;

use super::probe::EMPTY;

/// Records by connection id.
#[derive(Debug)]
pub(crate) struct ConnMap<V> {
    entries: Vec<(ConnId, V)>,
    /// Positions in `entries`, by hash of the connection id; a power of two in size (or
    /// empty), never more than half full.
    index: Vec<u32>,
}

impl<V> Default for ConnMap<V> {
    fn default() -> Self {
        ConnMap {
            entries: Vec::new(),
            index: Vec::new(),
        }
    }
}

/// Fibonacci hashing: the high half of the product spreads consecutive ids (which shells
/// hand out) across the table.
fn home(conn: ConnId, mask: usize) -> usize {
    (conn.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

impl<V> ConnMap<V> {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    /// The index slot naming `conn`'s record, if any.
    fn slot_of(&self, conn: ConnId) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = home(conn, mask);
        loop {
            let pos = self.index[i];
            if pos == EMPTY {
                return None;
            }
            if self.entries[pos as usize].0 == conn {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&V> {
        let i = self.slot_of(conn)?;
        Some(&self.entries[self.index[i] as usize].1)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut V> {
        let i = self.slot_of(conn)?;
        Some(&mut self.entries[self.index[i] as usize].1)
    }

    pub(crate) fn contains_key(&self, conn: ConnId) -> bool {
        self.slot_of(conn).is_some()
    }

    /// `conn`'s record, created by `make` if absent.
    pub(crate) fn get_or_insert_with(&mut self, conn: ConnId, make: impl FnOnce() -> V) -> &mut V {
        if let Some(i) = self.slot_of(conn) {
            return &mut self.entries[self.index[i] as usize].1;
        }
        if (self.entries.len() + 1) * 2 > self.index.len() {
            self.grow();
        }
        let pos = self.entries.len();
        self.entries.push((conn, make()));
        self.place(conn, pos as u32);
        &mut self.entries[pos].1
    }

    /// Files position `pos` (of `conn`'s record) in the index, which has room.
    fn place(&mut self, conn: ConnId, pos: u32) {
        let mask = self.mask();
        let mut i = home(conn, mask);
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.index[i] = pos;
    }

    /// Doubles the index (at least 16 slots) and re-files every record.
    fn grow(&mut self) {
        let size = (self.index.len() * 2).max(16);
        self.index = vec![EMPTY; size];
        for pos in 0..self.entries.len() {
            self.place(self.entries[pos].0, pos as u32);
        }
    }

    /// Removes and returns `conn`'s record.
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<V> {
        let slot = self.slot_of(conn)?;
        let mask = self.mask();
        let entries = &self.entries;
        let pos = super::probe::take(&mut self.index, slot, entries.len(), |p| {
            home(entries[p as usize].0, mask)
        });
        Some(self.entries.swap_remove(pos).1)
    }

    /// Every record, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &V)> {
        self.entries.iter().map(|(c, v)| (*c, v))
    }

    /// Every record, in connection id order.
    pub(crate) fn sorted_mut(&mut self) -> Vec<(ConnId, &mut V)> {
        let mut all: Vec<(ConnId, &mut V)> =
            self.entries.iter_mut().map(|(c, v)| (*c, v)).collect();
        all.sort_unstable_by_key(|(c, _)| *c);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};
    use std::collections::BTreeMap;

    #[test]
    fn finds_inserts_and_removes_past_collisions() {
        let mut m: ConnMap<u64> = ConnMap::default();
        assert_eq!(m.get(ConnId(1)), None);
        assert_eq!(m.remove(ConnId(1)), None);
        for c in 0..1_000u64 {
            *m.get_or_insert_with(ConnId(c), || 0) += c;
        }
        assert_eq!(m.len(), 1_000);
        assert!(m.index.len() >= 2_000, "at most half full");
        for c in (0..1_000u64).step_by(3) {
            assert_eq!(m.remove(ConnId(c)), Some(c));
        }
        for c in 0..1_000u64 {
            assert_eq!(m.get(ConnId(c)).copied(), (c % 3 != 0).then_some(c), "{c}");
        }
        let order: Vec<ConnId> = m.sorted_mut().into_iter().map(|(c, _)| c).collect();
        let expected: Vec<ConnId> = (0..1_000).filter(|c| c % 3 != 0).map(ConnId).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn ids_sharing_a_home_slot_stay_reachable_after_removals() {
        // Seven ids with one home slot in the 16-slot table that holds them: one probe run
        // that wraps past the table's end, then removals from its middle must shift the
        // rest back.
        let ids: Vec<ConnId> = (0..)
            .map(ConnId)
            .filter(|&c| home(c, 15) == 14)
            .take(7)
            .collect();
        let mut m: ConnMap<u64> = ConnMap::default();
        for (n, &c) in ids.iter().enumerate() {
            m.get_or_insert_with(c, || n as u64);
        }
        assert_eq!(m.index.len(), 16);
        assert_eq!(m.remove(ids[2]), Some(2));
        assert_eq!(m.remove(ids[0]), Some(0));
        for (n, &c) in ids.iter().enumerate() {
            let want = (n != 0 && n != 2).then_some(n as u64);
            assert_eq!(m.get(c).copied(), want);
        }
        assert_eq!(m.len(), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Bump(u64),
    }

    impl Arbitrary for Op {
        fn arbitrary(g: &mut Gen) -> Self {
            // Few distinct ids (some far apart, some sharing low bits), so that inserts,
            // hits, misses and collisions all happen.
            let id = u64::from(u8::arbitrary(g) % 40) << (if bool::arbitrary(g) { 0 } else { 40 });
            match u8::arbitrary(g) % 3 {
                0 => Op::Insert(id, u32::arbitrary(g)),
                1 => Op::Remove(id),
                _ => Op::Bump(id),
            }
        }
    }

    fn behaves_like_a_btree_map(ops: Vec<Op>) -> bool {
        let mut m: ConnMap<u32> = ConnMap::default();
        let mut model: BTreeMap<ConnId, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(c, v) => {
                    let c = ConnId(c);
                    let got = *m.get_or_insert_with(c, || v);
                    if got != *model.entry(c).or_insert(v) {
                        return false;
                    }
                }
                Op::Remove(c) => {
                    if m.remove(ConnId(c)) != model.remove(&ConnId(c)) {
                        return false;
                    }
                }
                Op::Bump(c) => {
                    if let Some(v) = m.get_mut(ConnId(c)) {
                        *v = v.wrapping_add(1);
                    }
                    if let Some(v) = model.get_mut(&ConnId(c)) {
                        *v = v.wrapping_add(1);
                    }
                }
            }
            if m.len() != model.len() {
                return false;
            }
        }
        let all: Vec<(ConnId, u32)> = m.sorted_mut().into_iter().map(|(c, v)| (c, *v)).collect();
        let want: Vec<(ConnId, u32)> = model.iter().map(|(c, v)| (*c, *v)).collect();
        all == want
            && (0..40u64).flat_map(|k| [k, k << 40]).all(|c| {
                m.get(ConnId(c)) == model.get(&ConnId(c))
                    && m.contains_key(ConnId(c)) == model.contains_key(&ConnId(c))
            })
    }

    #[test]
    fn any_sequence_of_operations_matches_a_btree_map() {
        QuickCheck::new()
            .tests(2_000)
            .quickcheck(behaves_like_a_btree_map as fn(Vec<Op>) -> bool);
    }
}
