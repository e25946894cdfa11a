//! A wake-up between tasks of one executor: whoever changes what a task waits for raises
//! it, and that one task consumes it. Everything in a shard runs on one thread, so plain
//! cells suffice.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(crate) struct Signal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    /// Wakes the waiting task, or the next one to wait.
    pub(crate) fn raise(&self) {
        self.raised.set(true);
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Forgets past raises and registers `cx` for the next one: for a task that is about
    /// to look at everything the signal stands for anyway.
    pub(crate) fn arm(&self, cx: &Context<'_>) {
        self.raised.set(false);
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
    }

    /// Waits for a raise (one that came before the call counts).
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            if self.raised.replace(false) {
                Poll::Ready(())
            } else {
                self.arm(cx);
                Poll::Pending
            }
        })
        .await
    }
}
