//! Keeps `docs/protocol.md` and the codec in agreement.
//!
//! Every ```` ```vector ```` block of the document is decoded here: a success vector must
//! decode to the frame this file expects under its name and that frame must encode back to
//! exactly the document's bytes; a `decode-only` vector (an older peer's body, or a newer
//! peer's, or a kind this build does not define) must decode to its expected frame, which
//! encodes to other bytes that decode to it again; an error vector must fail with the
//! `DecodeError` variant it names. The expected frames and the document's vectors must name the same set, and
//! every message kind must appear in a table row of the document with its kind byte.
//!
//! To add or regenerate a vector: add its frame to [`expected_frames`], then run
//! `cargo test -p roster-core --test protocol_doc -- --ignored --nocapture print_vectors`
//! and paste the output into the document (annotating fields with `#` lines).

use bytes::Bytes;
use roster_core::model::*;
use roster_core::wire::*;
use std::collections::BTreeSet;

/// One ```` ```vector ```` block of the document.
#[derive(Debug)]
struct Vector {
    name: String,
    error: Option<String>,
    /// Decoding gives the expected frame, but the encoder writes that frame otherwise.
    decode_only: bool,
    bytes: Vec<u8>,
}

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Parses every vector block: attributes `name=` (required) and `error=` on the opening
/// line, then lines of whitespace-separated hex bytes, `#` lines being comments.
fn vectors(doc: &str) -> Vec<Vector> {
    let mut out = Vec::new();
    let mut lines = doc.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    while let Some((start, line)) = lines.next() {
        let Some(attrs) = line.strip_prefix("```vector") else {
            continue;
        };
        let (mut name, mut error, mut decode_only) = (None, None, false);
        for attr in attrs.split_whitespace() {
            match attr.split_once('=') {
                Some(("name", v)) => name = Some(v.to_owned()),
                Some(("error", v)) => error = Some(v.to_owned()),
                None if attr == "decode-only" => decode_only = true,
                _ => panic!("line {start}: unknown vector attribute {attr:?}"),
            }
        }
        let name = name.unwrap_or_else(|| panic!("line {start}: vector without a name"));
        let mut bytes = Vec::new();
        loop {
            let (n, line) = lines
                .next()
                .unwrap_or_else(|| panic!("vector {name} (line {start}) is not closed"));
            if line == "```" {
                break;
            }
            if line.starts_with('#') {
                continue;
            }
            for tok in line.split_whitespace() {
                let byte = (tok.len() == 2)
                    .then(|| u8::from_str_radix(tok, 16).ok())
                    .flatten();
                bytes.push(byte.unwrap_or_else(|| panic!("line {n}: {tok:?} is not a hex byte")));
            }
        }
        out.push(Vector {
            name,
            error,
            decode_only,
            bytes,
        });
    }
    out
}

fn key() -> DataInfoId {
    DataInfoId::new("svc", "dev", "grp")
}

fn process(node: u64, incarnation: u64) -> ProcessId {
    ProcessId {
        node: NodeId(node),
        incarnation: Incarnation(incarnation),
    }
}

fn publisher(
    register_id: &str,
    (client_version, connect_generation): (u64, u64),
    payload: &[&'static str],
    attributes: &[(&str, &str)],
) -> Publisher {
    Publisher {
        register_id: Text::from(register_id),
        version: RegisterVersion::new(client_version, connect_generation),
        payload: payload
            .iter()
            .map(|p| Bytes::from_static(p.as_bytes()))
            .collect(),
        attributes: attributes
            .iter()
            .map(|&(key, value)| Attribute {
                key: key.into(),
                value: value.into(),
            })
            .collect(),
    }
}

/// The frame every success vector of the document must decode to, by vector name.
fn expected_frames() -> Vec<(&'static str, Frame)> {
    let p1 = publisher("r1", (1, 2), &["10.0.0.9:80"], &[("zone", "a")]);
    let p2 = publisher("r2", (3, 1), &["10.0.0.8:80"], &[]);
    vec![
        ("ack", Frame::new(7, Ack {})),
        ("keep-alive", Frame::new(0, KeepAlive {})),
        (
            "error-reply",
            Frame::new(
                9,
                ErrorReply {
                    code: ErrorCode::NotReady,
                    message: "no table".into(),
                },
            ),
        ),
        (
            "peer-hello",
            Frame::new(
                0,
                PeerHello {
                    role: Role::Session,
                    process: process(3, 0xABCD),
                    address: "10.0.0.3:9600".into(),
                    version: 2,
                    features: Features::NONE,
                },
            ),
        ),
        (
            "peer-hello-v1",
            Frame::new(
                1,
                PeerHello {
                    role: Role::Session,
                    process: process(3, 0xABCD),
                    address: "10.0.0.3:9600".into(),
                    version: 1,
                    features: Features::NONE,
                },
            ),
        ),
        (
            "peer-welcome",
            Frame::new(
                0,
                PeerWelcome {
                    version: 2,
                    features: Features::NONE,
                    role: Role::Data,
                    process: process(2, 0xBEEF),
                },
            ),
        ),
        (
            "client-hello",
            Frame::new(
                1,
                ClientHello {
                    client_id: "app-1".into(),
                    connect_generation: 2,
                    version: 2,
                    features: Features::SUPPORTED,
                    token: Token::NONE,
                },
            ),
        ),
        (
            "client-hello-v1",
            Frame::new(
                1,
                ClientHello {
                    client_id: "app-1".into(),
                    connect_generation: 2,
                    version: 1,
                    features: Features::NONE,
                    token: Token::NONE,
                },
            ),
        ),
        (
            "client-welcome",
            Frame::new(
                1,
                ClientWelcome {
                    version: 2,
                    features: Features::NONE,
                    session: process(3, 0xABCD),
                },
            ),
        ),
        (
            "redirect",
            Frame::new(
                0,
                Redirect {
                    reason: "draining".into(),
                },
            ),
        ),
        (
            "error-reply-unsupported-version",
            Frame::new(
                1,
                ErrorReply {
                    code: ErrorCode::Unsupported,
                    message: "version 0".into(),
                },
            ),
        ),
        ("ack-with-appended-field", Frame::new(7, Ack {})),
        (
            "unsubscribe-with-appended-field",
            Frame::new(
                8,
                Unsubscribe {
                    data_info_id: key(),
                    register_id: "s2".into(),
                },
            ),
        ),
        (
            "unknown-one-way",
            Frame::new(0, Message::Unknown(Unknown { kind: 0x60 })),
        ),
        (
            "unknown-request",
            Frame::new(12, Message::Unknown(Unknown { kind: 0x61 })),
        ),
        (
            "publish",
            Frame::new(
                2,
                Publish {
                    data_info_id: key(),
                    publisher: p1.clone(),
                },
            ),
        ),
        (
            "subscribe-known",
            Frame::new(
                3,
                Subscribe {
                    data_info_id: key(),
                    register_id: "s1".into(),
                    known: Some(DatumVersion::new(LeaderEpoch(4), 17)),
                },
            ),
        ),
        (
            "subscribe-new",
            Frame::new(
                4,
                Subscribe {
                    data_info_id: key(),
                    register_id: "s2".into(),
                    known: None,
                },
            ),
        ),
        (
            "push",
            Frame::new(
                5,
                Push {
                    data_info_id: key(),
                    version: DatumVersion::new(LeaderEpoch(4), 18),
                    publishers: vec![p1.clone(), p2.clone()].into(),
                },
            ),
        ),
        (
            // r1 unchanged, r2 replaced by version (3, 1), r3 removed: the list [r1, r2].
            "push-delta",
            Frame::new(
                6,
                PushDelta {
                    data_info_id: key(),
                    base: DatumVersion::new(LeaderEpoch(4), 17),
                    version: DatumVersion::new(LeaderEpoch(4), 18),
                    digest: Digest {
                        count: 2,
                        hash: 0xe7a5_a6e3_8713_b183,
                    },
                    upserts: vec![p2.clone()].into(),
                    removed: vec!["r3".into()],
                },
            ),
        ),
        (
            "write-batch",
            Frame::new(
                6,
                WriteBatch {
                    route: SlotRoute {
                        slot: SlotId(42),
                        table_epoch: TableEpoch(7),
                        leader_epoch: LeaderEpoch(4),
                    },
                    ops: vec![
                        WriteOp::Put {
                            data_info_id: key(),
                            publisher: p1,
                        },
                        WriteOp::Remove {
                            data_info_id: key(),
                            register_id: "r2".into(),
                            version: RegisterVersion::new(4, 1),
                        },
                    ],
                },
            ),
        ),
        (
            "refused-moved",
            Frame::new(
                6,
                Refused {
                    slot: SlotId(42),
                    refusal: SlotRefusal::Moved {
                        table_epoch: TableEpoch(8),
                        leader: Some(process(5, 0x1234)),
                    },
                },
            ),
        ),
        (
            "heartbeat",
            Frame::new(
                10,
                Heartbeat {
                    process: process(2, 0xBEEF),
                    role: Role::Data,
                    address: "10.0.0.2:9600".into(),
                    table_epoch: TableEpoch(8),
                    members_version: 3,
                    slots: vec![
                        SlotStatus {
                            slot: SlotId(0),
                            leader_epoch: LeaderEpoch(4),
                            state: SlotState::Leader {
                                reconciled: true,
                                log_end: 100,
                            },
                        },
                        SlotStatus {
                            slot: SlotId(1),
                            leader_epoch: LeaderEpoch(2),
                            state: SlotState::Follower {
                                applied: 50,
                                caught_up: false,
                            },
                        },
                    ],
                    switches_version: 2,
                },
            ),
        ),
        (
            "cluster-view",
            Frame::new(
                10,
                ClusterView {
                    members_version: 3,
                    members: vec![Member {
                        process: process(2, 0xBEEF),
                        role: Role::Data,
                        address: "10.0.0.2:9600".into(),
                    }],
                    table: SlotTableView {
                        epoch: TableEpoch(8),
                        slots: vec![
                            SlotAssignment {
                                leader: Some(process(2, 0xBEEF)),
                                leader_epoch: LeaderEpoch(4),
                                followers: vec![process(5, 0x1234)],
                            },
                            SlotAssignment {
                                leader: None,
                                leader_epoch: LeaderEpoch(0),
                                followers: vec![],
                            },
                        ],
                    },
                    switches: Switches {
                        version: 2,
                        pushes_stopped: false,
                        push_stopped_data_ids: BTreeSet::new(),
                        clients_off: BTreeSet::from([Text::from("10.0.0.7")]),
                        blacklisted_data_ids: BTreeSet::from([Text::from("bad.svc")]),
                    },
                    draining: vec![NodeId(3)],
                },
            ),
        ),
        (
            "raft",
            Frame::new(
                0,
                Raft {
                    payload: Bytes::from_static(&[0x08, 0x03, 0x10, 0x01]),
                },
            ),
        ),
    ]
}

fn expected(name: &str) -> Option<Frame> {
    expected_frames()
        .into_iter()
        .find_map(|(n, frame)| (n == name).then_some(frame))
}

/// The `BodyError` variant each `error=Malformed` vector must produce.
fn expected_body_error(name: &str) -> Option<&'static str> {
    Some(match name {
        "malformed-partial-appended-field" => "UnexpectedEnd",
        "malformed-utf8" => "InvalidUtf8",
        "malformed-tag" => "InvalidTag",
        "malformed-count" => "CountTooLarge",
        "malformed-short-field" => "UnexpectedEnd",
        _ => return None,
    })
}

fn error_name(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::BadMagic { .. } => "BadMagic",
        DecodeError::UnsupportedVersion { .. } => "UnsupportedVersion",
        DecodeError::FrameTooLarge { .. } => "FrameTooLarge",
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::TrailingBytes { .. } => "TrailingBytes",
        DecodeError::Malformed { .. } => "Malformed",
    }
}

fn body_error_name(e: &BodyError) -> &'static str {
    match e {
        BodyError::UnexpectedEnd { .. } => "UnexpectedEnd",
        BodyError::CountTooLarge { .. } => "CountTooLarge",
        BodyError::InvalidUtf8 { .. } => "InvalidUtf8",
        BodyError::InvalidTag { .. } => "InvalidTag",
        BodyError::TrailingBytes { .. } => "TrailingBytes",
    }
}

#[test]
fn success_vectors_decode_and_encode_exactly() {
    for v in vectors(&doc()).iter().filter(|v| v.error.is_none()) {
        let frame = expected(&v.name)
            .unwrap_or_else(|| panic!("vector {}: no expected frame in this test", v.name));
        let decoded = Frame::decode(Bytes::from(v.bytes.clone()));
        assert_eq!(decoded, Ok(frame.clone()), "vector {}: decode", v.name);
        let encoded = frame.to_bytes().expect("encodes");
        if v.decode_only {
            assert_ne!(
                encoded,
                &v.bytes[..],
                "vector {}: the encoder writes exactly these bytes; drop `decode-only`",
                v.name
            );
            assert_eq!(
                Frame::decode(encoded),
                Ok(frame),
                "vector {}: the encoder's form decodes otherwise",
                v.name
            );
        } else {
            assert_eq!(encoded, &v.bytes[..], "vector {}: encode", v.name);
        }
    }
}

/// The document's hello vectors are what this build's nodes send: version and features of
/// [`negotiate`], and the version 1 forms decode as version 1 with no features.
#[test]
fn hello_vectors_carry_this_builds_version_and_old_ones_the_defaults() {
    let find = |name: &str| {
        let v = vectors(&doc())
            .into_iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no vector {name}"));
        Frame::decode(Bytes::from(v.bytes)).unwrap().message
    };
    let Message::ClientHello(new) = find("client-hello") else {
        panic!("client-hello is not a ClientHello")
    };
    assert_eq!(
        new,
        ClientHello::new("app-1".into(), 2),
        "the doc's hello is this build's"
    );
    let Message::PeerHello(new) = find("peer-hello") else {
        panic!("peer-hello is not a PeerHello")
    };
    assert_eq!(
        new,
        PeerHello::new(Role::Session, process(3, 0xABCD), "10.0.0.3:9600".into())
    );
    for name in ["client-hello-v1", "peer-hello-v1"] {
        let (version, features) = match find(name) {
            Message::ClientHello(h) => (h.version, h.features),
            Message::PeerHello(h) => (h.version, h.features),
            other => panic!("{name} decodes as {other:?}"),
        };
        assert_eq!(
            (version, features),
            (negotiate::UNVERSIONED, Features::NONE)
        );
        let agreed = negotiate::negotiate(version, features).unwrap();
        assert!(
            !agreed.welcomes(),
            "{name}: a version 1 hello gets no welcome"
        );
    }
}

#[test]
fn error_vectors_fail_as_documented() {
    for v in vectors(&doc()) {
        let Some(want) = &v.error else { continue };
        let err = match Frame::decode(Bytes::from(v.bytes.clone())) {
            Ok(frame) => panic!("vector {}: decoded as {frame:?}", v.name),
            Err(e) => e,
        };
        assert_eq!(error_name(&err), want, "vector {}: {err}", v.name);
        if let DecodeError::Malformed { error, .. } = &err {
            let body = expected_body_error(&v.name)
                .unwrap_or_else(|| panic!("vector {}: add its BodyError to this test", v.name));
            assert_eq!(body_error_name(error), body, "vector {}: {err}", v.name);
        }
    }
}

#[test]
fn doc_and_table_name_the_same_vectors() {
    let doc = vectors(&doc());
    let mut names = BTreeSet::new();
    for v in &doc {
        assert!(
            names.insert(&v.name),
            "vector name {} is used twice",
            v.name
        );
    }
    let documented: BTreeSet<&str> = doc
        .iter()
        .filter(|v| v.error.is_none())
        .map(|v| v.name.as_str())
        .collect();
    let table: BTreeSet<&str> = expected_frames().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        documented, table,
        "success vectors in the doc vs expected_frames()"
    );
    assert!(
        documented.len() >= 12,
        "only {} success vectors",
        documented.len()
    );
    let errors = doc.iter().filter(|v| v.error.is_some()).count();
    assert!(errors >= 6, "only {errors} error vectors");
}

#[test]
fn every_message_kind_is_documented_with_its_byte() {
    let doc = doc();
    for &kind in MessageKind::ALL {
        let (name, byte) = (
            format!("`{}`", kind.name()),
            format!("`0x{:02X}`", kind as u8),
        );
        assert!(
            doc.lines()
                .any(|l| l.trim_start().starts_with('|') && l.contains(&name) && l.contains(&byte)),
            "no table row of docs/protocol.md mentions {name} with {byte}"
        );
    }
}

/// Prints every expected frame in the document's vector format (header and body on
/// separate lines); the way to produce the bytes of a new or changed vector.
#[test]
#[ignore = "prints vectors for docs/protocol.md"]
fn print_vectors() {
    for (name, frame) in expected_frames() {
        let bytes = frame.to_bytes().expect("encodes");
        let hex = |b: &[u8]| {
            b.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "```vector name={name}\n# header\n{}",
            hex(&bytes[..HEADER_LEN])
        );
        if bytes.len() > HEADER_LEN {
            println!("# body");
            for line in bytes[HEADER_LEN..].chunks(16) {
                println!("{}", hex(line));
            }
        }
        println!("```\n");
    }
}

/// The `push-delta` vector's digest is the section 7 digest of the list it leads to, and
/// applying it to the list at its base gives exactly the `push` vector's list.
#[test]
fn the_push_delta_vector_leads_to_the_push_vectors_list() {
    let frames = expected_frames();
    let by_name = |name| {
        frames
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.message.clone())
            .unwrap()
    };
    let (Message::PushDelta(d), Message::Push(full)) = (by_name("push-delta"), by_name("push"))
    else {
        panic!("vectors of the wrong kinds")
    };
    assert_eq!(d.digest, Digest::of_list(&full.publishers));
    let r3 = publisher("r3", (5, 1), &[], &[]);
    let mut base = full.publishers.to_vec();
    base[1].version = RegisterVersion::new(2, 1);
    base.push(r3);
    let change = roster_core::delta::ListDelta {
        upserts: d.upserts,
        removed: d.removed,
    };
    let base = base.into();
    let base_digest = roster_core::wire::Digest::of_list(&base);
    let built = roster_core::delta::apply(&base, base_digest, &change, d.digest);
    assert_eq!(built, Some(full.publishers));
}
