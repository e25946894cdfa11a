//! What the hand-offs between threads ([`crate::queue`], [`crate::watch`]) share: a state
//! behind a lock with a close flag, that threads wait on (blocking on a condition variable,
//! with or without a timeout) or tasks poll (registering a `Waker`), and that a change
//! wakes. Each hand-off says what its state is and what taking from it means; the waiting,
//! the waking and the bookkeeping of who waits are here once.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The state with the bookkeeping of its waiters.
#[derive(Debug)]
pub(crate) struct Guarded<S> {
    pub(crate) data: S,
    pub(crate) closed: bool,
    wakers: Vec<Waker>,
    /// Blocking waiters inside `Condvar::wait`: a change signals the condition variable
    /// only when one is there (signalling is a system call, and most changes have no one
    /// blocked).
    sleepers: usize,
}

/// Whom a change wakes among the blocked threads (every registered task is woken).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wake {
    Nobody,
    One,
    All,
}

#[derive(Debug)]
pub(crate) struct Waitable<S> {
    state: Mutex<Guarded<S>>,
    changed: Condvar,
}

impl<S> Waitable<S> {
    pub(crate) fn new(data: S) -> Self {
        Waitable {
            state: Mutex::new(Guarded {
                data,
                closed: false,
                wakers: Vec::new(),
                sleepers: 0,
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Guarded<S>> {
        // Every operation leaves the state whole, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the state under the lock; `change` says whom to wake. The wake-ups happen
    /// after the lock is released.
    pub(crate) fn change<R>(&self, change: impl FnOnce(&mut Guarded<S>) -> (R, Wake)) -> R {
        let (result, wake, wakers) = {
            let mut s = self.lock();
            let (result, wake) = change(&mut s);
            let wakers = match wake {
                Wake::Nobody => Vec::new(),
                Wake::One | Wake::All => std::mem::take(&mut s.wakers),
            };
            let wake = if s.sleepers > 0 { wake } else { Wake::Nobody };
            (result, wake, wakers)
        };
        match wake {
            Wake::Nobody => {}
            Wake::One => self.changed.notify_one(),
            Wake::All => self.changed.notify_all(),
        }
        wakers.into_iter().for_each(Waker::wake);
        result
    }

    /// Closes it and wakes everyone waiting.
    pub(crate) fn close(&self) {
        self.change(|s| {
            s.closed = true;
            ((), Wake::All)
        });
    }

    /// Waits until `take` finds something (or decides the wait is over).
    pub(crate) fn wait<R>(&self, mut take: impl FnMut(&mut Guarded<S>) -> Option<R>) -> R {
        let mut s = self.lock();
        loop {
            if let Some(r) = take(&mut s) {
                return r;
            }
            s.sleepers += 1;
            s = self
                .changed
                .wait(s)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            s.sleepers -= 1;
        }
    }

    /// Polls `take`; registers the task to be woken by the next change if it finds nothing.
    pub(crate) fn poll<R>(
        &self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut Guarded<S>) -> Option<R>,
    ) -> Poll<R> {
        let mut s = self.lock();
        if let Some(r) = take(&mut s) {
            return Poll::Ready(r);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(not(loom))]
impl<S> Waitable<S> {
    /// Waits at most `timeout` for `take` to find something; `None` on timeout. The clock
    /// is read only once there is something to wait for: a reader that keeps up usually
    /// finds its value there already.
    pub(crate) fn wait_timeout<R>(
        &self,
        timeout: std::time::Duration,
        mut take: impl FnMut(&mut Guarded<S>) -> Option<R>,
    ) -> Option<R> {
        let mut deadline = None;
        let mut s = self.lock();
        loop {
            if let Some(r) = take(&mut s) {
                return Some(r);
            }
            let now = std::time::Instant::now();
            let left = deadline
                .get_or_insert(now + timeout)
                .saturating_duration_since(now);
            if left.is_zero() {
                return None;
            }
            s.sleepers += 1;
            s = self
                .changed
                .wait_timeout(s, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            s.sleepers -= 1;
        }
    }
}
