//! The hand-off of a value that only its newest state matters for, from one thread to many
//! readers: a client's IO thread stores each pushed list of a key once, and every
//! subscription of that key on the client reads it from there.
//!
//! A subscriber wants the current list, not the history: a list superseded before the
//! application looked at it is skipped, so a slow reader costs one slot, never a backlog,
//! and a push costs the IO thread one store however many subscriptions share the key
//! (instead of one queue push each). Each [`Reader`] remembers the sequence number of the
//! last value it took, so every reader sees every value that was current when it looked,
//! once.
//!
//! Built on [`crate::sync`], so the loom tests at the bottom check it under every
//! interleaving, as they do the command queue ([`crate::queue`]); the waiting and waking
//! are [`crate::waitable`]'s.

use crate::sync::Arc;
use crate::waitable::{Guarded, Waitable, Wake};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

#[derive(Debug)]
struct Newest<T> {
    value: Option<T>,
    /// How many values were stored: a reader whose last one is older has news.
    seq: u64,
}

/// The newest value, shared by cloning; every clone may store and make readers.
#[derive(Debug)]
pub struct Watch<T> {
    inner: Arc<Waitable<Newest<T>>>,
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Watch {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Watch<T> {
    fn default() -> Self {
        Watch::new()
    }
}

impl<T> Watch<T> {
    /// Empty and open.
    pub fn new() -> Self {
        Watch {
            inner: Arc::new(Waitable::new(Newest {
                value: None,
                seq: 0,
            })),
        }
    }

    /// Stores `value` if `newer(current)` says so (and the watch is open), waking every
    /// waiting reader; whether it was stored.
    pub fn store_if(&self, value: T, newer: impl FnOnce(Option<&T>) -> bool) -> bool {
        self.inner.change(|s| {
            if s.closed || !newer(s.data.value.as_ref()) {
                return (false, Wake::Nobody);
            }
            s.data.value = Some(value);
            s.data.seq += 1;
            (true, Wake::All)
        })
    }

    /// Closes it: stores fail from now on; readers take the last value if they have not,
    /// then see the end.
    pub fn close(&self) {
        self.inner.close();
    }

    /// A reader that has seen nothing yet (so its first read takes the current value).
    pub fn reader(&self) -> Reader<T> {
        Reader {
            watch: self.clone(),
            seen: AtomicU64::new(0),
        }
    }
}

/// One reader of a [`Watch`]: takes each value current when it looks, once.
#[derive(Debug)]
pub struct Reader<T> {
    watch: Watch<T>,
    /// The sequence number of the last value taken. Read and written only with the
    /// watch's lock held, which orders it; the atomic only lets `&self` methods move it.
    seen: AtomicU64,
}

impl<T: Clone> Reader<T> {
    /// `Some(Some(value))` if newer than the last one taken, `Some(None)` once closed with
    /// nothing newer, `None` while there is nothing to take yet.
    fn take(&self, s: &mut Guarded<Newest<T>>) -> Option<Option<T>> {
        if s.data.seq > self.seen.load(Ordering::Relaxed) {
            if let Some(v) = &s.data.value {
                self.seen.store(s.data.seq, Ordering::Relaxed);
                return Some(Some(v.clone()));
            }
        }
        s.closed.then_some(None)
    }

    /// The value if it is newer than the last one taken, without waiting.
    pub fn try_next(&self) -> Option<T> {
        self.take(&mut self.watch.inner.lock()).flatten()
    }

    /// Waits for a value newer than the last one taken; `None` once the watch is closed
    /// and nothing newer is left.
    pub fn next_blocking(&self) -> Option<T> {
        self.watch.inner.wait(|s| self.take(s))
    }

    /// Polls for a value newer than the last one taken: `Ready(None)` once closed and
    /// nothing newer is left; otherwise registers the task to be woken by the next store or
    /// the close.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.watch.inner.poll(cx, |s| self.take(s))
    }
}

#[cfg(not(loom))]
impl<T: Clone> Reader<T> {
    /// Waits at most `timeout` for a value newer than the last one taken. `Err(true)` if
    /// closed with nothing newer, `Err(false)` on timeout.
    pub fn next_timeout(&self, timeout: std::time::Duration) -> Result<T, bool> {
        match self.watch.inner.wait_timeout(timeout, |s| self.take(s)) {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(true),
            None => Err(false),
        }
    }
}

/// The rule the client stores by, on plain numbers: only a newer value replaces one.
#[cfg(test)]
fn newer(v: u32) -> impl FnOnce(Option<&u32>) -> bool {
    move |cur| cur.is_none_or(|c| v > *c)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reader_takes_each_current_value_once_and_skips_superseded_ones() {
        let w = Watch::new();
        let r = w.reader();
        assert_eq!(r.try_next(), None);
        assert!(w.store_if(1, newer(1)));
        assert!(w.store_if(2, newer(2)));
        assert_eq!(
            r.try_next(),
            Some(2),
            "1 was superseded before the reader looked"
        );
        assert_eq!(r.try_next(), None, "2 is taken once");
        assert!(w.store_if(3, newer(3)));
        assert_eq!(r.next_timeout(Duration::from_secs(5)), Ok(3));
    }

    #[test]
    fn a_late_reader_starts_from_the_current_value() {
        let w = Watch::new();
        assert!(w.store_if(7, newer(7)));
        let early = w.reader();
        assert_eq!(early.try_next(), Some(7));
        let late = w.reader();
        assert_eq!(late.try_next(), Some(7));
        assert_eq!(early.try_next(), None);
    }

    #[test]
    fn a_refused_store_changes_nothing_and_wakes_no_one() {
        let w = Watch::new();
        let r = w.reader();
        assert!(w.store_if(5, newer(5)));
        assert_eq!(r.try_next(), Some(5));
        assert!(!w.store_if(5, newer(5)), "not newer");
        assert!(!w.store_if(4, newer(4)), "older");
        assert_eq!(r.try_next(), None);
    }

    #[test]
    fn close_hands_out_the_last_value_then_ends() {
        let w = Watch::new();
        let r = w.reader();
        assert!(w.store_if(1, newer(1)));
        w.close();
        assert!(!w.store_if(2, newer(2)), "closed");
        assert_eq!(r.next_blocking(), Some(1));
        assert_eq!(r.next_blocking(), None);
        assert_eq!(r.next_timeout(Duration::from_millis(1)), Err(true));
    }

    #[test]
    fn next_timeout_times_out_when_nothing_is_newer() {
        let w = Watch::<u8>::new();
        assert_eq!(
            w.reader().next_timeout(Duration::from_millis(5)),
            Err(false)
        );
    }

    #[test]
    fn a_blocked_reader_is_woken_by_another_thread() {
        let w = Watch::new();
        let r = w.reader();
        let t = std::thread::spawn(move || r.next_blocking());
        assert!(w.store_if(9, newer(9)));
        assert_eq!(t.join().unwrap(), Some(9));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// A reader blocked across two stores and a close ends with the last value: never an
    /// older one after a newer, never a missed final value, never a hang.
    #[test]
    fn loom_a_reader_ends_with_the_newest_value() {
        loom::model(|| {
            let w = Watch::new();
            let r = w.reader();
            let tx = w.clone();
            let t = thread::spawn(move || {
                tx.store_if(1, newer(1));
                tx.store_if(2, newer(2));
                tx.close();
            });
            let mut got = Vec::new();
            while let Some(v) = r.next_blocking() {
                got.push(v);
            }
            t.join().unwrap();
            assert_eq!(got.last(), Some(&2));
            assert!(got.windows(2).all(|p| p[0] < p[1]), "{got:?}");
        });
    }

    /// Two readers of one watch both see a store made while both may be blocked.
    #[test]
    fn loom_one_store_wakes_every_reader() {
        loom::model(|| {
            let w = Watch::new();
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let r = w.reader();
                    thread::spawn(move || r.next_blocking())
                })
                .collect();
            w.store_if(3, newer(3));
            for t in readers {
                assert_eq!(t.join().unwrap(), Some(3));
            }
        });
    }

    #[test]
    fn loom_async_reader_is_woken() {
        use std::sync::atomic::AtomicBool;
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        loom::model(|| {
            let w = Watch::new();
            let r = w.reader();
            let tx = w.clone();
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = std::task::Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let t = thread::spawn(move || tx.store_if(4, newer(4)));
            match r.poll_next(&mut cx) {
                Poll::Ready(v) => assert_eq!(v, Some(4)),
                Poll::Pending => {
                    t.join().unwrap();
                    // Registered before the store, so the store must have woken us.
                    assert!(flag.0.load(Ordering::SeqCst));
                    assert_eq!(r.poll_next(&mut cx), Poll::Ready(Some(4)));
                    return;
                }
            }
            t.join().unwrap();
        });
    }
}
