//! `Publisher`: one registered instance of a service, as clients publish it and
//! subscribers receive it.

use super::{RegisterVersion, Text};
use bytes::Bytes;
use smallvec::SmallVec;

/// A publisher's opaque payload. Nearly every publisher has one element (its `ip:port`), which
/// is kept inline: a pushed list of 1,000 publishers decodes without 1,000 allocations.
/// Build one with `smallvec::smallvec![..]`, `Payload::from_vec`, `.into()` from a `Vec` or
/// `collect()`.
pub type Payload = SmallVec<[Bytes; 1]>;

wire_struct! {
    /// A key/value attribute of a publisher (zone, weight, protocol, ...).
    #[derive(PartialOrd, Ord, Hash)]
    pub struct Attribute {
        /// Attribute name.
        pub key: Text,
        /// Attribute value.
        pub value: Text,
    }
}

wire_struct! {
    /// One registration of a service instance. roster treats the payload as opaque; by
    /// convention its first element is the instance's `ip:port`.
    pub struct Publisher {
        /// Chosen by the client, unique per registration.
        pub register_id: Text,
        /// Orders the changes to this registration.
        pub version: RegisterVersion,
        /// Opaque byte strings, delivered to subscribers unchanged.
        pub payload: Payload,
        /// Key/value metadata, delivered to subscribers unchanged.
        pub attributes: Vec<Attribute>,
    }
}

#[cfg(test)]
impl Publisher {
    /// A publisher from plain strings, for tests.
    pub(crate) fn of(
        id: &str,
        version: RegisterVersion,
        payload: &[&str],
        attributes: &[(&str, &str)],
    ) -> Publisher {
        Publisher {
            register_id: Text::from(id),
            version,
            payload: payload
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
            attributes: attributes
                .iter()
                .map(|(k, v)| Attribute {
                    key: Text::from(*k),
                    value: Text::from(*v),
                })
                .collect(),
        }
    }
}
