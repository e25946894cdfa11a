//! Client ↔ session messages: registrations, their acknowledgements and pushes.
//!
//! A client sends `ClientHello` first on every connection, then (re)plays all its
//! registrations. Every request is answered by `Ack` or `ErrorReply` with the same request id.

use crate::model::{DataInfoId, DatumVersion, ProcessId, Publisher, RegisterVersion, Text};
use crate::wire::negotiate::{Features, UNVERSIONED};
use crate::wire::{Digest, PublisherList};

wire_struct! {
    /// Opens a client connection. A request: answered by `ClientWelcome` when its version is
    /// 2 or later, by `Ack` when it is 1, by `ErrorReply` when the session refuses it.
    pub struct ClientHello {
        /// Stable identity of the client process, for logs and diagnostics.
        pub client_id: Text,
        /// The client's connect generation, one higher than on its previous connection.
        pub connect_generation: u64,
    } appended {
        /// The client's protocol version (absent from a version 1 hello).
        pub version: u16 = UNVERSIONED,
        /// The client's optional features.
        pub features: Features = Features::NONE,
        /// A secret that names the client to the session's access rules (docs/security.md);
        /// empty for none. Sent only over TLS by a careful client: it is a password.
        pub token: Token = Token::NONE,
    }
}

/// A client's access token. Its `Debug` never shows it, so a logged hello leaks nothing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Token(pub Text);

impl Token {
    /// No token.
    pub const NONE: Token = Token(Text::new());

    /// The secret itself, for the one place that checks it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token(Text::from(s))
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token(Text::from(s))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.is_empty() {
            true => f.write_str("Token(none)"),
            false => f.write_str("Token(<redacted>)"),
        }
    }
}

impl crate::wire::codec::Encode for Token {
    fn encode(&self, dst: &mut bytes::BytesMut) {
        self.0.encode(dst)
    }
    fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }
}

impl crate::wire::codec::Decode for Token {
    const MIN_LEN: usize = <Text as crate::wire::codec::Decode>::MIN_LEN;
    fn decode(r: &mut crate::wire::codec::Reader<'_>) -> Result<Self, crate::wire::BodyError> {
        Text::decode(r).map(Token)
    }
}

#[cfg(feature = "arbitrary")]
impl crate::wire::generate::Generate for Token {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        Text::generate(u).map(Token)
    }
}

impl ClientHello {
    /// The hello of this build: its version and features.
    pub fn new(client_id: Text, connect_generation: u64) -> Self {
        ClientHello {
            client_id,
            connect_generation,
            version: crate::wire::negotiate::VERSION,
            features: Features::SUPPORTED,
            token: Token::NONE,
        }
    }
}

wire_struct! {
    /// Session → client, the reply to a `ClientHello` of version 2 or later: what both ends
    /// speak on the connection, and which session process serves it.
    pub struct ClientWelcome {
        /// The agreed protocol version: the lower of both.
        pub version: u16,
        /// The agreed features: those both announced.
        pub features: Features,
        /// The session process serving the connection.
        pub session: ProcessId,
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

wire_struct! {
    /// Session → client, only on a connection that agreed [`Features::DELTA_PUSH`]: the list
    /// of one data info id at `version`, as a change to the list at `base`, which the
    /// connection acknowledged. Answered `Ack` like a `Push`, and subject to the same
    /// one-in-flight rule. The client applies it to the list it holds at `base` and delivers
    /// the result only if it has exactly `digest`; otherwise (or if it does not hold `base`)
    /// it asks for the whole list again (`docs/protocol.md` §6.2).
    ///
    /// A kind of its own rather than fields appended to `Push`: a reader that does not know
    /// deltas must never take the changed publishers for the whole list, and an unknown kind
    /// is refused (`Unsupported`), never misread.
    pub struct PushDelta {
        /// The service key.
        pub data_info_id: DataInfoId,
        /// The version the change applies to.
        pub base: DatumVersion,
        /// Version of the resulting list; newer than `base`.
        pub version: DatumVersion,
        /// The digest of the resulting list (its count and hash, `docs/protocol.md` §7).
        pub digest: Digest,
        /// Publishers added or replaced, ordered by register id.
        pub upserts: PublisherList,
        /// Register ids removed, each present at `base`.
        pub removed: Vec<Text>,
    }
}

wire_struct! {
    /// Session → client, one-way: this session is draining (an operator asked it to stop
    /// serving); close the connection and fail over to another session at once, replaying
    /// every registration there. Also what a draining session answers a `ClientHello` with,
    /// before it closes the connection.
    pub struct Redirect {
        /// Why, for logs.
        pub reason: Text,
    }
}
