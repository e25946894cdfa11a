//! The hand-off between threads: a small unbounded MPMC queue with a close flag, a blocking
//! pop (condition variable) and an async pop (a registered `Waker`), so that one queue
//! serves a blocking iterator and a `futures::Stream` alike.
//!
//! Used for the client library's commands (handle → IO thread, whose mio loop is woken
//! separately with `mio::Waker`), its updates (IO thread → subscription handles), and the
//! node loops' control messages (shutdown). Built on [`crate::sync`], so the loom tests at
//! the bottom check it under every interleaving; the waiting and waking are
//! [`crate::waitable`]'s.

use crate::sync::Arc;
use crate::waitable::{Guarded, Waitable, Wake};
use std::collections::VecDeque;
use std::task::{Context, Poll};
#[cfg(not(loom))]
use std::time::Duration;

/// A queue shared by cloning; every clone is both a sender and a receiver.
#[derive(Debug)]
pub struct Queue<T> {
    inner: Arc<Waitable<VecDeque<T>>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

/// The queue was closed; the item is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<T>(pub T);

/// Takes the oldest item: `Some(Some(item))`, `Some(None)` once closed and empty, `None`
/// while there is nothing to take yet.
fn take<T>(s: &mut Guarded<VecDeque<T>>) -> Option<Option<T>> {
    match s.data.pop_front() {
        Some(item) => Some(Some(item)),
        None => s.closed.then_some(None),
    }
}

impl<T> Queue<T> {
    /// An empty, open queue.
    pub fn new() -> Self {
        Queue {
            inner: Arc::new(Waitable::new(VecDeque::new())),
        }
    }

    /// Appends an item and wakes a waiting receiver; refused once closed.
    pub fn push(&self, item: T) -> Result<(), Closed<T>> {
        self.push_first(item).map(|_| ())
    }

    /// [`Queue::push`], telling whether the queue was empty before: the push that makes
    /// it non-empty is the one that must wake a consumer which only drains when woken
    /// (the shell's loop); later pushes ride the same wake-up, since the consumer takes
    /// everything queued at once ([`Queue::drain`]).
    pub fn push_first(&self, item: T) -> Result<bool, Closed<T>> {
        self.inner.change(|s| {
            if s.closed {
                return (Err(Closed(item)), Wake::Nobody);
            }
            let first = s.data.is_empty();
            s.data.push_back(item);
            (Ok(first), Wake::One)
        })
    }

    /// Closes the queue: pushes fail from now on, receivers drain what is left and then see
    /// the end.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Takes the oldest item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.inner.lock().data.pop_front()
    }

    /// Takes every queued item without waiting.
    pub fn drain(&self) -> Vec<T> {
        self.inner.lock().data.drain(..).collect()
    }

    /// Waits for the oldest item; `None` once the queue is closed and empty.
    pub fn pop(&self) -> Option<T> {
        self.inner.wait(take)
    }

    /// Polls for the oldest item: `Ready(None)` once closed and empty; otherwise registers
    /// the task to be woken by the next push or the close.
    pub fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll(cx, take)
    }
}

#[cfg(not(loom))]
impl<T> Queue<T> {
    /// Waits at most `timeout` for the oldest item. `Err(true)` if closed and empty,
    /// `Err(false)` on timeout.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, bool> {
        match self.inner.wait_timeout(timeout, take) {
            Some(Some(item)) => Ok(item),
            Some(None) => Err(true),
            None => Err(false),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_then_end_after_close() {
        let q = Queue::new();
        q.push(1).unwrap();
        q.push(2).unwrap();
        q.close();
        assert_eq!(q.push(3), Err(Closed(3)));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.try_pop(), Some(2));
        assert_eq!(q.pop(), None);
        assert_eq!(q.pop_timeout(Duration::from_millis(1)), Err(true));
    }

    #[test]
    fn push_first_reports_only_the_push_onto_an_empty_queue() {
        let q = Queue::new();
        assert_eq!(q.push_first(1), Ok(true));
        assert_eq!(q.push_first(2), Ok(false));
        assert_eq!(q.drain(), vec![1, 2]);
        assert_eq!(q.push_first(3), Ok(true), "empty again after the drain");
        q.close();
        assert_eq!(q.push_first(4), Err(Closed(4)));
    }

    #[test]
    fn pop_timeout_times_out_on_an_open_empty_queue() {
        let q = Queue::<u8>::new();
        assert_eq!(q.pop_timeout(Duration::from_millis(5)), Err(false));
    }

    #[test]
    fn a_blocked_receiver_is_woken_by_another_thread() {
        let q = Queue::new();
        let r = q.clone();
        let t = std::thread::spawn(move || r.pop());
        q.push(7).unwrap();
        assert_eq!(t.join().unwrap(), Some(7));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    #[test]
    fn loom_every_item_arrives_once_in_order() {
        loom::model(|| {
            let q = Queue::new();
            let tx = q.clone();
            let t = thread::spawn(move || {
                tx.push(1).unwrap();
                tx.push(2).unwrap();
                tx.close();
            });
            let mut got = Vec::new();
            while let Some(v) = q.pop() {
                got.push(v);
            }
            t.join().unwrap();
            assert_eq!(got, vec![1, 2]);
        });
    }

    #[test]
    fn loom_close_wakes_a_blocked_receiver() {
        loom::model(|| {
            let q = Queue::<u8>::new();
            let rx = q.clone();
            let t = thread::spawn(move || rx.pop());
            q.close();
            assert_eq!(t.join().unwrap(), None);
        });
    }

    #[test]
    fn loom_two_senders_lose_nothing() {
        loom::model(|| {
            let q = Queue::new();
            let a = q.clone();
            let b = q.clone();
            let ta = thread::spawn(move || a.push(1).unwrap());
            let tb = thread::spawn(move || b.push(2).unwrap());
            let mut got = vec![q.pop().unwrap(), q.pop().unwrap()];
            ta.join().unwrap();
            tb.join().unwrap();
            got.sort();
            assert_eq!(got, vec![1, 2]);
            assert_eq!(q.try_pop(), None);
        });
    }

    #[test]
    fn loom_a_push_racing_close_is_either_delivered_or_refused() {
        loom::model(|| {
            let q = Queue::new();
            let tx = q.clone();
            let t = thread::spawn(move || tx.push(5).is_ok());
            q.close();
            let accepted = t.join().unwrap();
            assert_eq!(q.pop(), accepted.then_some(5));
            assert_eq!(q.pop(), None);
        });
    }

    /// The shell's rule: only the push that finds the queue empty wakes the loop, and the
    /// loop drains everything per wake-up. Loom reports a deadlock if an item could be left
    /// queued with no wake-up to come (the "eventfd" here is a counter behind a condvar).
    #[test]
    fn loom_waking_only_on_the_first_push_strands_nothing() {
        use crate::sync::{Condvar, Mutex};
        loom::model(|| {
            let q = Queue::new();
            let bell = Arc::new((Mutex::new(0u32), Condvar::new()));
            let producers: Vec<_> = [1, 2]
                .into_iter()
                .map(|v| {
                    let (q, bell) = (q.clone(), bell.clone());
                    thread::spawn(move || {
                        if q.push_first(v).unwrap() {
                            *bell.0.lock().unwrap() += 1;
                            bell.1.notify_one();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            let mut rung = 0;
            loop {
                got.extend(q.drain());
                if got.len() == 2 {
                    break;
                }
                let mut n = bell.0.lock().unwrap();
                while *n == rung {
                    n = bell.1.wait(n).unwrap();
                }
                rung = *n;
            }
            producers.into_iter().for_each(|t| t.join().unwrap());
            got.sort();
            assert_eq!(got, vec![1, 2]);
        });
    }

    #[test]
    fn loom_async_receiver_is_woken() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        loom::model(|| {
            let q = Queue::new();
            let tx = q.clone();
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = std::task::Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let t = thread::spawn(move || tx.push(9).unwrap());
            match q.poll_pop(&mut cx) {
                Poll::Ready(v) => assert_eq!(v, Some(9)),
                Poll::Pending => {
                    t.join().unwrap();
                    // Registered before the push, so the push must have woken us.
                    assert!(flag.0.load(Ordering::SeqCst));
                    assert_eq!(q.poll_pop(&mut cx), Poll::Ready(Some(9)));
                    return;
                }
            }
            t.join().unwrap();
        });
    }
}
