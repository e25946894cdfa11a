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

use super::codec::{Decode, Encode, Reader, put_len};
use super::error::BodyError;
use crate::model::{Attribute, Publisher, RegisterVersion, Text, check_utf8};
use bytes::{Bytes, BytesMut};
use std::fmt;

/// An immutable list of publishers held in its wire encoding. Cloning it bumps one reference
/// count; encoding it copies its bytes; decoding it checks every field as decoding a
/// `Vec<Publisher>` would, and shares the frame's buffer instead of building publishers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublisherList {
    /// The encoding: the u32 count, then each publisher. Invariant: a valid encoding of
    /// `len` publishers (checked by `decode`, produced by `encode_from`, or copied by
    /// `concat` from publishers of lists that hold this invariant), which is what
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
        PublisherList::encode_from(publishers.iter())
    }

    /// The list of the publishers `publishers` yields, encoded once, straight from where
    /// they are kept (a data node's store) without collecting clones first. The iterator
    /// is walked twice: once to size the buffer, once to fill it.
    pub fn encode_from<'a, I>(publishers: I) -> Self
    where
        I: Iterator<Item = &'a Publisher> + Clone,
    {
        let (len, bytes) = publishers
            .clone()
            .fold((0, 4), |(n, b), p| (n + 1, b + p.encoded_len()));
        let mut buf = BytesMut::with_capacity(bytes);
        put_len(&mut buf, len);
        for p in publishers {
            p.encode(&mut buf);
        }
        debug_assert_eq!(buf.len(), bytes, "encoded_len disagrees with encode");
        PublisherList {
            bytes: buf.freeze(),
            len,
        }
    }

    /// The list of `publishers`, read from other lists, by copying their encodings (a delta
    /// push's result is built this way, without decoding a publisher).
    pub fn concat(publishers: &[PublisherRef<'_>]) -> Self {
        let bytes = 4 + publishers.iter().map(|p| p.encoded.len()).sum::<usize>();
        let mut buf = BytesMut::with_capacity(bytes);
        put_len(&mut buf, publishers.len());
        for p in publishers {
            buf.extend_from_slice(p.encoded);
        }
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

    /// Checks the encoding as `Vec::<Publisher>::decode` would and keeps the bytes checked.
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let start = r.position();
        let len = r.count(Publisher::MIN_LEN)?;
        match scan(r.rest(), len) {
            Some(used) => r.skip(used),
            // Something is wrong: walk again, field by field, to fail with the error (and
            // at the offset) decoding a `Vec<Publisher>` reports.
            None => {
                for _ in 0..len {
                    check_publisher(r)?;
                }
            }
        }
        Ok(PublisherList {
            bytes: r.shared_since(start),
            len,
        })
    }
}

/// How many bytes `count` well-formed publishers at the start of `buf` occupy, or `None` if
/// they are not well-formed: the checks of [`check_publisher`], on a plain slice and without
/// building errors, for the common case of a good list.
///
/// The element counts of the payload and the attributes need no check of their own here:
/// elements that all decode occupy at least their minimum length each, so their count
/// passes `Reader::count`'s check; and each element read consumes at least four bytes or
/// fails, so a forged count ends the walk as soon as the bytes do.
fn scan(buf: &[u8], count: usize) -> Option<usize> {
    let mut pos = 0;
    for _ in 0..count {
        check_utf8(string(buf, &mut pos)?).ok()?;
        pos += 16; // the version; checked by the next read, or below
        for _ in 0..u32_at(buf, &mut pos)? {
            string(buf, &mut pos)?;
        }
        for _ in 0..u32_at(buf, &mut pos)? {
            check_utf8(string(buf, &mut pos)?).ok()?;
            check_utf8(string(buf, &mut pos)?).ok()?;
        }
    }
    Some(pos)
}

#[inline(always)]
fn u32_at(buf: &[u8], pos: &mut usize) -> Option<u32> {
    let a = buf.get(*pos..)?.first_chunk::<4>()?;
    *pos += 4;
    Some(u32::from_be_bytes(*a))
}

#[inline(always)]
fn string<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = u32_at(buf, pos)? as usize;
    let s = buf.get(*pos..)?.get(..len)?;
    *pos += len;
    Some(s)
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
        let buf: &'a [u8] = self.buf;
        let start = self.pos;
        let pos = &mut self.pos;
        let register_id = as_str(checked(string(buf, pos)));
        let version = RegisterVersion::new(checked(u64_at(buf, pos)), checked(u64_at(buf, pos)));
        let payload = Seq::skip(buf, pos, 1);
        let attributes = Seq::skip(buf, pos, 2);
        Some(PublisherRef {
            list: self.buf,
            encoded: &buf[start..*pos],
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
    /// The publisher's own bytes within the list's encoding.
    encoded: &'a [u8],
    register_id: &'a str,
    version: RegisterVersion,
    payload: Seq,
    attributes: Seq,
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
        Payload(self.payload.iter(self.list))
    }

    /// The attributes, as `(key, value)`.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes(self.attributes.iter(self.list))
    }

    /// The publisher's wire encoding, as a slice of its list's: one publisher has exactly
    /// one encoding, so equal bytes are equal publishers.
    pub fn encoded(&self) -> &'a [u8] {
        self.encoded
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
pub struct Payload<'a>(SeqIter<'a>);

impl<'a> Iterator for Payload<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next_string()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.left, Some(self.0.left))
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
pub struct Attributes<'a>(SeqIter<'a>);

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let key = self.0.next_string()?;
        let value = checked(string(self.0.buf, &mut self.0.pos));
        Some((as_str(key), as_str(value)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.left, Some(self.0.left))
    }
}

impl ExactSizeIterator for Attributes<'_> {}

impl fmt::Debug for Attributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// A sequence inside a publisher: its element count and the list offset of its first
/// element.
#[derive(Clone, Copy)]
struct Seq {
    count: usize,
    at: usize,
}

impl Seq {
    /// Reads the sequence at `pos`, of elements of `strings_each` byte strings, and moves
    /// `pos` past it.
    #[inline]
    fn skip(buf: &[u8], pos: &mut usize, strings_each: usize) -> Seq {
        let count = checked(u32_at(buf, pos)) as usize;
        let at = *pos;
        for _ in 0..count * strings_each {
            checked(string(buf, pos));
        }
        Seq { count, at }
    }

    fn iter(self, buf: &[u8]) -> SeqIter<'_> {
        SeqIter {
            buf,
            pos: self.at,
            left: self.count,
        }
    }
}

#[derive(Clone)]
struct SeqIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> SeqIter<'a> {
    fn next_string(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(checked(string(self.buf, &mut self.pos)))
    }
}

/// A field of a list's encoding, which was checked when the list was built: a field out of
/// bounds is a bug in this module (the invariant of [`PublisherList::bytes`]), not bad input.
#[inline(always)]
fn checked<T>(field: Option<T>) -> T {
    field.expect(CHECKED)
}

#[inline(always)]
fn u64_at(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let a = buf.get(*pos..)?.first_chunk::<8>()?;
    *pos += 8;
    Some(u64::from_be_bytes(*a))
}

const CHECKED: &str = "a publisher list's encoding was checked when it was built";

/// A string of a checked list.
fn as_str(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok(), "{CHECKED}");
    // SAFETY: every string of a list's encoding is UTF-8: `PublisherList::decode` checked it
    // (`scan`, or `check_publisher` when `scan` failed, both through `check_utf8`), or
    // `encode_from` wrote it from a `Text`, or `concat` copied it from such a list; the
    // buffer is immutable and private to the list.
    #[allow(unsafe_code)]
    unsafe {
        std::str::from_utf8_unchecked(bytes)
    }
}

#[cfg(test)]
mod tests;
