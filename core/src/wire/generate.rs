//! Structured generation of wire values from unstructured bytes (feature `arbitrary`).
//!
//! The fuzz targets and the quickcheck properties both build messages through this one
//! trait, so a message type added with the wire macros is fuzzed and property-tested without
//! further code. A trait of our own (instead of `arbitrary::Arbitrary` directly) lets us
//! cover `bytes::Bytes`, which we do not own.

use super::PublisherList;
use crate::model::{Publisher, Text};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

/// Longest sequence a generator produces: long enough to exercise counts and paging,
/// short enough that fuzz inputs stay small.
const MAX_GENERATED_LEN: usize = 24;

/// Builds a value from fuzzer- or RNG-provided bytes.
pub trait Generate: Sized {
    /// One value; running out of input yields small values, never an error.
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self>;
}

macro_rules! generate_via_arbitrary {
    ($($t:ty),*) => {$(
        impl Generate for $t {
            fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
                <$t as Arbitrary>::arbitrary(u)
            }
        }
    )*};
}
generate_via_arbitrary!(u8, u16, u32, u64, bool);

impl Generate for Bytes {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let s: &[u8] = u.arbitrary()?;
        Ok(Bytes::copy_from_slice(s))
    }
}

impl Generate for Text {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let s: &str = u.arbitrary()?;
        Ok(Text::from(s))
    }
}

impl<T: Generate> Generate for Vec<T> {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=MAX_GENERATED_LEN)?;
        (0..n).map(|_| T::generate(u)).collect()
    }
}

impl<A: smallvec::Array> Generate for smallvec::SmallVec<A>
where
    A::Item: Generate,
{
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        Vec::<A::Item>::generate(u).map(Self::from_vec)
    }
}

impl Generate for PublisherList {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        Vec::<Publisher>::generate(u).map(PublisherList::from)
    }
}

impl<T: Generate + Ord> Generate for std::collections::BTreeSet<T> {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        Vec::<T>::generate(u).map(|v| v.into_iter().collect())
    }
}

impl<T: Generate> Generate for Option<T> {
    fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        if u.arbitrary()? {
            T::generate(u).map(Some)
        } else {
            Ok(None)
        }
    }
}
