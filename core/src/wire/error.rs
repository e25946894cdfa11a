//! Everything that can be wrong with bytes that claim to be roster frames.
//!
//! Each failure has its own variant so a shell can log precisely why it closed a
//! connection, and so tests can tell a truncated frame from garbage.

use std::fmt;

/// Why a frame could not be decoded. After any of these the connection's byte stream can no
/// longer be trusted to be aligned on a frame boundary, so the shell closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first two bytes are not the magic `RS`: the peer does not speak roster (garbage,
    /// another protocol, or a stream that lost frame alignment).
    BadMagic {
        /// The bytes found where the magic belongs, up to and including the first wrong
        /// one; a byte after it is reported as zero (it need not have arrived yet, and the
        /// error must be the same however the stream was split into reads).
        found: [u8; 2],
    },
    /// The frame's header is of a framing version this build does not understand.
    UnsupportedVersion {
        /// The version byte of the frame.
        version: u8,
    },
    /// The frame declares a size larger than the configured maximum.
    FrameTooLarge {
        /// Header plus declared body length.
        len: u64,
        /// The configured maximum frame length.
        max: usize,
    },
    /// The input ended inside a frame (only from APIs given a complete input).
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes that were present.
        available: usize,
    },
    /// A complete input held more than one frame (only from [`super::Frame::decode`]).
    TrailingBytes {
        /// Bytes after the first frame.
        count: usize,
    },
    /// The header was valid but the body does not decode as the declared kind.
    Malformed {
        /// Name of the declared message kind.
        kind: &'static str,
        /// Offset in the body where decoding failed.
        offset: usize,
        /// What was wrong there.
        error: BodyError,
    },
}

/// Why a frame body did not decode as its declared kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// A field extends past the end of the body.
    UnexpectedEnd {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the body.
        remaining: usize,
    },
    /// A sequence count that the rest of the body cannot possibly hold.
    CountTooLarge {
        /// The declared element count.
        count: u32,
        /// Bytes left in the body.
        remaining: usize,
    },
    /// A string that is not UTF-8.
    InvalidUtf8 {
        /// Body offset of the first invalid byte.
        offset: usize,
    },
    /// An enum, option or bool tag with no meaning.
    InvalidTag {
        /// Name of the tagged type.
        ty: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// Bytes left over after a value that must end its input ([`super::Reader::finish`]).
    /// Never reported for a frame body: a body's bytes after its last known field are a
    /// newer peer's appended fields, and are skipped.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The encoded frame would exceed the maximum frame length the peer accepts.
    FrameTooLarge {
        /// Length the frame would have.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadMagic { found } if found[0] != super::MAGIC[0] => write!(
                f,
                "not a roster frame: expected magic 52 53, found {:02x}",
                found[0]
            ),
            DecodeError::BadMagic { found } => write!(
                f,
                "not a roster frame: expected magic 52 53, found {:02x} {:02x}",
                found[0], found[1]
            ),
            DecodeError::UnsupportedVersion { version } => {
                write!(f, "unsupported frame version {version}")
            }
            DecodeError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            DecodeError::Truncated { needed, available } => write!(
                f,
                "truncated frame: {needed} bytes needed, {available} present"
            ),
            DecodeError::TrailingBytes { count } => {
                write!(f, "{count} bytes follow the frame")
            }
            DecodeError::Malformed {
                kind,
                offset,
                error,
            } => write!(f, "malformed {kind} body at offset {offset}: {error}"),
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::UnexpectedEnd { needed, remaining } => {
                write!(f, "field needs {needed} bytes but {remaining} remain")
            }
            BodyError::CountTooLarge { count, remaining } => write!(
                f,
                "{count} elements cannot fit in the {remaining} bytes that remain"
            ),
            BodyError::InvalidUtf8 { offset } => write!(f, "invalid UTF-8 at offset {offset}"),
            BodyError::InvalidTag { ty, tag } => write!(f, "invalid {ty} tag {tag}"),
            BodyError::TrailingBytes { count } => {
                write!(f, "{count} bytes after the last field")
            }
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FrameTooLarge { len, max } => write!(
                f,
                "message would need a {len}-byte frame, over the maximum of {max}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}
impl std::error::Error for BodyError {}
impl std::error::Error for EncodeError {}
