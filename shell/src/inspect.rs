//! Asking a running node something from another thread: the admin server's way in.
//!
//! A node lives on its event loop and nothing else may touch it, so a question travels to
//! the loop as a closure ([`Job`]) and its answer comes back over a channel. The loop runs
//! each job between its own turns, with the node's `now`, and drains the node's outputs
//! after it as after any input, so a job may also hand the node a command. Both shells
//! keep an [`Inbox`] per node and give out [`Inspector`]s for it.
//!
//! An inspector never blocks the loop: the loop only takes the queued jobs under a short
//! lock. The asking thread waits at most its timeout, and learns at once when the loop has
//! stopped (the inbox is closed and the jobs' reply channels are dropped).

use roster_core::time::Instant;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A closure run on a node inside its loop.
pub type Job<N> = Box<dyn FnOnce(&mut N, Instant) + Send>;

/// The jobs waiting for one node's loop.
pub struct Inbox<N> {
    state: Mutex<State<N>>,
}

struct State<N> {
    jobs: Vec<Job<N>>,
    closed: bool,
}

impl<N> fmt::Debug for Inbox<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Inbox")
            .field("jobs", &s.jobs.len())
            .field("closed", &s.closed)
            .finish()
    }
}

impl<N> Default for Inbox<N> {
    fn default() -> Self {
        Inbox {
            state: Mutex::new(State {
                jobs: Vec::new(),
                closed: false,
            }),
        }
    }
}

impl<N> Inbox<N> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<N>> {
        // A job runs outside the lock, so a panic cannot leave the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; whether the inbox was empty (the loop needs waking), or the job back
    /// if the loop has stopped.
    pub fn push(&self, job: Job<N>) -> Result<bool, Job<N>> {
        let mut s = self.lock();
        if s.closed {
            return Err(job);
        }
        s.jobs.push(job);
        Ok(s.jobs.len() == 1)
    }

    /// Takes every queued job, for the loop to run.
    pub fn take(&self) -> Vec<Job<N>> {
        std::mem::take(&mut self.lock().jobs)
    }

    /// Runs every queued job on `node`; whether there was any.
    pub fn run(&self, node: &mut N, now: Instant) -> bool {
        let jobs = self.take();
        let any = !jobs.is_empty();
        for job in jobs {
            job(node, now);
        }
        any
    }

    /// The loop has stopped: refuse new jobs and drop the queued ones, which tells their
    /// askers at once.
    pub fn close(&self) {
        let jobs = {
            let mut s = self.lock();
            s.closed = true;
            std::mem::take(&mut s.jobs)
        };
        drop(jobs);
    }
}

/// Why a node gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskError {
    /// The node's loop has stopped.
    Stopped,
    /// The loop did not get to it in time (it is stalled or very busy).
    Timeout,
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AskError::Stopped => "the node has stopped",
            AskError::Timeout => "the node did not answer in time",
        })
    }
}

impl std::error::Error for AskError {}

/// Wakes a loop that may be parked waiting for IO.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// A handle that asks one node questions from any thread.
pub struct Inspector<N> {
    inbox: Arc<Inbox<N>>,
    wake: Wake,
}

impl<N> Clone for Inspector<N> {
    fn clone(&self) -> Self {
        Inspector {
            inbox: self.inbox.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<N> fmt::Debug for Inspector<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inspector")
            .field("inbox", &self.inbox)
            .finish()
    }
}

impl<N: 'static> Inspector<N> {
    /// An inspector of the node whose loop runs `inbox`, woken by `wake` (a loop that
    /// looks at its inbox on a timer of its own needs none: pass a no-op).
    pub fn new(inbox: Arc<Inbox<N>>, wake: Wake) -> Self {
        Inspector { inbox, wake }
    }

    /// Runs `f` on the node inside its loop and returns what it returned, waiting at most
    /// `timeout`.
    pub fn ask<R, F>(&self, timeout: Duration, f: F) -> Result<R, AskError>
    where
        R: Send + 'static,
        F: FnOnce(&mut N, Instant) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job<N> = Box::new(move |node, now| {
            // The asker may have given up; its answer is then nobody's.
            let _ = tx.send(f(node, now));
        });
        match self.inbox.push(job) {
            Ok(true) => (self.wake)(),
            Ok(false) => {}
            Err(_) => return Err(AskError::Stopped),
        }
        rx.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => AskError::Timeout,
            mpsc::RecvTimeoutError::Disconnected => AskError::Stopped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn inspector(inbox: &Arc<Inbox<u32>>, wakes: &Arc<AtomicUsize>) -> Inspector<u32> {
        let w = wakes.clone();
        Inspector::new(
            inbox.clone(),
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[test]
    fn a_question_is_answered_by_the_loop_with_the_node_and_its_time() {
        let inbox = Arc::new(Inbox::<u32>::default());
        let wakes = Arc::new(AtomicUsize::new(0));
        let ask = inspector(&inbox, &wakes);
        let loop_inbox = inbox.clone();
        let node_loop = std::thread::spawn(move || {
            let mut node = 41;
            // The loop's turns: run whatever arrived until one job has been run.
            while !loop_inbox.run(&mut node, Instant::from_nanos(7)) {
                std::thread::yield_now();
            }
            node
        });
        let answer = ask
            .ask(Duration::from_secs(10), |n, now| {
                *n += 1;
                (*n, now)
            })
            .unwrap();
        assert_eq!(answer, (42, Instant::from_nanos(7)));
        assert_eq!(
            node_loop.join().unwrap(),
            42,
            "the job changed the node itself"
        );
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            1,
            "the first job wakes the loop"
        );
    }

    #[test]
    fn only_the_job_that_finds_the_inbox_empty_wakes_the_loop() {
        let inbox = Arc::new(Inbox::<u32>::default());
        assert_eq!(inbox.push(Box::new(|_, _| {})).ok(), Some(true));
        assert_eq!(inbox.push(Box::new(|_, _| {})).ok(), Some(false));
        assert_eq!(inbox.take().len(), 2);
        assert_eq!(inbox.push(Box::new(|_, _| {})).ok(), Some(true));
    }

    #[test]
    fn a_stopped_loop_answers_at_once_and_takes_no_more_jobs() {
        let inbox = Arc::new(Inbox::<u32>::default());
        let wakes = Arc::new(AtomicUsize::new(0));
        let ask = inspector(&inbox, &wakes);
        let waiting = {
            let ask = ask.clone();
            std::thread::spawn(move || ask.ask(Duration::from_secs(600), |n, _| *n))
        };
        // The asker's job is queued before the loop stops.
        while inbox.lock().jobs.is_empty() {
            std::thread::yield_now();
        }
        inbox.close();
        assert_eq!(waiting.join().unwrap(), Err(AskError::Stopped));
        assert_eq!(
            ask.ask(Duration::from_secs(600), |n, _| *n),
            Err(AskError::Stopped)
        );
    }

    #[test]
    fn a_loop_that_never_turns_times_the_question_out() {
        let inbox = Arc::new(Inbox::<u32>::default());
        let ask = inspector(&inbox, &Arc::new(AtomicUsize::new(0)));
        assert_eq!(
            ask.ask(Duration::from_millis(1), |n, _| *n),
            Err(AskError::Timeout)
        );
    }
}
