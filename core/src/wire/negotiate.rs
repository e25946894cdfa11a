//! Protocol version and feature negotiation: what the hellos announce, and the rule by which
//! the receiver of a hello computes what both ends speak on the connection
//! (`docs/protocol.md` §9).
//!
//! Each hello carries the sender's protocol version and feature set. The receiver answers
//! with the agreement: the lower of the two versions and the features both announced. A
//! hello older than [`MIN_VERSION`] is refused with `ErrorReply` (`Unsupported`) and the
//! connection is not served. Version 1 hellos carry neither field; they decode as version 1
//! with no features, and are answered the way version 1 defined (see each role).

use super::{ErrorCode, ErrorReply, PeerWelcome};
use crate::model::{ProcessId, Role, Text};

/// The protocol version this build speaks.
///
/// - 1: the first release. Bodies must end at their last field, unknown kinds are fatal,
///   hellos carry no version, `ClientHello` is not answered and `PeerHello` never is.
/// - 2: hellos carry version and features and are answered (`ClientWelcome`,
///   `PeerWelcome`); bodies may carry fields after the ones a receiver knows; unknown
///   one-way kinds are ignored and unknown requests answered `Unsupported`.
pub const VERSION: u16 = 2;

/// The oldest protocol version this build serves.
pub const MIN_VERSION: u16 = 1;

/// The version a hello without a version field (a version 1 peer's) announces.
pub const UNVERSIONED: u16 = 1;

/// The first version whose hellos are answered with a welcome.
pub const WELCOME_VERSION: u16 = 2;

wire_newtype! {
    /// A set of optional protocol features, one bit each. A feature is something a node may
    /// use on a connection only if both ends announced it: a new message kind, a new enum
    /// tag, a new meaning of an existing field. Bits this build does not define are never
    /// in an agreement it computes.
    pub struct Features(pub u64);
}

impl Features {
    /// No feature.
    pub const NONE: Features = Features(0);
    /// Bit 0: the session may send `PushDelta` on a client connection (`docs/protocol.md`
    /// §6.2). Meaningless between other roles.
    pub const DELTA_PUSH: Features = Features(1);
    /// Bit 1: the session may answer a client request with `ErrorCode::Forbidden`.
    pub const ACCESS_DENIED: Features = Features(2);
    /// The features this build supports, and announces in a `ClientHello`.
    pub const SUPPORTED: Features = Features(Features::DELTA_PUSH.0 | Features::ACCESS_DENIED.0);
    /// The features this build announces in a `PeerHello`: none of its features concerns
    /// two nodes.
    pub const PEER_SUPPORTED: Features = Features::NONE;

    /// The features in both sets.
    pub fn intersection(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// Whether every feature of `other` is in `self`.
    pub fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What both ends of a connection speak, as the receiver of the hello computed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Agreement {
    /// The lower of the two versions.
    pub version: u16,
    /// The features both announced.
    pub features: Features,
}

impl Agreement {
    /// What a peer that says nothing about versions speaks: version 1, no features.
    pub const UNVERSIONED: Agreement = Agreement {
        version: UNVERSIONED,
        features: Features::NONE,
    };

    /// Whether the hello that led to this agreement is answered with a welcome message
    /// (version 2 on); a version 1 peer would not know that message.
    pub fn welcomes(self) -> bool {
        self.version >= WELCOME_VERSION
    }

    /// The answer to a peer's hello from node `process` of `role`, if the peer's version
    /// has one (see [`Agreement::welcomes`]).
    pub fn peer_welcome(self, role: Role, process: ProcessId) -> Option<PeerWelcome> {
        self.welcomes().then_some(PeerWelcome {
            version: self.version,
            features: self.features,
            role,
            process,
        })
    }
}

/// The agreement with a peer whose hello announced `version` and `features`, or the
/// `ErrorReply` that refuses it when `version` is older than this build serves.
pub fn negotiate(version: u16, features: Features) -> Result<Agreement, ErrorReply> {
    if version < MIN_VERSION {
        return Err(ErrorReply {
            code: ErrorCode::Unsupported,
            message: Text::from(format!(
                "protocol version {version} is not supported: this node speaks versions \
                 {MIN_VERSION} to {VERSION}"
            )),
        });
    }
    Ok(Agreement {
        version: version.min(VERSION),
        features: features.intersection(Features::SUPPORTED),
    })
}

/// The `ErrorReply` for a request of a kind this build does not define.
pub fn unsupported_kind(kind: u8) -> ErrorReply {
    ErrorReply {
        code: ErrorCode::Unsupported,
        message: Text::from(format!("message kind 0x{kind:02x} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_the_lower_version_and_the_common_features() {
        let a = negotiate(VERSION + 3, Features(0b1011)).unwrap();
        assert_eq!(a.version, VERSION, "a newer peer gets this build's version");
        assert_eq!(
            a.features,
            Features::SUPPORTED.intersection(Features(0b1011))
        );
        let old = negotiate(1, Features::NONE).unwrap();
        assert_eq!(old, Agreement::UNVERSIONED);
        assert!(
            !old.welcomes(),
            "a version 1 peer does not know the welcome"
        );
        assert!(negotiate(VERSION, Features::NONE).unwrap().welcomes());
    }

    #[test]
    fn a_version_older_than_the_minimum_is_refused_as_unsupported() {
        let e = negotiate(MIN_VERSION - 1, Features::NONE).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unsupported);
        assert!(
            e.message.as_str().contains("protocol version 0"),
            "{:?}",
            e.message
        );
    }

    #[test]
    fn feature_sets_intersect_bitwise() {
        let (a, b) = (Features(0b1100), Features(0b0110));
        assert_eq!(a.intersection(b), Features(0b0100));
        assert!(a.contains(Features(0b0100)) && !a.contains(b));
    }
}
