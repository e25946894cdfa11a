//! Decodes and drops one `Push` of 1,000 publishers shaped like the cluster bench's (a
//! 36-byte register id, one `ip:port` payload, no attributes) `ROSTER_ITERS` times (default 1).
//! With `ROSTER_READ=1` it also reads every publisher's register id, version and payload
//! from each decoded list, as a subscriber would.
//! Made for instruction counts: run it under `valgrind --tool=callgrind` with two iteration
//! counts and divide the difference by the extra publishers decoded.

use bytes::BytesMut;
use roster_core::model::{DataInfoId, DatumVersion, LeaderEpoch, RegisterVersion};
use roster_core::testkit;
use roster_core::wire::{Frame, FrameDecoder, Message, Push};
use std::hint::black_box;

const PUBLISHERS: u64 = 1_000;

fn main() {
    let iters: usize = std::env::var("ROSTER_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let read = std::env::var("ROSTER_READ").is_ok_and(|v| v == "1");
    let publishers = (0..PUBLISHERS)
        .map(|i| {
            testkit::publisher(
                format!("{i:08x}-6a1f-4c1e-9b7d-3f0e2c5a8b90"),
                RegisterVersion::new(i + 1, 3),
                format!("10.0.{}.{}:80", i / 256, i % 256),
            )
        })
        .collect();
    let frame = Frame::new(
        7,
        Push {
            data_info_id: DataInfoId::new("bench.Service", "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP"),
            version: DatumVersion::new(LeaderEpoch(4), 123_456),
            publishers,
        },
    );
    let encoded = frame.to_bytes().expect("fits");
    println!(
        "frame: {} bytes, {PUBLISHERS} publishers, {iters} decodes",
        encoded.len()
    );
    let decoder = FrameDecoder::default();
    for _ in 0..iters {
        // A fresh buffer per decode, as a connection's read buffer would be.
        let mut buf = BytesMut::from(&encoded[..]);
        let decoded = decoder.decode(&mut buf).expect("valid").expect("complete");
        if read && let Message::Push(push) = &decoded.message {
            for p in &push.publishers {
                black_box((p.register_id(), p.version(), p.payload().next()));
            }
        }
        drop(black_box(decoded));
    }
}
