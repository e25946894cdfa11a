//! One connection of a shard: the state the node's outputs write into (queued frames, the
//! node's close) and the task that owns the socket and moves bytes both ways.
//!
//! The node's outputs only queue bytes and raise the connection's signal; the task then
//! writes everything queued in one go. A drain that sends fifty frames to one connection
//! thus costs one write, where a readiness loop that flushes per frame pays fifty. The
//! write limit bounds the bytes queued in `Framed`; the batch the task is writing has left
//! it, so a peer that stops reading holds at most twice the limit before it is cut off.

use crate::signal::Signal;
use bytes::{Buf, BytesMut};
use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use roster_core::io::ConnId;
use roster_mio::framing::{Framed, ReadOutcome};
use roster_mio::shell::ListenerKind;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Outbound, not established yet: frames queue up.
    Connecting,
    /// Established.
    Open,
    /// The node closed it (or the shard stops): one last write, then close.
    Closing,
    /// Given up (failed, closed by the peer, or the shard stopped without flushing).
    Gone,
}

/// A connection as the shard sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    /// The peer's address, for the log.
    pub(crate) peer: String,
    pub(crate) framed: RefCell<Framed>,
    pub(crate) state: Cell<State>,
    /// Inbound: the listener it came from, until its first frame is checked.
    pub(crate) unchecked: Cell<Option<ListenerKind>>,
    /// Raised when there is something to write or the state changed.
    pub(crate) wake: Signal,
}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        peer: String,
        state: State,
        unchecked: Option<ListenerKind>,
        write_limit: usize,
    ) -> Conn {
        Conn {
            id,
            peer,
            framed: RefCell::new(Framed::new(write_limit)),
            state: Cell::new(state),
            unchecked: Cell::new(unchecked),
            wake: Signal::default(),
        }
    }

    /// Moves to `state` and lets the task see it.
    pub(crate) fn set(&self, state: State) {
        self.state.set(state);
        self.wake.raise();
    }
}

/// What the connection's task reports to the shard.
pub(crate) trait Owner {
    /// Bytes arrived and were decoded.
    fn received(&self, conn: &Rc<Conn>, outcome: ReadOutcome);
    /// The connection ended without the node asking: `None` when the peer closed it.
    fn lost(&self, conn: &Rc<Conn>, error: Option<io::Error>);
    /// The task has ended.
    fn ended(&self);
}

enum Step {
    Read(usize),
    Eof,
    Failed(io::Error),
    Done,
}

/// Runs the connection until it ends; owns the socket.
pub(crate) async fn serve(owner: Rc<impl Owner>, conn: Rc<Conn>, mut stream: TcpStream) {
    let mut out = BytesMut::new();
    let mut rbuf = vec![0; READ_CHUNK];
    loop {
        match poll_fn(|cx| pump(&conn, &mut stream, &mut out, &mut rbuf, cx)).await {
            Step::Read(n) => {
                let outcome = conn.framed.borrow_mut().ingest(&rbuf[..n]);
                // If that closed the connection, the next pump says so (after writing
                // what the node sent before closing it).
                owner.received(&conn, outcome);
                // A peer that keeps sending must not starve the shard's other tasks.
                futures_lite::future::yield_now().await;
            }
            Step::Eof => {
                owner.lost(&conn, None);
                break;
            }
            Step::Failed(e) => {
                owner.lost(&conn, Some(e));
                break;
            }
            Step::Done => break,
        }
    }
    owner.ended();
}

/// Writes what is queued, then reads; ready with the first thing the shard must hear of.
fn pump(
    conn: &Conn,
    stream: &mut TcpStream,
    out: &mut BytesMut,
    rbuf: &mut [u8],
    cx: &mut Context<'_>,
) -> Poll<Step> {
    // Armed before looking, so a raise from now on wakes the task again.
    conn.wake.arm(cx);
    if conn.state.get() == State::Gone {
        return Poll::Ready(Step::Done);
    }
    loop {
        if out.is_empty() {
            *out = conn.framed.borrow_mut().take_pending();
            if out.is_empty() {
                break;
            }
        }
        match Pin::new(&mut *stream).poll_write(cx, out) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Step::Failed(io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(n)) => out.advance(n),
            Poll::Ready(Err(e)) => return Poll::Ready(Step::Failed(e)),
            Poll::Pending => break,
        }
    }
    if conn.state.get() == State::Closing {
        // The node is done with it: what the socket took is sent, the rest is dropped (as
        // the mio shell does), so a peer that stopped reading cannot hold the task.
        return Poll::Ready(Step::Done);
    }
    match Pin::new(&mut *stream).poll_read(cx, rbuf) {
        Poll::Ready(Ok(0)) => Poll::Ready(Step::Eof),
        Poll::Ready(Ok(n)) => Poll::Ready(Step::Read(n)),
        Poll::Ready(Err(e)) => Poll::Ready(Step::Failed(e)),
        Poll::Pending => Poll::Pending,
    }
}
