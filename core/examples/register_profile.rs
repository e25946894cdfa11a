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

#[path = "../benches/support/as_read.rs"]
mod as_read;
use as_read::as_read;
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::model::{
    DataInfoId, Incarnation, LeaderEpoch, NodeId, ProcessId, Publisher, RegisterVersion, Role,
    TableEpoch, Text,
};
use roster_core::session::{Session, SessionConfig};
use roster_core::time::Instant;
use roster_core::wire::{
    ClientHello, ClusterView, Frame, Member, Message, PeerHello, Publish, SlotAssignment,
    SlotTableView,
};
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

fn feed(s: &mut Session, conn: ConnId, m: impl Into<Message>) {
    let frame = Frame::new(0, m);
    s.handle_input(now(), Input::Frame { conn, frame });
}

/// A session whose table has every slot led by one data node, that node connected, and
/// `CONNS` clients connected.
fn session() -> Session {
    let p = ProcessId {
        node: NodeId(1),
        incarnation: Incarnation(1),
    };
    let data = ProcessId {
        node: NodeId(2),
        incarnation: Incarnation(1),
    };
    let meta = ConnId(u64::MAX >> 2);
    let config = SessionConfig::new(p, "s:1".into(), "s:2".into());
    let mut s = Session::new(config, 1).expect("valid config");
    s.handle_input(now(), Input::Accepted { conn: meta });
    let hello = PeerHello {
        role: Role::Meta,
        process: p,
        address: "m".into(),
        version: roster_core::wire::negotiate::VERSION,
        features: roster_core::wire::Features::SUPPORTED,
    };
    feed(&mut s, meta, hello);
    let slot = SlotAssignment {
        leader: Some(data),
        leader_epoch: LeaderEpoch(1),
        followers: vec![],
    };
    let view = ClusterView {
        members_version: 1,
        members: vec![Member {
            process: data,
            role: Role::Data,
            address: "d:1".into(),
        }],
        table: SlotTableView {
            epoch: TableEpoch(1),
            slots: vec![slot; 256],
        },
    };
    feed(&mut s, meta, view);
    let mut link = None;
    while let Some(o) = s.poll_output() {
        if let Output::Connect { conn, .. } = o {
            link = Some(conn);
        }
    }
    let link = link.expect("the session connects to its data node");
    s.handle_input(now(), Input::Connected { conn: link });
    for c in 1..=CONNS {
        s.handle_input(now(), Input::Accepted { conn: ConnId(c) });
        let hello = ClientHello {
            client_id: Text::from("app"),
            connect_generation: 1,
            version: roster_core::wire::negotiate::VERSION,
            features: roster_core::wire::Features::SUPPORTED,
        };
        feed(&mut s, ConnId(c), hello);
    }
    while s.poll_output().is_some() {}
    s
}

fn publish(i: u32) -> Frame {
    let p = Publish {
        data_info_id: DataInfoId::new(
            format!("com.example.Service{}:1.0", i % 5_000),
            "DEFAULT_INSTANCE_ID",
            "DEFAULT_GROUP",
        ),
        publisher: Publisher {
            register_id: Text::from(format!("pub-{i}")),
            version: RegisterVersion::new(1, 1),
            payload: smallvec::smallvec![bytes::Bytes::from_static(b"10.0.0.1:8080")],
            attributes: vec![],
        },
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
