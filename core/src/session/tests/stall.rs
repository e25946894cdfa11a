//! A consumer that stops reading converges (issue 17). A client connection subscribed to
//! many keys stops reading while every key keeps changing, so its pushes time out, are
//! retried and may trip its breaker; then it reads its backlog and acknowledges every push
//! in it, late ones included. Whatever it missed, each key must reach the newest list
//! within one push timeout plus the breaker's cool-down after it resumes.
//!
//! The data leader is played faithfully (fetches and version scans answered with the
//! newest versions), and the scan can be pushed out of reach, so the tests tell the push
//! machinery's own convergence from the scan's repair.

use super::*;
use std::collections::BTreeMap;

const KEYS: u32 = 50;

/// The session, its one consumer and the data leader's truth.
struct Rig {
    t: T,
    c: ConnId,
    newest: BTreeMap<DataInfoId, u64>,
    /// The newest version the consumer read of each key.
    held: BTreeMap<DataInfoId, DatumVersion>,
    /// Pushes that arrived while the consumer was not reading, in arrival order.
    unread: Vec<Frame>,
    reading: bool,
    last_keepalive: Instant,
}

impl Rig {
    fn new(config: SessionConfig) -> Rig {
        let mut t = T::with(config);
        let c = t.client(1);
        let now = t.now;
        let mut rig = Rig {
            t,
            c,
            newest: (1..=KEYS).map(|n| (key(n), 1)).collect(),
            held: BTreeMap::new(),
            unread: Vec::new(),
            reading: true,
            last_keepalive: now,
        };
        for n in 1..=KEYS {
            rig.t.frame(c, u64::from(n), sub(&key(n), "s", None));
        }
        rig.pump();
        assert!(rig.converged(), "subscribed: {:?}", rig.behind());
        rig
    }

    /// Delivers everything the session sent: the data leader answers, the consumer reads
    /// (and acks) or lets its pushes pile up unread.
    fn pump(&mut self) {
        let d1 = self.t.d1();
        loop {
            let outs = self.t.drain();
            if outs.is_empty() {
                return;
            }
            for o in outs {
                match o {
                    Output::Close { conn, .. } => {
                        assert_ne!(conn, self.c, "the consumer's connection was closed")
                    }
                    Output::Send { conn, frame } if conn == d1 => self.data(frame),
                    Output::Send { conn, frame } if conn == self.c => {
                        if !is_push(&frame.message) {
                            continue;
                        }
                        if self.reading {
                            self.read(frame);
                        } else {
                            self.unread.push(frame);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn data(&mut self, frame: Frame) {
        let d1 = self.t.d1();
        match frame.message {
            Message::FetchDatums(f) => {
                let datums = f
                    .data_info_ids
                    .iter()
                    .map(|k| list(k, self.newest[k]))
                    .collect();
                self.t.frame(d1, frame.request_id, Datums { datums });
            }
            Message::VersionScan(s) => {
                let changed = s
                    .known
                    .iter()
                    .filter(|c| c.version != v(self.newest[&c.data_info_id]))
                    .map(|c| DatumChange {
                        data_info_id: c.data_info_id.clone(),
                        version: v(self.newest[&c.data_info_id]),
                    })
                    .collect();
                self.t
                    .frame(d1, frame.request_id, VersionScanReply { changed });
            }
            _ => {}
        }
    }

    /// The consumer reads a push and acknowledges it.
    fn read(&mut self, frame: Frame) {
        let Message::Push(p) = frame.message else {
            unreachable!()
        };
        let expected = list(&p.data_info_id, p.version.seq);
        assert_eq!(p.publishers, expected.publishers, "the list of its version");
        let held = self.held.entry(p.data_info_id).or_default();
        *held = (*held).max(p.version);
        let c = self.c;
        self.t.frame(c, frame.request_id, Ack {});
    }

    /// The data leader changes `keys` and notifies the session.
    fn change(&mut self, keys: impl IntoIterator<Item = u32>) {
        let changes = keys
            .into_iter()
            .map(|n| {
                let seq = self.newest.get_mut(&key(n)).expect("a subscribed key");
                *seq += 1;
                DatumChange {
                    data_info_id: key(n),
                    version: v(*seq),
                }
            })
            .collect();
        let d1 = self.t.d1();
        self.t.frame(
            d1,
            0,
            ChangeNotify {
                changes,
                waits_micros: Vec::new(),
            },
        );
        self.pump();
    }

    /// Lets `d` pass in 100 ms steps; the consumer sends a keep-alive every second, as a
    /// client that stopped reading may still write.
    fn run(&mut self, d: Duration) {
        let end = self.t.now + d;
        while self.t.now < end {
            self.t.advance(Duration::from_millis(100));
            if self.t.now >= self.last_keepalive + Duration::from_secs(1) {
                self.last_keepalive = self.t.now;
                let c = self.c;
                self.t.frame(c, 0, KeepAlive {});
            }
            self.pump();
        }
    }

    /// The consumer reads its backlog in order, acknowledging every push in it (late
    /// acks of timed-out pushes included) if `ack_backlog`, else only taking the lists in
    /// (its late acks lost), and reads at once from then on.
    fn resume(&mut self, ack_backlog: bool) {
        self.reading = true;
        for f in std::mem::take(&mut self.unread) {
            if ack_backlog {
                self.read(f);
            } else if let Message::Push(p) = f.message {
                let held = self.held.entry(p.data_info_id).or_default();
                *held = (*held).max(p.version);
            }
        }
        self.pump();
    }

    fn behind(&self) -> Vec<(u32, Option<u64>, u64)> {
        (1..=KEYS)
            .filter_map(|n| {
                let k = key(n);
                let held = self.held.get(&k).map(|v| v.seq);
                (held != Some(self.newest[&k])).then_some((n, held, self.newest[&k]))
            })
            .collect()
    }

    fn converged(&self) -> bool {
        self.behind().is_empty()
    }
}

/// Key `k`'s list at `seq`: one publisher named after the version, so a list tells which
/// version it is.
fn list(k: &DataInfoId, seq: u64) -> Datum {
    datum(k, seq, &[&format!("p{seq}")])
}

/// The consumer stops reading for `stall` while every key changes (a rotating fifth of
/// them every 250 ms, each at least once), then resumes (acknowledging its backlog or
/// not). Returns how long after resuming every key held the newest list, and checks that
/// this is within one push timeout plus the breaker's cool-down.
fn stalled_consumer_converges(
    config: SessionConfig,
    stall: Duration,
    ack_backlog: bool,
) -> Duration {
    let bound = config.push_timeout + config.breaker_cooldown;
    let mut rig = Rig::new(config);
    rig.reading = false;
    let stop = rig.t.now + stall;
    let mut round = 0u32;
    while rig.t.now < stop {
        rig.change((1..=KEYS).filter(|n| n % 5 == round % 5));
        round += 1;
        rig.run(Duration::from_millis(250).min(stop - rig.t.now));
    }
    rig.change(1..=KEYS);
    let resumed = rig.t.now;
    rig.resume(ack_backlog);
    while !rig.converged() && rig.t.now < resumed + bound {
        rig.run(Duration::from_millis(100));
    }
    assert!(
        rig.converged(),
        "{stall:?} stall: (key, held, newest) behind {bound:?} after resuming: {:?}",
        rig.behind()
    );
    rig.t.now - resumed
}

/// No version scan within the bound: convergence must not wait for the scan's repair.
fn without_scan() -> SessionConfig {
    let mut c = config();
    c.scan_interval = Duration::from_secs(3600);
    c
}

/// Shorter than a push timeout; a few timeouts; about when the breaker trips (after
/// `push_retry_limit` retries, some 10–12 s with the defaults); long past it, with the
/// breaker open when the consumer resumes, or closed and open again.
const STALLS: [u64; 10] = [1, 3, 6, 10, 11, 12, 13, 15, 25, 40];

#[test]
fn a_consumer_that_stops_reading_converges_on_every_key_whatever_it_missed() {
    for ack_backlog in [true, false] {
        for secs in STALLS {
            stalled_consumer_converges(without_scan(), Duration::from_secs(secs), ack_backlog);
        }
    }
}

#[test]
fn with_the_version_scan_running_a_stalled_consumer_converges_just_as_well() {
    for secs in [3, 11, 13, 40] {
        stalled_consumer_converges(config(), Duration::from_secs(secs), true);
    }
}

/// Its late acks show it reads again: nothing waits for the breaker's cool-down.
#[test]
fn a_consumer_that_acknowledges_its_backlog_converges_within_a_push_timeout() {
    for secs in STALLS {
        let c = without_scan();
        let bound = c.push_timeout;
        let took = stalled_consumer_converges(c, Duration::from_secs(secs), true);
        assert!(
            took <= bound,
            "{secs} s stall: converged {took:?} after resuming"
        );
    }
}
