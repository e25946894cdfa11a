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
//! A client with TLS gets an IO thread of its own instead: a shell's dials share one TLS
//! configuration, and clients of one process may trust different CAs or present different
//! certificates. The thread ends with the client.

use roster_core::client::{self as core, Event};
use roster_core::group::{GroupCommand, GroupEvent, MemberId, NodeGroup};
use roster_mio::nodes::{Running, spawn};
use roster_mio::shell::{Handle, Shell};
use roster_shell::tls::Tls;
use roster_shell::{Clock, Hooks, ShellConfig};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// Kept so the loop is never stopped: the pool lives as long as the process.
    running: Running<GroupCommand<core::Client>>,
    members: Members,
}

struct Pool {
    threads: Vec<IoThread>,
    next: AtomicUsize,
}

static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

fn pool() -> io::Result<Arc<Pool>> {
    let mut slot = lock(&POOL);
    if let Some(p) = &*slot {
        return Ok(p.clone());
    }
    let n = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        threads.push(io_thread(ShellConfig::default())?);
    }
    let p = Arc::new(Pool {
        threads,
        next: AtomicUsize::new(0),
    });
    *slot = Some(p.clone());
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
    /// The client's own IO thread (TLS), stopped with the seat.
    _own: Option<IoThread>,
}

impl Seat {
    /// Puts `node` on an IO thread (its own if it dials with `tls`); its events go to
    /// `target`.
    pub(crate) fn take(
        node: core::Client,
        target: Arc<dyn Member>,
        tls: Option<&Tls>,
    ) -> io::Result<Seat> {
        let own = match tls {
            Some(tls) => Some(io_thread(ShellConfig {
                tls: tls.clone(),
                ..ShellConfig::default()
            })?),
            None => None,
        };
        let shared;
        let thread = match &own {
            Some(thread) => thread,
            None => {
                shared = pool()?;
                let i = shared.next.fetch_add(1, Ordering::Relaxed) % shared.threads.len();
                &shared.threads[i]
            }
        };
        let member = MemberId(NEXT_MEMBER.fetch_add(1, Ordering::Relaxed));
        // Listed before it joins, so not one of its events finds it missing.
        lock(&thread.members).insert(member, target);
        let handle = thread.running.handle().clone();
        let members = thread.members.clone();
        let seat = Seat {
            member,
            handle,
            members,
            _own: own,
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
