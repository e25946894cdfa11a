//! The thread of one shard: a glommio executor pinned to its CPU, which binds the shard's
//! listeners, makes its node and runs it. Start-up failures go to the launcher with the
//! fix spelled out (io_uring missing or forbidden, locked memory too small).

use crate::shard::Shard;
use crate::shards::ShardStart;
use glommio::{GlommioError, LocalExecutorBuilder, Placement};
use roster_core::io::Node;
use roster_shell::Readiness;
use roster_shell::{Clock, Hooks};
use std::io;
use tracing::{error, info};

/// Memory glommio registers with io_uring for file IO, which shards do not do: its
/// minimum, so that many shards fit a small locked-memory limit.
const IO_MEMORY: usize = 64 * 1024;
/// The locked-memory limit below which glommio refuses to start (its own constant).
const MIN_MEMLOCK: u64 = 512 * 1024;

/// The CPUs this process may run on, in order (shards are pinned to them round-robin);
/// empty if unknown, and then shards are not pinned.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs a shard to its end. Failures before it serves go to `start.report` (then it
/// returns `Ok`: the launcher has the error); later ones are returned.
pub(crate) fn run<N, H>(start: ShardStart<N, H>) -> io::Result<()>
where
    N: Node + Readiness + 'static,
    H: Hooks<N> + 'static,
{
    if let Some(e) = memlock_too_small() {
        let _ = start.report.send(Err(e));
        return Ok(());
    }
    let placement = start.cpu.map_or(Placement::Unbound, Placement::Fixed);
    let executor = LocalExecutorBuilder::new(placement)
        .name(&format!("shard-{}", start.index))
        .io_memory(IO_MEMORY)
        .make();
    let executor = match executor {
        Ok(e) => e,
        Err(e) => {
            let _ = start.report.send(Err(explain(e)));
            return Ok(());
        }
    };
    executor.run(serve(start))
}

async fn serve<N, H>(start: ShardStart<N, H>) -> io::Result<()>
where
    N: Node + Readiness + 'static,
    H: Hooks<N> + 'static,
{
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for &(kind, addr) in &start.listeners {
        let bound = crate::listen::bind(addr).and_then(|l| Ok((l.local_addr()?, l)));
        match bound {
            Ok((a, l)) => {
                addrs.push(a);
                listeners.push((l, kind));
            }
            Err(e) => {
                let why = io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
                let _ = start.report.send(Err(why));
                return Ok(());
            }
        }
    }
    let cx = crate::ShardContext {
        index: start.index,
        count: start.count,
        addrs: addrs.clone(),
        clock: Clock::new(),
    };
    let (name, node, hooks) = match (start.make)(&cx) {
        Ok(made) => made,
        Err(e) => {
            let _ = start.report.send(Err(e));
            return Ok(());
        }
    };
    let _ = start.report.send(Ok((name.clone(), addrs)));
    let shard = Shard::new(
        name.clone(),
        node,
        hooks,
        cx.clock,
        start.ready,
        start.config,
    );
    let result = shard.run(listeners, start.stop, start.inbox).await;
    match &result {
        Ok(()) => info!(node = %name, "stopped"),
        Err(e) => error!(node = %name, error = %e, "node failed"),
    }
    result
}

/// Refuses a locked-memory limit below glommio's minimum, with the fix: glommio's own
/// error says "unable to lock memory" through an io error, without the fix.
fn memlock_too_small() -> Option<io::Error> {
    use nix::sys::resource::{Resource, getrlimit};
    let (have, _) = getrlimit(Resource::RLIMIT_MEMLOCK).ok()?;
    (have < MIN_MEMLOCK).then(|| {
        io::Error::other(format!(
            "glommio: the locked-memory limit is {have} bytes, below the {MIN_MEMLOCK} its \
             io_uring rings need: raise it (`ulimit -l {}`; systemd: LimitMEMLOCK=; docker: \
             --ulimit memlock=), {ELSE}",
            MIN_MEMLOCK / 1024
        ))
    })
}

/// The alternative every start-up error names.
const ELSE: &str = "or run this role with --runtime mio";

/// Why an executor could not be made, and what to do about it.
fn explain(e: GlommioError<()>) -> io::Error {
    match e {
        GlommioError::IoError(e) | GlommioError::EnhancedIoError { source: e, .. } => {
            io::Error::new(
                e.kind(),
                format!(
                    "glommio: io_uring is unavailable ({e}): it needs Linux 5.8 or newer with \
                     io_uring allowed (sysctl kernel.io_uring_disabled=0; in a container, a \
                     seccomp profile that allows io_uring_setup) and enough locked memory \
                     (ulimit -l), {ELSE}"
                ),
            )
        }
        other => io::Error::other(format!(
            "glommio: cannot start an executor: {other}, {ELSE}"
        )),
    }
}
