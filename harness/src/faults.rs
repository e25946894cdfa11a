//! Faults: which one comes next (from the seed), applying and healing it, and what it
//! excuses. One fault is active at a time; a healing period follows each.
//!
//! | kind | apply | heal |
//! |---|---|---|
//! | `kill-<role>` | kill -9 | restart on the same address after the down time |
//! | `pause-<role>` | SIGSTOP | SIGCONT |
//! | `partition-node` / `oneway-node` | nftables drop between a node and a set of nodes | rules removed |
//! | `partition-client` / `oneway-client` | nftables drop between a client and its session | rules removed |
//! | `netem-<role>` | `tc netem` delay ± jitter and loss on the host's veth (without netem in the kernel: a `tbf` rate limit and nftables random drops) | qdisc and drops removed |

use crate::netns::{self, Direction, Topology};
use crate::procs::Node;
use crate::rng::Rng;
use std::path::Path;
use std::time::Duration;

/// Which faults to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every kind, drawn by the seed.
    Mixed,
    /// Session pauses only, alternately 7 s and 15 s, sessions in turn.
    SessionPause,
}

/// What a fault does.
#[derive(Debug, Clone)]
pub enum Action {
    /// kill -9, restarted when healed.
    Kill,
    /// SIGSTOP, SIGCONT when healed.
    Pause,
    /// Packets between the target and the peers dropped.
    Partition {
        /// The other side.
        peers: Vec<String>,
        /// Both ways, or only what the target sends.
        dir: Direction,
    },
    /// Delay and loss on the target's interface.
    Netem {
        /// Mean delay.
        delay_ms: u64,
        /// Loss percentage.
        loss_pct: u64,
    },
}

/// One fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Its kind, the key of the report's figures.
    pub kind: String,
    /// The host it targets.
    pub target: String,
    /// What it does.
    pub action: Action,
    /// How long it lasts before healing.
    pub hold: Duration,
}

impl Fault {
    /// Every host it touches (target and peers).
    pub fn hosts(&self) -> Vec<String> {
        let mut h = vec![self.target.clone()];
        if let Action::Partition { peers, .. } = &self.action {
            h.extend(peers.iter().cloned());
        }
        h
    }

    /// The hosts whose clients it isolates or stops: a client host it targets (only it), and a
    /// session it kills, pauses, degrades, or cuts from meta or data nodes (sessions do
    /// not talk to each other, so a partition between sessions alone isolates none).
    pub fn excusing_hosts(&self) -> Vec<String> {
        let session = |h: &String| role_name(h) == "session";
        let client = |h: &String| role_name(h) == "client";
        match &self.action {
            Action::Partition { peers, .. } => {
                if client(&self.target) {
                    // The session still serves its other clients.
                    vec![self.target.clone()]
                } else if session(&self.target) {
                    if peers.iter().any(|p| !session(p)) {
                        vec![self.target.clone()]
                    } else {
                        vec![]
                    }
                } else {
                    peers.iter().filter(|p| session(p)).cloned().collect()
                }
            }
            _ if session(&self.target) || client(&self.target) => vec![self.target.clone()],
            _ => vec![],
        }
    }

    /// Whether it touches meta or data nodes (writes and table changes may be delayed).
    pub fn delays(&self) -> bool {
        self.hosts()
            .iter()
            .any(|h| matches!(role_name(h), "meta" | "data"))
    }

    /// One line for the log and the report.
    pub fn describe(&self) -> String {
        let what = match &self.action {
            Action::Kill => format!("kill -9 {}, down", self.target),
            Action::Pause => format!("SIGSTOP {}", self.target),
            Action::Partition { peers, dir } => format!(
                "{} {} {}",
                self.target,
                match dir {
                    Direction::Both => "<-/->",
                    Direction::Outbound => "-/->",
                },
                peers.join(",")
            ),
            Action::Netem { delay_ms, loss_pct } => format!(
                "netem {} delay {delay_ms}ms±{}ms loss {loss_pct}%",
                self.target,
                delay_ms / 4
            ),
        };
        format!("{} ({what}) for {:.1}s", self.kind, self.hold.as_secs_f64())
    }
}

/// The hosts the planner draws from.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// Meta hosts.
    pub metas: Vec<String>,
    /// Data hosts.
    pub datas: Vec<String>,
    /// Session hosts.
    pub sessions: Vec<String>,
    /// Client hosts.
    pub clients: Vec<String>,
}

fn role_name(h: &str) -> &'static str {
    if h.starts_with("meta") {
        "meta"
    } else if h.starts_with("data") {
        "data"
    } else if h.starts_with("sess") {
        "session"
    } else {
        "client"
    }
}

/// Draws faults in order from the seed.
#[derive(Debug)]
pub struct Planner {
    rng: Rng,
    scenario: Scenario,
    hosts: Hosts,
    drawn: usize,
}

impl Planner {
    /// A planner for `scenario` over `hosts`.
    pub fn new(seed: u64, scenario: Scenario, hosts: Hosts) -> Planner {
        Planner {
            rng: Rng::new(seed),
            scenario,
            hosts,
            drawn: 0,
        }
    }

    fn pick<'a>(&mut self, v: &'a [String]) -> &'a String {
        &v[self.rng.below(v.len())]
    }

    fn secs(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.rng.range(lo * 1000, hi * 1000))
    }

    /// The next fault. `session_of(client host)` is the session host a client is on now.
    pub fn next(&mut self, session_of: impl Fn(&str) -> Option<String>) -> Fault {
        self.drawn += 1;
        if self.scenario == Scenario::SessionPause {
            let s = self.hosts.sessions[(self.drawn - 1) / 2 % self.hosts.sessions.len()].clone();
            let hold = if self.drawn % 2 == 1 { 7 } else { 15 };
            return Fault {
                kind: "pause-session".into(),
                target: s,
                action: Action::Pause,
                hold: Duration::from_secs(hold),
            };
        }
        let h = self.hosts.clone();
        let nodes: Vec<String> = [&h.metas[..], &h.datas[..], &h.sessions[..]].concat();
        match self.rng.below(10) {
            0 | 1 => {
                let target = self.pick(&nodes).clone();
                let hold = self.secs(1, 6);
                Fault {
                    kind: format!("kill-{}", role_name(&target)),
                    target,
                    action: Action::Kill,
                    hold,
                }
            }
            2 | 3 => {
                let target = self.pick(&nodes).clone();
                let hold = if role_name(&target) == "session" && self.rng.below(2) == 0 {
                    Duration::from_secs([7, 15][self.rng.below(2)])
                } else {
                    self.secs(3, 12)
                };
                Fault {
                    kind: format!("pause-{}", role_name(&target)),
                    target,
                    action: Action::Pause,
                    hold,
                }
            }
            4..=6 => {
                let target = self.pick(&nodes).clone();
                // The other side: every other node, or every node of one role.
                let side = self.rng.below(4);
                let peers: Vec<String> = match side {
                    0 => nodes.iter().filter(|n| **n != target).cloned().collect(),
                    1 => h.metas.clone(),
                    2 => h.datas.clone(),
                    _ => h.sessions.clone(),
                };
                let peers: Vec<String> = peers.into_iter().filter(|n| *n != target).collect();
                let dir = if self.rng.below(2) == 0 {
                    Direction::Both
                } else {
                    Direction::Outbound
                };
                let hold = self.secs(4, 15);
                Fault {
                    kind: match dir {
                        Direction::Both => "partition-node".into(),
                        Direction::Outbound => "oneway-node".into(),
                    },
                    target,
                    action: Action::Partition { peers, dir },
                    hold,
                }
            }
            7 | 8 => {
                let target = self.pick(&h.clients).clone();
                let session = session_of(&target).unwrap_or_else(|| h.sessions[0].clone());
                let dir = if self.rng.below(2) == 0 {
                    Direction::Both
                } else {
                    Direction::Outbound
                };
                let hold = self.secs(5, 20);
                Fault {
                    kind: match dir {
                        Direction::Both => "partition-client".into(),
                        Direction::Outbound => "oneway-client".into(),
                    },
                    target,
                    action: Action::Partition {
                        peers: vec![session],
                        dir,
                    },
                    hold,
                }
            }
            _ => {
                let all: Vec<String> = [&nodes[..], &h.clients[..]].concat();
                let target = self.pick(&all).clone();
                let delay_ms = self.rng.range(20, 200);
                let loss_pct = self.rng.range(0, 10);
                let hold = self.secs(8, 20);
                Fault {
                    kind: format!("netem-{}", role_name(&target)),
                    target,
                    action: Action::Netem { delay_ms, loss_pct },
                    hold,
                }
            }
        }
    }
}

/// Applies `f`.
pub fn apply(f: &Fault, topo: &Topology, nodes: &mut [Node]) -> Result<(), String> {
    let host = topo.host(&f.target);
    match &f.action {
        Action::Kill => {
            node(nodes, &f.target)?.kill9();
            Ok(())
        }
        Action::Pause => node(nodes, &f.target)?.signal("STOP"),
        Action::Partition { peers, dir } => {
            let peers: Vec<&netns::Host> = peers.iter().map(|p| topo.host(p)).collect();
            netns::partition(host, &peers, *dir)
        }
        Action::Netem { delay_ms, loss_pct } => {
            let how = netns::netem(host, *delay_ms, delay_ms / 4, *loss_pct)?;
            if how == netns::Degraded::TbfAndDrops {
                eprintln!("  (no netem in this kernel: tbf 512kbit + random drops instead)");
            }
            Ok(())
        }
    }
}

/// Heals `f`: a killed node restarts (retrying while its port is still taken, up to
/// `patience`).
pub fn heal(
    f: &Fault,
    topo: &Topology,
    nodes: &mut [Node],
    roster: &Path,
    patience: Duration,
) -> Result<(), String> {
    let host = topo.host(&f.target);
    match &f.action {
        Action::Kill => node(nodes, &f.target)?.start(roster, patience),
        Action::Pause => node(nodes, &f.target)?.signal("CONT"),
        Action::Partition { .. } => {
            netns::heal_partition(host);
            Ok(())
        }
        Action::Netem { .. } => {
            netns::heal_netem(host);
            Ok(())
        }
    }
}

fn node<'a>(nodes: &'a mut [Node], name: &str) -> Result<&'a mut Node, String> {
    nodes
        .iter_mut()
        .find(|n| n.host.name == name)
        .ok_or_else(|| format!("no node {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Hosts {
        let n = |p: &str, k: usize| (1..=k).map(|i| format!("{p}{i}")).collect();
        Hosts {
            metas: n("meta", 3),
            datas: n("data", 4),
            sessions: n("sess", 3),
            clients: n("cli", 4),
        }
    }

    #[test]
    fn a_seed_replays_its_faults_and_the_pause_scenario_alternates_7_and_15_seconds() {
        let run = |seed| {
            let mut p = Planner::new(seed, Scenario::Mixed, hosts());
            (0..50)
                .map(|_| p.next(|_| Some("sess2".into())).describe())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let mut p = Planner::new(1, Scenario::SessionPause, hosts());
        let f: Vec<Fault> = (0..4).map(|_| p.next(|_| None)).collect();
        let holds: Vec<u64> = f.iter().map(|f| f.hold.as_secs()).collect();
        assert_eq!(holds, [7, 15, 7, 15]);
        assert_eq!(f[0].target, "sess1");
        assert_eq!(f[2].target, "sess2");
    }

    #[test]
    fn a_fault_excuses_the_clients_of_the_sessions_it_isolates_only() {
        let part = |target: &str, peers: &[&str]| Fault {
            kind: "p".into(),
            target: target.into(),
            action: Action::Partition {
                peers: peers.iter().map(|p| p.to_string()).collect(),
                dir: Direction::Both,
            },
            hold: Duration::from_secs(1),
        };
        assert!(
            part("sess1", &["sess2", "sess3"])
                .excusing_hosts()
                .is_empty()
        );
        assert!(!part("sess1", &["sess2", "sess3"]).delays());
        assert_eq!(part("sess1", &["data1"]).excusing_hosts(), ["sess1"]);
        assert_eq!(
            part("data1", &["meta1", "sess2"]).excusing_hosts(),
            ["sess2"]
        );
        assert!(part("data1", &["meta1"]).excusing_hosts().is_empty());
        assert!(part("data1", &["meta1"]).delays());
        assert_eq!(part("cli1", &["sess2"]).excusing_hosts(), ["cli1"]);
    }
}
