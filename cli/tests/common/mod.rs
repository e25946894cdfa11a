//! Helpers for tests that run real `roster` processes on loopback: a guard that kills its
//! process on drop, output captured line by line, and waits on conditions with deadlines
//! (never fixed sleeps). Data and session processes run on the runtime a test's
//! [`Runtimes`] names, and [`on!`] makes one test of a scenario per cluster. Under
//! `ROSTER_TEST_TLS=1` every process and client they make runs over TLS ([`tls`]).

#![allow(dead_code, unreachable_pub)]

pub mod tls;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Leases and intervals short enough that fail-over takes seconds.
pub const FAST: &[&str] = &[
    "--heartbeat-ms",
    "200",
    "--meta-lease-ms",
    "1500",
    "--session-lease-ms",
    "2000",
    "--scan-ms",
    "1000",
    "--reconcile-ms",
    "1000",
    "--meta-tick-ms",
    "50",
];

pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Default, Debug)]
struct Lines {
    /// stdout lines, stderr lines, and how many of the two streams have ended.
    out: Mutex<(Vec<String>, Vec<String>, u8)>,
    cv: Condvar,
    /// A `roster dev`'s CA and the session addresses served under it.
    dev: Mutex<tls::DevWatch>,
}

/// A running `roster` process, killed when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    lines: Arc<Lines>,
}

fn pump(lines: Arc<Lines>, r: impl std::io::Read + Send + 'static, stdout: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if stdout {
                // Before the line is seen: a test with the addresses finds their CA.
                lines.dev.lock().unwrap().line(&line);
            }
            let mut g = lines.out.lock().unwrap();
            if stdout {
                g.0.push(line);
            } else {
                g.1.push(line);
            }
            lines.cv.notify_all();
        }
        lines.out.lock().unwrap().2 += 1;
        lines.cv.notify_all();
    });
}

/// A runtime of data and session processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    Mio,
    /// Two shards per process (each a node): the count of the CI machine's cores, given
    /// explicitly so that the tests are the same on any machine.
    Glommio,
}

impl Rt {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Rt::Mio => &[],
            Rt::Glommio => &["--runtime", "glommio", "--shards", "2"],
        }
    }

    /// `args` followed by this runtime's flags.
    pub fn with<'a>(self, args: &[&'a str]) -> Vec<&'a str> {
        [args, self.args()].concat()
    }

    /// Nodes per process.
    pub fn shards(self) -> usize {
        match self {
            Rt::Mio => 1,
            Rt::Glommio => 2,
        }
    }
}

/// The runtimes of a test cluster's data and session processes (meta runs on mio).
#[derive(Debug, Clone, Copy)]
pub struct Runtimes {
    pub data: Rt,
    pub session: Rt,
}

impl Runtimes {
    pub const fn of(data: Rt, session: Rt) -> Runtimes {
        Runtimes { data, session }
    }
}

pub const MIO: Runtimes = Runtimes::of(Rt::Mio, Rt::Mio);
pub const GLOMMIO: Runtimes = Runtimes::of(Rt::Glommio, Rt::Glommio);
/// Mio sessions in front of glommio data nodes.
pub const GLOMMIO_DATA: Runtimes = Runtimes::of(Rt::Glommio, Rt::Mio);
/// Glommio sessions in front of mio data nodes.
pub const GLOMMIO_SESSIONS: Runtimes = Runtimes::of(Rt::Mio, Rt::Glommio);

/// `on!(scenario; mio = MIO, glommio = GLOMMIO)`: a module `scenario` with one test per
/// case, each calling `scenario(arg)`.
#[macro_export]
macro_rules! on {
    ($scenario:ident; $($case:ident = $arg:expr),+ $(,)?) => {
        mod $scenario {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    super::$scenario($arg)
                }
            )+
        }
    };
}

impl Proc {
    pub fn start(name: &str, args: &[&str]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
        cmd.args(args).env("ROSTER_LOG", "info");
        Proc::spawn(name, cmd)
    }

    /// Runs `cmd` (already given its arguments and environment) with captured output; a
    /// `roster` command over TLS under the switch ([`tls::with_tls`]).
    pub fn spawn(name: &str, cmd: Command) -> Proc {
        let mut child = tls::with_tls(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roster starts");
        let lines = Arc::new(Lines::default());
        pump(lines.clone(), child.stdout.take().unwrap(), true);
        pump(lines.clone(), child.stderr.take().unwrap(), false);
        Proc {
            name: name.to_string(),
            child,
            lines,
        }
    }

    /// Waits for a stdout line satisfying `f` (searching from line `from`); its index and text.
    pub fn wait_stdout(
        &self,
        from: usize,
        what: &str,
        f: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        self.wait(true, from, what, f)
    }

    /// Waits for a stderr (log) line satisfying `f`.
    pub fn wait_stderr(
        &self,
        from: usize,
        what: &str,
        f: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        self.wait(false, from, what, f)
    }

    fn wait(
        &self,
        stdout: bool,
        from: usize,
        what: &str,
        f: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + DEADLINE;
        let mut g = self.lines.out.lock().unwrap();
        loop {
            let v = if stdout { &g.0 } else { &g.1 };
            if let Some((i, l)) = v.iter().enumerate().skip(from).find(|(_, l)| f(l)) {
                return (i, l.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                g.0.join("\n"),
                g.1.join("\n")
            );
            g = self
                .lines
                .cv
                .wait_timeout(g, left.min(Duration::from_millis(500)))
                .unwrap()
                .0;
        }
    }

    /// The admin server's base URL, from the `admin http://ADDR` (or `https://`) line.
    pub fn admin_url(&self) -> String {
        self.url_line("admin")
    }

    /// The URL of a `WHAT http://ADDR` or `WHAT https://ADDR` line (the scheme is the
    /// process's: HTTP ports may serve TLS).
    pub fn url_line(&self, what: &str) -> String {
        let prefix = format!("{what} ");
        let (_, l) = self.wait_stdout(0, &format!("the {what} URL"), |l| {
            l.strip_prefix(&prefix)
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
        });
        l[prefix.len()..].trim().to_string()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.lines.out.lock().unwrap().0.clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.lines.out.lock().unwrap().1.clone()
    }

    /// Waits for the process to exit; its status and stderr.
    pub fn wait_exit(&mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let both pumps finish reading (stderr holds the error).
                let g = self.lines.out.lock().unwrap();
                let _ = self
                    .lines
                    .cv
                    .wait_timeout_while(g, Duration::from_secs(2), |g| g.2 < 2);
                return (s, self.stderr().join("\n"));
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            let g = self.lines.out.lock().unwrap();
            let _ = self.lines.cv.wait_timeout(g, Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`) as `kill -SIGNAL` would.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {}", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        self.lines.dev.lock().unwrap().forget();
    }
}

/// A free loopback port (for meta groups, whose members must know each other up front).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `base` followed by the [`FAST`] timings.
pub fn args<'a>(base: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(FAST);
    v
}

/// A meta node on a free port; its address.
pub fn meta() -> (Proc, String) {
    let p = Proc::start("meta", &args(&["meta", "--listen", "127.0.0.1:0"]));
    let (_, l) = p.wait_stdout(0, "meta address", |l| l.starts_with("meta 1 listening"));
    let addr = l.rsplit(' ').next().unwrap().to_string();
    (p, addr)
}

impl Runtimes {
    pub fn data(self, meta: &str, id: u64) -> Proc {
        self.data_on(meta, id, "127.0.0.1:0")
    }

    /// A data node listening on `listen` (with glommio shards, the ports after it too).
    pub fn data_on(self, meta: &str, id: u64, listen: &str) -> Proc {
        let id = id.to_string();
        let mut a = vec!["data", "--listen", listen, "--meta", meta, "--id", &id];
        a.extend_from_slice(self.data.args());
        let p = Proc::start(&format!("data-{id}"), &args(&a));
        p.wait_stdout(0, "data listening", |l| l.starts_with("data listening"));
        p
    }

    /// A session; it and its client address.
    pub fn session(self, meta: &str, id: u64) -> (Proc, String) {
        self.session_logging(meta, id, "info")
    }

    /// A session logging at `log` (a `ROSTER_LOG` filter).
    pub fn session_logging(self, meta: &str, id: u64, log: &str) -> (Proc, String) {
        self.session_on(meta, id, "127.0.0.1:0", log)
    }

    /// A session taking clients on `client_listen`, logging at `log`.
    pub fn session_on(self, meta: &str, id: u64, client_listen: &str, log: &str) -> (Proc, String) {
        let id = id.to_string();
        let a = self.session.with(&[
            "session",
            "--client-listen",
            client_listen,
            "--listen",
            "127.0.0.1:0",
            "--meta",
            meta,
            "--id",
            &id,
        ]);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
        cmd.args(args(&a)).env("ROSTER_LOG", log);
        let p = Proc::spawn(&format!("session-{id}"), cmd);
        let (_, l) = p.wait_stdout(0, "session listening", |l| {
            l.starts_with("session listening")
        });
        let client = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("client="))
            .unwrap()
            .to_string();
        (p, client)
    }
}

pub fn publish(sessions: &str, data_id: &str, payloads: &[String]) -> Proc {
    let mut a = vec!["publish", "--session", sessions, data_id];
    a.extend(payloads.iter().map(String::as_str));
    let p = Proc::start(&format!("publish {data_id}"), &a);
    p.wait_stdout(0, "published", |l| l.starts_with("published"));
    p
}

pub fn subscribe(sessions: &str, data_id: &str) -> Proc {
    Proc::start(
        &format!("subscribe {data_id}"),
        &["subscribe", "--session", sessions, data_id, "--json"],
    )
}

/// The payloads of a `subscribe --json` line.
pub fn payloads(line: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    let mut p: Vec<String> = v["publishers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["payload"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    p.sort();
    p
}

/// Waits until the subscriber's latest list is exactly `want`; the line index.
pub fn wait_list(sub: &Proc, from: usize, want: &[String]) -> usize {
    let mut want = want.to_vec();
    want.sort();
    sub.wait_stdout(from, &format!("a list of {} publishers", want.len()), |l| {
        payloads(l) == want
    })
    .0
}

pub fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}:80")).collect()
}

/// Re-checks `f` every 20 ms until it holds; panics after the deadline.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a meta process's latest status line says it leads.
pub fn leads(meta: &Proc) -> bool {
    meta.stderr()
        .iter()
        .rev()
        .find(|l| l.contains("status="))
        .is_some_and(|l| l.contains("status=\"leader\""))
}

/// The three voters of one meta group on fixed ports, each with its own data directory
/// (removed on drop), started with `FAST` timings and any extra flags.
pub struct MetaGroup {
    pub ports: Vec<u16>,
    pub dir: std::path::PathBuf,
    extra: Vec<String>,
}

impl MetaGroup {
    pub fn new(name: &str, extra: &[&str]) -> MetaGroup {
        let dir = std::env::temp_dir().join(format!("roster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        MetaGroup {
            ports: (0..3).map(|_| free_port()).collect(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The `--peers` value.
    pub fn peers(&self) -> String {
        let entries: Vec<String> = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect();
        entries.join(",")
    }

    /// The `--meta` value of data and session nodes.
    pub fn addresses(&self) -> String {
        let a: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        a.join(",")
    }

    /// Starts voter `i` (0-based) on its port and directory.
    pub fn start(&self, i: usize) -> Proc {
        let id = (i + 1).to_string();
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let dir = self.dir.join(&id).to_string_lossy().into_owned();
        let peers = self.peers();
        let mut a = vec![
            "meta",
            "--id",
            &id,
            "--listen",
            &listen,
            "--peers",
            &peers,
            "--data-dir",
            &dir,
        ];
        a.extend(self.extra.iter().map(String::as_str));
        a.extend_from_slice(FAST);
        Proc::start(&format!("meta-{id}"), &a)
    }
}

impl Drop for MetaGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `roster dev` cluster (with `FAST` timings), once ready: it, its HTTP gateway's base
/// URL (from the `http http://ADDR` line) and its session addresses.
pub fn dev_with_http() -> (Proc, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.arg("dev").args(FAST).env("ROSTER_LOG", "info");
    let dev = Proc::spawn("dev", cmd);
    let http = dev.url_line("http");
    let (_, sessions) = dev.wait_stdout(0, "the sessions line", |l| l.starts_with("sessions "));
    dev.wait_stdout(0, "ready", |l| l.starts_with("ready"));
    let sessions = sessions["sessions ".len()..].to_string();
    (dev, http, sessions)
}

/// The session addresses of a `roster dev`'s `ready: try  roster subscribe --session
/// ADDRS [--tls-ca PATH] my.service` line.
pub fn ready_sessions(ready: &str) -> String {
    let mut words = ready.split_whitespace();
    words.find(|w| *w == "--session");
    words
        .next()
        .expect("--session ADDRS in the ready line")
        .to_string()
}

/// `Client::connect(sessions)`, trusting their CA under `ROSTER_TEST_TLS=1`.
pub fn client<S: Into<String>>(
    sessions: impl IntoIterator<Item = S>,
) -> Result<roster_client::Client, roster_client::Error> {
    tls::client(sessions)
}
