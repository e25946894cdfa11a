//! What a run looks like, chosen entirely by its seed (swarm testing): the cluster's shape,
//! which faults are enabled and how often they strike, and the workload's shape. Different
//! seeds exercise different corners (a single meta or five, one hot key or hundreds, no
//! loss or a lot of it) instead of every run mixing everything at a medium rate.

use roster_core::rng::Rng;
use std::fmt;
use std::time::Duration;

/// Which faults a run injects and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Per-message probability that the connection carrying it breaks there (the message
    /// and everything after it on that connection are lost; both ends hear `Closed`).
    pub loss: f64,
    /// Per-message probability of delivering a frame twice.
    pub duplicate: f64,
    /// Per-message probability that a frame stalls 20–400 ms, overtaken by frames of other
    /// connections (within a connection, order is TCP's).
    pub reorder: f64,
    /// Mean time between fault actions (crash, pause, partition, client fault, read stall);
    /// `None`: none.
    pub mean_gap: Option<Duration>,
    /// Enabled fault actions, with relative weights.
    pub crash: u32,
    /// Node pauses (a stalled host: no processing, connections stay up).
    pub pause: u32,
    /// Network partitions of all kinds.
    pub partition: u32,
    /// Client faults: connection cuts and process deaths.
    pub client: u32,
    /// Stalled consumers: a client stops reading its connections for a while (it still
    /// writes and runs its timers), then reads everything that arrived meanwhile.
    pub stall: u32,
}

/// The shape of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// Meta nodes (1 to 5).
    pub metas: usize,
    /// Data nodes (1 to 6).
    pub datas: usize,
    /// Session nodes (1 to 4).
    pub sessions: usize,
    /// Clients (up to 200).
    pub clients: usize,
    /// Slots of the table.
    pub slots: u64,
    /// Replicas per slot (leader included).
    pub replicas: usize,
    /// Distinct data ids of the workload.
    pub keys: usize,
    /// Probability that an operation picks one of the few hot keys.
    pub hot: f64,
    /// Mean time between two operations of one client.
    pub op_gap: Duration,
    /// Message latency: a floor, plus an exponential tail of this mean.
    pub latency_min: Duration,
    /// Mean of the latency tail.
    pub latency_tail: Duration,
    /// Faults.
    pub faults: Faults,
    /// Virtual time of the faulty phase (the workload runs from the start).
    pub fault_phase: Duration,
    /// After healing, the bound within which the cluster must converge.
    pub converge_bound: Duration,
    /// Meta snapshots (and so compacts its log file) every this many applied entries.
    pub meta_snapshot_interval: u64,
    /// Every this many clients one (client 0, k, 2k, …) announces no optional feature and
    /// so gets whole lists, as a client older than delta pushes; 0: none.
    pub featureless_every: usize,
    /// Replace a meta voter during the fault phase: one more meta node starts as a joiner
    /// and, from 3 s on, the leader is asked (again every 500 ms until it accepts) to
    /// replace the lowest-id voter other than itself by it. Off in the seed sweep.
    pub replace_meta_voter: bool,
    /// Meta's balancing moves per round (not drawn: unlimited, the default; tests lower it
    /// to show the epoch check has teeth).
    pub arrange_max_moves: usize,
    /// Switches the simulated operator turns, in time order (not drawn: none; the
    /// scenarios of `sim/tests/switches.rs` set them). Every switch turned on must be
    /// turned off again before the fault phase ends.
    pub operator: Vec<crate::operator::Step>,
    /// How soon after a switch commits every session must apply it and a switched-off
    /// client's publishers must be gone from every list.
    pub operator_bound: Duration,
    /// Drains and decommissions the simulated operator asks for, in time order (none
    /// drawn; `sim/tests/drain.rs` sets them). Each must be taken back before the fault
    /// phase ends.
    pub ops: Vec<crate::world::ops::OpsStep>,
    /// How soon after a drain commits the session must have no client, and after a
    /// decommission commits the data node no slot.
    pub ops_bound: Duration,
    /// Scripted stalls of the meta leader: at `.0` from the start, whichever meta node
    /// leads is paused for `.1` (none drawn; `sim/tests/meta_stall.rs` sets them).
    pub meta_leader_stalls: Vec<(Duration, Duration)>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl SimConfig {
    /// The run of `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::seed_from_u64(seed ^ 0x5EED_C0F1_6000_0000);
        let pick = |r: &mut Rng, lo: u64, hi: u64| r.range_inclusive(lo, hi);
        let metas = [1, 1, 3, 3, 5][r.below(5) as usize];
        let datas = pick(&mut r, 1, 6) as usize;
        let sessions = pick(&mut r, 1, 4) as usize;
        let clients = match r.below(4) {
            0 => pick(&mut r, 1, 5),
            1 | 2 => pick(&mut r, 5, 40),
            _ => pick(&mut r, 40, 200),
        } as usize;
        let keys = match r.below(3) {
            0 => pick(&mut r, 1, 3),
            1 => pick(&mut r, 4, 30),
            _ => pick(&mut r, 30, 300),
        } as usize;
        let chance = |r: &mut Rng, p: f64| if r.chance(p) { 1 } else { 0 };
        let rate = |r: &mut Rng, on: f64, max: f64| {
            if r.chance(on) {
                max * (r.below(1000) as f64 / 1000.0)
            } else {
                0.0
            }
        };
        let faults = Faults {
            loss: rate(&mut r, 0.4, 0.01),
            duplicate: rate(&mut r, 0.3, 0.02),
            reorder: rate(&mut r, 0.3, 0.05),
            mean_gap: if r.chance(0.85) {
                Some(ms(pick(&mut r, 300, 5_000)))
            } else {
                None
            },
            crash: chance(&mut r, 0.6) * pick(&mut r, 1, 3) as u32,
            pause: chance(&mut r, 0.5) * pick(&mut r, 1, 3) as u32,
            partition: chance(&mut r, 0.6) * pick(&mut r, 1, 3) as u32,
            client: chance(&mut r, 0.6) * pick(&mut r, 1, 3) as u32,
            stall: 0,
        };
        SimConfig {
            seed,
            metas,
            datas,
            sessions,
            clients,
            slots: [16, 64, 256][r.below(3) as usize],
            replicas: pick(&mut r, 1, 3) as usize,
            keys,
            hot: [0.0, 0.3, 0.8][r.below(3) as usize],
            // At most about 200 operations per virtual second over all clients.
            op_gap: ms(pick(&mut r, 50, 3_000).max(5 * clients as u64)),
            latency_min: Duration::from_micros(pick(&mut r, 50, 2_000)),
            latency_tail: Duration::from_micros(pick(&mut r, 0, 20_000)),
            faults,
            fault_phase: Duration::from_secs(pick(&mut r, 5, 30)),
            converge_bound: Duration::from_secs(90),
            // Drawn last, so every earlier choice of a seed stays what it was.
            meta_snapshot_interval: [4, 16, 64][r.below(3) as usize],
            featureless_every: [0, 0, 2, 3][r.below(4) as usize],
            replace_meta_voter: false,
            arrange_max_moves: roster_core::meta::ArrangeConfig::UNLIMITED,
            operator: Vec::new(),
            operator_bound: Duration::from_secs(3),
            ops: Vec::new(),
            meta_leader_stalls: Vec::new(),
            ops_bound: Duration::from_secs(8),
        }
        .with_stalls(&mut r)
    }

    /// Draws the stalled-consumer fault's weight after every other choice, so that each
    /// seed's earlier choices (and, when it draws no stalls, its whole run) stay what they
    /// were before the fault existed.
    fn with_stalls(mut self, r: &mut Rng) -> Self {
        if self.faults.mean_gap.is_some() && r.chance(0.5) {
            self.faults.stall = r.range_inclusive(1, 3) as u32;
        }
        self
    }

    /// The seed's run scaled down for the CI seed set: at most 30 clients and 8 s of faults
    /// (everything else, the fault mix included, as the seed chose).
    pub fn small(seed: u64) -> Self {
        let mut c = SimConfig::from_seed(seed);
        c.clients = c.clients.min(30);
        c.fault_phase = c.fault_phase.min(Duration::from_secs(8));
        c
    }

    /// Every fault off: the healthy cluster of the same shape.
    pub fn without_faults(mut self) -> Self {
        self.faults = Faults {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            mean_gap: None,
            crash: 0,
            pause: 0,
            partition: 0,
            client: 0,
            stall: 0,
        };
        self
    }
}

impl fmt::Display for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = &self.faults;
        write!(
            f,
            "seed {}: {} meta, {} data, {} session, {} clients; {} slots x{}; {} keys (hot {:.1}), \
             op every {:?}; latency {:?}+exp({:?}); loss {:.4} dup {:.4} reorder {:.4}; \
             faults every {:?} (crash {} pause {} partition {} client {} stall {}) for {:?}; \
             meta snapshot every {}; featureless clients every {}; operator steps {}",
            self.seed,
            self.metas,
            self.datas,
            self.sessions,
            self.clients,
            self.slots,
            self.replicas,
            self.keys,
            self.hot,
            self.op_gap,
            self.latency_min,
            self.latency_tail,
            fl.loss,
            fl.duplicate,
            fl.reorder,
            fl.mean_gap,
            fl.crash,
            fl.pause,
            fl.partition,
            fl.client,
            fl.stall,
            self.fault_phase,
            self.meta_snapshot_interval,
            self.featureless_every,
            self.operator.len(),
        )
    }
}
