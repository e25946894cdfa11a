//! `PublisherList`: a datum's publishers as they travel to subscribers, held in their wire
//! encoding.
//!
//! A push carries the complete list of a data info id, and one list goes to every
//! subscribed connection. Held as owned `Publisher`s, the list would be encoded again for each
//! connection on the session, and on every client decoded into some ten reference-counted
//! fields per publisher and dropped the same way. Held as the bytes of its encoding, it is
//! encoded once per version (or not at all: decoding keeps a slice of the frame), written to
//! each connection with one copy, cloned with one reference count, and read in place through
//! borrowed [`PublisherRef`]s.
//!
//! The bytes are exactly those of a `Vec<Publisher>` (a u32 count, then each publisher), so
//! this is a different Rust type for the same wire field, never a different format. Every
//! field of that encoding is fixed-width or length-prefixed, so a list of publishers has
//! exactly one encoding: equal bytes are equal lists.

use super::codec::{Decode, Encode, Reader, encode_seq, seq_len};
use super::error::BodyError;
use crate::model::{Attribute, Publisher, RegisterVersion, Text};
use bytes::{Bytes, BytesMut};
use std::fmt;

/// An immutable list of publishers held in its wire encoding. Cloning it bumps one reference
/// count; encoding it copies its bytes; decoding it checks every field as decoding a
/// `Vec<Publisher>` would, and shares the frame's buffer instead of building publishers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublisherList {
    /// The encoding: the u32 count, then each publisher. Invariant: a valid encoding of
    /// `len` publishers (checked by `decode`, or produced by `encode_seq`), which is what
    /// lets the accessors read it without checking again.
    bytes: Bytes,
    len: usize,
}

impl PublisherList {
    /// An empty list.
    pub const fn new() -> Self {
        PublisherList {
            bytes: Bytes::from_static(&[0; 4]),
            len: 0,
        }
    }

    /// The list of `publishers`, encoded once.
    pub fn from_publishers(publishers: &[Publisher]) -> Self {
        let mut buf = BytesMut::with_capacity(seq_len(publishers));
        encode_seq(publishers, &mut buf);
        PublisherList {
            bytes: buf.freeze(),
            len: publishers.len(),
        }
    }

    /// Number of publishers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no publisher.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The publishers, in order, read in place.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.bytes,
            pos: 4,
            left: self.len,
        }
    }

    /// The publishers as owned values. Their strings and payloads share this list's buffer.
    pub fn to_vec(&self) -> Vec<Publisher> {
        self.iter().map(|p| p.to_owned()).collect()
    }

    /// The wire encoding (as [`Encode::encode`] writes it).
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Whether both hold one buffer: one is a clone of the other, or both were decoded from
    /// the same bytes of one frame.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.bytes.as_ptr() == other.bytes.as_ptr() && self.bytes.len() == other.bytes.len()
    }
}

impl Default for PublisherList {
    fn default() -> Self {
        PublisherList::new()
    }
}

impl From<Vec<Publisher>> for PublisherList {
    fn from(v: Vec<Publisher>) -> Self {
        PublisherList::from_publishers(&v)
    }
}

impl From<&[Publisher]> for PublisherList {
    fn from(v: &[Publisher]) -> Self {
        PublisherList::from_publishers(v)
    }
}

impl FromIterator<Publisher> for PublisherList {
    fn from_iter<I: IntoIterator<Item = Publisher>>(iter: I) -> Self {
        PublisherList::from_publishers(&iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a PublisherList {
    type Item = PublisherRef<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for PublisherList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Encode for PublisherList {
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(&self.bytes);
    }
    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }
}

impl Decode for PublisherList {
    const MIN_LEN: usize = <Vec<Publisher> as Decode>::MIN_LEN;

    /// Walks the encoding making exactly the checks `Vec::<Publisher>::decode` makes, in
    /// its order (so a bad list fails with the same error at the same offset), and keeps the
    /// bytes walked.
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let start = r.position();
        let len = r.count(Publisher::MIN_LEN)?;
        for _ in 0..len {
            check_publisher(r)?;
        }
        Ok(PublisherList {
            bytes: r.shared_since(start),
            len,
        })
    }
}

/// Checks one publisher's fields as `Publisher::decode` would, building nothing.
#[inline]
fn check_publisher(r: &mut Reader<'_>) -> Result<(), BodyError> {
    r.skip_text()?;
    RegisterVersion::decode(r)?;
    for _ in 0..r.count(<Bytes as Decode>::MIN_LEN)? {
        r.bytes_ref()?;
    }
    for _ in 0..r.count(Attribute::MIN_LEN)? {
        r.skip_text()?;
        r.skip_text()?;
    }
    Ok(())
}

/// Iterator over a [`PublisherList`].
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a Bytes,
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = PublisherRef<'a>;

    fn next(&mut self) -> Option<PublisherRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut c = Cursor {
            buf: self.buf,
            pos: self.pos,
        };
        let register_id = c.text();
        let version = RegisterVersion::new(c.u64(), c.u64());
        let payload = c.seq(1);
        let attributes = c.seq(2);
        self.pos = c.pos;
        Some(PublisherRef {
            list: self.buf,
            register_id,
            version,
            payload,
            attributes,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("left", &self.left).finish()
    }
}

/// One publisher of a [`PublisherList`], borrowed from its buffer. (Not `Clone`: the
/// blanket `ToOwned` of a `Clone` type would shadow [`PublisherRef::to_owned`] behind a
/// reference; read the list again instead.)
pub struct PublisherRef<'a> {
    list: &'a Bytes,
    register_id: &'a str,
    version: RegisterVersion,
    payload: Seq<'a>,
    attributes: Seq<'a>,
}

impl<'a> PublisherRef<'a> {
    /// Chosen by the client, unique per registration.
    pub fn register_id(&self) -> &'a str {
        self.register_id
    }

    /// Orders the changes to this registration.
    pub fn version(&self) -> RegisterVersion {
        self.version
    }

    /// The opaque payload, element by element.
    pub fn payload(&self) -> Payload<'a> {
        Payload(self.payload.cursor())
    }

    /// The attributes, as `(key, value)`.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes(self.attributes.cursor())
    }

    /// The publisher as an owned value; its strings and payload share the list's buffer.
    pub fn to_owned(&self) -> Publisher {
        let text = |s| Text::shared_from(self.list, s);
        Publisher {
            register_id: text(self.register_id),
            version: self.version,
            payload: self.payload().map(|b| self.list.slice_ref(b)).collect(),
            attributes: self
                .attributes()
                .map(|(key, value)| Attribute {
                    key: text(key),
                    value: text(value),
                })
                .collect(),
        }
    }
}

impl fmt::Debug for PublisherRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exactly as the owned publisher prints (its payload as byte strings).
        fmt::Debug::fmt(&PublisherRef::to_owned(self), f)
    }
}

impl PartialEq<Publisher> for PublisherRef<'_> {
    fn eq(&self, p: &Publisher) -> bool {
        self.register_id == p.register_id.as_str()
            && self.version == p.version
            && self.payload().eq(p.payload.iter().map(|b| &b[..]))
            && self.attributes().eq(p
                .attributes
                .iter()
                .map(|a| (a.key.as_str(), a.value.as_str())))
    }
}

/// The elements of a publisher's payload.
#[derive(Clone)]
pub struct Payload<'a>(SeqCursor<'a>);

impl<'a> Iterator for Payload<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next_chunk()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Payload<'_> {}

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.clone().map(Bytes::copy_from_slice))
            .finish()
    }
}

/// The `(key, value)` attributes of a publisher.
#[derive(Clone)]
pub struct Attributes<'a>(SeqCursor<'a>);

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let key = self.0.next_chunk()?;
        let mut c = self.0.cursor;
        let value = c.text();
        self.0.cursor = c;
        Some((as_str(key), value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Attributes<'_> {}

impl fmt::Debug for Attributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// A sequence inside a publisher: its element count and where its first element starts.
#[derive(Clone, Copy)]
struct Seq<'a> {
    count: usize,
    start: Cursor<'a>,
}

impl<'a> Seq<'a> {
    fn cursor(self) -> SeqCursor<'a> {
        SeqCursor {
            cursor: self.start,
            left: self.count,
        }
    }
}

#[derive(Clone)]
struct SeqCursor<'a> {
    cursor: Cursor<'a>,
    left: usize,
}

impl<'a> SeqCursor<'a> {
    fn next_chunk(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(self.cursor.chunk())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Reads a list's encoding, which was checked when the list was built: a field out of bounds
/// here is a bug in this module (the invariant of [`PublisherList::bytes`]), not bad input.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let a = self.buf[self.pos..].first_chunk::<N>().expect(CHECKED);
        self.pos += N;
        *a
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    fn len(&mut self) -> usize {
        u32::from_be_bytes(self.array()) as usize
    }

    fn chunk(&mut self) -> &'a [u8] {
        let len = self.len();
        let s = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        s
    }

    fn text(&mut self) -> &'a str {
        as_str(self.chunk())
    }

    /// A sequence of `count` elements of `strings_each` byte strings, skipped over.
    fn seq(&mut self, strings_each: usize) -> Seq<'a> {
        let count = self.len();
        let start = *self;
        for _ in 0..count * strings_each {
            let len = self.len();
            self.pos += len;
        }
        Seq { count, start }
    }
}

const CHECKED: &str = "a publisher list's encoding was checked when it was built";

/// A string of a checked list.
fn as_str(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok(), "{CHECKED}");
    // SAFETY: every string of a list's encoding is UTF-8: `PublisherList::decode` checked it
    // (`Reader::skip_text`), or `encode_seq` wrote it from a `Text`, and the buffer is
    // immutable and private to the list.
    #[allow(unsafe_code)]
    unsafe {
        std::str::from_utf8_unchecked(bytes)
    }
}

#[cfg(test)]
mod tests;
