//! Publisher-set digests, used wherever two nodes check that they hold the same publishers
//! of a data info id without sending them: data leader ↔ session reconciliation, the
//! leader → follower resync, and a delta push (whose client checks the list it built).
//!
//! A digest is the count of publishers and the wrapping sum of a 64-bit hash of each
//! publisher's `(register_id, version)`. A sum is order-independent and can be maintained
//! incrementally (add on insert, subtract on removal), so a node keeps its digests current
//! as it applies writes instead of recomputing them per check. `docs/protocol.md` specifies
//! the hash so that other implementations can produce equal digests.

use crate::model::{RegisterVersion, Text};
use crate::wire::{Digest, PublisherList};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// SplitMix64's finaliser: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash of one publisher:
/// `mix(fnv1a64(register_id) ^ mix(client_version ^ mix(connect_generation)))`.
pub fn publisher_hash(register_id: &str, version: RegisterVersion) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in register_id.as_bytes().iter() {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    mix(h ^ mix(version.client_version ^ mix(version.connect_generation)))
}

impl Digest {
    /// Adds a publisher to the digested set.
    pub fn insert(&mut self, register_id: &Text, version: RegisterVersion) {
        self.insert_hash(publisher_hash(register_id, version));
    }

    /// Removes a publisher previously inserted with the same id and version.
    pub fn remove(&mut self, register_id: &Text, version: RegisterVersion) {
        self.remove_hash(publisher_hash(register_id, version));
    }

    /// Adds a publisher by its [`publisher_hash`] (for a caller updating several digests).
    pub fn insert_hash(&mut self, hash: u64) {
        self.count = self.count.wrapping_add(1);
        self.hash = self.hash.wrapping_add(hash);
    }

    /// Removes a publisher by its [`publisher_hash`].
    pub fn remove_hash(&mut self, hash: u64) {
        self.count = self.count.wrapping_sub(1);
        self.hash = self.hash.wrapping_sub(hash);
    }

    /// The digest of a list's publishers (a delta push's `digest`): the list read as a set.
    pub fn of_list(list: &PublisherList) -> Digest {
        let mut d = Digest::default();
        for p in list {
            d.insert_hash(publisher_hash(p.register_id(), p.version()));
        }
        d
    }

    /// The digest of a whole set.
    pub fn of<'a>(publishers: impl IntoIterator<Item = (&'a Text, RegisterVersion)>) -> Digest {
        let mut d = Digest::default();
        for (id, v) in publishers {
            d.insert(id, v);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Text {
        Text::from(s)
    }

    #[test]
    fn digest_is_order_independent_and_incremental() {
        let v1 = RegisterVersion::new(1, 1);
        let v2 = RegisterVersion::new(2, 1);
        let ab = Digest::of([(&t("a"), v1), (&t("b"), v2)]);
        let ba = Digest::of([(&t("b"), v2), (&t("a"), v1)]);
        assert_eq!(ab, ba);
        let mut inc = Digest::default();
        inc.insert(&t("a"), v1);
        inc.insert(&t("c"), v1);
        inc.insert(&t("b"), v2);
        inc.remove(&t("c"), v1);
        assert_eq!(inc, ab);
    }

    #[test]
    fn a_different_version_or_id_changes_the_digest() {
        let v1 = RegisterVersion::new(1, 1);
        let base = Digest::of([(&t("a"), v1)]);
        assert_ne!(base, Digest::of([(&t("a"), RegisterVersion::new(1, 2))]));
        assert_ne!(base, Digest::of([(&t("b"), v1)]));
        assert_eq!(Digest::default(), Digest::of([]));
    }

    #[test]
    fn hash_is_pinned() {
        // Other implementations must reproduce this value (docs/protocol.md).
        // Cross-checked against an independent implementation of the formula.
        assert_eq!(
            publisher_hash(&t("pub-1"), RegisterVersion::new(3, 2)),
            0xadff_8b82_3cd1_d8c5
        );
    }
}
