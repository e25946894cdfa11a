//! The topology: one network namespace per host (roster node or client), each with a veth
//! pair to a bridge in a hub namespace the harness creates, on a private /24. Nothing is
//! added to the root namespace. Also the faults that live in the network: nftables
//! partitions and `tc netem` inside a host's namespace.
//!
//! Names carry a per-run prefix (`<base><pid>`), so a later run can tell a crashed run's
//! leftovers (its pid is gone) from a concurrent run's, and remove them.

use std::io::Write;
use std::process::{Command, Stdio};

/// The subnet's first three octets; host `i` is `.i+2` (`.1` is unused, no gateway).
const SUBNET: &str = "10.213.7";

/// Runs a command; its stdout, or an error naming the command and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `cmd` inside namespace `ns`.
fn in_ns(ns: &str, cmd: &str, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["netns", "exec", ns, cmd];
    a.extend_from_slice(args);
    run("ip", &a)
}

/// One host: a namespace with one interface (`eth0`) on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// What runs there (`meta1`, `data2`, `sess3`, `cli1`).
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its address on the subnet.
    pub ip: String,
}

/// Every namespace of one run; removed on drop (also when unwinding from a panic).
#[derive(Debug)]
pub struct Topology {
    /// The run's prefix.
    pub prefix: String,
    hub: String,
    /// The hosts, in the order given.
    pub hosts: Vec<Host>,
    removed: bool,
}

impl Topology {
    /// Makes the hub, the bridge and one host per name.
    pub fn create(prefix: &str, names: &[String]) -> Result<Topology, String> {
        if names.len() > 250 {
            return Err("hosts: at most 250".into());
        }
        let hub = format!("{prefix}-hub");
        // Registered before the first command so that a failure halfway removes what exists.
        let mut t = Topology {
            prefix: prefix.to_string(),
            hub: hub.clone(),
            hosts: Vec::new(),
            removed: false,
        };
        run("ip", &["netns", "add", &hub])?;
        run("ip", &["-n", &hub, "link", "set", "lo", "up"])?;
        run("ip", &["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run("ip", &["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, name) in names.iter().enumerate() {
            let ns = format!("{prefix}-{name}");
            let ip = format!("{SUBNET}.{}", i + 2);
            t.hosts.push(Host {
                name: name.clone(),
                ns: ns.clone(),
                ip: ip.clone(),
            });
            let veth = format!("v{i}");
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            )?;
            run("ip", &["-n", &hub, "link", "set", &veth, "master", "br0"])?;
            run("ip", &["-n", &hub, "link", "set", &veth, "up"])?;
            let cidr = format!("{ip}/24");
            run("ip", &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(t)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// Removes every namespace of the run (killing what still runs in them).
    pub fn remove(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        for h in &self.hosts {
            remove_ns(&h.ns);
        }
        remove_ns(&self.hub);
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Kills what runs in `ns` (only harness runs put processes there) and deletes it.
fn remove_ns(ns: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = run("kill", &["-9", pid]);
        }
    }
    let _ = run("ip", &["netns", "del", ns]);
}

/// Removes the namespaces of earlier runs with prefix base `base` whose process is gone.
/// Returns how many namespaces were removed.
pub fn remove_stale(base: &str) -> usize {
    let Ok(list) = run("ip", &["netns", "list"]) else {
        return 0;
    };
    let mut n = 0;
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if let Some(pid) = stale_pid(base, name)
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            remove_ns(name);
            n += 1;
        }
    }
    n
}

/// The run's pid in a namespace name `<base><pid>-<host>`, if it is one of ours.
fn stale_pid(base: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// A partition's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Neither side hears the other.
    Both,
    /// What `host` sends to the peers is dropped; it still hears them.
    Outbound,
}

/// Drops `host`'s packets to (and with `Both`, from) `peers`, inside `host`'s namespace.
pub fn partition(host: &Host, peers: &[&Host], dir: Direction) -> Result<(), String> {
    let set: Vec<&str> = peers.iter().map(|p| p.ip.as_str()).collect();
    let set = set.join(", ");
    let mut script = String::from(
        "table inet harness {\n chain input { type filter hook input priority 0; }\n \
         chain output { type filter hook output priority 0; }\n}\n",
    );
    script.push_str(&format!(
        "add rule inet harness output ip daddr {{ {set} }} drop\n"
    ));
    if dir == Direction::Both {
        script.push_str(&format!(
            "add rule inet harness input ip saddr {{ {set} }} drop\n"
        ));
    }
    nft(&host.ns, &script)
}

/// Removes every partition rule of `host`.
pub fn heal_partition(host: &Host) {
    let _ = in_ns(&host.ns, "nft", &["delete", "table", "inet", "harness"]);
}

fn nft(ns: &str, script: &str) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft in {ns}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("nft in {ns}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("nft in {ns}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft in {ns}: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// How a degraded link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degraded {
    /// `tc netem`: delay ± jitter and loss.
    Netem,
    /// The kernel has no netem (`CONFIG_NET_SCH_NETEM` unset): a `tbf` rate limit (a slow
    /// link: delay under load, up to its latency bound) and nftables random drops.
    TbfAndDrops,
}

/// Delays (`delay_ms` ± `jitter_ms`) and drops (`loss_pct`) what `host` sends and
/// receives; falls back to [`Degraded::TbfAndDrops`] without netem.
pub fn netem(
    host: &Host,
    delay_ms: u64,
    jitter_ms: u64,
    loss_pct: u64,
) -> Result<Degraded, String> {
    let (d, j, l) = (
        format!("{delay_ms}ms"),
        format!("{jitter_ms}ms"),
        format!("{loss_pct}%"),
    );
    let tc = |args: &[&str]| in_ns(&host.ns, "tc", args);
    match tc(&[
        "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", &d, &j, "loss", &l,
    ]) {
        Ok(_) => Ok(Degraded::Netem),
        Err(e) if e.contains("unknown") => {
            let latency = format!("{}ms", delay_ms * 2);
            tc(&[
                "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "512kbit", "burst",
                "16kbit", "latency", &latency,
            ])?;
            if loss_pct > 0 {
                nft(
                    &host.ns,
                    &format!(
                        "table inet harness_loss {{\n chain input {{ type filter hook input priority 0; \
                         numgen random mod 100 < {loss_pct} drop; }}\n chain output {{ type filter hook \
                         output priority 0; numgen random mod 100 < {loss_pct} drop; }}\n}}\n"
                    ),
                )?;
            }
            Ok(Degraded::TbfAndDrops)
        }
        Err(e) => Err(e),
    }
}

/// Removes `host`'s degraded link (either kind).
pub fn heal_netem(host: &Host) {
    let _ = in_ns(&host.ns, "tc", &["qdisc", "del", "dev", "eth0", "root"]);
    let _ = in_ns(
        &host.ns,
        "nft",
        &["delete", "table", "inet", "harness_loss"],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_the_base_with_a_pid_are_stale_candidates() {
        assert_eq!(stale_pid("rh", "rh123-meta1"), Some(123));
        assert_eq!(stale_pid("rh", "rh123-hub"), Some(123));
        assert_eq!(stale_pid("rh", "other-hub"), None);
        assert_eq!(stale_pid("rh", "rhx-hub"), None);
        assert_eq!(stale_pid("rh", "rh123"), None);
    }
}
