//! What the benches share (`cluster`, `user`): their settings from the environment, a
//! `roster dev` process (pinned to CPUs or not) and where its session clients connect, the
//! load generator pinned to the other CPUs, and CPU time from `/proc`.

use roster::config::Runtime;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The runtimes a bench runs on, by name; `ROSTER_BENCH_RUNTIMES=mio,glommio-1` picks some
/// (default: all).
pub(crate) fn runtimes() -> Vec<(&'static str, Runtime)> {
    let picked = std::env::var("ROSTER_BENCH_RUNTIMES").ok();
    [
        ("mio", Runtime::Mio),
        ("glommio-1", Runtime::Glommio { shards: 1 }),
        ("glommio-2", Runtime::Glommio { shards: 2 }),
    ]
    .into_iter()
    .filter(|(name, _)| {
        picked
            .as_ref()
            .is_none_or(|p| p.split(',').any(|n| n == *name))
    })
    .collect()
}

/// `ROSTER_BENCH_PIN=CLUSTER_CPUS:LOAD_CPUS` (e.g. `0:1`): the cluster's CPUs and the load
/// generator's, as `taskset -c` takes them.
pub(crate) fn pin() -> Option<(String, String)> {
    let pin = std::env::var("ROSTER_BENCH_PIN").ok()?;
    let (cluster, load) = pin
        .split_once(':')
        .expect("ROSTER_BENCH_PIN is CLUSTER_CPUS:LOAD_CPUS, e.g. 0:1");
    Some((cluster.to_string(), load.to_string()))
}

/// What the counts are divided by: 10 with `ROSTER_BENCH_SMALL` set, else 1.
pub(crate) fn scale() -> usize {
    if std::env::var_os("ROSTER_BENCH_SMALL").is_some() {
        10
    } else {
        1
    }
}

/// Changes to time: `ROSTER_BENCH_ROUNDS`, else `default`.
pub(crate) fn rounds(default: usize) -> usize {
    std::env::var("ROSTER_BENCH_ROUNDS")
        .ok()
        .map_or(default, |r| {
            r.parse().expect("ROSTER_BENCH_ROUNDS is a count")
        })
}

/// A `roster dev` process (the binary of this package), killed when dropped: also when a
/// deadline ends a run early, so a failed run leaves no cluster behind to load the next one.
#[derive(Debug)]
pub(crate) struct DevProcess(Child, Option<String>);

impl DevProcess {
    /// Starts `roster dev` on `runtime` (with `--tls` if `tls`), under `taskset -c CPUS` when
    /// given `cpus`; waits at most `ready_within` for it to print its session client
    /// addresses, and returns them and, with TLS, the CA file it printed (what its clients
    /// trust).
    pub(crate) fn spawn(
        runtime: Runtime,
        cpus: Option<&str>,
        ready_within: Duration,
        tls: bool,
    ) -> Result<(DevProcess, Vec<String>, Option<String>), String> {
        let shards;
        let mut args = vec![env!("CARGO_BIN_EXE_roster"), "dev"];
        if tls {
            args.push("--tls");
        }
        if let Runtime::Glommio { shards: n } = runtime {
            shards = n.to_string();
            args.extend(["--runtime", "glommio", "--shards", &shards]);
        }
        let mut command = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).args(&args);
                c
            }
            None => {
                let mut c = Command::new(args[0]);
                c.args(&args[1..]);
                c
            }
        };
        let mut child = DevProcess(
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start roster dev (and taskset, if pinned): {e}"))?,
            None,
        );
        let stdout = child.0.stdout.take().expect("piped stdout");
        // `roster dev` prints `sessions A,B` once the cluster is ready; read on a thread so
        // a cluster that never gets ready costs the deadline, not a hang. The thread then
        // drains the rest of the output until the process ends.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            // `tls ca PATH ...` (with --tls) and the gateway's `http http://ADDR` come before
            // the sessions line.
            let (mut ca, mut http) = (None, None);
            for l in lines.by_ref() {
                if let Some(rest) = l.strip_prefix("tls ca ") {
                    ca = rest.split_whitespace().next().map(str::to_string);
                } else if let Some(h) = l.strip_prefix("http ") {
                    http = Some(h.to_string());
                } else if let Some(s) = l.strip_prefix("sessions ") {
                    let _ = tx.send((s.to_string(), http, ca));
                    break;
                }
            }
            lines.for_each(drop);
        });
        let (sessions, http, ca) = rx.recv_timeout(ready_within).map_err(|_| {
            format!("roster dev printed no session addresses within {ready_within:?}")
        })?;
        child.1 = http;
        Ok((child, sessions.split(',').map(str::to_string).collect(), ca))
    }

    /// The base URL of its HTTP gateway (`http://ADDR`), if it printed one.
    #[allow(dead_code)] // one bench reads it
    pub(crate) fn http(&self) -> Option<&str> {
        self.1.as_deref()
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Moves every thread of this process to `cpus` (`taskset -c` syntax). Threads inherit the
/// affinity of the thread that spawns them, so client IO threads started later are pinned
/// too.
pub(crate) fn pin_self(cpus: &str) -> Result<(), String> {
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if pinned {
        Ok(())
    } else {
        Err(format!(
            "taskset could not pin the load generator to CPU(s) {cpus}"
        ))
    }
}

/// CPU time the threads of process `pid` have used so far, from the scheduler's own
/// accounting (nanoseconds, unlike the 10 ms ticks of `/proc/PID/stat`); `None` where
/// there is no `/proc`. Less disturbed by other load on the machine than a latency, so it
/// compares how much work each runtime does.
pub(crate) fn cpu_used(pid: u32) -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// The `p` quantile (0.0 to 1.0) of `sorted`, nearest rank.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
