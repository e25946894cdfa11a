//! What a push carries (`docs/protocol.md` §6.2): a key's whole list, or a delta against
//! the version the connection acknowledged.
//!
//! A datum's delta is computed once, when it replaces the cached datum (from that one to
//! it), and shared by every connection whose acknowledged version is its base. Every other
//! connection gets the whole list: one that holds nothing of the key yet, one that missed a
//! version (its acknowledged version is not the base), and one that did not agree
//! [`Features::DELTA_PUSH`](crate::wire::Features::DELTA_PUSH). A delta not smaller than
//! the list is not kept at all.

use super::registry::CachedDatum;
use crate::delta::{self, ListDelta};
use crate::model::{DataInfoId, DatumVersion};
use crate::wire::{Digest, Encode, Message, PublisherList, Push, PushDelta};
use std::sync::Arc;

/// What a `PushDelta` carries beyond a `Push` besides its change: the base version (16
/// bytes) and the digest (4 + 8), so a delta is kept only if it still costs less.
const DELTA_EXTRA_LEN: usize = 16 + 12;

/// A datum's change from the datum it replaced, with the digest of its list.
#[derive(Debug)]
pub(crate) struct DatumDelta {
    base: DatumVersion,
    digest: Digest,
    change: ListDelta,
}

impl CachedDatum {
    /// The datum of `version`, replacing `prev` in the cache: its list, and its delta from
    /// `prev` when that is smaller than the list.
    pub(crate) fn following(
        prev: Option<&CachedDatum>,
        version: DatumVersion,
        publishers: PublisherList,
    ) -> CachedDatum {
        let delta = prev
            .filter(|p| p.version < version)
            .and_then(|p| delta::diff(&p.publishers, &publishers).map(|c| (p.version, c)))
            .filter(|(_, c)| c.encoded_len() + DELTA_EXTRA_LEN < publishers.encoded_len())
            .map(|(base, change)| {
                Arc::new(DatumDelta {
                    base,
                    digest: Digest::of_list(&publishers),
                    change,
                })
            });
        CachedDatum {
            version,
            publishers,
            delta,
        }
    }

    /// The base version of this datum's delta, if it has one.
    #[cfg(test)]
    pub(crate) fn delta_base(&self) -> Option<DatumVersion> {
        self.delta.as_ref().map(|d| d.base)
    }
}

/// The push of `datum` under `key` to a connection that acknowledged `acked` and may
/// (`deltas`) or may not receive delta pushes.
pub(crate) fn push_message(
    key: &DataInfoId,
    datum: &CachedDatum,
    acked: Option<DatumVersion>,
    deltas: bool,
) -> Message {
    match &datum.delta {
        Some(d) if deltas && acked == Some(d.base) => PushDelta {
            data_info_id: key.clone(),
            base: d.base,
            version: datum.version,
            digest: d.digest,
            upserts: d.change.upserts.clone(),
            removed: d.change.removed.clone(),
        }
        .into(),
        _ => Push {
            data_info_id: key.clone(),
            version: datum.version,
            publishers: datum.publishers.clone(),
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LeaderEpoch, Publisher, RegisterVersion, Text};
    use bytes::Bytes;

    fn list(n: u64, changed: u64) -> PublisherList {
        (0..n)
            .map(|i| Publisher {
                register_id: Text::from(format!("r{i:03}")),
                version: RegisterVersion::new(if i == changed { 2 } else { 1 }, 1),
                payload: vec![Bytes::from_static(b"10.0.0.1:80")].into(),
                attributes: vec![],
            })
            .collect()
    }

    fn v(seq: u64) -> DatumVersion {
        DatumVersion::new(LeaderEpoch(1), seq)
    }

    fn key() -> DataInfoId {
        DataInfoId::new("svc", "i", "g")
    }

    fn kind(m: &Message) -> &'static str {
        m.kind().name()
    }

    #[test]
    fn a_connection_at_the_base_gets_the_delta_and_any_other_the_whole_list() {
        let first = CachedDatum::following(None, v(1), list(20, u64::MAX));
        assert_eq!(
            first.delta_base(),
            None,
            "nothing to diff the first datum against"
        );
        let second = CachedDatum::following(Some(&first), v(2), list(20, 7));
        assert_eq!(second.delta_base(), Some(v(1)));
        let Message::PushDelta(d) = push_message(&key(), &second, Some(v(1)), true) else {
            panic!("the base was acknowledged: a delta");
        };
        assert_eq!((d.base, d.version, d.upserts.len()), (v(1), v(2), 1));
        assert_eq!(d.digest, Digest::of_list(&second.publishers));
        let full = |acked, deltas| kind(&push_message(&key(), &second, acked, deltas));
        assert_eq!(full(None, true), "Push", "first push to the connection");
        assert_eq!(
            full(Some(v(0)), true),
            "Push",
            "a gap: it holds another version"
        );
        assert_eq!(full(Some(v(1)), false), "Push", "no delta feature agreed");
    }

    #[test]
    fn a_delta_not_smaller_than_the_list_is_not_kept() {
        let one = CachedDatum::following(None, v(1), list(1, u64::MAX));
        let replaced = CachedDatum::following(Some(&one), v(2), list(1, 0));
        assert_eq!(replaced.delta_base(), None, "replacing the only publisher");
        let emptied = CachedDatum::following(Some(&one), v(3), PublisherList::new());
        assert_eq!(emptied.delta_base(), None, "the empty list is smaller");
        assert_eq!(
            kind(&push_message(&key(), &replaced, Some(v(1)), true)),
            "Push"
        );
    }

    #[test]
    fn an_older_datum_is_never_the_base_of_a_newer_one_backwards() {
        let newer = CachedDatum::following(None, v(5), list(20, u64::MAX));
        let older = CachedDatum::following(Some(&newer), v(4), list(20, 3));
        assert_eq!(older.delta_base(), None);
    }
}
