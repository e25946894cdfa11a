//! Each way a byte stream can fail to be roster framing gives its own error, is detected
//! as early as the bytes allow, and changes nothing (mechanism: wire framing).

use bytes::{BufMut, Bytes, BytesMut};
use roster_core::model::{DataInfoId, Text};
use roster_core::wire::{
    Ack, BodyError, DEFAULT_MAX_FRAME_LEN, DecodeError, EncodeError, Frame, FrameDecoder,
    HEADER_LEN, KeepAlive, Message, MessageKind, Raft, Unknown, Unsubscribe,
};

fn header(kind: u8, body_len: u32, request_id: u64) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_slice(b"RS");
    b.put_u8(1);
    b.put_u8(kind);
    b.put_u32(body_len);
    b.put_u64(request_id);
    b
}

fn unsubscribe() -> Frame {
    Frame::new(
        9,
        Unsubscribe {
            data_info_id: DataInfoId::new("svc", "i", "g"),
            register_id: Text::from("sub-1"),
        },
    )
}

#[test]
fn a_length_over_the_maximum_is_refused_from_the_header_alone() {
    let max = DEFAULT_MAX_FRAME_LEN;
    let mut buf = header(0x03, (max - HEADER_LEN + 1) as u32, 0);
    // Only the first 8 bytes are needed to know.
    buf.truncate(8);
    let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            len: max as u64 + 1,
            max
        }
    );
    // Exactly the maximum is fine (the decoder waits for the body).
    let mut buf = header(0x50, (max - HEADER_LEN) as u32, 0);
    assert_eq!(FrameDecoder::default().decode(&mut buf), Ok(None));
    // A smaller configured limit applies.
    let mut buf = header(0x50, 100, 0);
    let err = FrameDecoder::new(64).decode(&mut buf).unwrap_err();
    assert_eq!(err, DecodeError::FrameTooLarge { len: 116, max: 64 });
}

#[test]
fn a_truncated_frame_waits_when_streaming_and_is_an_error_when_complete() {
    let bytes = unsubscribe().to_bytes().unwrap();
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            FrameDecoder::default().decode(&mut buf),
            Ok(None),
            "cut at {cut}"
        );
        assert_eq!(buf.len(), cut, "a partial frame is not consumed");
        let err = Frame::decode(bytes.slice(..cut)).unwrap_err();
        let needed = if cut < HEADER_LEN {
            HEADER_LEN
        } else {
            bytes.len()
        };
        assert_eq!(
            err,
            DecodeError::Truncated {
                needed,
                available: cut
            }
        );
    }
}

#[test]
fn an_unknown_kind_is_skipped_by_its_length_and_the_stream_goes_on() {
    for kind in [0x00, 0x06, 0x19, 0x2C, 0x36, 0x44, 0x51, 0xFF] {
        for request_id in [0, 9] {
            let mut buf = header(kind, 5, request_id);
            buf.put_slice(b"newer");
            Frame::new(3, Ack {})
                .encode(&mut buf, DEFAULT_MAX_FRAME_LEN)
                .unwrap();
            let decoder = FrameDecoder::default();
            let first = decoder.decode(&mut buf).unwrap().unwrap();
            assert_eq!(
                first,
                Frame::new(request_id, Message::Unknown(Unknown { kind }))
            );
            assert_eq!(first.message.kind(), MessageKind::Unknown);
            let second = decoder.decode(&mut buf).unwrap().unwrap();
            assert_eq!(second, Frame::new(3, Ack {}), "the next frame is intact");
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn an_unknown_kind_still_waits_for_its_whole_body_and_is_bounded() {
    let mut buf = header(0x77, 5, 0);
    buf.put_slice(b"new");
    assert_eq!(FrameDecoder::default().decode(&mut buf), Ok(None));
    let mut buf = header(0x77, u32::MAX, 0);
    assert!(matches!(
        FrameDecoder::default().decode(&mut buf),
        Err(DecodeError::FrameTooLarge { .. })
    ));
}

#[test]
fn garbage_bytes_are_refused_at_the_first_byte() {
    for garbage in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x00",
        b"R\x00",
        b"\x16\x03\x01\x02\x00",
    ] {
        let mut buf = BytesMut::from(garbage);
        let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, DecodeError::BadMagic { .. }),
            "{garbage:?}: {err:?}"
        );
        assert_eq!(&buf[..], garbage, "nothing consumed");
    }
}

#[test]
fn an_unsupported_version_is_refused() {
    let mut buf = header(0x01, 0, 0);
    buf[2] = 2;
    let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedVersion { version: 2 });
}

#[test]
fn the_four_failures_are_distinct_errors() {
    let too_large = Frame::decode(header(0x03, u32::MAX, 0).freeze()).unwrap_err();
    let truncated = Frame::decode(unsubscribe().to_bytes().unwrap().slice(..20)).unwrap_err();
    let mut other_version = header(0x01, 0, 0);
    other_version[2] = 9;
    let version = Frame::decode(other_version.freeze()).unwrap_err();
    let garbage = Frame::decode(Bytes::from_static(b"\xde\xad\xbe\xef")).unwrap_err();
    let variants: Vec<std::mem::Discriminant<DecodeError>> =
        [&too_large, &truncated, &version, &garbage]
            .into_iter()
            .map(std::mem::discriminant)
            .collect();
    for (i, a) in variants.iter().enumerate() {
        for b in &variants[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let messages: Vec<String> = [too_large, truncated, version, garbage]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(messages[0].contains("exceeds the maximum"));
    assert!(messages[1].contains("truncated"));
    assert!(messages[2].contains("unsupported frame version"));
    assert!(messages[3].contains("not a roster frame"));
}

#[test]
fn a_malformed_body_names_the_kind_and_offset() {
    // Unsubscribe whose first string claims 1000 bytes.
    let mut buf = header(0x14, 6, 1);
    buf.put_u32(1000);
    buf.put_slice(b"ab");
    let err = Frame::decode(buf.freeze()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Malformed {
            kind: "Unsubscribe",
            offset: 4,
            error: BodyError::UnexpectedEnd {
                needed: 1000,
                remaining: 2
            }
        }
    );
    // Bytes after a valid body are a newer peer's fields: skipped, not refused.
    let mut buf = header(0x01, 1, 1);
    buf.put_u8(0);
    assert_eq!(Frame::decode(buf.freeze()), Ok(Frame::new(1, Ack {})));
}

#[test]
fn an_error_mid_stream_keeps_the_frames_before_it() {
    let mut buf = BytesMut::new();
    Frame::new(1, Ack {})
        .encode(&mut buf, DEFAULT_MAX_FRAME_LEN)
        .unwrap();
    Frame::new(2, KeepAlive {})
        .encode(&mut buf, DEFAULT_MAX_FRAME_LEN)
        .unwrap();
    buf.put_slice(b"garbage");
    let d = FrameDecoder::default();
    assert_eq!(d.decode(&mut buf).unwrap().unwrap().request_id, 1);
    assert_eq!(d.decode(&mut buf).unwrap().unwrap().request_id, 2);
    assert!(matches!(
        d.decode(&mut buf),
        Err(DecodeError::BadMagic { .. })
    ));
    assert_eq!(&buf[..], b"garbage");
}

#[test]
fn encoding_refuses_a_frame_the_peer_would_refuse() {
    let frame = Frame::new(
        1,
        Raft {
            payload: Bytes::from(vec![0u8; 1000]),
        },
    );
    let mut buf = BytesMut::new();
    let err = frame.encode(&mut buf, 512).unwrap_err();
    assert_eq!(
        err,
        EncodeError::FrameTooLarge {
            len: 1020,
            max: 512
        }
    );
    assert!(buf.is_empty(), "nothing written");
}

#[test]
fn frame_len_is_known_from_a_whole_valid_header_only() {
    let bytes = unsubscribe().to_bytes().unwrap();
    let d = FrameDecoder::default();
    for cut in 0..HEADER_LEN {
        assert_eq!(d.frame_len(&bytes[..cut]), None, "header cut at {cut}");
    }
    assert_eq!(d.frame_len(&bytes[..HEADER_LEN]), Some(bytes.len()));
    assert_eq!(d.frame_len(&bytes), Some(bytes.len()));
    // Garbage and a frame over the limit have no length to size a buffer for.
    assert_eq!(d.frame_len(&[0xff; HEADER_LEN]), None);
    assert_eq!(FrameDecoder::new(8).frame_len(&bytes), None);
}
