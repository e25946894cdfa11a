//! Answers to a data leader's reconciliation (docs/design.md §4.6): the session is the
//! source of truth for its clients' publishers, so a new (or periodically checking) slot
//! leader asks it for per-key digests of the slot (`ReconcileQuery` → `ReconcileDigests`)
//! and then for the publishers of the keys that differ, in pages (`ReconcileFetch` →
//! `ReconcilePage`, resumable at a cursor).

use super::registry::Registry;
use crate::model::{DataInfoId, SlotId};
use crate::wire::{Digest, IdDigest, PageCursor, PublisherEntry, ReconcilePage};

/// Per-key digests of the session's publishers in `slot`, ordered by key.
pub(crate) fn digests(reg: &Registry, slot: SlotId) -> Vec<IdDigest> {
    reg.slot_topics(slot)
        .into_iter()
        .filter_map(|tid| reg.topic(tid))
        .filter(|t| !t.publishers.is_empty())
        .map(|t| IdDigest {
            data_info_id: (*t.key).clone(),
            digest: Digest::of(
                t.publishers
                    .iter()
                    .map(|e| (&e.publisher.register_id, e.publisher.version)),
            ),
        })
        .collect()
}

/// One page of the session's publishers under `keys` (those in `slot`), ordered by key then
/// register id, resuming after `after`.
pub(crate) fn page(
    reg: &Registry,
    slot: SlotId,
    mut keys: Vec<DataInfoId>,
    after: Option<PageCursor>,
    page_size: usize,
) -> ReconcilePage {
    keys.sort();
    keys.dedup();
    let count = reg.slot_count();
    let mut entries: Vec<PublisherEntry> = Vec::new();
    let mut more = false;
    for key in keys {
        if count.slot_of(&key) != slot {
            continue;
        }
        let lower = match &after {
            Some(c) if key < c.data_info_id => continue,
            Some(c) if key == c.data_info_id => Some(c.register_id.as_str()),
            _ => None,
        };
        let Some(topic) = reg.find(&key).and_then(|t| reg.topic(t)) else {
            continue;
        };
        let room = page_size - entries.len();
        let (first, all) = topic.publishers.sorted_after(lower, room);
        entries.extend(first.into_iter().map(|e| PublisherEntry {
            data_info_id: (*topic.key).clone(),
            publisher: (*e.publisher).clone(),
        }));
        if all > room {
            more = true;
            break;
        }
    }
    let next = if more {
        entries.last().map(|e| PageCursor {
            data_info_id: e.data_info_id.clone(),
            register_id: e.publisher.register_id.clone(),
        })
    } else {
        None
    };
    ReconcilePage {
        slot,
        entries,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ConnId;
    use crate::model::{Publisher, RegisterVersion, Text};
    use crate::slot::SlotCount;

    fn one_slot() -> Registry {
        Registry::new(SlotCount::new(1).unwrap())
    }

    fn publish(reg: &mut Registry, key: &DataInfoId, id: &str) {
        let t = reg.intern(key);
        reg.publish(
            ConnId(1),
            t,
            Publisher {
                register_id: Text::from(id),
                version: RegisterVersion::new(1, 1),
                payload: Default::default(),
                attributes: vec![],
            },
        );
    }

    #[test]
    fn reconciliation_digests_match_digest_of_the_publishers() {
        let mut reg = one_slot();
        let a = DataInfoId::new("a", "i", "g");
        let b = DataInfoId::new("b", "i", "g");
        publish(&mut reg, &b, "p1");
        publish(&mut reg, &a, "p2");
        publish(&mut reg, &a, "p1");
        let d = digests(&reg, SlotId(0));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].data_info_id, a, "ordered by key");
        let v = RegisterVersion::new(1, 1);
        assert_eq!(
            d[0].digest,
            Digest::of([(&Text::from("p1"), v), (&Text::from("p2"), v)])
        );
    }

    #[test]
    fn reconciliation_pages_resume_at_the_cursor() {
        let mut reg = one_slot();
        let a = DataInfoId::new("a", "i", "g");
        let b = DataInfoId::new("b", "i", "g");
        for id in ["p1", "p2", "p3"] {
            publish(&mut reg, &a, id);
        }
        publish(&mut reg, &b, "q1");
        let keys = vec![b.clone(), a.clone(), a.clone()];
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let p = page(&reg, SlotId(0), keys.clone(), after, 2);
            assert!(p.entries.len() <= 2);
            seen.extend(
                p.entries
                    .iter()
                    .map(|e| format!("{}/{}", e.data_info_id.data_id, e.publisher.register_id)),
            );
            match p.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["a/p1", "a/p2", "a/p3", "b/q1"]);
    }
}
