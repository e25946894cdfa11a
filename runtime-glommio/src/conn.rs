//! One connection of a shard: the state the node's outputs write into (queued frames, the
//! node's close), the socket's writes, and the task that owns the socket.
//!
//! The shard writes a connection from its own turn, as the mio shell does: at once when a
//! large frame (a pushed list) is queued, otherwise once at the end of draining the node
//! (`framing::Flush` says which), so fifty small frames to one peer cost one write. Those
//! writes never wait: what the socket does not take stays queued and the connection's
//! task, woken, writes it when the socket can take more. Writing from the turn rather than
//! handing every write to the task sends a push while its bytes are still in the cache and
//! before the next one is encoded. The write limit bounds the bytes queued, so a peer that
//! stops reading is cut off.
//!
//! With TLS, frames are written through the connection's rustls state (`TlsConn`), and
//! the task hands what it reads to rustls before the framing; rustls's own ciphertext
//! (handshake messages) is written with the frames.

use crate::signal::Signal;
use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use nix::sys::socket::{MsgFlags, send};
use roster_core::io::ConnId;
use roster_shell::ListenerKind;
use roster_shell::framing::{Framed, ReadOutcome};
use roster_shell::tls::TlsConn;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

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
    /// Raised when there is something the task must write or the state changed.
    pub(crate) wake: Signal,
    /// The connection's TLS, if its listener or dial has it.
    pub(crate) tls: RefCell<Option<TlsConn>>,
    /// Outbound with TLS and its handshake not yet done: the node hears `Connected` once it
    /// is (as on mio).
    pub(crate) handshaking: Cell<bool>,
    /// Inbound with TLS: when its handshake must be done, or the task closes it (a client
    /// that connects and sends nothing must not hold a descriptor for ever).
    pub(crate) handshake_deadline: Cell<Option<Instant>>,
    /// The socket, while a task owns it (see [`Attached`]): the shard writes it directly.
    fd: Cell<Option<RawFd>>,
}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        peer: String,
        state: State,
        unchecked: Option<ListenerKind>,
        write_limit: usize,
        tls: Option<TlsConn>,
    ) -> Conn {
        Conn {
            id,
            peer,
            framed: RefCell::new(Framed::new(write_limit)),
            state: Cell::new(state),
            unchecked: Cell::new(unchecked),
            wake: Signal::default(),
            handshaking: Cell::new(tls.is_some() && unchecked.is_none()),
            tls: RefCell::new(tls),
            handshake_deadline: Cell::new(None),
            fd: Cell::new(None),
        }
    }

    /// Writes what is queued, as much as the socket takes without waiting; the task is
    /// woken to write the rest when the socket can take more. Before a task owns the socket
    /// (an outbound connection still connecting) there is nothing to write to: the task
    /// writes what is queued when it starts.
    pub(crate) fn write_now(&self) -> io::Result<()> {
        let Some(fd) = self.fd.get() else {
            return Ok(());
        };
        if !self.flush(&mut DontWait(fd))? {
            self.wake.raise();
        }
        Ok(())
    }

    /// Writes queued frames (and, with TLS, the ciphertext rustls holds) to `w`;
    /// `Ok(true)` when nothing is left.
    fn flush(&self, w: &mut impl Write) -> io::Result<bool> {
        let mut framed = self.framed.borrow_mut();
        match &mut *self.tls.borrow_mut() {
            None => framed.flush(w),
            Some(tls) => {
                let frames = framed.flush(&mut tls.io(&mut *w))?;
                Ok(tls.flush(w)? && frames)
            }
        }
    }

    /// Decodes bytes read from the socket (deciphered first with TLS); with TLS, whether
    /// the peer said close_notify.
    fn ingest(&self, bytes: &[u8]) -> io::Result<(ReadOutcome, bool)> {
        let mut tls = self.tls.borrow_mut();
        let Some(tls) = &mut *tls else {
            return Ok((self.framed.borrow_mut().ingest(bytes), false));
        };
        let mut plain = Vec::new();
        let closed = tls.receive(bytes, &mut plain)?;
        Ok((self.framed.borrow_mut().ingest(&plain), closed))
    }

    /// Whether an outbound TLS connection just finished its handshake (once).
    fn handshake_done(&self) -> bool {
        let done = self.handshaking.get()
            && self
                .tls
                .borrow()
                .as_ref()
                .is_some_and(|t| !t.is_handshaking());
        if done {
            self.handshaking.set(false);
        }
        done
    }

    /// The deadline of an inbound handshake still under way; `None` once it is done (or for
    /// a connection without one).
    fn pending_handshake(&self) -> Option<Instant> {
        let deadline = self.handshake_deadline.get()?;
        let handshaking = self
            .tls
            .borrow()
            .as_ref()
            .is_some_and(TlsConn::is_handshaking);
        if !handshaking {
            self.handshake_deadline.set(None);
            return None;
        }
        Some(deadline)
    }

    /// Moves to `state` and lets the task see it.
    pub(crate) fn set(&self, state: State) {
        self.state.set(state);
        self.wake.raise();
    }
}

/// What the connection's task reports to the shard.
pub(crate) trait Owner {
    /// An outbound TLS connection finished its handshake: it is up.
    fn handshaken(&self, conn: &Rc<Conn>);
    /// An inbound TLS connection did not finish its handshake by its deadline: the task
    /// ends, and the owner gives the connection up.
    fn handshake_timed_out(&self, conn: &Rc<Conn>);
    /// Bytes arrived and were decoded.
    fn received(&self, conn: &Rc<Conn>, outcome: ReadOutcome);
    /// The connection ended without the node asking: `None` when the peer closed it.
    fn lost(&self, conn: &Rc<Conn>, error: Option<io::Error>);
    /// The task has ended.
    fn ended(&self);
}

/// A connection's socket, owned by its task. The shard writes it through the descriptor it
/// holds only while this lives, so it never writes to a closed (and perhaps reused)
/// descriptor, whether the task ends or is dropped unrun.
pub(crate) struct Attached {
    conn: Rc<Conn>,
    stream: TcpStream,
}

impl Attached {
    pub(crate) fn new(conn: Rc<Conn>, stream: TcpStream) -> Attached {
        conn.fd.set(Some(stream.as_raw_fd()));
        Attached { conn, stream }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Runs before the stream (a field) is dropped and closes the descriptor.
        self.conn.fd.set(None);
    }
}

/// A socket written without waiting: "would block" when its send buffer is full.
struct DontWait(RawFd);

impl Write for DontWait {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        Ok(send(self.0, buf, flags)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The task's stream as a `Write`: "pending" reads as would-block, with the task's waker
/// registered to hear when the socket can take more.
struct Polled<'a, 'b> {
    stream: &'a mut TcpStream,
    cx: &'a mut Context<'b>,
}

impl Write for Polled<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.stream).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Step {
    Read(usize),
    Eof,
    Failed(io::Error),
    Done,
    /// The handshake's deadline passed first.
    TimedOut,
}

/// Runs the connection until it ends; owns the socket.
pub(crate) async fn serve(owner: Rc<impl Owner>, mut socket: Attached) {
    let conn = socket.conn.clone();
    let mut rbuf = vec![0; READ_CHUNK];
    loop {
        let step = poll_fn(|cx| pump(&conn, &mut socket.stream, &mut rbuf, cx));
        let step = match conn.pending_handshake() {
            Some(deadline) => {
                let expired = async move {
                    glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
                    Step::TimedOut
                };
                futures_lite::future::or(step, expired).await
            }
            None => step.await,
        };
        match step {
            Step::Read(n) => {
                let (outcome, closed) = match conn.ingest(&rbuf[..n]) {
                    Ok(ingested) => ingested,
                    Err(e) => {
                        // A failed handshake or record: its alert goes out, best effort.
                        let fd = conn.fd.get();
                        if let (Some(tls), Some(fd)) = (&mut *conn.tls.borrow_mut(), fd) {
                            let _ = tls.flush(&mut DontWait(fd));
                        }
                        owner.lost(&conn, Some(e));
                        break;
                    }
                };
                if conn.handshake_done() {
                    owner.handshaken(&conn);
                }
                // If that closed the connection, the next pump says so (after writing
                // what the node sent before closing it).
                owner.received(&conn, outcome);
                if closed {
                    owner.lost(&conn, None);
                    break;
                }
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
            Step::TimedOut => {
                owner.handshake_timed_out(&conn);
                break;
            }
        }
    }
    owner.ended();
}

/// Writes what is still queued, then reads; ready with the first thing the shard must hear
/// of.
fn pump(conn: &Conn, stream: &mut TcpStream, rbuf: &mut [u8], cx: &mut Context<'_>) -> Poll<Step> {
    // Armed before looking, so a raise from now on wakes the task again.
    conn.wake.arm(cx);
    if conn.state.get() == State::Gone {
        return Poll::Ready(Step::Done);
    }
    // Whatever the socket does not take now waits for the waker `Polled` registers.
    if let Err(e) = conn.flush(&mut Polled { stream, cx }) {
        return Poll::Ready(Step::Failed(e));
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use glommio::{LocalExecutorBuilder, Placement};
    use nix::sys::socket::{setsockopt, sockopt};
    use roster_core::wire::{Frame, Raft};
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    const DEADLINE: Duration = Duration::from_secs(20);

    #[derive(Default)]
    struct Ends(Cell<bool>);

    impl Owner for Ends {
        fn handshaken(&self, _: &Rc<Conn>) {}
        fn handshake_timed_out(&self, _: &Rc<Conn>) {}
        fn received(&self, _: &Rc<Conn>, _: ReadOutcome) {}
        fn lost(&self, _: &Rc<Conn>, _: Option<io::Error>) {}
        fn ended(&self) {
            self.0.set(true);
        }
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The shard writes a connection from its turn; a peer slow to read leaves part of it
    /// queued, which the connection's task (parked on a read, so only the shard's wake can
    /// start it) writes when the socket has room, after what went before.
    #[test]
    fn what_the_socket_does_not_take_at_once_the_task_writes_later_in_order() {
        let frames: Vec<Frame> = (0..128u64)
            .map(|id| {
                let payload = Bytes::from(vec![id as u8; 64 * 1024]);
                Frame::new(id, Raft { payload })
            })
            .collect();
        let expected = frames.clone();
        let (go, wait_go) = mpsc::channel::<()>();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // A small receive buffer (inherited by the accepted socket, so the window is small
        // from the start), so the writer's socket fills long before 8 MiB.
        setsockopt(&listener, sockopt::RcvBuf, &4096).unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            wait_go.recv().unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            got
        });
        let executor = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(64 * 1024)
            .make()
            .expect("glommio starts (io_uring and locked memory)");
        executor.run(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let conn = Rc::new(Conn::new(
                ConnId(1),
                "reader".into(),
                State::Open,
                None,
                64 << 20,
                None,
            ));
            let owner = Rc::new(Ends::default());
            let task = serve(owner.clone(), Attached::new(conn.clone(), stream));
            glommio::spawn_local(task).detach();
            // The task runs once: nothing to write, nothing to read, so it parks.
            futures_lite::future::yield_now().await;

            for frame in &frames {
                conn.framed.borrow_mut().queue(frame).unwrap();
            }
            let total = conn.framed.borrow().pending();
            conn.write_now().unwrap();
            let left = conn.framed.borrow().pending();
            assert!(
                0 < left && left < total,
                "the socket took part: {left} of {total} left"
            );

            go.send(()).unwrap();
            until("everything queued is written", || {
                conn.framed.borrow().pending() == 0
            })
            .await;
            conn.set(State::Closing);
            until("the task ends", || owner.0.get()).await;
            assert_eq!(conn.fd.get(), None, "no descriptor outlives the task");
            conn.write_now().unwrap();
        });
        let got = reader.join().unwrap();
        let mut bytes = &got[..];
        let out = Framed::new(64 << 20).read(&mut bytes).unwrap();
        assert!(out.malformed.is_none());
        assert_eq!(out.frames, expected);
    }
}
