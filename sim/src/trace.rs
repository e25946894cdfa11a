//! What a run did: a hash of every event (two runs of a seed must agree on it), the last
//! events kept for failure reports, and optionally the whole trace printed as it happens.

use roster_core::time::Instant;
use roster_core::wire::MessageKind;
use std::collections::VecDeque;

/// One event, compactly; formatted only when printed.
#[derive(Debug, Clone)]
pub struct Record {
    /// When.
    pub at: Instant,
    /// What happened, e.g. "deliver", "crash".
    pub what: &'static str,
    /// The node it happened to (its name).
    pub node: usize,
    /// The frame's kind, for deliveries.
    pub kind: Option<MessageKind>,
    /// Details (only for rare events, to keep the hot path cheap).
    pub detail: Option<String>,
}

/// The trace of a run.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    ring: VecDeque<Record>,
    keep: usize,
    /// Print every event as it happens (`--trace`).
    pub full: bool,
    /// Events recorded.
    pub events: u64,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// Folds `v` into an FNV-1a style hash, eight bytes at a time.
pub fn mix(h: u64, v: u64) -> u64 {
    let mut h = h;
    for b in v.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// A deterministic hash of bytes (FNV-1a).
pub fn hash_bytes(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The FNV offset basis.
pub const FNV_START: u64 = 0xCBF2_9CE4_8422_2325;

impl Trace {
    /// A trace keeping the last `keep` events.
    pub fn new(keep: usize, full: bool) -> Self {
        Trace {
            hash: FNV_START,
            ring: VecDeque::with_capacity(keep),
            keep,
            full,
            events: 0,
        }
    }

    /// Records an event; `names` formats node indices when printing.
    pub fn record(&mut self, r: Record, names: &dyn Fn(usize) -> String, extra: u64) {
        self.events += 1;
        let mut h = mix(self.hash, r.at.as_nanos());
        h = hash_bytes(h, r.what.as_bytes());
        h = mix(h, r.node as u64);
        h = mix(h, r.kind.map_or(0, |k| k as u64 + 1));
        h = mix(h, extra);
        if let Some(d) = &r.detail {
            h = hash_bytes(h, d.as_bytes());
        }
        self.hash = h;
        if self.full {
            println!("{}", format_record(&r, names));
        }
        if self.ring.len() == self.keep {
            self.ring.pop_front();
        }
        self.ring.push_back(r);
    }

    /// The hash of everything recorded.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The last events, formatted.
    pub fn last(&self, names: &dyn Fn(usize) -> String) -> Vec<String> {
        self.ring.iter().map(|r| format_record(r, names)).collect()
    }
}

/// One line per event: time in ms, what, node, frame kind, details.
pub fn format_record(r: &Record, names: &dyn Fn(usize) -> String) -> String {
    let ms = r.at.as_nanos() as f64 / 1e6;
    let mut s = format!("{ms:>12.3}ms {:<10} {}", r.what, names(r.node));
    if let Some(k) = r.kind {
        s.push_str(&format!(" {k:?}"));
    }
    if let Some(d) = &r.detail {
        s.push(' ');
        s.push_str(d);
    }
    s
}

/// Cuts `s` to at most `max` bytes, at a character boundary, for one-line reports.
pub fn clip(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
    }
}
