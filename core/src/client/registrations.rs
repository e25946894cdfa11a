//! The client's registrations (docs/design.md §4.9): its publishers with their client
//! versions, its subscriptions grouped by key, and per key the last list delivered to the
//! application — kept across disconnects, replaced only by a strictly newer one, which a
//! delta push builds from it and must prove by its digest.

use crate::delta::{self, ListDelta};
use crate::model::{
    Attribute, DataInfoId, DatumVersion, Payload, Publisher, RegisterVersion, Text,
};
use crate::wire::{Digest, Publish, PublisherList, PushDelta, Subscribe};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, Clone)]
struct PubReg {
    data_info_id: DataInfoId,
    client_version: u64,
    /// How many times the application published under this register id (1 for the first
    /// publication, one more per update), so it can tell which one an answer is for.
    revision: u64,
    payload: Payload,
    attributes: Vec<Attribute>,
}

/// The last list delivered for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) version: DatumVersion,
    pub(crate) publishers: PublisherList,
}

#[derive(Debug, Default)]
struct TopicView {
    subscribers: BTreeSet<Text>,
    /// `subscribers` as the list every delivery names, made at the first delivery after
    /// the set changed: a push then costs one reference count, not a copy of every id.
    listed: Option<Arc<[Text]>>,
    delivered: Option<Delivered>,
    /// The digest of `delivered`'s list, once a delta needed it: later deltas update it
    /// by their change instead of hashing the whole list again.
    digest: Option<Digest>,
}

/// What a delta push did to a key's list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeltaOutcome {
    /// Applied, and the result has the pushed digest: deliver it to these subscriptions.
    Deliver(Arc<[Text]>, Delivered),
    /// Not newer than the list held, or the key is no longer subscribed: nothing to do.
    Ignored,
    /// The client does not hold the base, or the result is not the list the session meant
    /// (its digest differs): nothing is delivered, and the whole list must be asked for, by
    /// subscribing again under this register id of the key.
    Resync(Text),
}

/// Everything the client has registered.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    /// Client versions come from one counter, so any later change of any registration —
    /// including a re-publication of a withdrawn register id — is newer.
    client_version: u64,
    publishers: BTreeMap<Text, PubReg>,
    topics: BTreeMap<DataInfoId, TopicView>,
}

impl Registrations {
    fn next_version(&mut self) -> u64 {
        self.client_version += 1;
        self.client_version
    }

    /// Records a publication, or replaces the one under `register_id` in place (the next
    /// revision, with a newer client version); returns its message for generation
    /// `generation` and its revision.
    pub(crate) fn publish(
        &mut self,
        data_info_id: DataInfoId,
        register_id: Text,
        payload: Payload,
        attributes: Vec<Attribute>,
        generation: u64,
    ) -> (Publish, u64) {
        let client_version = self.next_version();
        let revision = self
            .publishers
            .get(&register_id)
            .map_or(1, |r| r.revision + 1);
        let reg = PubReg {
            data_info_id,
            client_version,
            revision,
            payload,
            attributes,
        };
        let msg = publish_message(&register_id, &reg, generation);
        self.publishers.insert(register_id, reg);
        (msg, revision)
    }

    /// Forgets a publication; returns the removal's version if it was registered.
    pub(crate) fn unpublish(
        &mut self,
        register_id: &Text,
        generation: u64,
    ) -> Option<RegisterVersion> {
        self.publishers.remove(register_id)?;
        Some(RegisterVersion::new(self.next_version(), generation))
    }

    /// Records a subscription; returns the last list of its key, if one was delivered.
    pub(crate) fn subscribe(
        &mut self,
        data_info_id: DataInfoId,
        register_id: Text,
    ) -> Option<Delivered> {
        let t = self.topics.entry(data_info_id).or_default();
        if t.subscribers.insert(register_id) {
            t.listed = None;
        }
        t.delivered.clone()
    }

    /// Forgets a subscription (and the key's list with its last subscription).
    pub(crate) fn unsubscribe(&mut self, data_info_id: &DataInfoId, register_id: &Text) -> bool {
        let Some(t) = self.topics.get_mut(data_info_id) else {
            return false;
        };
        let removed = t.subscribers.remove(register_id);
        if removed {
            t.listed = None;
        }
        if t.subscribers.is_empty() {
            self.topics.remove(data_info_id);
        }
        removed
    }

    /// The version the client holds of a key (sent as `Subscribe.known`).
    pub(crate) fn known(&self, data_info_id: &DataInfoId) -> Option<DatumVersion> {
        self.topics
            .get(data_info_id)?
            .delivered
            .as_ref()
            .map(|d| d.version)
    }

    /// Accepts a pushed list if strictly newer than the last delivered; returns the
    /// subscriptions to deliver it to.
    pub(crate) fn deliver(
        &mut self,
        data_info_id: &DataInfoId,
        version: DatumVersion,
        publishers: PublisherList,
    ) -> Option<(Arc<[Text]>, Delivered)> {
        let t = self.topics.get_mut(data_info_id)?;
        if t.delivered.as_ref().is_some_and(|d| d.version >= version) {
            return None;
        }
        let d = Delivered {
            version,
            publishers,
        };
        t.digest = None;
        t.delivered = Some(d.clone());
        let subscribers = &t.subscribers;
        let listed = t
            .listed
            .get_or_insert_with(|| subscribers.iter().cloned().collect());
        Some((listed.clone(), d))
    }

    /// Applies a delta push to the list held at its base; delivers the result only if it
    /// has the pushed digest.
    pub(crate) fn apply_delta(&mut self, d: PushDelta) -> DeltaOutcome {
        let Some(t) = self.topics.get(&d.data_info_id) else {
            return DeltaOutcome::Ignored;
        };
        let held = t.delivered.as_ref();
        if held.is_some_and(|h| h.version >= d.version) {
            return DeltaOutcome::Ignored;
        }
        let change = ListDelta {
            upserts: d.upserts,
            removed: d.removed,
        };
        let built = held.filter(|h| h.version == d.base).and_then(|h| {
            let base_digest = t.digest.unwrap_or_else(|| Digest::of_list(&h.publishers));
            delta::apply(&h.publishers, base_digest, &change, d.digest)
        });
        let Some(list) = built else {
            // Every key in `topics` has a subscription.
            let id = t.subscribers.first().cloned().unwrap_or_default();
            return DeltaOutcome::Resync(id);
        };
        match self.deliver(&d.data_info_id, d.version, list) {
            Some((ids, delivered)) => {
                if let Some(t) = self.topics.get_mut(&d.data_info_id) {
                    t.digest = Some(d.digest);
                }
                DeltaOutcome::Deliver(ids, delivered)
            }
            None => DeltaOutcome::Ignored,
        }
    }

    /// Every registration, as the messages replaying it on a connection of `generation`
    /// (each publication with its current revision).
    pub(crate) fn replay(&self, generation: u64) -> (Vec<(Publish, u64)>, Vec<Subscribe>) {
        let pubs = self
            .publishers
            .iter()
            .map(|(id, r)| (publish_message(id, r, generation), r.revision))
            .collect();
        let subs = self
            .topics
            .iter()
            .flat_map(|(key, t)| {
                let known = t.delivered.as_ref().map(|d| d.version);
                t.subscribers.iter().map(move |id| Subscribe {
                    data_info_id: key.clone(),
                    register_id: id.clone(),
                    known,
                })
            })
            .collect();
        (pubs, subs)
    }

    /// The re-query of every subscribed key (docs/protocol.md §6.2, `Subscribe`): a
    /// subscription repeated under one of the key's register ids with the version held, so
    /// the session pushes its current list if that is newer (and fetches it from the data
    /// node otherwise). One per key: a session pushes per connection and key.
    pub(crate) fn requery(&self) -> Vec<Subscribe> {
        self.topics
            .iter()
            .filter_map(|(key, t)| {
                Some(Subscribe {
                    data_info_id: key.clone(),
                    register_id: t.subscribers.first()?.clone(),
                    known: t.delivered.as_ref().map(|d| d.version),
                })
            })
            .collect()
    }

    /// The key a publication is filed under.
    pub(crate) fn publication_key(&self, register_id: &Text) -> Option<&DataInfoId> {
        self.publishers.get(register_id).map(|r| &r.data_info_id)
    }
}

fn publish_message(register_id: &Text, r: &PubReg, generation: u64) -> Publish {
    Publish {
        data_info_id: r.data_info_id.clone(),
        publisher: Publisher {
            register_id: register_id.clone(),
            version: RegisterVersion::new(r.client_version, generation),
            payload: r.payload.clone(),
            attributes: r.attributes.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LeaderEpoch;

    fn key() -> DataInfoId {
        DataInfoId::new("svc", "i", "g")
    }

    fn deliver(r: &mut Registrations, seq: u64) -> Arc<[Text]> {
        let v = DatumVersion::new(LeaderEpoch(1), seq);
        r.deliver(&key(), v, PublisherList::default())
            .expect("newer")
            .0
    }

    #[test]
    fn deliveries_share_one_id_list_until_a_subscription_comes_or_goes() {
        let mut r = Registrations::default();
        r.subscribe(key(), Text::from("a"));
        r.subscribe(key(), Text::from("b"));
        let first = deliver(&mut r, 1);
        assert_eq!(&*first, [Text::from("a"), Text::from("b")]);
        assert!(
            Arc::ptr_eq(&first, &deliver(&mut r, 2)),
            "unchanged set: shared"
        );
        r.subscribe(key(), Text::from("b"));
        assert!(
            Arc::ptr_eq(&first, &deliver(&mut r, 3)),
            "a repeated id changes nothing"
        );
        r.subscribe(key(), Text::from("c"));
        let grown = deliver(&mut r, 4);
        assert_eq!(grown.len(), 3);
        assert!(r.unsubscribe(&key(), &Text::from("a")));
        assert_eq!(&*deliver(&mut r, 5), [Text::from("b"), Text::from("c")]);
    }
}
