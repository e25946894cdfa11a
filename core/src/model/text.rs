//! `Text`: an immutable UTF-8 string that shares the buffer it was decoded from.
//!
//! Identifiers (data ids, register ids, addresses) arrive by the million in pushes and
//! reconciliation pages; decoding each into a fresh `String` would allocate per field.
//! `Text` is a validated view into a `Bytes`, so decoding a frame costs one reference-count
//! bump per string and no copy.

use bytes::Bytes;
use std::borrow::Borrow;
use std::fmt;

/// A UTF-8 string backed by `Bytes`. Cheap to clone; ordered and compared by its bytes,
/// which for UTF-8 is the same as ordering by code points.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Bytes);

/// The bytes given to [`Text::from_utf8`] were not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    /// Offset of the first invalid byte.
    pub valid_up_to: usize,
}

impl Text {
    /// An empty string.
    pub const fn new() -> Self {
        Text(Bytes::new())
    }

    /// A string borrowed from a `'static` literal, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Text(Bytes::from_static(s.as_bytes()))
    }

    /// Validates `bytes` as UTF-8 and wraps them without copying.
    #[inline]
    pub fn from_utf8(bytes: Bytes) -> Result<Self, NotUtf8> {
        check_utf8(&bytes)?;
        Ok(Text(bytes))
    }

    /// The part of `buf` that `s` borrows, shared: a `Text` without validating again (`s` is
    /// a `str` already). Panics if `s` does not lie within `buf`.
    pub(crate) fn shared_from(buf: &Bytes, s: &str) -> Self {
        Text(buf.slice_ref(s.as_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either validates the bytes as UTF-8 (`from_utf8`) or
        // takes them from a `str`/`String`, and `Text` never exposes mutable access.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The UTF-8 bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `bytes` are UTF-8: the one rule every decoded string is held to, whether it is
/// kept as a [`Text`] or only checked in place (a [`crate::wire::PublisherList`]).
#[inline]
pub(crate) fn check_utf8(bytes: &[u8]) -> Result<(), NotUtf8> {
    // Ids and addresses are nearly always ASCII, which `ascii` checks a word at a time; the
    // general validator walks short strings byte by byte (a decoded push validates one
    // register id per publisher, on every client connection).
    if ascii(bytes) {
        return Ok(());
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(NotUtf8 {
            valid_up_to: e.valid_up_to(),
        }),
    }
}

/// Whether every byte is ASCII: eight bytes at a time with no branch until the end. The
/// standard `is_ascii` goes byte by byte below 32 bytes or so, the length of most ids, and
/// this check runs for every publisher of every decoded push.
#[inline]
fn ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut high = 0u64;
    for w in &mut words {
        high |= u64::from_ne_bytes(w.try_into().unwrap_or([0xff; 8]));
    }
    for &b in words.remainder() {
        high |= u64::from(b);
    }
    high & 0x8080_8080_8080_8080 == 0
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_at_a_time_ascii_check_agrees_with_the_standard_one() {
        // Every length around the word size, with one high byte at every position.
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert!(ascii(&clean), "len {len}");
            for at in 0..len {
                let mut dirty = clean.clone();
                dirty[at] = 0x80;
                assert!(!ascii(&dirty), "len {len}, high byte at {at}");
            }
        }
        quickcheck::quickcheck((|b: Vec<u8>| ascii(&b) == b.is_ascii()) as fn(Vec<u8>) -> bool);
    }

    #[test]
    fn rejects_invalid_utf8_and_reports_where() {
        let err = Text::from_utf8(Bytes::from_static(b"ab\xffcd")).unwrap_err();
        assert_eq!(err.valid_up_to, 2);
    }

    #[test]
    fn shares_the_decoded_buffer() {
        let buf = Bytes::from_static(b"hello world");
        let t = Text::from_utf8(buf.slice(6..)).unwrap();
        assert_eq!(t, "world");
        assert_eq!(t.as_bytes().as_ptr(), buf[6..].as_ptr());
    }

    #[test]
    fn orders_like_str() {
        let mut v: Vec<Text> = ["b", "a\u{e9}", "a", "ab"]
            .into_iter()
            .map(Text::from)
            .collect();
        v.sort();
        let s: Vec<&str> = v.iter().map(|t| t.as_str()).collect();
        assert_eq!(s, ["a", "ab", "a\u{e9}", "b"]);
    }
}
