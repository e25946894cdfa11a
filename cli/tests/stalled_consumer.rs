//! A stalled consumer converges (issue 17), against an in-process dev cluster over real
//! sockets. The consumer is a raw TCP client speaking the protocol, so that "stops
//! reading" is literal: it subscribes to 50 keys, stops reading its socket (it still
//! writes keep-alives) while a publisher changes every key, long enough for its pushes to
//! time out, be re-pushed and trip its breaker, and changes every key once more behind the
//! open breaker; then it reads and acknowledges everything.
//! Every key must then hold the newest list within the bound docs/protocol.md §6.2 gives
//! a consumer that acknowledges its backlog: a push round trip of its first late ack
//! (checked as one push timeout, 2 s, not the breaker's 30 s cool-down).

mod common;

use bytes::BytesMut;
use roster::cluster::{DevCluster, DevOptions};
use roster::config::{Runtime, Timing};
use roster_client::{Client, parse_key};
use roster_core::model::{DataInfoId, DatumVersion, Text};
use roster_core::wire::{Ack, ClientHello, Frame, FrameDecoder, KeepAlive, Message, Subscribe};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const KEYS: usize = 50;

/// The consumer's end: what it holds per key, and how many pushes of each it read.
struct Consumer {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    held: BTreeMap<DataInfoId, (DatumVersion, Vec<Vec<u8>>)>,
    pushes: BTreeMap<DataInfoId, usize>,
}

impl Consumer {
    fn connect(addr: &str) -> Consumer {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut c = Consumer {
            stream,
            decoder: FrameDecoder::default(),
            buf: BytesMut::new(),
            held: BTreeMap::new(),
            pushes: BTreeMap::new(),
        };
        c.send(1, ClientHello::new(Text::from("stalled-consumer"), 1));
        c
    }

    fn send(&mut self, request_id: u64, message: impl Into<Message>) {
        let bytes = Frame::new(request_id, message).to_bytes().unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    /// Reads what has arrived, acknowledging every push (late ones included).
    fn read(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("the session closed the consumer's connection"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        while let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
            if let Message::Push(p) = frame.message {
                let payloads = p
                    .publishers
                    .iter()
                    .flat_map(|x| x.payload().map(<[u8]>::to_vec).collect::<Vec<_>>())
                    .collect();
                *self.pushes.entry(p.data_info_id.clone()).or_default() += 1;
                let held = self.held.entry(p.data_info_id).or_default();
                if p.version > held.0 || held.1.is_empty() {
                    *held = (p.version, payloads);
                }
                self.send(frame.request_id, Ack {});
            }
        }
    }

    /// Whether `key` holds exactly `payload`.
    fn holds(&self, key: &DataInfoId, payload: &[u8]) -> bool {
        self.held
            .get(key)
            .is_some_and(|(_, l)| l == &[payload.to_vec()])
    }

    /// Reads (and acks) until every key holds `payload`, or panics at `deadline`.
    fn read_until_all(&mut self, keys: &[DataInfoId], payload: &[u8], deadline: Instant) {
        loop {
            let behind: Vec<&DataInfoId> =
                keys.iter().filter(|k| !self.holds(k, payload)).collect();
            if behind.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not every key holds {:?}: {:?}",
                String::from_utf8_lossy(payload),
                behind
                    .iter()
                    .map(|k| (&k.data_id, self.held.get(*k).map(|h| h.0)))
                    .collect::<Vec<_>>()
            );
            self.read();
        }
    }
}

#[test]
fn a_consumer_that_stops_reading_and_resumes_converges_on_every_key() {
    let cluster = DevCluster::start(DevOptions {
        timing: Timing::fast(),
        runtime: Runtime::Mio,
        ..DevOptions::default()
    })
    .unwrap();
    assert!(cluster.wait_ready(Duration::from_secs(30)));
    let names: Vec<String> = (0..KEYS).map(|n| format!("stall.k{n}")).collect();
    let keys: Vec<DataInfoId> = names.iter().map(|n| parse_key(n).unwrap()).collect();
    let publisher = Client::connect([cluster.session_addrs[1].clone()]).unwrap();
    let mut pubs: Vec<_> = names
        .iter()
        .map(|n| publisher.publish(n, ["r0"]).unwrap())
        .collect();
    for p in &pubs {
        p.wait_registered(Duration::from_secs(30)).unwrap();
    }

    let mut consumer = Consumer::connect(&cluster.session_addrs[0]);
    for (n, k) in keys.iter().enumerate() {
        let subscribe = Subscribe {
            data_info_id: k.clone(),
            register_id: Text::from(format!("s{n}")),
            known: None,
        };
        consumer.send(2 + n as u64, subscribe);
    }
    consumer.read_until_all(&keys, b"r0", Instant::now() + Duration::from_secs(30));
    let before: usize = consumer.pushes.values().sum();

    // The fault: no reads for 13 s, past the breaker tripping (its fourth failed push, some
    // 10-12 s in). Keep-alives go on, as a client that stops reading may still write.
    let stall = Duration::from_secs(13);
    let stalled = Instant::now();
    for round in 1..=3 {
        for p in &mut pubs {
            p.update([format!("r{round}")]).unwrap();
        }
    }
    for p in &pubs {
        p.wait_registered(Duration::from_secs(30)).unwrap();
    }
    let mut changed_late = false;
    while stalled.elapsed() < stall {
        consumer.send(0, KeepAlive {});
        if !changed_late && stalled.elapsed() >= stall - Duration::from_secs(2) {
            // A change behind the open breaker: the backlog the consumer will read ends
            // at r3, so r4 must be pushed after it resumes.
            changed_late = true;
            for p in &mut pubs {
                p.update(["r4"]).unwrap();
            }
            for p in &pubs {
                p.wait_registered(Duration::from_secs(30)).unwrap();
            }
        }
        std::thread::sleep(Duration::from_secs(1).min(stall.saturating_sub(stalled.elapsed())));
    }

    let resumed = Instant::now();
    consumer.read_until_all(&keys, b"r4", resumed + Duration::from_secs(2));
    let took = resumed.elapsed();
    let during: usize = consumer.pushes.values().sum::<usize>() - before;
    assert!(
        during > KEYS,
        "the stall's pushes timed out and were pushed again ({during} pushes read)"
    );
    eprintln!("converged {took:?} after resuming; {during} pushes read since the stall");
    drop(pubs);
    drop(publisher);
    cluster.stop();
}
