//! Field-level encoding: the primitive types, sequences and options, and the `Reader` that
//! decodes them from a frame body without copying.
//!
//! Every wire type implements [`Encode`] and [`Decode`]. `Decode::MIN_LEN` is the fewest
//! bytes one value can occupy; a sequence's element count is checked against the bytes left
//! times that minimum *before* any allocation, so a forged count cannot make the decoder
//! reserve memory the frame does not back.

use super::error::BodyError;
use crate::model::{NotUtf8, Text};
use bytes::{BufMut, Bytes, BytesMut};
use smallvec::{Array, SmallVec};

/// Writes a value in wire format.
pub trait Encode {
    /// Appends the encoding of `self` to `dst`.
    fn encode(&self, dst: &mut BytesMut);
    /// Exact number of bytes [`Encode::encode`] appends.
    fn encoded_len(&self) -> usize;
}

/// Reads a value in wire format.
pub trait Decode: Sized {
    /// The fewest bytes an encoded value can occupy.
    const MIN_LEN: usize;
    /// Reads one value, advancing the reader.
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError>;
}

/// Reads a whole message body: the fields this build knows, in order, and nothing after
/// them. What follows the last known field belongs to a newer peer's version of the message
/// and is left unread (the frame layer discards it); fields appended to a message after its
/// first release take their defaults when the body ends before them. Implemented by every
/// `wire_struct!`; a struct with `appended` fields implements only this, not [`Decode`].
pub trait DecodeBody: Sized {
    /// Reads the message from the start of its body.
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, BodyError>;
}

/// A cursor over a frame body. Byte strings it yields share the body's buffer.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], BodyError> {
        // One bounds check for the whole field: a push decodes about ten fields per
        // publisher, on every client connection it reaches.
        match self.buf.get(self.pos..).and_then(<[u8]>::first_chunk::<N>) {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(BodyError::UnexpectedEnd {
                needed: N,
                remaining: self.remaining(),
            }),
        }
    }

    /// A length-prefixed byte string, shared with the body.
    #[inline]
    pub fn bytes(&mut self) -> Result<Bytes, BodyError> {
        let (start, end) = self.byte_range()?;
        Ok(self.buf.slice(start..end))
    }

    /// A length-prefixed byte string, borrowed from the body: the same checks and errors as
    /// [`Reader::bytes`], without a reference count on the body's buffer.
    #[inline]
    pub(crate) fn bytes_ref(&mut self) -> Result<&'a [u8], BodyError> {
        let (start, end) = self.byte_range()?;
        Ok(&self.buf[start..end])
    }

    /// Skips a length-prefixed UTF-8 string, with the same checks and errors as decoding a
    /// [`Text`].
    #[inline]
    pub(crate) fn skip_text(&mut self) -> Result<(), BodyError> {
        let at = self.pos;
        let raw = self.bytes_ref()?;
        crate::model::check_utf8(raw).map_err(|e| invalid_utf8(at, e))
    }

    /// The bytes not yet consumed.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes `n` bytes, which the caller checked are there.
    pub(crate) fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.remaining());
        self.pos += n;
    }

    /// The body from `start` to the current position, shared.
    pub(crate) fn shared_since(&self, start: usize) -> Bytes {
        self.buf.slice(start..self.pos)
    }

    #[inline]
    fn byte_range(&mut self) -> Result<(usize, usize), BodyError> {
        let len = u32::from_be_bytes(self.take_array()?) as usize;
        let start = self.pos;
        if len > self.buf.len() - start {
            return Err(BodyError::UnexpectedEnd {
                needed: len,
                remaining: self.remaining(),
            });
        }
        self.pos = start + len;
        Ok((start, start + len))
    }

    /// A sequence count, already checked to fit in the bytes left for elements of at least
    /// `min_len` bytes each.
    #[inline]
    pub fn count(&mut self, min_len: usize) -> Result<usize, BodyError> {
        let count = u32::decode(self)?;
        let needed = (count as usize).saturating_mul(min_len.max(1));
        if needed > self.remaining() {
            return Err(BodyError::CountTooLarge {
                count,
                remaining: self.remaining(),
            });
        }
        Ok(count as usize)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), BodyError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(BodyError::TrailingBytes { count: n }),
        }
    }
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, dst: &mut BytesMut) {
                dst.put_slice(&self.to_be_bytes());
            }
            fn encoded_len(&self) -> usize {
                size_of::<$t>()
            }
        }
        impl Decode for $t {
            const MIN_LEN: usize = size_of::<$t>();
            fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
                Ok(<$t>::from_be_bytes(r.take_array()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64);

impl Encode for bool {
    fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

impl Decode for bool {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        match u8::decode(r)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(BodyError::InvalidTag { ty: "bool", tag }),
        }
    }
}

/// Length prefix of a byte string or sequence: u32, big-endian.
pub(super) fn put_len(dst: &mut BytesMut, len: usize) {
    // Frames are capped far below 4 GiB, and `encode_frame` rejects oversized bodies before
    // they are sent, so a length that does not fit is a bug in the caller, not bad input.
    let len = u32::try_from(len).expect("wire lengths fit in u32 (frames are capped at 16 MiB)");
    dst.put_u32(len);
}

impl Encode for Bytes {
    fn encode(&self, dst: &mut BytesMut) {
        put_len(dst, self.len());
        dst.put_slice(self);
    }
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
}

impl Decode for Bytes {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        r.bytes()
    }
}

impl Encode for Text {
    fn encode(&self, dst: &mut BytesMut) {
        self.as_bytes().encode(dst)
    }
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
}

impl Decode for Text {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let at = r.position();
        Text::from_utf8(r.bytes()?).map_err(|e| invalid_utf8(at, e))
    }
}

/// The error for a string whose length prefix starts at body offset `at`.
fn invalid_utf8(at: usize, e: NotUtf8) -> BodyError {
    BodyError::InvalidUtf8 {
        offset: at + 4 + e.valid_up_to,
    }
}

/// A sequence: its u32 count, then its elements.
pub(super) fn encode_seq<T: Encode>(items: &[T], dst: &mut BytesMut) {
    put_len(dst, items.len());
    for item in items {
        item.encode(dst);
    }
}

pub(super) fn seq_len<T: Encode>(items: &[T]) -> usize {
    4 + items.iter().map(Encode::encoded_len).sum::<usize>()
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, dst: &mut BytesMut) {
        encode_seq(self, dst);
    }
    fn encoded_len(&self) -> usize {
        seq_len(self)
    }
}

impl<T: Decode> Decode for Vec<T> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let n = r.count(T::MIN_LEN)?;
        if n == 0 {
            // Most sequences in a push are empty (a publisher's attributes).
            return Ok(Vec::new());
        }
        let mut v = Vec::with_capacity(prealloc::<T>(n, r.remaining()));
        for i in 0..n {
            if v.len() == v.capacity() {
                // Past the first reservation: at most double, and never past the count, so a
                // list whose elements are larger in memory than on the wire (a publisher) is
                // reallocated once, to its exact length, and not again when it is shared.
                v.reserve_exact((n - i).min(v.len().max(1)));
            }
            v.push(T::decode(r)?);
        }
        Ok(v)
    }
}

/// How many elements to reserve for a sequence of `count` elements of `T` when `remaining`
/// body bytes are left. `count` was checked against `T::MIN_LEN`, but an element can be far
/// larger in memory than its minimum on the wire (a tagged enum's `MIN_LEN` is its one-byte
/// tag, while a `WriteOp` occupies about 200 bytes), so the reservation is also capped at the
/// body's size; past that the vector grows only as elements actually decode.
fn prealloc<T>(count: usize, remaining: usize) -> usize {
    count.min(remaining / size_of::<T>().max(1))
}

/// A short sequence kept inline (a publisher's payload, nearly always one element): same
/// wire form as a `Vec`, and no allocation while it fits its inline array.
impl<A: Array> Encode for SmallVec<A>
where
    A::Item: Encode,
{
    fn encode(&self, dst: &mut BytesMut) {
        encode_seq(self, dst);
    }
    fn encoded_len(&self) -> usize {
        seq_len(self)
    }
}

impl<A: Array> Decode for SmallVec<A>
where
    A::Item: Decode,
{
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let n = r.count(A::Item::MIN_LEN)?;
        let mut v = SmallVec::new();
        if n > v.inline_size() {
            v.reserve_exact(prealloc::<A::Item>(n, r.remaining()));
        }
        for _ in 0..n {
            v.push(A::Item::decode(r)?);
        }
        Ok(v)
    }
}

/// A set: the wire form of a sequence, in the set's order, so equal sets encode alike
/// (replicated state and its snapshots must be byte-identical on every meta node). A
/// decoded sequence that repeats an element holds it once.
impl<T: Encode> Encode for std::collections::BTreeSet<T> {
    fn encode(&self, dst: &mut BytesMut) {
        put_len(dst, self.len());
        for item in self {
            item.encode(dst);
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.iter().map(Encode::encoded_len).sum::<usize>()
    }
}

impl<T: Decode + Ord> Decode for std::collections::BTreeSet<T> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let n = r.count(T::MIN_LEN)?;
        (0..n).map(|_| T::decode(r)).collect()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, dst: &mut BytesMut) {
        match self {
            None => dst.put_u8(0),
            Some(v) => {
                dst.put_u8(1);
                v.encode(dst);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Encode::encoded_len)
    }
}

impl<T: Decode> Decode for Option<T> {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        match u8::decode(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            tag => Err(BodyError::InvalidTag { ty: "option", tag }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: T) {
        let mut buf = BytesMut::new();
        v.encode(&mut buf);
        assert_eq!(buf.len(), v.encoded_len());
        let bytes = buf.freeze();
        let mut r = Reader::new(&bytes);
        assert_eq!(T::decode(&mut r).unwrap(), v);
        r.finish().unwrap();
    }

    #[test]
    fn primitives_roundtrip_big_endian() {
        roundtrip(0xABu8);
        roundtrip(0xBEEFu16);
        roundtrip(u32::MAX);
        roundtrip(0x0102_0304_0506_0708u64);
        roundtrip(true);
        roundtrip(Some(Text::from("ünïcode")));
        roundtrip(None::<u64>);
        roundtrip(vec![Bytes::from_static(b"a"), Bytes::new()]);
        let mut buf = BytesMut::new();
        0x0102u16.encode(&mut buf);
        assert_eq!(&buf[..], &[1, 2]);
    }

    #[test]
    fn a_small_vector_encodes_exactly_as_a_vec_and_keeps_one_element_inline() {
        for n in 0..3 {
            let v: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![b'p'; i + 1])).collect();
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            v.encode(&mut a);
            let small: SmallVec<[Bytes; 1]> = v.iter().cloned().collect();
            small.encode(&mut b);
            assert_eq!(a, b);
            let body = a.freeze();
            let decoded = SmallVec::<[Bytes; 1]>::decode(&mut Reader::new(&body)).unwrap();
            assert_eq!(decoded.as_slice(), v.as_slice());
            assert_eq!(decoded.spilled(), n > 1, "{n} elements: heap only past one");
        }
    }

    #[test]
    fn a_list_larger_in_memory_than_on_the_wire_ends_at_its_exact_length() {
        // A publisher takes more bytes in memory than a short one on the wire, so the first
        // reservation (capped at the body's size) is short of the count.
        let publishers: Vec<crate::model::Publisher> = (0..1000u64)
            .map(|i| crate::model::Publisher {
                register_id: Text::from(format!("r{i}")),
                version: crate::model::RegisterVersion::new(i, 1),
                payload: smallvec::smallvec![Bytes::from_static(b"10.0.0.1:80")],
                attributes: Vec::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        publishers.encode(&mut buf);
        let body = buf.freeze();
        assert!(prealloc::<crate::model::Publisher>(1000, body.len() - 4) < 1000);
        let decoded = Vec::<crate::model::Publisher>::decode(&mut Reader::new(&body)).unwrap();
        assert_eq!(decoded, publishers);
        assert_eq!(
            decoded.capacity(),
            decoded.len(),
            "grown to the count, not past it"
        );
    }

    #[test]
    fn forged_count_is_refused_before_allocating() {
        // 0xFFFFFFFF u64s would need 32 GiB; the body has 4 bytes.
        let body = Bytes::from_static(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        let err = Vec::<u64>::decode(&mut Reader::new(&body)).unwrap_err();
        assert_eq!(
            err,
            BodyError::CountTooLarge {
                count: u32::MAX,
                remaining: 4
            }
        );
    }

    #[test]
    fn forged_enum_count_reserves_no_more_than_the_body() {
        // One `WriteOp` per remaining byte passes the count check (MIN_LEN 1); reserving
        // that many would take ~190 times the body.
        let remaining = 1 << 20;
        let cap = prealloc::<crate::wire::WriteOp>(remaining, remaining);
        assert!(cap * size_of::<crate::wire::WriteOp>() <= remaining);
        assert_eq!(
            prealloc::<u64>(3, 24),
            3,
            "a sequence that fits is fully reserved"
        );
    }

    #[test]
    fn string_longer_than_body_is_unexpected_end() {
        let body = Bytes::from_static(&[0, 0, 0, 9, b'a']);
        let err = Text::decode(&mut Reader::new(&body)).unwrap_err();
        assert_eq!(
            err,
            BodyError::UnexpectedEnd {
                needed: 9,
                remaining: 1
            }
        );
    }

    #[test]
    fn invalid_utf8_reports_offset_and_bad_tags_are_refused() {
        let body = Bytes::from_static(&[0, 0, 0, 2, b'a', 0xFF]);
        let err = Text::decode(&mut Reader::new(&body)).unwrap_err();
        assert_eq!(err, BodyError::InvalidUtf8 { offset: 5 });
        let body = Bytes::from_static(&[2]);
        let err = bool::decode(&mut Reader::new(&body)).unwrap_err();
        assert_eq!(err, BodyError::InvalidTag { ty: "bool", tag: 2 });
    }
}
