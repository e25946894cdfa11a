//! The registry's index of topics by key hash: open addressing with linear probing over a
//! power-of-two table of `(hash, topic)` pairs. Every publish and subscribe looks its key
//! up here, so a lookup is one hash and, almost always, one probe — no tree walk, no
//! allocation per key. Keys whose hashes collide are told apart by the caller's comparison.
//! Never iterated, so its order (which depends on the hashes) cannot leak into behaviour.

use super::registry::TopicId;

/// A free slot; [`REMOVED`] marks one whose entry was removed (probes continue past it).
const EMPTY: u32 = u32::MAX;
const REMOVED: u32 = u32::MAX - 1;

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    id: u32,
}

const FREE: Slot = Slot { hash: 0, id: EMPTY };

/// Topic ids by the hash of their key.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    slots: Vec<Slot>,
    /// Live entries.
    len: usize,
    /// Slots marked [`REMOVED`].
    removed: usize,
}

impl KeyIndex {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The first topic filed under `hash` for which `is_it` holds.
    pub(crate) fn find(
        &self,
        hash: u64,
        mut is_it: impl FnMut(TopicId) -> bool,
    ) -> Option<TopicId> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.id == EMPTY {
                return None;
            }
            if s.id != REMOVED && s.hash == hash && is_it(TopicId(s.id)) {
                return Some(TopicId(s.id));
            }
            i = (i + 1) & mask;
        }
    }

    /// Files `id` under `hash`.
    pub(crate) fn insert(&mut self, hash: u64, id: TopicId) {
        // At most 3/4 of the slots used (live or removed), so probes stay short and end.
        if (self.len + self.removed + 1) * 4 > self.slots.len() * 3 {
            self.rebuild();
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].id != EMPTY && self.slots[i].id != REMOVED {
            i = (i + 1) & mask;
        }
        if self.slots[i].id == REMOVED {
            self.removed -= 1;
        }
        self.slots[i] = Slot { hash, id: id.0 };
        self.len += 1;
    }

    /// Unfiles `id` from `hash`.
    pub(crate) fn remove(&mut self, hash: u64, id: TopicId) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].id != EMPTY {
            if self.slots[i].id == id.0 && self.slots[i].hash == hash {
                self.slots[i].id = REMOVED;
                self.len -= 1;
                self.removed += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Re-files every live entry in a table sized for twice of them (at least 16 slots),
    /// dropping the removed marks.
    fn rebuild(&mut self) {
        let size = ((self.len + 1) * 2).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![FREE; size]);
        let mask = size - 1;
        for s in old.into_iter().filter(|s| s.id != EMPTY && s.id != REMOVED) {
            let mut i = s.hash as usize & mask;
            while self.slots[i].id != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
        self.removed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_filed_past_collisions_and_removals() {
        let mut x = KeyIndex::default();
        assert_eq!(x.find(1, |_| true), None);
        // Every id under a handful of hashes, so that probes collide and wrap.
        for id in 0..1_000u32 {
            x.insert(u64::from(id % 7) * 16, TopicId(id));
        }
        for id in 0..1_000u32 {
            let h = u64::from(id % 7) * 16;
            assert_eq!(x.find(h, |t| t == TopicId(id)), Some(TopicId(id)));
        }
        for id in (0..1_000u32).filter(|id| id % 2 == 0) {
            x.remove(u64::from(id % 7) * 16, TopicId(id));
        }
        for id in 0..1_000u32 {
            let h = u64::from(id % 7) * 16;
            let found = x.find(h, |t| t == TopicId(id));
            assert_eq!(found.is_some(), id % 2 == 1, "{id}");
        }
        // Churn through many insertions and removals: the removed marks are recycled.
        for round in 0..10_000u32 {
            x.insert(u64::from(round), TopicId(5_000));
            x.remove(u64::from(round), TopicId(5_000));
        }
        assert_eq!(x.len, 500);
        assert!(x.slots.len() <= 2_048, "{} slots", x.slots.len());
    }
}
