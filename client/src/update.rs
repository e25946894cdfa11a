//! [`Update`]: one list of a subscribed key as the application receives it, live from a
//! session or read back from the on-disk cache.

use roster_core::model::{DataInfoId, DatumVersion};
use roster_core::wire::PublisherList;
use std::fmt;
use std::sync::Arc;

/// A list pushed to a subscription. One push reaches every subscription of its key on the
/// client as clones of one `Update`: a clone or a drop touches a single reference count,
/// however many subscriptions share it (a client with 100 subscriptions of a key would
/// otherwise pay hundreds of contended atomic operations on the frame's buffer per push).
#[derive(Clone, PartialEq, Eq)]
pub struct Update(Arc<Pushed>);

#[derive(Debug, PartialEq, Eq)]
struct Pushed {
    data_info_id: DataInfoId,
    version: DatumVersion,
    publishers: PublisherList,
    cached: bool,
}

impl Update {
    /// A list as a session pushed it.
    pub(crate) fn live(
        data_info_id: DataInfoId,
        version: DatumVersion,
        publishers: PublisherList,
    ) -> Update {
        Update::new(data_info_id, version, publishers, false)
    }

    /// A list read back from the on-disk cache.
    pub(crate) fn cached(
        data_info_id: DataInfoId,
        version: DatumVersion,
        publishers: PublisherList,
    ) -> Update {
        Update::new(data_info_id, version, publishers, true)
    }

    fn new(
        data_info_id: DataInfoId,
        version: DatumVersion,
        publishers: PublisherList,
        cached: bool,
    ) -> Update {
        Update(Arc::new(Pushed {
            data_info_id,
            version,
            publishers,
            cached,
        }))
    }

    /// The key.
    pub fn data_info_id(&self) -> &DataInfoId {
        &self.0.data_info_id
    }

    /// Its version. Each live update of a subscription is strictly newer than the one
    /// before; the first live update after a cached one may be older (the cluster was
    /// rebuilt since the cache was written) and replaces it all the same.
    pub fn version(&self) -> DatumVersion {
        self.0.version
    }

    /// Every live publisher, read in place from the pushed frame.
    pub fn publishers(&self) -> &PublisherList {
        &self.0.publishers
    }

    /// Whether it was read from the on-disk cache (`ClientOptions::cache_dir`) rather than
    /// pushed by a session: the last list this machine saw, possibly stale. A live list
    /// follows once a session answers.
    pub fn is_cached(&self) -> bool {
        self.0.cached
    }

    /// Whether both are the one push, shared (not merely equal).
    pub fn ptr_eq(&self, other: &Update) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether `self`, just received, should replace `current` as the newest list: a live
    /// list replaces a cached one whatever the versions, otherwise only a newer version
    /// replaces, and a cached list never replaces anything.
    pub(crate) fn supersedes(&self, current: Option<&Update>) -> bool {
        match current {
            None => true,
            Some(_) if self.is_cached() => false,
            Some(c) => c.is_cached() || self.version() > c.version(),
        }
    }
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("data_info_id", &self.0.data_info_id.to_string())
            .field("version", &self.0.version)
            .field("publishers", &self.0.publishers)
            .field("cached", &self.0.cached)
            .finish()
    }
}
