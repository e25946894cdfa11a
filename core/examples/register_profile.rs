//! Registers `ROSTER_PUBLISHERS` publishers (default 100,000) on 1,000 client connections
//! through one `Session`, exactly as the `register_100k_publishers` bench does: frames
//! decoded from bytes as a shell delivers them (each connection's from one read buffer, or
//! with `ROSTER_OWN_BUFFERS` set each from a buffer of its own), each handled and its
//! output drained.
//! Made for instruction counts and cache profiles: run it under
//! `valgrind --tool=callgrind --toggle-collect='register_profile::register_all'` and divide
//! the count by the publishers, or under `perf stat`; it prints the wall time of the
//! measured part too, and the allocations it made per registration (counted by a
//! counting global allocator).
#![allow(unsafe_code)] // the counting allocator

use roster_core::io::{ConnId, Input, Node};
use roster_core::model::{DataInfoId, RegisterVersion, Role};
use roster_core::session::{Session, SessionConfig};
use roster_core::testkit::{self, SessionRig, all_slots_led_by, as_read, cluster_view, member};
use roster_core::time::Instant;
use roster_core::wire::{Frame, Publish};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

const CONNS: u64 = 1_000;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn now() -> Instant {
    Instant::from_millis(1)
}

/// A session whose table has every slot led by one data node, that node connected, and
/// `CONNS` clients connected.
fn session() -> Session {
    let p = testkit::process(1);
    let data = testkit::process(2);
    let config = SessionConfig::new(p, "s:1".into(), "s:2".into());
    let view = cluster_view(
        vec![member(data, Role::Data, "d:1")],
        all_slots_led_by(data, 256),
    );
    let mut rig = SessionRig::new(config, view);
    for c in 1..=CONNS {
        rig.client(c);
    }
    rig.drain();
    rig.session
}

fn publish(i: u32) -> Frame {
    let p = Publish {
        data_info_id: DataInfoId::new(
            format!("com.example.Service{}:1.0", i % 5_000),
            "DEFAULT_INSTANCE_ID",
            "DEFAULT_GROUP",
        ),
        publisher: testkit::publisher(
            format!("pub-{i}"),
            RegisterVersion::new(1, 1),
            &b"10.0.0.1:8080"[..],
        ),
    };
    Frame::new(u64::from(i), p)
}

/// The frames, in the order they are handled (frame `i` on connection `i % CONNS + 1`), as
/// a shell decodes them from what it read: each connection's frames from one read buffer
/// (`own` set: each frame from a buffer of its own).
fn frames(n: u32, own: bool) -> Vec<(ConnId, Frame)> {
    let conn = |i: u32| ConnId(u64::from(i) % CONNS + 1);
    if own {
        return (0..n)
            .map(|i| {
                let bytes = publish(i).to_bytes().expect("encodes");
                (conn(i), Frame::decode(bytes).expect("decodes"))
            })
            .collect();
    }
    as_read((0..n).map(|i| (conn(i), publish(i))).collect())
}

#[inline(never)]
fn register_all(mut s: Session, frames: Vec<(ConnId, Frame)>) -> Session {
    for (conn, frame) in frames {
        s.handle_input(now(), Input::Frame { conn, frame });
        while s.poll_output().is_some() {}
    }
    s
}

#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // timing the example itself
fn main() {
    let n: u32 = std::env::var("ROSTER_PUBLISHERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let s = session();
    let own = std::env::var_os("ROSTER_OWN_BUFFERS").is_some();
    let frames = frames(n, own);
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let start = std::time::Instant::now();
    let s = register_all(s, frames);
    let took = start.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    let key = DataInfoId::new(
        "com.example.Service0:1.0",
        "DEFAULT_INSTANCE_ID",
        "DEFAULT_GROUP",
    );
    println!(
        "{n} registrations in {took:?} ({:.0}/s), {:.2} allocations (or reallocations) each; \
         key 0 holds {} publishers",
        f64::from(n) / took.as_secs_f64(),
        allocs as f64 / f64::from(n.max(1)),
        s.publisher_count(&key)
    );
    std::hint::black_box(s);
}
