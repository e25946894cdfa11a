//! Client ↔ session messages: registrations, their acknowledgements and pushes.
//!
//! A client sends `ClientHello` first on every connection, then (re)plays all its
//! registrations. Every request is answered by `Ack` or `ErrorReply` with the same request id.

use crate::model::{DataInfoId, DatumVersion, Publisher, RegisterVersion, Text};
use crate::wire::PublisherList;

wire_struct! {
    /// Opens a client connection.
    pub struct ClientHello {
        /// Stable identity of the client process, for logs and diagnostics.
        pub client_id: Text,
        /// The client's connect generation, one higher than on its previous connection.
        pub connect_generation: u64,
    }
}

wire_struct! {
    /// Registers a publisher, or replaces it with a newer version.
    pub struct Publish {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The publisher, with its version.
        pub publisher: Publisher,
    }
}

wire_struct! {
    /// Removes a publisher. `version` must be newer than the registration's last version.
    pub struct Unpublish {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The registration to remove.
        pub register_id: Text,
        /// The version of the removal.
        pub version: RegisterVersion,
    }
}

wire_struct! {
    /// Subscribes to a data info id. The session pushes the current datum, then every newer
    /// one.
    pub struct Subscribe {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// Chosen by the client, unique per registration.
        pub register_id: Text,
        /// The version the client already holds (after a reconnect), so that the session
        /// pushes only something newer.
        pub known: Option<DatumVersion>,
    }
}

wire_struct! {
    /// Ends a subscription.
    pub struct Unsubscribe {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The subscription to end.
        pub register_id: Text,
    }
}

wire_struct! {
    /// Session → client: the complete current list of one data info id. Delivered to every
    /// subscription of the connection on that id. The client answers `Ack`; the session keeps
    /// at most one push per connection and data info id in flight.
    pub struct Push {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// Version of the list; strictly newer than any earlier push of this id.
        pub version: DatumVersion,
        /// Every live publisher, in its wire encoding: a fan-out encodes one list for every
        /// subscriber, and a client reads it in place.
        pub publishers: PublisherList,
    }
}
