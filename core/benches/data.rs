//! Data node benchmarks (issue 3), each driving a real `DataNode` through its `Node`
//! surface with decoded frames (the codec itself is measured by the `wire` bench):
//!
//! 1. `data/write_batch_1000`: a leader applies a `WriteBatch` of 1,000 publisher puts
//!    (each replaces an older version: digests, tombstone check, op-log append, change
//!    notification included). Goal: ≥ 1 M publishers/s on one core.
//! 2. memory per stored publisher: 1 M publishers with a 100-byte payload (10,000 keys ×
//!    100 publishers, 36-byte register ids) stored through write batches, op-log included,
//!    measured by a counting global allocator and printed. Goal: < 400 bytes beyond payload.
//! 3. `data/reconcile_10k_matching`: one periodic reconciliation round of a slot of 10,000
//!    publishers (1,000 keys × 10) with a session whose digests all match: the tick that
//!    sends `ReconcileQuery` plus the handling of `ReconcileDigests`. Goal: < 1 ms.

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use roster_core::data::{DataConfig, DataNode};
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::model::{
    DataInfoId, Incarnation, LeaderEpoch, NodeId, ProcessId, Publisher, RegisterVersion, Role,
    SlotId, TableEpoch, Text,
};
use roster_core::slot::SlotCount;
use roster_core::time::Instant;
use roster_core::wire::{
    ClusterView, Digest, Frame, IdDigest, Member, Message, PeerHello, ReconcileDigests,
    SlotAssignment, SlotRoute, SlotTableView, WriteBatch, WriteOp,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts the bytes currently allocated.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ME: ProcessId = ProcessId {
    node: NodeId(1),
    incarnation: Incarnation(1),
};
const OTHER: ProcessId = ProcessId {
    node: NodeId(2),
    incarnation: Incarnation(1),
};
const SESSION: ProcessId = ProcessId {
    node: NodeId(50),
    incarnation: Incarnation(1),
};
const S: ConnId = ConnId(7);
const EPOCH: LeaderEpoch = LeaderEpoch(1);

fn drain(node: &mut DataNode) -> Vec<Output<roster_core::data::DataEvent>> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// A leader of the slots in `led` (the others led by another process), with one session
/// connected on `S`; `session_member` puts that session in the membership.
fn leader(led: impl Fn(u16) -> bool, session_member: bool) -> DataNode {
    let now = Instant::ZERO;
    let mut cfg = DataConfig::new(ME, "d1:1", vec![Text::from("m:1")]);
    cfg.reconcile_interval = Duration::from_secs(5);
    let mut node = DataNode::new(cfg, now).unwrap();
    node.handle_timeout(now);
    let meta = drain(&mut node)
        .into_iter()
        .find_map(|o| match o {
            Output::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    node.handle_input(now, Input::Connected { conn: meta });
    node.handle_input(now, Input::Accepted { conn: S });
    let hello = PeerHello {
        role: Role::Session,
        process: SESSION,
        address: Text::from("s:1"),
        version: roster_core::wire::negotiate::VERSION,
        features: roster_core::wire::Features::SUPPORTED,
    };
    node.handle_input(
        now,
        Input::Frame {
            conn: S,
            frame: Frame::new(0, hello),
        },
    );
    let slots = SlotCount::DEFAULT
        .slots()
        .map(|s| SlotAssignment {
            leader: Some(if led(s.0) { ME } else { OTHER }),
            leader_epoch: EPOCH,
            followers: Vec::new(),
        })
        .collect();
    let mut members = vec![Member {
        process: ME,
        role: Role::Data,
        address: Text::from("d1:1"),
    }];
    if session_member {
        members.push(Member {
            process: SESSION,
            role: Role::Session,
            address: Text::from("s:1"),
        });
    }
    let view = ClusterView {
        members_version: 1,
        members,
        table: SlotTableView {
            epoch: TableEpoch(1),
            slots,
        },
    };
    node.handle_input(
        now,
        Input::Frame {
            conn: meta,
            frame: Frame::new(0, view),
        },
    );
    drain(&mut node);
    node
}

fn rid(i: u64) -> Text {
    Text::from(format!("{i:08x}-6a1f-4c1e-9b7d-3f0e2c5a8b90"))
}

fn publisher(i: u64, version: u64) -> Publisher {
    Publisher {
        register_id: rid(i),
        version: RegisterVersion::new(version, 1),
        payload: smallvec::smallvec![Bytes::from(vec![b'x'; 100])],
        attributes: Vec::new(),
    }
}

/// `n` keys of `slot`.
fn keys_in(slot: u16, n: usize) -> Vec<DataInfoId> {
    (0u64..)
        .map(|i| DataInfoId::new(format!("com.example.Service{i}:1.0"), "DEFAULT", "GROUP"))
        .filter(|k| SlotCount::DEFAULT.slot_of(k) == SlotId(slot))
        .take(n)
        .collect()
}

fn route(slot: SlotId) -> SlotRoute {
    SlotRoute {
        slot,
        table_epoch: TableEpoch(1),
        leader_epoch: EPOCH,
    }
}

fn feed(node: &mut DataNode, now: Instant, id: u64, message: impl Into<Message>) {
    node.handle_input(
        now,
        Input::Frame {
            conn: S,
            frame: Frame::new(id, message),
        },
    );
}

fn write_throughput(c: &mut Criterion) {
    let mut node = leader(|_| true, false);
    let keys = keys_in(0, 10);
    let mut version = 1;
    let mut g = c.benchmark_group("data");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("write_batch_1000", |b| {
        b.iter_batched(
            || {
                version += 1;
                let ops = (0..1000u64)
                    .map(|i| WriteOp::Put {
                        data_info_id: keys[(i % 10) as usize].clone(),
                        publisher: publisher(i, version),
                    })
                    .collect();
                WriteBatch {
                    route: route(SlotId(0)),
                    ops,
                }
            },
            |batch| {
                feed(&mut node, Instant::ZERO, 1, batch);
                while node.poll_output().is_some() {}
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn memory_per_publisher() {
    const KEYS: usize = 10_000;
    const PER_KEY: u64 = 100;
    let mut node = leader(|_| true, false);
    // 10,000 keys spread over every slot.
    let keys: Vec<DataInfoId> = (0..KEYS)
        .map(|i| DataInfoId::new(format!("com.example.Service{i}:1.0"), "DEFAULT", "GROUP"))
        .collect();
    let before = ALLOCATED.load(Ordering::Relaxed);
    for (n, key) in keys.iter().enumerate() {
        let slot = SlotCount::DEFAULT.slot_of(key);
        let ops = (0..PER_KEY)
            .map(|i| WriteOp::Put {
                data_info_id: key.clone(),
                publisher: publisher(n as u64 * PER_KEY + i, 1),
            })
            .collect();
        feed(
            &mut node,
            Instant::ZERO,
            n as u64,
            WriteBatch {
                route: route(slot),
                ops,
            },
        );
        while node.poll_output().is_some() {}
    }
    let after = ALLOCATED.load(Ordering::Relaxed);
    let count = node.publisher_count();
    assert_eq!(count, KEYS * PER_KEY as usize);
    let per = (after - before) as f64 / count as f64;
    println!(
        "data/memory: {count} publishers stored, {per:.0} bytes each including the 100-byte \
         payload, {:.0} bytes beyond it (goal < 400; op-log, digests and notification \
         queue included)",
        per - 100.0
    );
}

fn reconcile_matching(c: &mut Criterion) {
    let mut node = leader(|s| s == 0, true);
    let mut now = Instant::ZERO;
    // Finish the takeover reconciliation (the session has nothing yet): its first query
    // was sent while installing the view; the retry after the request timeout is answered.
    let query_id = |outs: Vec<Output<roster_core::data::DataEvent>>| {
        outs.into_iter().find_map(|o| match o {
            Output::Send { frame, .. } if matches!(frame.message, Message::ReconcileQuery(_)) => {
                Some(frame.request_id)
            }
            _ => None,
        })
    };
    now += Duration::from_secs(6);
    node.handle_timeout(now);
    let id = query_id(drain(&mut node)).expect("takeover query");
    let empty = ReconcileDigests {
        slot: SlotId(0),
        digests: Vec::new(),
    };
    feed(&mut node, now, id, empty);
    let keys = keys_in(0, 1000);
    let mut digests = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let ps: Vec<Publisher> = (0..10u64)
            .map(|i| publisher(n as u64 * 10 + i, 1))
            .collect();
        let digest = Digest::of(ps.iter().map(|p| (&p.register_id, p.version)));
        digests.push(IdDigest {
            data_info_id: key.clone(),
            digest,
        });
        let ops = ps
            .into_iter()
            .map(|publisher| WriteOp::Put {
                data_info_id: key.clone(),
                publisher,
            })
            .collect();
        feed(
            &mut node,
            now,
            1000 + n as u64,
            WriteBatch {
                route: route(SlotId(0)),
                ops,
            },
        );
    }
    drain(&mut node);
    let reply = ReconcileDigests {
        slot: SlotId(0),
        digests,
    };
    let mut g = c.benchmark_group("data");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("reconcile_10k_matching", |b| {
        b.iter_batched(
            || reply.clone(),
            |reply| {
                now += Duration::from_secs(5);
                node.handle_timeout(now);
                let id = query_id(drain(&mut node)).expect("periodic query");
                feed(&mut node, now, id, reply);
                let outs = drain(&mut node);
                assert!(
                    outs.iter().all(|o| !matches!(
                        o,
                        Output::Send { frame, .. } if matches!(frame.message, Message::ReconcileFetch(_))
                    )),
                    "matching digests fetch nothing"
                );
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn main() {
    memory_per_publisher();
    let mut c = Criterion::default().configure_from_args();
    write_throughput(&mut c);
    reconcile_matching(&mut c);
    c.final_summary();
}
