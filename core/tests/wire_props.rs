//! Quickcheck properties of the codec (mechanism: wire codec).
//!
//! Frames are generated through the same `Generate` trait the fuzzers use, from random
//! bytes quickcheck provides, so every message kind is covered without per-type code.

use arbitrary::{Arbitrary as _, Unstructured};
use bytes::{Bytes, BytesMut};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use roster_core::model::Publisher;
use roster_core::wire::generate::Generate;
use roster_core::wire::{Encode, Frame, FrameDecoder, MessageKind, PublisherList, fuzzing};
use std::collections::BTreeSet;

/// Enough cases that every one of the ~35 message kinds is generated many times.
const CASES: u64 = 2_000;

#[derive(Debug, Clone)]
struct AnyFrame(Frame);

impl Arbitrary for AnyFrame {
    fn arbitrary(g: &mut Gen) -> Self {
        loop {
            let len = <usize as Arbitrary>::arbitrary(g) % 2048;
            let seed: Vec<u8> = (0..len).map(|_| <u8 as Arbitrary>::arbitrary(g)).collect();
            if let Ok(frame) = Frame::arbitrary(&mut Unstructured::new(&seed)) {
                return AnyFrame(frame);
            }
        }
    }
}

fn qc() -> QuickCheck {
    QuickCheck::new()
        .tests(CASES)
        .max_tests(CASES * 10)
        .rng(Gen::new(64))
}

#[test]
fn any_message_encodes_and_decodes_to_itself() {
    fn prop(f: AnyFrame) -> bool {
        fuzzing::roundtrip(&f.0);
        true
    }
    qc().quickcheck(prop as fn(AnyFrame) -> bool);
}

#[test]
fn generated_frames_cover_every_message_kind() {
    // Guards the property above against a generator that silently skips kinds.
    let mut g = Gen::new(64);
    let kinds: BTreeSet<MessageKind> = (0..5_000)
        .map(|_| AnyFrame::arbitrary(&mut g).0.message.kind())
        .collect();
    let missing: Vec<_> = MessageKind::ALL
        .iter()
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

#[test]
fn arbitrary_bytes_never_panic_the_decoder() {
    fn prop(bytes: Vec<u8>) -> bool {
        fuzzing::check_decode(&bytes);
        true
    }
    qc().quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn corrupted_frames_never_panic_and_never_decode_to_something_else_silently() {
    // Random bytes rarely get past the magic; corrupting real frames reaches the body decoders.
    fn prop(f: AnyFrame, at: usize, xor: u8) -> TestResult {
        let mut bytes = BytesMut::from(&f.0.to_bytes().unwrap()[..]);
        if xor == 0 {
            return TestResult::discard();
        }
        let i = at % bytes.len();
        bytes[i] ^= xor;
        fuzzing::check_decode(&bytes);
        TestResult::passed()
    }
    qc().quickcheck(prop as fn(AnyFrame, usize, u8) -> TestResult);
}

#[test]
fn a_stream_split_at_arbitrary_points_decodes_to_the_same_frames() {
    fn prop(frames: Vec<AnyFrame>, cuts: Vec<u16>) -> bool {
        let frames: Vec<Frame> = frames.into_iter().take(8).map(|f| f.0).collect();
        fuzzing::stream(&frames, &cuts, &[]);
        true
    }
    QuickCheck::new()
        .tests(500)
        .rng(Gen::new(16))
        .quickcheck(prop as fn(Vec<AnyFrame>, Vec<u16>) -> bool);
}

#[test]
fn byte_at_a_time_yields_each_frame_exactly_when_its_last_byte_arrives() {
    let mut g = Gen::new(64);
    let frames: Vec<Frame> = (0..50).map(|_| AnyFrame::arbitrary(&mut g).0).collect();
    let wire: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.to_bytes().unwrap().to_vec())
        .collect();
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut ends = Vec::new();
    for (i, b) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*b]);
        while let Some(f) = decoder.decode(&mut buf).unwrap() {
            got.push(f);
            ends.push(i + 1);
        }
    }
    let expected_ends: Vec<usize> = frames
        .iter()
        .scan(0, |end, f| {
            *end += f.encoded_len();
            Some(*end)
        })
        .collect();
    assert_eq!(got, frames);
    assert_eq!(ends, expected_ends);
    assert!(buf.is_empty());
}

#[test]
fn decoded_payloads_share_the_input_buffer() {
    let mut g = Gen::new(64);
    let frame = loop {
        let f = AnyFrame::arbitrary(&mut g).0;
        if let roster_core::wire::Message::Raft(r) = &f.message {
            if r.payload.len() > 8 {
                break f;
            }
        }
    };
    let bytes: Bytes = frame.to_bytes().unwrap();
    let decoded = Frame::decode(bytes.clone()).unwrap();
    let roster_core::wire::Message::Raft(r) = decoded.message else {
        unreachable!()
    };
    let range = bytes.as_ptr_range();
    assert!(range.contains(&r.payload.as_ptr()), "payload was copied");
}

/// Publishers generated as the fuzzers generate them.
#[derive(Debug, Clone)]
struct AnyPublishers(Vec<Publisher>);

impl Arbitrary for AnyPublishers {
    fn arbitrary(g: &mut Gen) -> Self {
        let len = <usize as Arbitrary>::arbitrary(g) % 2048;
        let seed: Vec<u8> = (0..len).map(|_| <u8 as Arbitrary>::arbitrary(g)).collect();
        let v = Vec::<Publisher>::generate(&mut Unstructured::new(&seed)).unwrap_or_default();
        AnyPublishers(v)
    }
}

#[test]
fn a_publisher_list_holds_the_publishers_it_was_built_from() {
    fn prop(p: AnyPublishers) -> bool {
        let list = PublisherList::from_publishers(&p.0);
        let mut vec_bytes = BytesMut::new();
        p.0.encode(&mut vec_bytes);
        assert_eq!(list.as_bytes()[..], vec_bytes[..], "not the Vec's encoding");
        assert_eq!(list.to_vec(), p.0);
        assert_eq!(list, p.0.iter().cloned().collect::<PublisherList>());
        fuzzing::check_publisher_list(&vec_bytes);
        true
    }
    qc().quickcheck(prop as fn(AnyPublishers) -> bool);
}

#[test]
fn a_publisher_list_decodes_exactly_when_a_vec_of_publishers_does() {
    // Arbitrary bytes almost never get past the count; corrupting or cutting an encoded
    // list reaches every field's check.
    fn prop(p: AnyPublishers, bytes: Vec<u8>, at: usize, xor: u8, cut: usize) -> bool {
        fuzzing::check_publisher_list(&bytes);
        let mut encoded = BytesMut::new();
        p.0.encode(&mut encoded);
        let i = at % encoded.len();
        encoded[i] ^= xor;
        fuzzing::check_publisher_list(&encoded);
        fuzzing::check_publisher_list(&encoded[..cut % (encoded.len() + 1)]);
        true
    }
    qc().quickcheck(prop as fn(AnyPublishers, Vec<u8>, usize, u8, usize) -> bool);
}

/// A newer peer's body: the encoding of any message with bytes appended after its last
/// field decodes to that same message (the bytes are skipped), and so does the stream
/// decoder, which then reads the next frame intact.
#[test]
fn any_message_with_fields_appended_decodes_to_the_message_it_extends() {
    fn prop(f: AnyFrame, extra: Vec<u8>) -> TestResult {
        if extra.is_empty() {
            return TestResult::discard();
        }
        let bytes = f.0.to_bytes().expect("small");
        let mut longer = BytesMut::from(&bytes[..]);
        let body_len = u32::from_be_bytes(longer[4..8].try_into().unwrap());
        let new_len = body_len + extra.len() as u32;
        longer[4..8].copy_from_slice(&new_len.to_be_bytes());
        longer.extend_from_slice(&extra);
        let one = Frame::decode(longer.clone().freeze());
        assert_eq!(one.as_ref(), Ok(&f.0), "appended {extra:?}");
        fuzzing::check_reencoding(&longer, &f.0);
        longer.extend_from_slice(&bytes);
        let decoder = FrameDecoder::default();
        assert_eq!(decoder.decode(&mut longer), Ok(Some(f.0.clone())));
        assert_eq!(decoder.decode(&mut longer), Ok(Some(f.0)), "the next frame");
        TestResult::from_bool(longer.is_empty())
    }
    qc().quickcheck(prop as fn(AnyFrame, Vec<u8>) -> TestResult);
}
