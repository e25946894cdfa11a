//! Framing: the 16-byte header, whole-frame encoding, and the incremental decoder that
//! turns a connection's byte stream into frames.
//!
//! ```text
//! offset  size  field
//!      0     2  magic       0x52 0x53 ("RS")
//!      2     1  version     FRAME_VERSION
//!      3     1  kind        MessageKind
//!      4     4  body_len    u32, big-endian
//!      8     8  request_id  u64, big-endian
//!     16     …  body        body_len bytes
//! ```
//!
//! The header is validated byte by byte as it arrives, so garbage, a foreign protocol or an
//! oversized frame is refused after at most 8 bytes, before anything waits for a body.
//!
//! Evolution is handled here only as far as framing can without knowing the roles
//! (`docs/protocol.md` §9): a body is decoded up to the last field this build knows and the
//! rest of it is skipped, and a frame of a kind this build does not define is skipped whole
//! and delivered as [`Message::Unknown`] with its request id. Whether that needs an answer
//! (a request does, a one-way message does not) is the receiving node's business, since
//! only a node sends frames.

use super::codec::Reader;
use super::error::{DecodeError, EncodeError};
use super::messages::{Message, MessageKind};
use bytes::{BufMut, Bytes, BytesMut};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"RS";
/// The version byte of every frame header: the version of the framing (this header, and
/// bodies as the encoding of one message), unchanged since the first release. What a peer's
/// messages mean is the protocol version proper, a `u16` the hellos negotiate
/// ([`super::negotiate`]); a version byte other than this one is a stream roster cannot
/// even split into frames.
pub const FRAME_VERSION: u8 = 1;
/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 16;
/// Default maximum frame length (header included): 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// A decoded frame: a message and the request id that correlates it.
///
/// A request carries an id of the sender's choosing; its reply (`Ack`, `ErrorReply` or the
/// kind-specific reply) carries the same id. One-way messages may carry any id; senders use 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Correlates a reply with its request.
    pub request_id: u64,
    /// The message.
    pub message: Message,
}

impl Frame {
    /// A frame for `message` with `request_id`.
    pub fn new(request_id: u64, message: impl Into<Message>) -> Self {
        Frame {
            request_id,
            message: message.into(),
        }
    }

    /// Exact encoded length, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.message.body_len()
    }

    /// Appends the frame to `dst`, unless it would exceed `max_frame_len`, in which case
    /// nothing is written.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_len: usize) -> Result<(), EncodeError> {
        let body_len = self.message.body_len();
        let len = HEADER_LEN + body_len;
        if len > max_frame_len {
            return Err(EncodeError::FrameTooLarge {
                len,
                max: max_frame_len,
            });
        }
        dst.reserve(len);
        dst.put_slice(&MAGIC);
        dst.put_u8(FRAME_VERSION);
        dst.put_u8(self.message.kind_byte());
        dst.put_u32(body_len as u32);
        dst.put_u64(self.request_id);
        let start = dst.len();
        self.message.encode_body(dst);
        debug_assert_eq!(
            dst.len() - start,
            body_len,
            "encoded_len disagrees with encode"
        );
        Ok(())
    }

    /// The frame as bytes, with the default maximum frame length.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf, DEFAULT_MAX_FRAME_LEN)?;
        Ok(buf.freeze())
    }

    /// Decodes `bytes` as exactly one frame (default maximum frame length). Fails with
    /// `Truncated` if the frame is incomplete and `TrailingBytes` if more follows.
    pub fn decode(bytes: Bytes) -> Result<Frame, DecodeError> {
        let header = match parse_header(&bytes, DEFAULT_MAX_FRAME_LEN)? {
            Some(h) if h.frame_len() <= bytes.len() => h,
            other => {
                return Err(DecodeError::Truncated {
                    needed: other.map_or(HEADER_LEN, |h| h.frame_len()),
                    available: bytes.len(),
                });
            }
        };
        // The body is decoded before trailing bytes are reported, so that this reports the
        // same first error as the streaming decoder given the same bytes.
        let frame = decode_body(header, bytes.slice(HEADER_LEN..header.frame_len()))?;
        if bytes.len() > header.frame_len() {
            return Err(DecodeError::TrailingBytes {
                count: bytes.len() - header.frame_len(),
            });
        }
        Ok(frame)
    }
}

/// Splits a byte stream into frames. Stateless apart from its limit: the caller owns the
/// buffer, appends what it reads, and calls [`FrameDecoder::decode`] until it returns
/// `Ok(None)` (more bytes needed).
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_len` (header included).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder { max_frame_len }
    }

    /// The longest frame this decoder accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// The length (header included) of the frame `buf` begins with, once its header has
    /// arrived and is valid; `None` otherwise (`decode` reports what is wrong). Lets a reader
    /// size its buffer for a long frame before the body arrives.
    pub fn frame_len(&self, buf: &[u8]) -> Option<usize> {
        parse_header(buf, self.max_frame_len)
            .ok()
            .flatten()
            .map(|h| h.frame_len())
    }

    /// Takes the next complete frame off the front of `buf`.
    ///
    /// - `Ok(Some(frame))`: a frame was removed from `buf`; its byte strings share `buf`'s
    ///   allocation, no payload is copied.
    /// - `Ok(None)`: `buf` holds only a valid prefix of a frame; read more and call again.
    /// - `Err(e)`: the stream is not valid roster framing; `buf` is left untouched and the
    ///   connection should be closed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(header) = parse_header(buf, self.max_frame_len)? else {
            return Ok(None);
        };
        if buf.len() < header.frame_len() {
            // Make room for the rest of the frame in one go rather than growing piecemeal.
            buf.reserve(header.frame_len() - buf.len());
            return Ok(None);
        }
        let body = buf
            .split_to(header.frame_len())
            .freeze()
            .slice(HEADER_LEN..);
        decode_body(header, body).map(Some)
    }
}

#[derive(Debug, Clone, Copy)]
struct Header {
    /// The kind byte, defined by this build or not.
    kind: u8,
    body_len: usize,
    request_id: u64,
}

impl Header {
    fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }
}

/// Validates as much of the header as `buf` holds; `Ok(None)` if it is incomplete.
fn parse_header(buf: &[u8], max_frame_len: usize) -> Result<Option<Header>, DecodeError> {
    for (i, &m) in MAGIC.iter().enumerate() {
        match buf.get(i) {
            None => return Ok(None),
            Some(&b) if b != m => {
                // Report the bytes up to the first wrong one only: a later byte may or may
                // not have arrived yet, and the error must not depend on how the stream
                // was split into reads.
                let mut found = [0; 2];
                found[..=i].copy_from_slice(&buf[..=i]);
                return Err(DecodeError::BadMagic { found });
            }
            Some(_) => {}
        }
    }
    let Some(&version) = buf.get(2) else {
        return Ok(None);
    };
    if version != FRAME_VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let Some(&kind_byte) = buf.get(3) else {
        return Ok(None);
    };
    // Any kind byte is framing: one this build does not define is skipped by its length.
    let kind = kind_byte;
    let Some(len_bytes) = buf.get(4..8) else {
        return Ok(None);
    };
    let body_len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let frame_len = HEADER_LEN as u64 + u64::from(body_len);
    if frame_len > max_frame_len as u64 {
        return Err(DecodeError::FrameTooLarge {
            len: frame_len,
            max: max_frame_len,
        });
    }
    let Some(id_bytes) = buf.get(8..16) else {
        return Ok(None);
    };
    let mut id = [0u8; 8];
    id.copy_from_slice(id_bytes);
    Ok(Some(Header {
        kind,
        body_len: body_len as usize,
        request_id: u64::from_be_bytes(id),
    }))
}

fn decode_body(header: Header, body: Bytes) -> Result<Frame, DecodeError> {
    let mut r = Reader::new(&body);
    // Only a defined kind's body is decoded, so only a defined kind can be malformed.
    let message =
        Message::decode_body(header.kind, &mut r).map_err(|error| DecodeError::Malformed {
            kind: MessageKind::from_u8(header.kind).map_or("Unknown", MessageKind::name),
            offset: r.position(),
            error,
        })?;
    // Bytes after the last known field are a newer peer's appended fields: left unread.
    Ok(Frame {
        request_id: header.request_id,
        message,
    })
}
