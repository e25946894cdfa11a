//! The checks behind the fuzz targets (feature `arbitrary`). They live here, not in
//! `fuzz/`, so that the stable test suite replays the committed corpus through exactly the
//! code the fuzzers run, and the quickcheck properties share it too.
//!
//! Each function panics when the codec misbehaves; that panic is what a fuzzer reports.

use super::{Decode, DecodeError, Frame, FrameDecoder, PublisherList, Reader};
use crate::model::Publisher;
use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};

/// Arbitrary bytes: both decoding entry points must agree, never panic, and anything that
/// decodes must re-encode canonically (see [`check_reencoding`]).
pub fn check_decode(data: &[u8]) {
    let whole = Frame::decode(Bytes::copy_from_slice(data));
    let mut buf = BytesMut::from(data);
    let streamed = FrameDecoder::default().decode(&mut buf);
    match (&whole, &streamed) {
        (Ok(frame), Ok(Some(first))) => {
            assert_eq!(frame, first, "whole and streamed decoding disagree");
            check_reencoding(data, frame);
        }
        (Err(DecodeError::Truncated { .. }), Ok(None)) => {}
        (Err(DecodeError::TrailingBytes { .. }), Ok(Some(first))) => {
            let consumed = data.len() - buf.len();
            assert_eq!(first.encoded_len(), consumed);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "whole and streamed decoding fail differently"),
        (a, b) => panic!("whole decoding gave {a:?} but streamed decoding gave {b:?}"),
    }
    if let Err(e) = whole {
        // Every error renders a message for the log line that closes the connection.
        assert!(!e.to_string().is_empty());
    }
    // The same bytes as a bare list: the fuzzer steers both decoders at once.
    check_publisher_list(data);
}

/// `frame` was decoded from exactly the bytes `data`: encoding it gives the same header
/// (but for the body length) and bytes that decode to it again. Its body is the input's
/// body when that held exactly the fields this build knows; otherwise the two differ only
/// where a body may grow: the input's is longer by the unknown fields after the known ones
/// (skipped: the re-encoded body is a prefix of it), or shorter because it ended before
/// appended fields (which took their defaults: the input's body is a prefix of the
/// re-encoded one).
pub fn check_reencoding(data: &[u8], frame: &Frame) {
    let again = frame.to_bytes().expect("a decoded frame re-encodes");
    assert_eq!(
        Frame::decode(again.clone()).as_ref(),
        Ok(frame),
        "re-encoding does not decode to the same frame"
    );
    let header = super::HEADER_LEN;
    let (a, b) = (&again[..], data);
    assert_eq!(
        (&a[..4], &a[8..header]),
        (&b[..4], &b[8..header]),
        "header changed"
    );
    let (body_a, body_b) = (&a[header..], &b[header..]);
    if body_b.len() >= body_a.len() {
        assert_eq!(body_a, &body_b[..body_a.len()], "known fields changed");
    } else {
        assert_eq!(&body_a[..body_b.len()], body_b, "known fields changed");
    }
}

/// Arbitrary bytes read as a list of publishers: a [`PublisherList`] decodes exactly when a
/// `Vec<Publisher>` does, failing with the same error at the same offset, and then holds
/// the same publishers and re-encodes to the bytes it read.
pub fn check_publisher_list(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let (mut a, mut b) = (Reader::new(&bytes), Reader::new(&bytes));
    let owned = Vec::<Publisher>::decode(&mut a);
    let list = PublisherList::decode(&mut b);
    assert_eq!(a.position(), b.position(), "the decoders stopped apart");
    match (owned, list) {
        (Ok(owned), Ok(list)) => {
            assert_eq!(list.len(), owned.len());
            assert_eq!(list.to_vec(), owned, "the list holds other publishers");
            assert!(list.iter().zip(&owned).all(|(r, p)| r == *p));
            assert_eq!(&list.as_bytes()[..], &data[..b.position()]);
            assert_eq!(
                list,
                PublisherList::from(owned),
                "encoding is not canonical"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "the decoders fail differently"),
        (a, b) => panic!("Vec<Publisher> decoding gave {a:?} but PublisherList gave {b:?}"),
    }
}

/// A structured frame: encoding then decoding gives it back, and the encoded length is
/// what `encoded_len` promised.
pub fn check_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(frame) = Frame::arbitrary(&mut u) else {
        return;
    };
    roundtrip(&frame);
}

/// Encodes and decodes one frame, asserting it comes back unchanged.
pub fn roundtrip(frame: &Frame) {
    let bytes = frame
        .to_bytes()
        .expect("generated frames are far below the maximum");
    assert_eq!(bytes.len(), frame.encoded_len(), "encoded_len is wrong");
    let back = Frame::decode(bytes).expect("an encoded frame decodes");
    assert_eq!(&back, frame);
}

/// Frames fed to the streaming decoder in arbitrary chunks, optionally followed by garbage:
/// the same frames come out as when the whole stream is decoded at once, then the same error.
pub fn check_stream(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(frames), Ok(cuts), Ok(tail)) = (
        Vec::<Frame>::arbitrary(&mut u),
        Vec::<u16>::arbitrary(&mut u),
        <&[u8]>::arbitrary(&mut u),
    ) else {
        return;
    };
    stream(&frames, &cuts, tail);
}

/// Feeds `frames`, encoded back to back and followed by `tail`, to a decoder in chunks
/// whose sizes cycle through `cuts`, and checks the outcome equals decoding all at once.
pub fn stream(frames: &[Frame], cuts: &[u16], tail: &[u8]) {
    let mut wire = BytesMut::new();
    for f in frames {
        f.encode(&mut wire, usize::MAX).expect("no limit");
    }
    wire.extend_from_slice(tail);
    let wire = wire.freeze();

    let decoder = FrameDecoder::default();
    let all_at_once = drain(&decoder, &mut BytesMut::from(&wire[..]));

    let mut got = Vec::new();
    let mut error = None;
    let mut buf = BytesMut::new();
    let mut rest = &wire[..];
    let mut sizes = cuts.iter().map(|&c| usize::from(c).max(1)).cycle();
    while !rest.is_empty() && error.is_none() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let (mut more, err) = drain(&decoder, &mut buf);
        got.append(&mut more);
        error = err;
    }
    assert_eq!((got, error), all_at_once, "chunking changed the outcome");
    let (got, _) = all_at_once;
    assert!(got.len() >= frames.len(), "frames lost in the stream");
    assert_eq!(&got[..frames.len()], frames, "frames changed in the stream");
}

fn drain(decoder: &FrameDecoder, buf: &mut BytesMut) -> (Vec<Frame>, Option<DecodeError>) {
    let mut out = Vec::new();
    loop {
        match decoder.decode(buf) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}
