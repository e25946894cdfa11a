//! Codec throughput: encode and decode of (a) a push of a datum with 100 publishers of 100
//! payload bytes each and (b) a data node's heartbeat, each beside a `memcpy` of the same
//! number of bytes. Criterion reports bytes per second; messages per second is the inverse
//! of the time per iteration (one message per iteration).

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roster_core::model::{
    DataInfoId, DatumVersion, Incarnation, LeaderEpoch, NodeId, ProcessId, Publisher,
    RegisterVersion, Role, SlotId, TableEpoch, Text,
};
use roster_core::wire::{
    DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Heartbeat, Push, SlotState, SlotStatus,
};
use std::hint::black_box;

fn push_frame() -> Frame {
    let publishers = (0..100u64)
        .map(|i| Publisher {
            register_id: Text::from(format!("{i:08x}-6a1f-4c1e-9b7d-3f0e2c5a8b90")),
            version: RegisterVersion::new(i + 1, 3),
            payload: smallvec::smallvec![Bytes::from(vec![b'x'; 100])],
            attributes: Vec::new(),
        })
        .collect();
    Frame::new(
        7,
        Push {
            data_info_id: DataInfoId::new(
                "com.example.OrderService:1.0.0",
                "DEFAULT_INSTANCE_ID",
                "DEFAULT_GROUP",
            ),
            version: DatumVersion::new(LeaderEpoch(4), 123_456),
            publishers,
        },
    )
}

/// A data node of a three-node cluster with 256 slots and two replicas holds about 170.
fn heartbeat_frame() -> Frame {
    let slots = (0..170u16)
        .map(|s| SlotStatus {
            slot: SlotId(s),
            leader_epoch: LeaderEpoch(9),
            state: if s % 2 == 0 {
                SlotState::Leader {
                    reconciled: true,
                    log_end: 10_000 + u64::from(s),
                }
            } else {
                SlotState::Follower {
                    applied: 9_000,
                    caught_up: true,
                }
            },
        })
        .collect();
    Frame::new(
        8,
        Heartbeat {
            process: ProcessId {
                node: NodeId(2),
                incarnation: Incarnation(0x5eed),
            },
            role: Role::Data,
            address: Text::from("10.0.0.2:9602"),
            table_epoch: TableEpoch(42),
            members_version: 17,
            slots,
            switches_version: 3,
        },
    )
}

fn bench_frame(c: &mut Criterion, name: &str, frame: &Frame) {
    let encoded = frame.to_bytes().expect("bench frame fits");
    let len = encoded.len();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(len as u64));

    let mut out = BytesMut::with_capacity(len);
    group.bench_function(BenchmarkId::new("encode", len), |b| {
        b.iter(|| {
            out.clear();
            black_box(frame)
                .encode(&mut out, DEFAULT_MAX_FRAME_LEN)
                .expect("fits");
            black_box(out.len())
        })
    });

    let decoder = FrameDecoder::default();
    group.bench_function(BenchmarkId::new("decode", len), |b| {
        b.iter_batched_ref(
            || BytesMut::from(&encoded[..]),
            |buf| black_box(decoder.decode(buf).expect("valid").expect("complete")),
            criterion::BatchSize::SmallInput,
        )
    });

    let mut dst = vec![0u8; len];
    group.bench_function(BenchmarkId::new("memcpy", len), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&encoded[..]));
            black_box(dst[len - 1])
        })
    });
    group.finish();
}

fn wire(c: &mut Criterion) {
    bench_frame(c, "push_100x100B", &push_frame());
    bench_frame(c, "heartbeat_170_slots", &heartbeat_frame());
}

criterion_group!(benches, wire);
criterion_main!(benches);
