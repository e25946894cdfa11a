//! Session benchmarks (issue 4): fan-out of one change to 10,000 subscribers on 10,000
//! connections, registering 100,000 publishers, and memory per idle subscriber (counted by
//! a counting global allocator in this binary).
#![allow(unsafe_code)] // the counting allocator

use criterion::{BatchSize, Criterion, criterion_group};

use roster_core::io::{ConnId, Input, Node};
use roster_core::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, Publisher, RegisterVersion, Role, Text,
};
use roster_core::session::{Session, SessionConfig};
use roster_core::testkit::{self, SessionRig, all_slots_led_by, as_read, cluster_view, member};
use roster_core::time::Instant;
use roster_core::wire::{
    ChangeNotify, ClientHello, Datum, DatumChange, Datums, Frame, Message, Publish, PublisherList,
    Subscribe,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DATA: ProcessId = testkit::process(2);

fn now() -> Instant {
    Instant::from_millis(1)
}

fn key(n: u32) -> DataInfoId {
    DataInfoId::new(
        format!("com.example.Service{n}:1.0"),
        "DEFAULT_INSTANCE_ID",
        "DEFAULT_GROUP",
    )
}

fn publisher(id: String) -> Publisher {
    testkit::publisher(id, RegisterVersion::new(1, 1), &b"10.0.0.1:8080"[..])
}

fn feed(s: &mut Session, conn: ConnId, rid: u64, m: impl Into<Message>) {
    testkit::feed(s, now(), conn, rid, m);
}

fn drain(s: &mut Session) -> usize {
    testkit::drain(s).len()
}

/// A session with a table (every slot led by one data node) and that node connected.
fn session() -> (Session, ConnId) {
    let p = testkit::process(1);
    let config = SessionConfig::new(p, "s:1".into(), "s:2".into());
    let view = cluster_view(
        vec![member(DATA, Role::Data, "d:1")],
        all_slots_led_by(DATA, 256),
    );
    let rig = SessionRig::new(config, view);
    let data = rig.data[&DATA];
    (rig.session, data)
}

/// `n` connections, each with one subscriber of key 0 holding version 1.
fn subscribers(s: &mut Session, data: ConnId, n: u64) {
    for c in 1..=n {
        let conn = ConnId(c);
        s.handle_input(now(), Input::Accepted { conn });
        let hello = ClientHello::new(Text::from(format!("app-{c}")), 1);
        feed(s, conn, 0, hello);
        let sub = Subscribe {
            data_info_id: key(0),
            register_id: Text::from(format!("{c:08x}-4e0a-4b7c-9f3e-subscriber")),
            known: Some(DatumVersion::new(LeaderEpoch(1), 1)),
        };
        feed(s, conn, 1, sub);
        // Answer the fetch the first subscription triggers: the cache holds version 1.
        while let Some(o) = s.poll_output() {
            if let roster_core::io::Output::Send { frame, .. } = o
                && matches!(frame.message, Message::FetchDatums(_))
            {
                let datum = Datum {
                    data_info_id: key(0),
                    version: DatumVersion::new(LeaderEpoch(1), 1),
                    publishers: PublisherList::new(),
                };
                feed(
                    s,
                    data,
                    frame.request_id,
                    Datums {
                        datums: vec![datum],
                    },
                );
            }
        }
    }
    drain(s);
}

fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("session");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for pubs in [1usize, 10] {
        g.bench_function(format!("fan_out_10k_subscribers_{pubs}_publishers"), |b| {
            b.iter_batched(
                || {
                    let (mut s, data) = session();
                    subscribers(&mut s, data, 10_000);
                    (s, data)
                },
                |(s, data)| change_and_drain(s, data, pubs),
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function("register_100k_publishers", |b| {
        b.iter_batched(
            || {
                let (mut s, _) = session();
                let conns = 1_000u64;
                for c in 1..=conns {
                    s.handle_input(now(), Input::Accepted { conn: ConnId(c) });
                    let hello = ClientHello::new(Text::from("app"), 1);
                    feed(&mut s, ConnId(c), 0, hello);
                }
                (s, publish_frames(100_000, conns))
            },
            |(s, frames)| register_all(s, frames),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// `n` `Publish` frames, in the order they are handled (frame `i` on connection
/// `i % conns + 1`), as the shell hands them over: decoded by a `FrameDecoder` from what
/// it read, so the frames of one connection share its read buffer (and a frame's texts and
/// payloads are views into it).
fn publish_frames(n: u32, conns: u64) -> Vec<(ConnId, Frame)> {
    let conn = |i: u32| ConnId(u64::from(i) % conns + 1);
    let frames = (0..n)
        .map(|i| {
            let p = Publish {
                data_info_id: key(i % 5_000),
                publisher: publisher(format!("pub-{i}")),
            };
            (conn(i), Frame::new(u64::from(i), p))
        })
        .collect();
    as_read(frames)
}

/// The measured part of `fan_out_*`: one change of key 0 announced, fetched with `pubs`
/// publishers and pushed to every subscriber. Not inlined, for callgrind (see
/// [`register_all`]).
#[inline(never)]
fn change_and_drain(mut s: Session, data: ConnId, pubs: usize) -> Session {
    let change = DatumChange {
        data_info_id: key(0),
        version: DatumVersion::new(LeaderEpoch(1), 2),
    };
    feed(
        &mut s,
        data,
        1,
        ChangeNotify {
            changes: vec![change],
            waits_micros: Vec::new(),
        },
    );
    let mut fetch = 0;
    while let Some(o) = s.poll_output() {
        if let roster_core::io::Output::Send { frame, .. } = o
            && matches!(frame.message, Message::FetchDatums(_))
        {
            fetch = frame.request_id;
        }
    }
    let datum = Datum {
        data_info_id: key(0),
        version: DatumVersion::new(LeaderEpoch(1), 2),
        publishers: (0..pubs)
            .map(|i| publisher(format!("p{i}")))
            .collect::<Vec<_>>()
            .into(),
    };
    feed(
        &mut s,
        data,
        fetch,
        Datums {
            datums: vec![datum],
        },
    );
    let pushes = drain(&mut s);
    assert_eq!(pushes, 10_000);
    s
}

/// The measured part of `register_100k_publishers`: every frame in, every output drained.
/// Not inlined, so that `valgrind --tool=callgrind --toggle-collect='session::register_all'`
/// counts exactly this (instructions per registration = its inclusive count / 100,000 per
/// call).
#[inline(never)]
fn register_all(mut s: Session, frames: Vec<(ConnId, Frame)>) -> Session {
    for (conn, frame) in frames {
        s.handle_input(now(), Input::Frame { conn, frame });
        while s.poll_output().is_some() {}
    }
    s
}

/// Live heap bytes per idle subscriber, each on its own connection (its connection's
/// state included), on one key.
fn idle_subscriber_memory() {
    let (mut s, data) = session();
    let n = 10_000u64;
    let before = LIVE.load(Ordering::Relaxed);
    subscribers(&mut s, data, n);
    let after = LIVE.load(Ordering::Relaxed);
    let per = (after - before) as f64 / n as f64;
    println!(
        "memory per idle subscriber (own connection, 36-byte register id): {per:.0} bytes (goal < 300)"
    );
    std::hint::black_box(&s);
}

criterion_group!(benches, fan_out);

fn main() {
    idle_subscriber_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
