//! Declarative macros that define a wire type once and derive from that one definition its
//! Rust type, encoder, exact encoded length, decoder and (with the `arbitrary` feature) its
//! generator. Field order in the definition *is* the wire order.

/// A struct whose wire form is its fields in order, with no framing of its own.
///
/// A message may grow: fields added to it after its first release are listed in an
/// `appended { … }` block after the struct, each with the value it takes when a body from
/// an older peer ends before it (`pub version: u16 = 1`). Such a struct is only a message
/// body ([`DecodeBody`](crate::wire::codec::DecodeBody)), never a field of another type: an
/// appended field is recognised as absent by the end of the body, and a nested value has no
/// end of its own. A struct without appended fields is both.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        wire_struct!(@common $(#[$meta])* $name { $( $(#[$fmeta])* $field : $ty ),* } {});

        impl $crate::wire::codec::Decode for $name {
            const MIN_LEN: usize = 0 $( + <$ty as $crate::wire::codec::Decode>::MIN_LEN )*;
            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                Ok($name { $( $field: $crate::wire::codec::Decode::decode(r)?, )* })
            }
        }

        impl $crate::wire::codec::DecodeBody for $name {
            fn decode_body(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                $crate::wire::codec::Decode::decode(r)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        } appended {
            $( $(#[$ometa:meta])* pub $ofield:ident : $oty:ty = $default:expr ),+ $(,)?
        }
    ) => {
        wire_struct!(@common $(#[$meta])* $name
            { $( $(#[$fmeta])* $field : $ty ),* }
            { $( $(#[$ometa])* $ofield : $oty ),+ });

        impl $crate::wire::codec::DecodeBody for $name {
            #[allow(unused_variables)]
            fn decode_body(
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                Ok($name {
                    $( $field: $crate::wire::codec::Decode::decode(r)?, )*
                    // An older peer's body ends before the fields it does not know; a field
                    // that has begun must be whole.
                    $( $ofield: if r.remaining() == 0 {
                        $default
                    } else {
                        $crate::wire::codec::Decode::decode(r)?
                    }, )+
                })
            }
        }
    };
    (@common $(#[$meta:meta])* $name:ident
        { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* }
        { $( $(#[$ometa:meta])* $ofield:ident : $oty:ty ),* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $( $(#[$ometa])* pub $ofield: $oty, )*
        }

        impl $crate::wire::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, dst: &mut ::bytes::BytesMut) {
                $( $crate::wire::codec::Encode::encode(&self.$field, dst); )*
                $( $crate::wire::codec::Encode::encode(&self.$ofield, dst); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::wire::codec::Encode::encoded_len(&self.$field) )*
                  $( + $crate::wire::codec::Encode::encoded_len(&self.$ofield) )*
            }
        }

        #[cfg(feature = "arbitrary")]
        impl $crate::wire::generate::Generate for $name {
            #[allow(unused_variables)]
            fn generate(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                Ok($name {
                    $( $field: $crate::wire::generate::Generate::generate(u)?, )*
                    $( $ofield: $crate::wire::generate::Generate::generate(u)?, )*
                })
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

/// The set of messages this build knows: the `Message` enum, the `MessageKind` byte of each,
/// and the dispatch between them. Each listed type must be defined with `wire_struct!`.
/// A frame of any other kind decodes as `Message::Unknown` (see `docs/protocol.md` §9).
macro_rules! messages {
    ( $( $(#[$meta:meta])* $kind:literal => $name:ident ),* $(,)? ) => {
        /// Every message of the protocol. See `docs/protocol.md` for who sends which.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$meta])* $name($name), )*
            /// A frame of a kind this build does not define, from a newer peer: its body was
            /// skipped. A receiver ignores it when it is one-way (request id 0) and answers
            /// `ErrorReply` with [`ErrorCode::Unsupported`] when it is a request.
            Unknown(Unknown),
        }

        /// The kind byte of a frame header.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum MessageKind {
            $( $(#[$meta])* $name = $kind, )*
            /// Any kind byte this build does not define ([`Message::Unknown`] has the byte
            /// itself). Its value 0 is assigned to no message, and it is not in
            /// [`MessageKind::ALL`].
            Unknown = 0,
        }

        impl MessageKind {
            /// Every kind this build defines, in wire order.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$name),*];

            /// The defined kind with this byte, if any.
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
                    MessageKind::Unknown => "Unknown",
                }
            }
        }

        impl Message {
            /// This message's kind.
            pub fn kind(&self) -> MessageKind {
                match self {
                    $( Message::$name(_) => MessageKind::$name, )*
                    Message::Unknown(_) => MessageKind::Unknown,
                }
            }

            /// The kind byte a frame of this message carries.
            pub fn kind_byte(&self) -> u8 {
                match self {
                    Message::Unknown(u) => u.kind,
                    m => m.kind() as u8,
                }
            }

            pub(crate) fn encode_body(&self, dst: &mut ::bytes::BytesMut) {
                match self {
                    $( Message::$name(m) => $crate::wire::codec::Encode::encode(m, dst), )*
                    Message::Unknown(_) => {}
                }
            }

            pub(crate) fn body_len(&self) -> usize {
                match self {
                    $( Message::$name(m) => $crate::wire::codec::Encode::encoded_len(m), )*
                    Message::Unknown(_) => 0,
                }
            }

            /// Decodes the body of a frame of kind `kind`, reading the fields this build
            /// knows and leaving whatever follows them unread.
            pub(crate) fn decode_body(
                kind: u8,
                r: &mut $crate::wire::codec::Reader<'_>,
            ) -> Result<Self, $crate::wire::BodyError> {
                match kind {
                    $( $kind => {
                        <$name as $crate::wire::codec::DecodeBody>::decode_body(r)
                            .map(Message::$name)
                    } )*
                    kind => Ok(Message::Unknown(Unknown { kind })),
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
                // One choice in (defined kinds + 1) is a kind this build does not define.
                let i = u.choose_index(MessageKind::ALL.len() + 1)?;
                match MessageKind::ALL.get(i).copied().unwrap_or(MessageKind::Unknown) {
                    $( MessageKind::$name => Ok(Message::$name(
                        $crate::wire::generate::Generate::generate(u)?,
                    )), )*
                    MessageKind::Unknown => {
                        // Kinds from 0x60 up are assigned to nothing yet.
                        let kind = u.int_in_range(0x60..=0xFF)?;
                        match MessageKind::from_u8(kind) {
                            None => Ok(Message::Unknown(Unknown { kind })),
                            Some(_) => Err(::arbitrary::Error::IncorrectFormat),
                        }
                    }
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
