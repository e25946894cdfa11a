//! The list arithmetic of delta pushes (`docs/protocol.md` §6.2): the change from one list
//! of a key to the next, as a session computes it once per datum, and its application to
//! the list a client holds, checked against the digest of the list it must produce.
//!
//! Lists are ordered by register id (data nodes serve them so), and one publisher has
//! exactly one encoding, so both directions compare and copy encoded publishers and never
//! decode one.

use crate::digest::publisher_hash;
use crate::model::Text;
use crate::wire::{Digest, Encode, PublisherList, PublisherRef};
use std::cmp::Ordering;

/// The change from one list to another: what a `PushDelta` carries besides versions and
/// digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListDelta {
    /// Publishers added or replaced, ordered by register id.
    pub upserts: PublisherList,
    /// Register ids removed, ordered.
    pub removed: Vec<Text>,
}

impl ListDelta {
    /// The wire length of its two fields, to weigh it against the whole list.
    pub fn encoded_len(&self) -> usize {
        self.upserts.encoded_len() + self.removed.encoded_len()
    }
}

/// Whether the register ids of `list` strictly increase (so no id appears twice).
pub fn ordered(list: &PublisherList) -> bool {
    list.iter()
        .zip(list.iter().skip(1))
        .all(|(a, b)| a.register_id() < b.register_id())
}

/// The change from `old` to `new`; `None` if either is not ordered by register id, which a
/// merge could not diff (the receiver then gets the whole list).
pub fn diff(old: &PublisherList, new: &PublisherList) -> Option<ListDelta> {
    if !ordered(old) || !ordered(new) {
        return None;
    }
    let mut upserts: Vec<PublisherRef<'_>> = Vec::new();
    let mut removed = Vec::new();
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.register_id().cmp(y.register_id()),
        };
        match order {
            Ordering::Less => removed.extend(a.next().map(|p| Text::from(p.register_id()))),
            Ordering::Greater => upserts.extend(b.next()),
            Ordering::Equal => {
                let (x, y) = (a.next(), b.next());
                if let (Some(x), Some(y)) = (x, y)
                    && x.encoded() != y.encoded()
                {
                    upserts.push(y);
                }
            }
        }
    }
    Some(ListDelta {
        upserts: PublisherList::concat(&upserts),
        removed,
    })
}

/// The list `change` makes of `base` (whose digest is `base_digest`), if that list has
/// exactly `digest`. `None` when the change does not fit `base` (it removes an id `base`
/// lacks, or its upserts are not in increasing id order, or `base` is not) or the result's
/// digest differs: the caller must not deliver anything then. The result is ordered by
/// register id, as the sender's list is.
///
/// One merge of the ordered lists, updating the digest by what leaves and what enters:
/// a client applies every delta of every connection it holds, so the cost is a copy of
/// the list and work in the size of the change, not a sort or a hash of every publisher.
pub fn apply(
    base: &PublisherList,
    base_digest: Digest,
    change: &ListDelta,
    digest: Digest,
) -> Option<PublisherList> {
    let mut removed: Vec<&str> = change.removed.iter().map(Text::as_str).collect();
    removed.sort_unstable();
    let mut removed = removed.into_iter().peekable();
    let mut upserts = change.upserts.iter().peekable();
    let mut out = Merged {
        list: Vec::with_capacity(base.len() + change.upserts.len()),
        digest: base_digest,
        last_upsert: None,
    };
    let mut previous: Option<&str> = None;
    for p in base {
        let id = p.register_id();
        if previous.is_some_and(|prev| prev >= id) {
            return None;
        }
        previous = Some(id);
        while let Some(u) = upserts.next_if(|u| u.register_id() < id) {
            out.upsert(u)?;
        }
        if removed.peek().is_some_and(|r| *r < id) {
            return None;
        }
        let gone = removed.next_if(|r| *r == id).is_some();
        let replaced = upserts.next_if(|u| u.register_id() == id);
        if gone || replaced.is_some() {
            out.digest.remove_hash(publisher_hash(id, p.version()));
        }
        match replaced {
            Some(u) => out.upsert(u)?,
            None if !gone => out.list.push(p),
            None => {}
        }
    }
    if removed.next().is_some() {
        return None;
    }
    for u in upserts {
        out.upsert(u)?;
    }
    (out.digest == digest).then(|| PublisherList::concat(&out.list))
}

/// The list `apply` builds, with its digest so far.
struct Merged<'a> {
    list: Vec<PublisherRef<'a>>,
    digest: Digest,
    last_upsert: Option<&'a str>,
}

impl<'a> Merged<'a> {
    /// Adds an upserted publisher; `None` if the upserts' ids do not strictly increase.
    fn upsert(&mut self, u: PublisherRef<'a>) -> Option<()> {
        let id = u.register_id();
        if self.last_upsert.is_some_and(|last| last >= id) {
            return None;
        }
        self.last_upsert = Some(id);
        self.digest.insert_hash(publisher_hash(id, u.version()));
        self.list.push(u);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Publisher, RegisterVersion};
    use bytes::Bytes;

    fn p(id: &str, v: u64, addr: &'static str) -> Publisher {
        Publisher {
            register_id: Text::from(id),
            version: RegisterVersion::new(v, 1),
            payload: vec![Bytes::from_static(addr.as_bytes())].into(),
            attributes: vec![],
        }
    }

    fn list(ps: &[Publisher]) -> PublisherList {
        PublisherList::from_publishers(ps)
    }

    #[test]
    fn diff_then_apply_rebuilds_the_new_list() {
        let old = list(&[p("a", 1, "x"), p("b", 1, "x"), p("c", 1, "x")]);
        let new = list(&[p("b", 2, "y"), p("c", 1, "x"), p("d", 1, "x")]);
        let d = diff(&old, &new).expect("ordered lists");
        assert_eq!(d.upserts, list(&[p("b", 2, "y"), p("d", 1, "x")]));
        assert_eq!(d.removed, vec![Text::from("a")]);
        let got = apply(&old, Digest::of_list(&old), &d, Digest::of_list(&new)).expect("fits");
        assert_eq!(got, new, "byte for byte the sender's list");
        assert!(d.encoded_len() < new.encoded_len());
    }

    #[test]
    fn a_chain_of_deltas_carries_the_digest_without_rehashing_the_list() {
        let mut rng = crate::rng::Rng::seed_from_u64(7);
        let mut held: Vec<Publisher> = (0..40).map(|i| p(&format!("p{i:03}"), 1, "x")).collect();
        let mut digest = Digest::of_list(&list(&held));
        for round in 2..60 {
            // Remove some, update some, add some.
            let mut next = Vec::new();
            for q in &held {
                if rng.below(10) == 0 {
                    continue;
                }
                let mut q = q.clone();
                if rng.below(5) == 0 {
                    q.version = RegisterVersion::new(round, 1);
                }
                next.push(q);
            }
            for _ in 0..rng.below(5) {
                next.push(p(&format!("p{:03}", rng.below(200)), round, "y"));
            }
            next.sort_by(|a, b| a.register_id.cmp(&b.register_id));
            next.dedup_by(|a, b| a.register_id == b.register_id);
            let (old, new) = (list(&held), list(&next));
            let d = diff(&old, &new).expect("ordered");
            let want = Digest::of_list(&new);
            let got = apply(&old, digest, &d, want).expect("fits");
            assert_eq!(got, new, "round {round}");
            (held, digest) = (next, want);
        }
    }

    #[test]
    fn a_wrong_digest_or_a_base_that_does_not_fit_yields_nothing() {
        let old = list(&[p("a", 1, "x"), p("b", 1, "x")]);
        let new = list(&[p("a", 1, "x"), p("b", 2, "x")]);
        let d = diff(&old, &new).unwrap();
        let mut wrong = Digest::of_list(&new);
        wrong.hash ^= 1;
        assert_eq!(apply(&old, Digest::of_list(&old), &d, wrong), None);
        // Another base: the result is a different list, caught by the digest.
        let other = list(&[p("a", 1, "x"), p("b", 1, "x"), p("c", 1, "x")]);
        assert_eq!(
            apply(&other, Digest::of_list(&other), &d, Digest::of_list(&new)),
            None
        );
        // A removal of an id the base lacks does not fit it at all.
        let gone = ListDelta {
            upserts: PublisherList::new(),
            removed: vec![Text::from("z")],
        };
        assert_eq!(
            apply(&old, Digest::of_list(&old), &gone, Digest::of_list(&old)),
            None
        );
        // Upserts out of order (or twice the same id) are refused.
        let twice = ListDelta {
            upserts: list(&[p("c", 1, "x"), p("c", 2, "x")]),
            removed: vec![],
        };
        assert_eq!(
            apply(&old, Digest::of_list(&old), &twice, Digest::default()),
            None
        );
    }

    #[test]
    fn unordered_lists_are_not_diffed() {
        let sorted = list(&[p("a", 1, "x")]);
        let unsorted = list(&[p("b", 1, "x"), p("a", 1, "x")]);
        assert_eq!(diff(&sorted, &unsorted), None);
        assert_eq!(diff(&unsorted, &sorted), None);
        assert!(diff(&sorted, &sorted).is_some_and(|d| d == ListDelta::default()));
    }
}
