//! The check behind the `delta` fuzz target (feature `arbitrary`): arbitrary delta pushes
//! applied by the client to arbitrary lists. Here rather than in `fuzz/` so that the stable
//! test suite replays the committed corpus through the same code (`core/tests/fuzz_corpus.rs`).
//!
//! Register ids come from a small alphabet and versions from a small range, so that
//! upserts replace, removals hit, and forged digests sometimes collide with real ones.

use super::registrations::{DeltaOutcome, Registrations};
use crate::delta::{self, ListDelta};
use crate::model::{DataInfoId, DatumVersion, LeaderEpoch, Publisher, RegisterVersion, Text};
use crate::wire::{Digest, PublisherList, PushDelta};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use std::collections::BTreeMap;

fn publisher(id: u8, version: u8, payload: u8) -> Publisher {
    Publisher {
        register_id: Text::from(char::from(b'a' + id % 8).to_string()),
        version: RegisterVersion::new(u64::from(version % 4), 1),
        payload: vec![Bytes::from(vec![payload % 3])].into(),
        attributes: vec![],
    }
}

fn publishers(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Publisher>> {
    let raw = Vec::<(u8, u8, u8)>::arbitrary(u)?;
    Ok(raw
        .into_iter()
        .map(|(i, v, p)| publisher(i, v, p))
        .collect())
}

/// The list a data node would serve: ordered by register id, each id once.
fn served(ps: Vec<Publisher>) -> PublisherList {
    let by_id: BTreeMap<Text, Publisher> =
        ps.into_iter().map(|p| (p.register_id.clone(), p)).collect();
    by_id.into_values().collect()
}

fn v(seq: u64) -> DatumVersion {
    DatumVersion::new(LeaderEpoch(1), seq)
}

/// What the change makes of `base` by the protocol's definition, computed on owned
/// publishers; `None` if it does not fit `base`.
fn model(base: &[Publisher], upserts: &[Publisher], removed: &[Text]) -> Option<PublisherList> {
    // A list at a version is ordered by register id (each id once): a held list that is not
    // cannot be a base, and the client asks for the whole list instead.
    let held: Vec<&Text> = base.iter().map(|p| &p.register_id).collect();
    if !held.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let mut by_id = BTreeMap::new();
    for p in base {
        by_id.insert(p.register_id.clone(), p.clone());
    }
    for id in removed {
        by_id.remove(id)?;
    }
    let ids: Vec<&Text> = upserts.iter().map(|p| &p.register_id).collect();
    if !ids.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    for p in upserts {
        by_id.insert(p.register_id.clone(), p.clone());
    }
    Some(by_id.into_values().collect())
}

/// Arbitrary bytes as a held list and a delta push: the client delivers only a list whose
/// count and digest are the pushed ones, and delivers exactly the protocol's result when
/// the push is right. Then two served lists: the session's delta between them rebuilds
/// the second byte for byte.
pub fn check_delta(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let parts = (|| {
        Ok::<_, arbitrary::Error>((
            publishers(&mut u)?,
            publishers(&mut u)?,
            Vec::<u8>::arbitrary(&mut u)?,
            bool::arbitrary(&mut u)?,
            Option::<(u32, u64)>::arbitrary(&mut u)?,
            publishers(&mut u)?,
        ))
    })();
    let Ok((base, upserts, removed, at_base, forged, other)) = parts else {
        return;
    };
    let removed: Vec<Text> = removed
        .iter()
        .map(|i| publisher(*i, 0, 0).register_id)
        .collect();
    let truth = model(&base, &upserts, &removed);
    let digest = match (forged, &truth) {
        (Some((count, hash)), _) => Digest { count, hash },
        (None, Some(list)) => Digest::of_list(list),
        (None, None) => Digest::default(),
    };

    let key = DataInfoId::new("svc", "i", "g");
    let mut regs = Registrations::default();
    regs.subscribe(key.clone(), Text::from("s"));
    let held: PublisherList = base.into();
    regs.deliver(&key, v(2), held.clone());
    let push = PushDelta {
        data_info_id: key.clone(),
        base: if at_base { v(2) } else { v(1) },
        version: v(3),
        digest,
        upserts: upserts.into(),
        removed,
    };
    match regs.apply_delta(push) {
        DeltaOutcome::Deliver(_, d) => {
            assert!(at_base, "applied to a base the client does not hold");
            assert_eq!(d.version, v(3));
            assert_eq!(
                Digest::of_list(&d.publishers),
                digest,
                "wrong digest delivered"
            );
            assert_eq!(
                d.publishers.len(),
                digest.count as usize,
                "wrong count delivered"
            );
            assert!(delta::ordered(&d.publishers), "delivered out of order");
            if forged.is_none() {
                assert_eq!(
                    Some(&d.publishers),
                    truth.as_ref(),
                    "not the protocol's list"
                );
            }
        }
        DeltaOutcome::Resync(id) => {
            assert_eq!(id.as_str(), "s");
            assert_eq!(regs.known(&key), Some(v(2)), "the held list was replaced");
            assert!(
                !at_base || forged.is_some() || truth.is_none(),
                "a right delta on the held base was refused"
            );
        }
        DeltaOutcome::Ignored => panic!("v3 is newer than the held v2"),
    }

    let (old, new) = (held, served(other));
    let old = served(old.to_vec());
    let change: ListDelta = delta::diff(&old, &new).expect("served lists are ordered");
    assert_eq!(
        delta::apply(&old, Digest::of_list(&old), &change, Digest::of_list(&new)),
        Some(new),
        "the session's delta does not rebuild its list"
    );
}
