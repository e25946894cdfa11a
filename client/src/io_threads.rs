//! The IO threads every [`Client`](crate::Client) of a process shares.
//!
//! A thread per client makes a process with a hundred clients (a load generator, a gateway
//! with one client per tenant) pay a hundred threads, poll sets and wake-ups: on a 2-core
//! machine the context switches cost more than the protocol. Instead each IO thread runs a
//! [`NodeGroup`] of core clients in one [`Shell`]; a client joins the group of one thread
//! (round robin) when it is made and leaves it, closing its connection, when it is dropped.
//!
//! The threads start with the first client and live as long as the process, idle in
//! `epoll_wait` when no client is left.
//!
//! Clients with TLS share IO threads by TLS configuration instead: a shell's dials share
//! one, and clients of one process may trust different CAs or present different
//! certificates. Clients made with one [`ClientTls`](crate::ClientTls) (or its clones)
//! share a pool of their own, which stops when the last of them is dropped.

use roster_core::client::{self as core, Event};
use roster_core::group::{GroupCommand, GroupEvent, MemberId, NodeGroup};
use roster_mio::nodes::{Running, spawn};
use roster_mio::shell::{Handle, Shell};
use roster_shell::tls::Tls;
use roster_shell::{Clock, Hooks, ShellConfig};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Most IO threads, whatever the core count: a client's IO work is small next to the
/// application's, and the threads exist for the life of the process.
const MAX_THREADS: usize = 4;

/// Where a client's events go: the part of the client its IO thread reaches.
pub(crate) trait Member: Send + Sync {
    /// Handles one event of the client (on the IO thread).
    fn event(&self, event: Event);
}

type Members = Arc<Mutex<HashMap<MemberId, Arc<dyn Member>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every value behind these locks is complete after each statement that changes it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct GroupHooks {
    members: Members,
}

impl Hooks<NodeGroup<core::Client>> for GroupHooks {
    fn event(&mut self, GroupEvent { member, event }: GroupEvent<Event>) -> io::Result<()> {
        // The lock is held only to find the member: delivering may take other locks.
        let target = lock(&self.members).get(&member).cloned();
        if let Some(target) = target {
            target.event(event);
        }
        Ok(())
    }
}

struct IoThread {
    /// Kept so the loop runs as long as its pool (the plain pool: the process).
    running: Running<GroupCommand<core::Client>>,
    members: Members,
}

struct Pool {
    threads: Vec<IoThread>,
    next: AtomicUsize,
    /// The TLS its threads dial with (`None`: plain); held so its address, the pool's key,
    /// is not reused while the pool lives.
    tls: Option<Arc<Tls>>,
}

impl Pool {
    fn new(tls: Option<Arc<Tls>>) -> io::Result<Pool> {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS);
        let config = ShellConfig {
            tls: tls.as_deref().cloned().unwrap_or_default(),
            ..ShellConfig::default()
        };
        let threads = (0..n)
            .map(|_| io_thread(config.clone()))
            .collect::<io::Result<_>>()?;
        Ok(Pool {
            threads,
            next: AtomicUsize::new(0),
            tls,
        })
    }
}

static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);
/// The pools of TLS clients, while any of their clients lives.
static TLS_POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

fn pool() -> io::Result<Arc<Pool>> {
    let mut slot = lock(&POOL);
    if let Some(p) = &*slot {
        return Ok(p.clone());
    }
    let p = Arc::new(Pool::new(None)?);
    *slot = Some(p.clone());
    Ok(p)
}

/// The pool of clients dialling with `tls`, started if it has none.
fn tls_pool(tls: &Arc<Tls>) -> io::Result<Arc<Pool>> {
    let mut pools = lock(&TLS_POOLS);
    pools.retain(|p| p.strong_count() > 0);
    let same = |p: &Arc<Pool>| p.tls.as_ref().is_some_and(|t| Arc::ptr_eq(t, tls));
    if let Some(p) = pools.iter().filter_map(Weak::upgrade).find(same) {
        return Ok(p);
    }
    let p = Arc::new(Pool::new(Some(tls.clone()))?);
    pools.push(Arc::downgrade(&p));
    Ok(p)
}

/// Starts an IO thread whose connections use `config`.
fn io_thread(config: ShellConfig) -> io::Result<IoThread> {
    let shell = Shell::new("client", NodeGroup::new(), Clock::new(), Vec::new(), config)?;
    let members: Members = Arc::default();
    let hooks = GroupHooks {
        members: members.clone(),
    };
    let running = spawn("roster-client", shell, hooks)?;
    Ok(IoThread { running, members })
}

/// A client's place on a shared IO thread. Dropping it takes the client off the thread
/// and closes its connection.
pub(crate) struct Seat {
    member: MemberId,
    handle: Handle<GroupCommand<core::Client>>,
    members: Members,
    /// The pool of its TLS configuration, whose threads stop with its last seat.
    _tls_pool: Option<Arc<Pool>>,
}

impl Seat {
    /// Puts `node` on an IO thread (of the pool of `tls` if it dials with TLS); its events
    /// go to `target`.
    pub(crate) fn take(
        node: core::Client,
        target: Arc<dyn Member>,
        tls: Option<&Arc<Tls>>,
    ) -> io::Result<Seat> {
        let pool = match tls {
            Some(tls) => tls_pool(tls)?,
            None => pool()?,
        };
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.threads.len();
        let thread = &pool.threads[i];
        let member = MemberId(NEXT_MEMBER.fetch_add(1, Ordering::Relaxed));
        // Listed before it joins, so not one of its events finds it missing.
        lock(&thread.members).insert(member, target);
        let handle = thread.running.handle().clone();
        let members = thread.members.clone();
        let seat = Seat {
            member,
            handle,
            members,
            _tls_pool: tls.is_some().then(|| pool.clone()),
        };
        seat.handle
            .command(GroupCommand::Join { member, node })
            .map_err(|_| io::Error::other("the client IO thread has stopped"))?;
        Ok(seat)
    }

    /// Hands the client a command; `Err` if its IO thread has stopped.
    pub(crate) fn command(&self, command: core::Command) -> Result<(), ()> {
        self.handle
            .command(GroupCommand::Command {
                member: self.member,
                command,
            })
            .map_err(drop)
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let _ = self.handle.command(GroupCommand::Leave {
            member: self.member,
        });
        lock(&self.members).remove(&self.member);
    }
}

/// How many IO threads the clients of this process share (0 before the first client).
pub fn io_threads() -> usize {
    lock(&POOL).as_ref().map_or(0, |p| p.threads.len())
}
