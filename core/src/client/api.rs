//! What an application tells the client ([`Command`]) and what the client tells it
//! ([`Event`]).

use crate::model::{Attribute, DataInfoId, DatumVersion, Payload, Text};
use crate::wire::{ErrorCode, PublisherList};
use std::sync::Arc;

/// An application's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Publishes an instance, or replaces the one registered under `register_id` in place
    /// (an update: its next revision, one write and one new version for subscribers).
    Publish {
        /// The service key.
        data_info_id: DataInfoId,
        /// The application's id for this registration.
        register_id: Text,
        /// Opaque payload (by convention `ip:port` first).
        payload: Payload,
        /// Metadata.
        attributes: Vec<Attribute>,
    },
    /// Withdraws a publication.
    Unpublish {
        /// The service key.
        data_info_id: DataInfoId,
        /// The registration.
        register_id: Text,
    },
    /// Subscribes to a key; [`Event::Update`] follows with every newer list.
    Subscribe {
        /// The service key.
        data_info_id: DataInfoId,
        /// The application's id for this subscription.
        register_id: Text,
    },
    /// Ends a subscription.
    Unsubscribe {
        /// The service key.
        data_info_id: DataInfoId,
        /// The subscription.
        register_id: Text,
    },
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A newer list for the subscriptions `register_ids` of `data_info_id`.
    Update {
        /// The service key.
        data_info_id: DataInfoId,
        /// The subscriptions it is for (shared: every push of the key names the same list
        /// until a subscription comes or goes).
        register_ids: Arc<[Text]>,
        /// Its version; strictly newer than the last `Update` of this key.
        version: DatumVersion,
        /// Every live publisher: the pushed list itself, read in place from the frame and
        /// shared (not copied) by every subscription it is delivered to.
        publishers: PublisherList,
    },
    /// Connected to a session; every registration has been replayed.
    Connected {
        /// The session's address.
        session: Text,
        /// The generation of this connection.
        connect_generation: u64,
    },
    /// The session connection was lost; lists already delivered stay valid.
    Disconnected {
        /// The session's address.
        session: Text,
    },
    /// The session acknowledged revision `revision` of publication `register_id` (the
    /// `revision`-th [`Command::Publish`] under that id): it holds it and answers for it.
    /// Sent again after every reconnect's replay.
    Registered {
        /// The publication.
        register_id: Text,
        /// Which of its publications was acknowledged.
        revision: u64,
    },
    /// Publication `register_id` is withdrawn: the session acknowledged the removal, or
    /// the connection that held it ended (a session drops a closed connection's
    /// publishers), or it was never registered.
    Unregistered {
        /// The publication.
        register_id: Text,
    },
    /// The session refused a registration.
    Rejected {
        /// The registration.
        register_id: Text,
        /// Why, as a code a program can act on.
        code: ErrorCode,
        /// The session's reason.
        reason: Text,
    },
}
