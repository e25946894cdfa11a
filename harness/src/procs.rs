//! Processes inside the namespaces: roster nodes (meta, data, session) started as
//! `ip netns exec NS roster ROLE ...` with their output appended to one log file each, and
//! the harness's own client processes, whose JSON event lines come back on a channel
//! stamped with the time they were read.
//!
//! `ip netns exec` execs the command, so the child's pid is the process itself: kill -9,
//! SIGSTOP and SIGCONT reach it directly.

use crate::netns::{Host, run};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Ports, the same in every namespace (each host has its own address).
pub const META_PORT: u16 = 7000;
/// Data nodes' peer port.
pub const DATA_PORT: u16 = 7100;
/// Sessions' peer port.
pub const SESSION_PEER_PORT: u16 = 7200;
/// Sessions' client port.
pub const SESSION_CLIENT_PORT: u16 = 9600;

/// Leases and intervals of every node: fail-over in seconds (the multi-process tests'
/// `FAST` timings, cli/tests/common).
pub const TIMING: &[&str] = &[
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

/// A roster node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Meta voter.
    Meta,
    /// Data node.
    Data,
    /// Session node.
    Session,
}

/// One roster node: how to start it, and its process if running.
#[derive(Debug)]
pub struct Node {
    /// Its role.
    pub role: Role,
    /// Its host.
    pub host: Host,
    args: Vec<String>,
    log_filter: String,
    /// Its log file (stdout and stderr, every incarnation appended).
    pub log: PathBuf,
    child: Option<Child>,
    /// Starts so far.
    pub starts: u32,
    /// Failed start attempts (e.g. the port still held after a kill).
    pub failed_starts: u32,
}

impl Node {
    /// A node to be started with `args` (the role's subcommand first), logging at
    /// `log_filter` (a `ROSTER_LOG` value; `None`: info, and sessions' table installs).
    pub fn new(
        role: Role,
        host: Host,
        args: Vec<String>,
        log_dir: &Path,
        log_filter: Option<&str>,
    ) -> Node {
        let log = log_dir.join(format!("{}.log", host.name));
        // The table epochs a session installs are logged at debug level by its hooks.
        let log_filter = match (log_filter, role) {
            (Some(f), _) => f.to_string(),
            (None, Role::Session) => "info,roster_shell::hooks=debug".to_string(),
            (None, _) => "info".to_string(),
        };
        Node {
            role,
            host,
            args,
            log_filter,
            log,
            child: None,
            starts: 0,
            failed_starts: 0,
        }
    }

    /// Starts it and waits until it says it listens; retries while it exits at once
    /// (a port not yet free after a kill), for at most `patience`.
    pub fn start(&mut self, roster: &Path, patience: Duration) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        loop {
            let from = std::fs::metadata(&self.log).map_or(0, |m| m.len());
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| format!("{}: {e}", self.log.display()))?;
            let err = log.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &self.host.ns])
                .arg(roster)
                .args(&self.args)
                .env("ROSTER_LOG", &self.log_filter)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("{}: {e}", self.host.name))?;
            let exited = loop {
                if listening_since(&self.log, from) {
                    break None;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{}: not listening in time", self.host.name));
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            match exited {
                None => {
                    self.child = Some(child);
                    self.starts += 1;
                    return Ok(());
                }
                Some(status) => {
                    self.failed_starts += 1;
                    if Instant::now() > deadline {
                        return Err(format!(
                            "{}: exited at start ({status}); see {}",
                            self.host.name,
                            self.log.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Whether its process runs (a stopped one counts).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// kill -9, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP or SIGCONT (`"STOP"`, `"CONT"`).
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        let pid = self
            .child
            .as_ref()
            .ok_or_else(|| format!("{} is not running", self.host.name))?
            .id()
            .to_string();
        run("kill", &[&format!("-{sig}"), &pid]).map(drop)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether the log says "listening" after byte `from` (what this start wrote).
fn listening_since(log: &Path, from: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(log) else {
        return false;
    };
    let mut tail = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_end(&mut tail).is_err() {
        return false;
    }
    String::from_utf8_lossy(&tail).contains(" listening")
}

/// A line a client process printed: (when it was read, client index, incarnation, line).
pub type ClientLine = (Instant, usize, u32, String);

/// One client host's process (one incarnation at a time).
#[derive(Debug)]
pub struct ClientProc {
    /// Index of the client (0-based).
    pub index: usize,
    /// Its host.
    pub host: Host,
    /// Current (or last) incarnation, from 1.
    pub incarnation: u32,
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl ClientProc {
    /// A client to be started as `<harness> client <args> --name cN --incarnation I`.
    pub fn new(index: usize, host: Host, args: Vec<String>, log_dir: &Path) -> ClientProc {
        let log = log_dir.join(format!("{}.log", host.name));
        ClientProc {
            index,
            host,
            incarnation: 0,
            child: None,
            args,
            log,
        }
    }

    /// Starts a new incarnation; its stdout lines go to `tx`.
    pub fn start(&mut self, me: &Path, tx: Sender<ClientLine>) -> Result<(), String> {
        self.incarnation += 1;
        let err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.host.ns])
            .arg(me)
            .arg("client")
            .args(&self.args)
            .args(["--name", &self.host.name])
            .args(["--incarnation", &self.incarnation.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.host.name))?;
        let out = child.stdout.take().expect("piped");
        let (index, inc) = (self.index, self.incarnation);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), index, inc, line)).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        Ok(())
    }

    /// kill -9, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether it runs.
    pub fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        self.kill9();
    }
}
