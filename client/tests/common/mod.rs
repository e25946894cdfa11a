//! A scripted session on a real socket: the tests decide what it answers to each request
//! and what it pushes, so a lost push or a re-query can be produced on demand.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use bytes::BytesMut;
use roster_core::model::{DataInfoId, DatumVersion, LeaderEpoch, Publisher, RegisterVersion, Text};
use roster_core::wire::{Ack, Frame, FrameDecoder, Message, PublisherList, Push};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(10);

/// What the session does with one request: its answer and the pushes that follow it.
pub struct Reply {
    pub answer: Option<Message>,
    pub pushes: Vec<Message>,
}

impl Reply {
    pub fn ack() -> Reply {
        Reply {
            answer: Some(Ack {}.into()),
            pushes: vec![],
        }
    }

    pub fn ack_then(pushes: Vec<Message>) -> Reply {
        Reply {
            answer: Some(Ack {}.into()),
            pushes,
        }
    }
}

/// A session serving one connection at a time (a reconnect is served too): `handle` decides
/// on each request (a client's `Ack`s of pushes are not shown to it). Every request goes to
/// the returned channel as well.
pub fn fake_session(
    mut handle: impl FnMut(&Message) -> Reply + Send + 'static,
) -> (String, mpsc::Receiver<Message>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut next_push = 1_000u64;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let decoder = FrameDecoder::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut chunk = [0u8; 4096];
            'conn: loop {
                while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                    if matches!(frame.message, Message::Ack(_) | Message::KeepAlive(_)) {
                        continue;
                    }
                    let reply = handle(&frame.message);
                    let _ = tx.send(frame.message);
                    let mut out = Vec::new();
                    if let Some(m) = reply.answer {
                        out.push(Frame::new(frame.request_id, m));
                    }
                    for m in reply.pushes {
                        next_push += 1;
                        out.push(Frame::new(next_push, m));
                    }
                    for f in out {
                        if stream.write_all(&f.to_bytes().unwrap()).is_err() {
                            break 'conn;
                        }
                    }
                }
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }
    });
    (addr, rx)
}

pub fn key(id: &str) -> DataInfoId {
    roster_client::parse_key(id).unwrap()
}

pub fn v(seq: u64) -> DatumVersion {
    DatumVersion::new(LeaderEpoch(1), seq)
}

/// The list of `payloads` (one publisher each).
pub fn list(payloads: &[&str]) -> PublisherList {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Publisher {
            register_id: Text::from(format!("pub-{i}")),
            version: RegisterVersion::new(1, 1),
            payload: std::iter::once(bytes::Bytes::copy_from_slice(p.as_bytes())).collect(),
            attributes: vec![],
        })
        .collect()
}

pub fn push(id: &str, seq: u64, payloads: &[&str]) -> Message {
    Push {
        data_info_id: key(id),
        version: v(seq),
        publishers: list(payloads),
    }
    .into()
}

/// The payloads of an update, as strings.
pub fn payloads(u: &roster_client::Update) -> Vec<String> {
    u.publishers()
        .iter()
        .flat_map(|p| {
            p.payload()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}
