//! The list arithmetic of delta pushes (`docs/protocol.md` §6.2): the change from one list
//! of a key to the next, as a session computes it once per datum, and its application to
//! the list a client holds, checked against the digest of the list it must produce.
//!
//! Lists are ordered by register id (data nodes serve them so), and one publisher has
//! exactly one encoding, so both directions compare and copy encoded publishers and never
//! decode one.

use crate::model::Text;
use crate::wire::{Digest, Encode, PublisherList, PublisherRef};
use std::cmp::Ordering;
use std::collections::BTreeMap;

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

/// The list `change` makes of `base`, if that list has exactly `digest`. `None` when the
/// change does not fit `base` (it removes an id `base` lacks, or names an upserted id
/// twice, or `base` holds an id twice) or the result's digest differs: the caller must not
/// deliver anything then. The result is ordered by register id, as the sender's list is.
pub fn apply(base: &PublisherList, change: &ListDelta, digest: Digest) -> Option<PublisherList> {
    let mut by_id: BTreeMap<&str, PublisherRef<'_>> = BTreeMap::new();
    for p in base {
        if by_id.insert(p.register_id(), p).is_some() {
            return None;
        }
    }
    for id in &change.removed {
        by_id.remove(id.as_str())?;
    }
    if !ordered(&change.upserts) {
        return None;
    }
    for p in &change.upserts {
        by_id.insert(p.register_id(), p);
    }
    let list = PublisherList::concat(&by_id.into_values().collect::<Vec<_>>());
    (Digest::of_list(&list) == digest).then_some(list)
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
        let got = apply(&old, &d, Digest::of_list(&new)).expect("fits");
        assert_eq!(got, new, "byte for byte the sender's list");
        assert!(d.encoded_len() < new.encoded_len());
    }

    #[test]
    fn a_wrong_digest_or_a_base_that_does_not_fit_yields_nothing() {
        let old = list(&[p("a", 1, "x"), p("b", 1, "x")]);
        let new = list(&[p("a", 1, "x"), p("b", 2, "x")]);
        let d = diff(&old, &new).unwrap();
        let mut wrong = Digest::of_list(&new);
        wrong.hash ^= 1;
        assert_eq!(apply(&old, &d, wrong), None);
        // Another base: the result is a different list, caught by the digest.
        let other = list(&[p("a", 1, "x"), p("b", 1, "x"), p("c", 1, "x")]);
        assert_eq!(apply(&other, &d, Digest::of_list(&new)), None);
        // A removal of an id the base lacks does not fit it at all.
        let gone = ListDelta {
            upserts: PublisherList::new(),
            removed: vec![Text::from("z")],
        };
        assert_eq!(apply(&old, &gone, Digest::of_list(&old)), None);
        // Upserts out of order (or twice the same id) are refused.
        let twice = ListDelta {
            upserts: list(&[p("c", 1, "x"), p("c", 2, "x")]),
            removed: vec![],
        };
        assert_eq!(apply(&old, &twice, Digest::default()), None);
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
