//! A role's shards in one process: where each shard listens, starting them one after the
//! other (each reports its bound addresses before the next starts), and the handle that
//! waits for their readiness and stops them all.
//!
//! Addresses: a *shared* listener (a session's client port) is bound by every shard on the
//! same port with `SO_REUSEPORT`, so the kernel spreads incoming connections over the
//! shards; with port 0, shard 0 picks the port and the others bind the same one. A
//! per-shard listener (the peer port, where other nodes dial one particular node) is
//! `port + i` for shard `i`, or a free port each with port 0.

use crate::executor;
use roster_core::io::Node;
use roster_shell::{Clock, Hooks, ListenerKind, ShellConfig};
use roster_shell::{Flag, Inbox, Inspector, Readiness};
use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the next shard of this process is pinned, counting over its allowed CPUs.
static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);

/// One listener of the role, as planned for all its shards.
#[derive(Debug, Clone, Copy)]
pub struct ListenerPlan {
    /// What the listener is for.
    pub kind: ListenerKind,
    /// The address given by the user (port 0 picks free ports).
    pub addr: SocketAddr,
    /// Whether every shard listens on the same port (`SO_REUSEPORT`); otherwise shard `i`
    /// listens on `port + i`.
    pub shared: bool,
}

/// What a shard's node is made from.
#[derive(Debug, Clone)]
pub struct ShardContext {
    /// The shard's index, from 0.
    pub index: usize,
    /// How many shards the process runs.
    pub count: usize,
    /// The shard's bound listeners, in the order of the plan.
    pub addrs: Vec<SocketAddr>,
    /// The shard's clock; the node must be made with it.
    pub clock: Clock,
}

/// Makes a shard's node and hooks, with the node's name for the log.
pub type MakeNode<N, H> = dyn Fn(&ShardContext) -> io::Result<(String, N, H)> + Send + Sync;

/// What the thread of shard `index` needs.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct ShardStart<N, H> {
    pub(crate) index: usize,
    pub(crate) count: usize,
    pub(crate) cpu: Option<usize>,
    pub(crate) listeners: Vec<(ListenerKind, SocketAddr)>,
    pub(crate) make: Arc<MakeNode<N, H>>,
    /// Where the shard reports its name and bound addresses, or why it did not start.
    pub(crate) report: mpsc::Sender<io::Result<(String, Vec<SocketAddr>)>>,
    pub(crate) stop: Arc<Flag>,
    pub(crate) ready: Arc<Flag>,
    /// Questions for the shard's node from other threads.
    pub(crate) inbox: Arc<Inbox<N>>,
    /// The shell's limits and TLS.
    pub(crate) config: ShellConfig,
}

#[derive(Debug)]
struct Running {
    name: String,
    addrs: Vec<SocketAddr>,
    ready: Arc<Flag>,
    stop: Arc<Flag>,
    /// An `Inspector` of the shard's node, typed by the caller that asks for it.
    inspector: Arc<dyn Any + Send + Sync>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// The running shards of one role. Dropping it stops and joins them.
#[derive(Debug, Default)]
pub struct Shards {
    shards: Vec<Running>,
}

/// Starts `count` shards of a role listening as `plan` says; each makes its node with
/// `make`, its connections as `config` says (TLS). Returns once every shard listens (not
/// once ready).
pub fn launch<N, H, F>(
    plan: &[ListenerPlan],
    count: usize,
    config: ShellConfig,
    make: F,
) -> io::Result<Shards>
where
    N: Node + Readiness + 'static,
    H: Hooks<N> + 'static,
    F: Fn(&ShardContext) -> io::Result<(String, N, H)> + Send + Sync + 'static,
{
    if count == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--shards must be at least 1",
        ));
    }
    check_fixed_ports(plan, count)?;
    let cpus = executor::allowed_cpus();
    // Successive launches in one process (the groups of `roster dev`) continue the round
    // over the CPUs instead of all starting on the first.
    let first_cpu = NEXT_CPU.fetch_add(count, Ordering::Relaxed);
    let make: Arc<MakeNode<N, H>> = Arc::new(make);
    let mut shards = Shards::default();
    for index in 0..count {
        let first = shards.shards.first().map(|s| s.addrs.as_slice());
        let listeners = plan
            .iter()
            .enumerate()
            .map(|(j, p)| Ok((p.kind, shard_addr(p, index, first.map(|f| f[j]))?)))
            .collect::<io::Result<Vec<_>>>()?;
        let (report, reported) = mpsc::channel();
        let stop = Arc::new(Flag::default());
        let ready = Arc::new(Flag::default());
        let inbox = Arc::new(Inbox::default());
        // The shard looks at its inbox on its own timer: nothing to wake.
        let inspector = Inspector::new(inbox.clone(), Arc::new(|| {}));
        let start = ShardStart {
            index,
            count,
            cpu: (!cpus.is_empty()).then(|| cpus[(first_cpu + index) % cpus.len()]),
            listeners,
            make: make.clone(),
            report,
            stop: stop.clone(),
            ready: ready.clone(),
            inbox,
            config: config.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("shard-{index}"))
            .spawn(move || executor::run(start))?;
        match reported.recv() {
            Ok(Ok((name, addrs))) => shards.shards.push(Running {
                name,
                addrs,
                ready,
                stop,
                inspector: Arc::new(inspector),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(mpsc::RecvError) => {
                return Err(match thread.join() {
                    Ok(Err(e)) => e,
                    _ => io::Error::other(format!("shard {index} ended before it started")),
                });
            }
        }
    }
    Ok(shards)
}

/// Where shard `index` binds listener `p`; `first` is where shard 0 bound it.
fn shard_addr(p: &ListenerPlan, index: usize, first: Option<SocketAddr>) -> io::Result<SocketAddr> {
    let mut addr = p.addr;
    match first {
        Some(f) if p.shared => addr.set_port(f.port()),
        _ if p.shared || p.addr.port() == 0 => {}
        _ => {
            let port = u16::try_from(index)
                .ok()
                .and_then(|i| p.addr.port().checked_add(i))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{}: shard {index} would listen past port 65535", p.addr),
                    )
                })?;
            addr.set_port(port);
        }
    }
    Ok(addr)
}

/// Glommio binds every listener with `SO_REUSEPORT`, which would let a second process, or
/// two listeners of this one (a client port inside the range of peer ports), share a port
/// by mistake and take a share of its connections. Every fixed port of every shard is
/// therefore checked up front: distinct, and free for an exclusive bind.
fn check_fixed_ports(plan: &[ListenerPlan], count: usize) -> io::Result<()> {
    let mut fixed = Vec::new();
    for p in plan.iter().filter(|p| p.addr.port() != 0) {
        let shards = if p.shared { 1 } else { count };
        for index in 0..shards {
            let addr = shard_addr(p, index, None)?;
            if fixed.contains(&addr) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "cannot listen on {addr} twice: with {count} shards, the peer ports are \
                         the listen port and the {} after it",
                        count - 1
                    ),
                ));
            }
            fixed.push(addr);
        }
    }
    fixed.into_iter().try_for_each(probe_until_released)
}

/// How long start-up waits for a fixed port to be released by the process this one
/// replaces. A killed glommio process's sockets outlive it until the kernel has torn its
/// io_uring down, some milliseconds later (longer on a loaded host), so a supervisor that
/// restarts at once would otherwise find the port busy.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// [`probe_exclusive`], retried while the port is in use, for at most
/// [`PORT_RELEASE_WAIT`]; a port another live process holds is still refused after that.
fn probe_until_released(addr: SocketAddr) -> io::Result<()> {
    let deadline = Instant::now() + PORT_RELEASE_WAIT;
    loop {
        match probe_exclusive(addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// An exclusive bind, dropped at once: fails if anyone holds `addr`. It sets
/// `SO_REUSEADDR` (std does), so the TIME_WAIT entries a killed listener of ours leaves
/// (`listen` sets it too) do not block it; a listener does.
pub(crate) fn probe_exclusive(addr: SocketAddr) -> io::Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

impl Shards {
    /// Each shard's node name and bound addresses (in the order of the plan).
    pub fn bound(&self) -> impl Iterator<Item = (&str, &[SocketAddr])> {
        self.shards
            .iter()
            .map(|s| (s.name.as_str(), s.addrs.as_slice()))
    }

    /// An inspector of each shard's node, if the shards run nodes of type `N`.
    pub fn inspectors<N: 'static>(&self) -> Vec<(String, Inspector<N>)> {
        self.shards
            .iter()
            .filter_map(|s| {
                let i = s.inspector.downcast_ref::<Inspector<N>>()?;
                Some((s.name.clone(), i.clone()))
            })
            .collect()
    }

    /// The name of the first shard, for the log.
    pub fn name(&self) -> &str {
        self.shards.first().map_or("", |s| s.name.as_str())
    }

    /// Waits at most `timeout` for every shard to be ready.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.shards.iter().all(|s| {
            s.ready
                .wait(deadline.saturating_duration_since(Instant::now()))
        })
    }

    /// The name of a shard whose thread has ended (stopped or failed), if any.
    pub fn finished(&self) -> Option<&str> {
        self.shards
            .iter()
            .find(|s| s.thread.as_ref().is_none_or(|t| t.is_finished()))
            .map(|s| s.name.as_str())
    }

    /// Stops every shard (all at once) and joins them; the first failure.
    pub fn stop(&mut self) -> io::Result<()> {
        for s in &self.shards {
            s.stop.raise();
        }
        let mut result = Ok(());
        for s in &mut self.shards {
            let r = match s.thread.take() {
                Some(t) => t
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other(format!("{} panicked", s.name)))),
                None => Ok(()),
            };
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(addr: &str, shared: bool) -> ListenerPlan {
        ListenerPlan {
            kind: ListenerKind::Peer,
            addr: addr.parse().unwrap(),
            shared,
        }
    }

    #[test]
    fn shared_ports_follow_shard_zero_and_peer_ports_count_up() {
        let bound: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let shared = plan("127.0.0.1:0", true);
        assert_eq!(shard_addr(&shared, 0, None).unwrap().port(), 0);
        assert_eq!(shard_addr(&shared, 3, Some(bound)).unwrap(), bound);
        let peer = plan("127.0.0.1:7000", false);
        assert_eq!(shard_addr(&peer, 2, Some(bound)).unwrap().port(), 7002);
        let free = plan("127.0.0.1:0", false);
        assert_eq!(shard_addr(&free, 2, Some(bound)).unwrap().port(), 0);
        let top = plan("127.0.0.1:65535", false);
        assert!(shard_addr(&top, 1, None).is_err());
    }

    #[test]
    fn a_client_port_inside_the_range_of_peer_ports_is_refused() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let client = plan(&format!("127.0.0.1:{}", port + 1), true);
        let peers = plan(&format!("127.0.0.1:{port}"), false);
        let e = check_fixed_ports(&[client, peers], 2).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn a_port_held_without_reuseport_is_refused_up_front() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let e = probe_exclusive(addr).unwrap_err();
        assert!(
            e.to_string().contains(&format!("cannot listen on {addr}")),
            "{e}"
        );
        drop(held);
        probe_exclusive(addr).unwrap();
    }
}
