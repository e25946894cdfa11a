//! Declarative macros that define a wire type once and derive from that one definition its
//! Rust type, encoder, exact encoded length, decoder and (with the `arbitrary` feature) its
//! generator. Field order in the definition *is* the wire order.

/// A struct whose wire form is its fields in order, with no framing of its own.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::wire::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, dst: &mut ::bytes::BytesMut) {
                $( $crate::wire::codec::Encode::encode(&self.$field, dst); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::wire::codec::Encode::encoded_len(&self.$field) )*
            }
        }

        impl $crate::wire::codec::Decode for $name {
            const MIN_LEN: usize = 0 $( + <$ty as $crate::wire::codec::Decode>::MIN_LEN )*;
            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                Ok($name { $( $field: $crate::wire::codec::Decode::decode(r)?, )* })
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for $name {
            #[allow(unused_variables)]
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                Ok($name { $( $field: $crate::wire::generate::Generate::generate(u)?, )* })
            }
        }
    };
}

/// A one-field tuple struct encoded exactly as its field.
macro_rules! wire_newtype {
    ($(#[$meta:meta])* pub struct $name:ident(pub $ty:ty);) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $ty);

        impl $crate::wire::codec::Encode for $name {
            fn encode(&self, dst: &mut ::bytes::BytesMut) {
                $crate::wire::codec::Encode::encode(&self.0, dst)
            }
            fn encoded_len(&self) -> usize {
                $crate::wire::codec::Encode::encoded_len(&self.0)
            }
        }

        impl $crate::wire::codec::Decode for $name {
            const MIN_LEN: usize = <$ty as $crate::wire::codec::Decode>::MIN_LEN;
            fn decode(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                $crate::wire::codec::Decode::decode(r).map($name)
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for $name {
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                $crate::wire::generate::Generate::generate(u).map($name)
            }
        }
    };
}

/// An enum encoded as a one-byte tag followed by the chosen variant's fields in order.
/// Variants are written with braces, also when they have no fields (`Ok {}`).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $tag:literal => $variant:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant { $( $(#[$fmeta])* $field: $ty ),* }, )*
        }

        impl $name {
            /// The wire tag of this variant.
            pub fn tag(&self) -> u8 {
                match self {
                    $( $name::$variant { .. } => $tag, )*
                }
            }
        }

        impl $crate::wire::codec::Encode for $name {
            fn encode(&self, dst: &mut ::bytes::BytesMut) {
                match self {
                    $( $name::$variant { $($field),* } => {
                        ::bytes::BufMut::put_u8(dst, $tag);
                        $( $crate::wire::codec::Encode::encode($field, dst); )*
                    } )*
                }
            }
            fn encoded_len(&self) -> usize {
                match self {
                    $( $name::$variant { $($field),* } => {
                        1 $( + $crate::wire::codec::Encode::encoded_len($field) )*
                    } )*
                }
            }
        }

        impl $crate::wire::codec::Decode for $name {
            const MIN_LEN: usize = 1;
            fn decode(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                match <u8 as $crate::wire::codec::Decode>::decode(r)? {
                    $( $tag => Ok($name::$variant {
                        $( $field: $crate::wire::codec::Decode::decode(r)?, )*
                    }), )*
                    tag => Err($crate::wire::BodyError::InvalidTag { ty: stringify!($name), tag }),
                }
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for $name {
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                match *u.choose(&[$($tag),*])? {
                    $( $tag => Ok($name::$variant {
                        $( $field: $crate::wire::generate::Generate::generate(u)?, )*
                    }), )*
                    _ => Err(::arbitrary::Error::IncorrectFormat),
                }
            }
        }
    };
}

/// The closed set of messages: the `Message` enum, the `MessageKind` byte of each, and the
/// dispatch between them. Each listed type must be defined with `wire_struct!`.
macro_rules! messages {
    ( $( $(#[$meta:meta])* $kind:literal => $name:ident ),* $(,)? ) => {
        /// Every message of the protocol. See `docs/protocol.md` for who sends which.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$meta])* $name($name), )*
        }

        /// The kind byte of a frame header.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum MessageKind {
            $( $(#[$meta])* $name = $kind, )*
        }

        impl MessageKind {
            /// Every kind, in wire order.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$name),*];

            /// The kind with this byte, if any.
            pub fn from_u8(byte: u8) -> Option<Self> {
                match byte {
                    $( $kind => Some(MessageKind::$name), )*
                    _ => None,
                }
            }

            /// The kind's name, as used in `docs/protocol.md`.
            pub fn name(self) -> &'static str {
                match self {
                    $( MessageKind::$name => stringify!($name), )*
                }
            }
        }

        impl Message {
            /// This message's kind.
            pub fn kind(&self) -> MessageKind {
                match self {
                    $( Message::$name(_) => MessageKind::$name, )*
                }
            }

            pub(crate) fn encode_body(&self, dst: &mut ::bytes::BytesMut) {
                match self {
                    $( Message::$name(m) => $crate::wire::codec::Encode::encode(m, dst), )*
                }
            }

            pub(crate) fn body_len(&self) -> usize {
                match self {
                    $( Message::$name(m) => $crate::wire::codec::Encode::encoded_len(m), )*
                }
            }

            pub(crate) fn decode_body(
                kind: MessageKind,
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                match kind {
                    $( MessageKind::$name => {
                        <$name as $crate::wire::codec::Decode>::decode(r).map(Message::$name)
                    } )*
                }
            }
        }

        $(
            impl From<$name> for Message {
                fn from(m: $name) -> Self {
                    Message::$name(m)
                }
            }
        )*

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for Message {
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                match *u.choose(MessageKind::ALL)? {
                    $( MessageKind::$name => Ok(Message::$name(
                        $crate::wire::generate::Generate::generate(u)?,
                    )), )*
                }
            }
        }
    };
}

/// A field-less enum encoded as one byte.
macro_rules! wire_unit_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $tag:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $tag, )*
        }

        impl $name {
            /// Every variant, in tag order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
        }

        impl $crate::wire::codec::Encode for $name {
            fn encode(&self, dst: &mut ::bytes::BytesMut) {
                ::bytes::BufMut::put_u8(dst, *self as u8);
            }
            fn encoded_len(&self) -> usize {
                1
            }
        }

        impl $crate::wire::codec::Decode for $name {
            const MIN_LEN: usize = 1;
            fn decode(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                match <u8 as $crate::wire::codec::Decode>::decode(r)? {
                    $( $tag => Ok($name::$variant), )*
                    tag => Err($crate::wire::BodyError::InvalidTag { ty: stringify!($name), tag }),
                }
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for $name {
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                u.choose($name::ALL).copied()
            }
        }
    };
}
