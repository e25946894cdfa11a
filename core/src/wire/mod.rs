//! The wire protocol: every message the four roles exchange, as plain Rust types, and the
//! codec between them and bytes. `docs/protocol.md` is the normative description; its test
//! vectors are checked against this code by `core/tests/protocol_doc.rs`.
//!
//! The codec is separate from the state machines: they consume and produce [`Message`]s,
//! and only the shells (and the simulator) touch bytes. Decoding never panics, bounds every
//! length by the bytes present before allocating, and shares payload bytes with the input.

#[macro_use]
mod macros;

pub(crate) mod codec;
mod error;
mod frame;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
#[cfg(feature = "arbitrary")]
pub mod generate;
mod messages;
pub mod negotiate;
mod publisher_list;

pub use codec::{Decode, DecodeBody, Encode, Reader};
pub use error::{BodyError, DecodeError, EncodeError};
pub use frame::{DEFAULT_MAX_FRAME_LEN, FRAME_VERSION, Frame, FrameDecoder, HEADER_LEN, MAGIC};
pub use messages::*;
pub use negotiate::{Agreement, Features};
pub use publisher_list::{Attributes, Iter, Payload, PublisherList, PublisherRef};

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Message {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        generate::Generate::generate(u)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Frame {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Frame {
            request_id: u.arbitrary()?,
            message: u.arbitrary()?,
        })
    }
}
