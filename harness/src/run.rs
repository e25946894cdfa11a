//! The `run` subcommand: builds the topology, starts the cluster and the clients, draws
//! faults from the seed with healing periods between them, feeds the clients' events to the
//! ground truth, and reports. Everything it made is removed on the way out, also on error,
//! panic (unwinding drops) and SIGINT/SIGTERM (checked between steps).

use crate::faults::{self, Fault, Hosts, Planner, Scenario};
use crate::netns::{self, Topology};
use crate::procs::{
    ClientLine, ClientProc, DATA_PORT, META_PORT, Node, Role, SESSION_CLIENT_PORT,
    SESSION_PEER_PORT, TIMING,
};
use crate::report::{self, KindStats, Window};
use crate::rng::Rng;
use crate::truth::Truth;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// After a fault that touched a client's own host or its session, how long past the heal
/// its gaps are excused: the client's idle timeout (10 s) + connect deadline (3 s) + its
/// longest reconnect backoff (5 s) + 2 s for the replay to reach every subscriber.
pub const FAILOVER: Duration = Duration::from_secs(20);
/// After a fault on meta or data nodes, how long past the heal a publisher may still be
/// late, with the fast timings: meta lease (1.5 s) + table install + reconciliation (1 s)
/// + margin.
pub const SETTLE_FAST: Duration = Duration::from_secs(10);
/// The same with the default timings: meta lease (10 s) + two reconciliations (5 s each)
/// + margin.
pub const SETTLE_DEFAULT: Duration = Duration::from_secs(25);
/// Shortest healing period after a fault.
const HEAL_MIN: Duration = Duration::from_secs(10);
/// A heal after which the lists are not all correct by then is a violation.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);
/// How long a restarted node may take to listen (a glommio port held after kill -9 takes
/// about 65 s to free).
const RESTART_PATIENCE: Duration = Duration::from_secs(90);

/// The `run` subcommand's settings.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// IO runtime of the data and session nodes (meta always runs on mio).
    #[arg(long, value_enum, default_value = "mio")]
    pub runtime: RuntimeKind,
    /// How long to draw faults: `150s`, `10m`, or seconds.
    #[arg(long, default_value = "150s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the fault schedule and the clients' churn.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Which faults.
    #[arg(long, value_enum, default_value = "mixed")]
    pub scenario: Scenario,
    /// Leases and intervals of the nodes: `fast` (the multi-process tests': session lease
    /// at data 2 s, meta lease 1.5 s) or `default` (design.md §8: 20 s, 10 s).
    #[arg(long, value_enum, default_value = "fast")]
    pub timing: Timing,
    /// Meta voters.
    #[arg(long, default_value_t = 3)]
    pub metas: usize,
    /// Data nodes.
    #[arg(long, default_value_t = 4)]
    pub datas: usize,
    /// Session nodes.
    #[arg(long, default_value_t = 3)]
    pub sessions: usize,
    /// Client hosts (each one process: publishers and a subscription per key).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Service keys.
    #[arg(long, default_value_t = 3)]
    pub keys: usize,
    /// Publishers per client.
    #[arg(long, default_value_t = 3)]
    pub pubs: usize,
    /// Mean interval between one client's publisher churns (0: none).
    #[arg(long, default_value_t = 8000)]
    pub churn_ms: u64,
    /// Mean interval between kills of a client process (0: none).
    #[arg(long, default_value_t = 30000)]
    pub client_kill_ms: u64,
    /// A session's kill or pause excuses no gap (what the failover grace promises).
    #[arg(long)]
    pub strict_failover: bool,
    /// The roster binary (default: `roster` beside this binary).
    #[arg(long)]
    pub roster: Option<PathBuf>,
    /// Log directory (default: /tmp/roster-harness-<prefix>); kept on violations.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Keep the log directory after a clean run too.
    #[arg(long)]
    pub keep_logs: bool,
    /// `ROSTER_LOG` of every node (default: info, and the sessions' table installs).
    #[arg(long, value_name = "FILTER")]
    pub node_log: Option<String>,
    /// Namespace name base; the run's prefix is this plus the harness's pid.
    #[arg(long, default_value = "rh")]
    pub prefix: String,
}

/// The data and session nodes' runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// mio.
    Mio,
    /// glommio, one shard per process.
    Glommio,
}

/// The nodes' leases and intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Timing {
    /// `procs::TIMING`: fail-over in seconds.
    Fast,
    /// The roster defaults.
    Default,
}

/// `150s`, `10m`, `2h`, `500ms` or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration: {s:?} is not e.g. 150s or 10m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("duration: unknown unit {unit:?} in {s:?}")),
    }
}

struct Run {
    args: RunArgs,
    roster: PathBuf,
    me: PathBuf,
    log_dir: PathBuf,
    stop: Arc<AtomicBool>,
    // Field order is drop order: processes go before the namespaces they run in.
    clients: Vec<ClientProc>,
    nodes: Vec<Node>,
    topo: Topology,
    keys: Vec<String>,
    tx: Sender<ClientLine>,
    rx: Receiver<ClientLine>,
    truth: Truth,
    t0: Instant,
    windows: Vec<Window>,
    kinds: BTreeMap<String, KindStats>,
    log: Vec<String>,
    /// Client kills: the next kill, and pending restarts (when, client index).
    churn_rng: Rng,
    next_kill: Option<Instant>,
    restarts: Vec<(Instant, usize)>,
    client_kills: usize,
    /// Hosts the active fault touches (empty between faults).
    active_hosts: BTreeSet<String>,
    /// The active fault kills or pauses a session (what `--strict-failover` excuses not).
    active_node_fault: bool,
    events: std::io::BufWriter<std::fs::File>,
    /// Since when some list is wrong (None: all correct), and the fault it counts for.
    wrong_since: Option<(Instant, Option<String>)>,
    current_kind: Option<String>,
}

/// Runs the harness; `Ok(true)` if no violation.
pub fn run(args: RunArgs) -> Result<bool, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    let me = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let roster = match &args.roster {
        Some(r) => r.clone(),
        None => me.with_file_name("roster"),
    };
    if !roster.exists() {
        return Err(format!(
            "roster: no binary at {} (build it: cargo build --release -p roster, or give --roster)",
            roster.display()
        ));
    }
    if args.metas == 0 || args.datas == 0 || args.sessions == 0 || args.clients == 0 {
        return Err("metas, datas, sessions, clients: at least 1 each".into());
    }
    let stale = netns::remove_stale(&args.prefix);
    if stale > 0 {
        eprintln!("removed {stale} namespaces of an earlier run");
    }
    let prefix = format!("{}{}", args.prefix, std::process::id());
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("roster-harness-{prefix}")));
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let hosts = Hosts {
        metas: (1..=args.metas).map(|i| format!("meta{i}")).collect(),
        datas: (1..=args.datas).map(|i| format!("data{i}")).collect(),
        sessions: (1..=args.sessions).map(|i| format!("sess{i}")).collect(),
        clients: (1..=args.clients).map(|i| format!("cli{i}")).collect(),
    };
    let names: Vec<String> = [
        &hosts.metas[..],
        &hosts.datas[..],
        &hosts.sessions[..],
        &hosts.clients[..],
    ]
    .concat();
    let events = std::fs::File::create(log_dir.join("events.log"))
        .map(std::io::BufWriter::new)
        .map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let topo = Topology::create(&prefix, &names)?;
    let (tx, rx) = channel();
    let keys = (0..args.keys).map(|i| format!("svc.{i}")).collect();
    let churn_rng = Rng::new(args.seed.wrapping_mul(31).wrapping_add(7));
    let mut r = Run {
        roster,
        me,
        log_dir,
        stop,
        clients: Vec::new(),
        nodes: Vec::new(),
        topo,
        keys,
        tx,
        rx,
        truth: Truth::default(),
        t0: Instant::now(),
        windows: Vec::new(),
        kinds: BTreeMap::new(),
        log: Vec::new(),
        churn_rng,
        next_kill: None,
        restarts: Vec::new(),
        client_kills: 0,
        active_hosts: BTreeSet::new(),
        active_node_fault: false,
        events,
        wrong_since: None,
        current_kind: None,
        args,
    };
    let result = r.go(&hosts);
    let ok = r.finish(result);
    r.clients.clear();
    r.nodes.clear();
    r.topo.remove();
    ok
}

impl Run {
    fn note(&mut self, s: String) {
        let line = format!("[{:7.1}s] {s}", self.t0.elapsed().as_secs_f64());
        eprintln!("{line}");
        self.log.push(line);
    }

    fn start_cluster(&mut self, hosts: &Hosts) -> Result<(), String> {
        let ip = |n: &str| self.topo.host(n).ip.clone();
        let peers: Vec<String> = hosts
            .metas
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{}={}:{META_PORT}", i + 1, ip(m)))
            .collect();
        let meta_addrs: Vec<String> = hosts
            .metas
            .iter()
            .map(|m| format!("{}:{META_PORT}", ip(m)))
            .collect();
        let rt: Vec<String> = match self.args.runtime {
            RuntimeKind::Mio => vec![],
            RuntimeKind::Glommio => ["--runtime", "glommio", "--shards", "1"]
                .map(String::from)
                .to_vec(),
        };
        let timing: Vec<String> = match self.args.timing {
            Timing::Fast => TIMING.iter().map(|s| s.to_string()).collect(),
            Timing::Default => Vec::new(),
        };
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (i, m) in hosts.metas.iter().enumerate() {
            let dir = self.log_dir.join(format!("{m}.state"));
            let mut a = s(&["meta", "--id", &(i + 1).to_string()]);
            a.extend(s(&["--listen", &format!("{}:{META_PORT}", ip(m))]));
            a.extend(s(&["--peers", &peers.join(",")]));
            a.extend(s(&["--data-dir", &dir.to_string_lossy()]));
            a.extend(timing.clone());
            self.nodes.push(Node::new(
                Role::Meta,
                self.topo.host(m).clone(),
                a,
                &self.log_dir,
                self.args.node_log.as_deref(),
            ));
        }
        for (i, d) in hosts.datas.iter().enumerate() {
            let mut a = s(&["data", "--id", &(101 + i).to_string()]);
            a.extend(s(&["--listen", &format!("{}:{DATA_PORT}", ip(d))]));
            a.extend(s(&["--meta", &meta_addrs.join(",")]));
            a.extend(rt.clone());
            a.extend(timing.clone());
            self.nodes.push(Node::new(
                Role::Data,
                self.topo.host(d).clone(),
                a,
                &self.log_dir,
                self.args.node_log.as_deref(),
            ));
        }
        for (i, x) in hosts.sessions.iter().enumerate() {
            let mut a = s(&["session", "--id", &(201 + i).to_string()]);
            a.extend(s(&["--listen", &format!("{}:{SESSION_PEER_PORT}", ip(x))]));
            a.extend(s(&[
                "--client-listen",
                &format!("{}:{SESSION_CLIENT_PORT}", ip(x)),
            ]));
            a.extend(s(&["--meta", &meta_addrs.join(",")]));
            a.extend(rt.clone());
            a.extend(timing.clone());
            self.nodes.push(Node::new(
                Role::Session,
                self.topo.host(x).clone(),
                a,
                &self.log_dir,
                self.args.node_log.as_deref(),
            ));
        }
        for n in &mut self.nodes {
            n.start(&self.roster, Duration::from_secs(30))?;
        }
        let sessions: Vec<String> = hosts
            .sessions
            .iter()
            .map(|x| format!("{}:{SESSION_CLIENT_PORT}", ip(x)))
            .collect();
        for (i, c) in hosts.clients.iter().enumerate() {
            // Each client tries the sessions from a different one, spreading them.
            let mut order = sessions.clone();
            order.rotate_left(i % sessions.len());
            let a = s(&[
                "--sessions",
                &order.join(","),
                "--keys",
                &self.keys.join(","),
                "--pubs",
                &self.args.pubs.to_string(),
                "--seed",
                &self.args.seed.wrapping_add(i as u64 * 1000).to_string(),
                "--churn-ms",
                &self.args.churn_ms.to_string(),
            ]);
            self.clients.push(ClientProc::new(
                i,
                self.topo.host(c).clone(),
                a,
                &self.log_dir,
            ));
        }
        for i in 0..self.clients.len() {
            self.start_client(i)?;
        }
        Ok(())
    }

    fn start_client(&mut self, i: usize) -> Result<(), String> {
        let c = &mut self.clients[i];
        c.start(&self.me, self.tx.clone())?;
        self.truth
            .client_started(Instant::now(), i, c.incarnation, &self.keys);
        Ok(())
    }

    /// Session host of an address `ip:port`.
    fn session_host(&self, addr: &str) -> Option<String> {
        let ip = addr.split(':').next()?;
        self.topo
            .hosts
            .iter()
            .find(|h| h.ip == ip)
            .map(|h| h.name.clone())
    }

    /// Reads events for `d`, checking as they come; also runs the client kills.
    fn pump(&mut self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let wait = (until - now).min(Duration::from_millis(50));
            let mut next = self.rx.recv_timeout(wait).ok();
            while let Some((t, c, inc, line)) = next {
                self.record(t, c, inc, &line);
                self.truth.line(t, c, inc, &line);
                next = self.rx.try_recv().ok();
            }
            let now = Instant::now();
            self.truth.tick(now);
            self.watch_lists(now);
            self.mark_affected();
            self.client_churn(now)?;
        }
    }

    /// Measures the stretches in which some list is wrong, for the current fault's kind.
    fn watch_lists(&mut self, now: Instant) {
        let ok = self.truth.converged().is_ok();
        if !ok && self.wrong_since.is_none() {
            self.wrong_since = Some((now, self.current_kind.clone()));
        } else if ok && let Some((since, kind)) = self.wrong_since.take() {
            // Counted for the fault during which the lists went wrong.
            if let Some(k) = kind {
                let st = self.kinds.entry(k).or_default();
                st.longest_wrong = st.longest_wrong.max(now - since);
            }
        }
    }

    /// Keeps every client event, stamped, in `events.log` (for reading a violation).
    fn record(&mut self, t: Instant, c: usize, inc: u32, line: &str) {
        use std::io::Write;
        let at = t.saturating_duration_since(self.t0).as_secs_f64();
        let _ = writeln!(
            self.events,
            "{at:.3} {}#{inc} {line}",
            self.clients[c].host.name
        );
    }

    /// Adds to the active fault's window the clients it touches now.
    fn mark_affected(&mut self) {
        let Some(w) = self.windows.last() else { return };
        if w.end.is_some() {
            return;
        }
        let hosts = self.active_hosts.clone();
        let strict = self.args.strict_failover && self.active_node_fault;
        let touches_session = hosts.iter().any(|h| h.starts_with("sess"));
        let (mut add, mut add_subs) = (Vec::new(), Vec::new());
        for (&c, session) in &self.truth.sessions {
            let on = session.as_deref().and_then(|a| self.session_host(a));
            let on_touched =
                on.as_ref().is_some_and(|s| hosts.contains(s)) || (on.is_none() && touches_session);
            if hosts.contains(&self.clients[c].host.name) {
                add.push(c);
            } else if on_touched && strict {
                // Its session cannot push to it, but its publishers must stay listed.
                add_subs.push(c);
            } else if on_touched {
                add.push(c);
            }
        }
        if let Some(w) = self.windows.last_mut() {
            w.clients.extend(add);
            w.subscribers.extend(add_subs);
        }
    }

    fn client_churn(&mut self, now: Instant) -> Result<(), String> {
        if self.args.client_kill_ms == 0 {
            return Ok(());
        }
        let due: Vec<usize> = self
            .restarts
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, c)| *c)
            .collect();
        self.restarts.retain(|(t, _)| *t > now);
        for c in due {
            self.note(format!("client {} restarted", self.clients[c].host.name));
            self.start_client(c)?;
        }
        let mean = self.args.client_kill_ms;
        let next = *self.next_kill.get_or_insert_with(|| {
            now + Duration::from_millis(self.churn_rng.range(mean / 2, mean * 3 / 2))
        });
        if now >= next {
            self.next_kill = None;
            let c = self.churn_rng.below(self.clients.len());
            if self.clients[c].alive() {
                self.clients[c].kill9();
                self.truth.client_killed(Instant::now(), c);
                self.client_kills += 1;
                let back = Duration::from_millis(self.churn_rng.range(1000, 4000));
                self.restarts.push((now + back, c));
                self.note(format!("client {} killed (-9)", self.clients[c].host.name));
            }
        }
        Ok(())
    }

    /// Pumps until the lists are all correct; how long it took, or None past `limit`.
    fn converge(&mut self, limit: Duration) -> Result<Option<Duration>, String> {
        let start = Instant::now();
        loop {
            if self.truth.converged().is_ok() {
                return Ok(Some(start.elapsed()));
            }
            if start.elapsed() > limit {
                return Ok(None);
            }
            self.pump(Duration::from_millis(50))?;
        }
    }

    fn go(&mut self, hosts: &Hosts) -> Result<(), String> {
        self.note(format!(
            "topology {} ({} hosts), logs in {}",
            self.topo.prefix,
            self.topo.hosts.len(),
            self.log_dir.display()
        ));
        self.start_cluster(hosts)?;
        self.note("cluster and clients started".into());
        let start = Instant::now();
        while !self.truth.all_registered() && start.elapsed() < CONVERGE_LIMIT {
            self.pump(Duration::from_millis(50))?;
        }
        match self.converge(CONVERGE_LIMIT)? {
            Some(_) => self.note(format!(
                "warm-up: every publisher registered and listed after {:.2}s",
                start.elapsed().as_secs_f64()
            )),
            None => {
                let why = self.truth.converged().err().unwrap_or_default();
                return Err(format!("warm-up: lists not correct in time: {why}"));
            }
        }
        let mut planner = Planner::new(self.args.seed, self.args.scenario, hosts.clone());
        let started = Instant::now();
        while started.elapsed() < self.args.duration {
            let sessions = self.truth.sessions.clone();
            let me = &*self;
            let fault = planner.next(|client| {
                let c = me.clients.iter().position(|c| c.host.name == client)?;
                let addr = sessions.get(&c)?.as_ref()?;
                me.session_host(addr)
            });
            self.one_fault(&fault)?;
        }
        Ok(())
    }

    fn one_fault(&mut self, f: &Fault) -> Result<(), String> {
        self.note(format!("fault: {}", f.describe()));
        self.active_hosts = f.excusing_hosts().into_iter().collect();
        self.active_node_fault = matches!(f.action, faults::Action::Kill | faults::Action::Pause)
            && f.target.starts_with("sess");
        self.windows.push(Window {
            kind: f.kind.clone(),
            start: Instant::now(),
            end: None,
            clients: BTreeSet::new(),
            subscribers: BTreeSet::new(),
            delays: f.delays(),
        });
        self.kinds.entry(f.kind.clone()).or_default().count += 1;
        self.current_kind = Some(f.kind.clone());
        faults::apply(f, &self.topo, &mut self.nodes)?;
        self.pump(f.hold)?;
        faults::heal(
            f,
            &self.topo,
            &mut self.nodes,
            &self.roster,
            RESTART_PATIENCE,
        )?;
        let healed = Instant::now();
        self.note(format!("healed {}", f.kind));
        let converged = self.converge(CONVERGE_LIMIT)?;
        let allowance = if self
            .windows
            .last()
            .is_some_and(|w| !w.clients.is_empty() || !w.subscribers.is_empty())
        {
            FAILOVER
        } else {
            match self.args.timing {
                Timing::Fast => SETTLE_FAST,
                Timing::Default => SETTLE_DEFAULT,
            }
        };
        if let Some(w) = self.windows.last_mut() {
            w.end = Some(healed + allowance);
        }
        self.active_hosts.clear();
        match converged {
            Some(d) => {
                self.note(format!("converged {:.2}s after the heal", d.as_secs_f64()));
                self.kinds
                    .entry(f.kind.clone())
                    .or_default()
                    .convergence
                    .push(d);
            }
            None => {
                let why = self.truth.converged().err().unwrap_or_default();
                self.truth.violations.push(crate::truth::Violation {
                    at: Instant::now(),
                    what: format!(
                        "no convergence within {CONVERGE_LIMIT:?} after healing {}: {why}",
                        f.describe()
                    ),
                });
            }
        }
        let rest = HEAL_MIN.saturating_sub(healed.elapsed());
        self.pump(rest)?;
        self.check_nodes()
    }

    /// Every node runs (none is down by a fault between faults): one that exited by
    /// itself is a violation, and is restarted so the run goes on.
    fn check_nodes(&mut self) -> Result<(), String> {
        let mut died = Vec::new();
        for n in &mut self.nodes {
            if !n.running() {
                died.push(n.host.name.clone());
                n.start(&self.roster, RESTART_PATIENCE)?;
            }
        }
        for name in died {
            self.note(format!("{name} had exited by itself; restarted"));
            self.truth.violations.push(crate::truth::Violation {
                at: Instant::now(),
                what: format!("{name} exited by itself (see {name}.log)"),
            });
        }
        Ok(())
    }
}

impl Run {
    /// Judges the gaps, prints and writes the report; whether the run was clean.
    fn finish(&mut self, result: Result<(), String>) -> Result<bool, String> {
        let end = Instant::now();
        let interrupted = matches!(&result, Err(e) if e == "interrupted");
        // Heal whatever is still active so the final state is comparable.
        self.truth.finish(end);
        // (when, what), sorted by time at the end.
        let mut found: Vec<(Instant, String)> = Vec::new();
        let at = |t: Instant| t.saturating_duration_since(self.t0).as_secs_f64();
        for v in &self.truth.violations {
            found.push((v.at, format!("[{:7.1}s] {}", at(v.at), v.what)));
        }
        let mut excused = 0;
        for g in &self.truth.gaps {
            let len = g.to - g.from;
            match report::excuse(g, &self.windows, end) {
                Some(kind) => {
                    excused += 1;
                    let st = self.kinds.entry(kind).or_default();
                    st.excused_gaps += 1;
                    st.longest_gap = st.longest_gap.max(len);
                }
                None => found.push((g.from, format!(
                    "[{:7.1}s] {} publisher {} of client {} {} for {:.3}s in the list of client {} ({})",
                    at(g.from),
                    g.key,
                    g.rid,
                    self.clients[g.pub_client].host.name,
                    if g.disappeared { "missing" } else { "not listed" },
                    len.as_secs_f64(),
                    self.clients[g.sub_client].host.name,
                    if g.disappeared {
                        "it had been listed"
                    } else {
                        "registered, never listed past the grace"
                    },
                ))),
            }
        }
        found.sort_by_key(|(t, _)| *t);
        let mut violations: Vec<String> = found.into_iter().map(|(_, v)| v).collect();
        if let Err(e) = &result {
            violations.insert(0, format!("run stopped: {e}"));
        }
        let epochs = report::epochs(&self.log_dir);
        let restarts: u32 = self.nodes.iter().map(|n| n.failed_starts).sum();
        let mut out = String::new();
        out.push_str(&format!(
            "\nroster-harness report: seed {} runtime {:?} scenario {:?} timing {:?} duration {:?}{}\n",
            self.args.seed,
            self.args.runtime,
            self.args.scenario,
            self.args.timing,
            self.args.duration,
            if self.args.strict_failover {
                " (strict failover)"
            } else {
                ""
            }
        ));
        out.push_str(&format!(
            "run {:.1}s; {} publications, {} lists received, {} client kills, {} failed node starts (port busy), {} gaps excused\n\n",
            at(end),
            self.truth.publications,
            self.truth.lists,
            self.client_kills,
            restarts,
            excused
        ));
        out.push_str(&report::table(&self.kinds));
        out.push_str(&format!(
            "\nslot-table epochs: {} distinct{}; installs logged: {}\n",
            epochs.seen.len(),
            match (epochs.seen.first(), epochs.seen.last()) {
                (Some(a), Some(b)) => format!(" ({a}..={b})"),
                _ => String::new(),
            },
            if epochs.installs.is_empty() {
                "none".to_string()
            } else {
                epochs
                    .installs
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        out.push_str(&format!("\nviolations: {}\n", violations.len()));
        for v in violations.iter().take(100) {
            out.push_str(&format!("  {v}\n"));
        }
        if violations.len() > 100 {
            out.push_str(&format!("  ... {} more\n", violations.len() - 100));
        }
        print!("{out}");
        let clean = violations.is_empty() && !interrupted;
        let _ = std::fs::write(self.log_dir.join("report.txt"), &out);
        let _ = std::fs::write(self.log_dir.join("faults.txt"), self.log.join("\n"));
        let _ = std::io::Write::flush(&mut self.events);
        if clean && !self.args.keep_logs {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        } else {
            println!("logs kept in {}", self.log_dir.display());
        }
        if interrupted {
            return Err("interrupted".into());
        }
        Ok(clean)
    }
}
