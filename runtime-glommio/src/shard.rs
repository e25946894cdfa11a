//! One shard: a node of its role on one glommio executor, with its listeners, its
//! connections and its timer. The node sits in a `RefCell` borrowed only between awaits,
//! so the shard's tasks (one per listener, one per connection, the timer) take turns at
//! it; after every turn the shell drains the node's outputs, as the mio shell does.

use crate::conn::{self, Attached, Conn, Owner, State};
use crate::signal::Signal;
use futures_lite::future;
use glommio::net::{TcpListener, TcpStream};
use roster_core::io::{ConnId, Input, Node};
use roster_core::time::Instant;
use roster_core::wire::Frame;
use roster_shell::framing::{Flush, FrameError, ReadOutcome};
use roster_shell::resolve::{literal, resolve};
use roster_shell::tls::identity::client_identity;
use roster_shell::{Clock, Drain, Hooks, ListenerKind, ShellConfig, Transport};
use roster_shell::{Flag, Inbox, Readiness};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// How often a shard looks at its stop flag and its inbox of questions: a thread outside
/// glommio cannot wake an executor parked in io_uring, so the shard checks (twenty times a
/// second costs nothing).
const STOP_POLL: Duration = Duration::from_millis(50);
/// Pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest the timer task sleeps at once.
const LONGEST_SLEEP: Duration = Duration::from_secs(3600);
/// How long stopping waits for connections to write their last bytes.
const LAST_WRITES: Duration = Duration::from_secs(1);

pub(crate) struct Shard<N: Node, H> {
    me: Weak<Self>,
    name: String,
    node: RefCell<N>,
    hooks: RefCell<H>,
    clock: Clock,
    config: ShellConfig,
    conns: RefCell<HashMap<ConnId, Rc<Conn>>>,
    next_inbound: Cell<u64>,
    /// Connection tasks still running, and the signal of the last one ending.
    live: Cell<usize>,
    all_ended: Signal,
    /// The deadline the timer task sleeps towards, and the signal that it may have moved.
    armed: Cell<Option<Instant>>,
    rearm: Signal,
    /// Raised by a failed hook; the error is returned by `run`.
    failed: Signal,
    error: RefCell<Option<io::Error>>,
    /// What draining the node remembers between turns.
    drain: Cell<Drain>,
    /// Stopping: new connections are refused.
    stopping: Cell<bool>,
    ready: Arc<Flag>,
    was_ready: Cell<bool>,
    /// When an unreachable peer was last reported, by address.
    unreachable: RefCell<HashMap<String, std::time::Instant>>,
}

impl<N: Node + Readiness + 'static, H: Hooks<N> + 'static> Shard<N, H> {
    pub(crate) fn new(
        name: String,
        node: N,
        hooks: H,
        clock: Clock,
        ready: Arc<Flag>,
        config: ShellConfig,
    ) -> Rc<Self> {
        Rc::new_cyclic(|me| Shard {
            me: me.clone(),
            name,
            node: RefCell::new(node),
            hooks: RefCell::new(hooks),
            clock,
            config,
            conns: RefCell::new(HashMap::new()),
            next_inbound: Cell::new(0),
            live: Cell::new(0),
            all_ended: Signal::default(),
            armed: Cell::new(None),
            rearm: Signal::default(),
            failed: Signal::default(),
            error: RefCell::new(None),
            drain: Cell::new(Drain::default()),
            stopping: Cell::new(false),
            ready,
            was_ready: Cell::new(false),
            unreachable: RefCell::new(HashMap::new()),
        })
    }

    fn rc(&self) -> Rc<Self> {
        self.me
            .upgrade()
            .expect("a shard outlives its tasks' calls")
    }

    /// Serves until `stop` is raised or a hook fails.
    pub(crate) async fn run(
        self: Rc<Self>,
        listeners: Vec<(TcpListener, ListenerKind)>,
        stop: Arc<Flag>,
        inbox: Arc<Inbox<N>>,
    ) -> io::Result<()> {
        for (listener, kind) in listeners {
            glommio::spawn_local(accept_loop(self.clone(), listener, kind)).detach();
        }
        glommio::spawn_local(timer_loop(self.clone())).detach();
        // Whatever the node wants from the start (its first connections, e.g. to meta).
        self.turn(|_, _| {});
        future::or(self.failed.wait(), async {
            while !stop.is_raised() {
                glommio::timer::sleep(STOP_POLL).await;
                self.turn(|node, now| {
                    inbox.run(node, now);
                });
            }
        })
        .await;
        inbox.close();
        debug!(node = %self.name, "stopping");
        self.stopping.set(true);
        let conns: Vec<Rc<Conn>> = self.conns.borrow_mut().drain().map(|(_, c)| c).collect();
        for c in conns {
            c.set(match c.state.get() {
                State::Open => State::Closing,
                _ => State::Gone,
            });
        }
        future::or(
            async {
                while self.live.get() > 0 {
                    self.all_ended.wait().await;
                }
            },
            glommio::timer::sleep(LAST_WRITES),
        )
        .await;
        self.error.borrow_mut().take().map_or(Ok(()), Err)
    }

    /// One turn at the node: `f` feeds it, then its outputs are carried out.
    fn turn(&self, f: impl FnOnce(&mut N, Instant)) {
        let mut node = self.node.borrow_mut();
        f(&mut node, self.clock.now());
        self.drain(&mut node);
    }

    /// Carries out everything the node wants done, until it wants nothing
    /// (`roster_shell::drain` has the rules; [`Turn`] does the IO), then what follows a
    /// turn: the hooks observe the node, readiness, the timer.
    fn drain(&self, node: &mut N) {
        let mut drain = self.drain.get();
        let result = {
            let mut hooks = self.hooks.borrow_mut();
            drain.run(&mut Turn { shard: self, node }, &mut *hooks)
        };
        self.drain.set(drain);
        if let Err(e) = result {
            return self.fail_shard(e);
        }
        self.hooks.borrow_mut().observe(node);
        if !self.was_ready.get() && node.is_ready() {
            self.was_ready.set(true);
            self.ready.raise();
            info!(node = %self.name, "ready");
        }
        if let Some(next) = node.poll_timeout() {
            if self.armed.get().is_none_or(|armed| next < armed) {
                self.rearm.raise();
            }
        }
    }

    fn fail_shard(&self, e: io::Error) {
        self.error.borrow_mut().get_or_insert(e);
        self.failed.raise();
    }

    fn spawn_serve(&self, conn: Rc<Conn>, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        self.live.set(self.live.get() + 1);
        let socket = Attached::new(conn, stream);
        glommio::spawn_local(conn::serve(self.rc(), socket)).detach();
    }

    fn accepted(&self, stream: TcpStream, kind: ListenerKind) {
        if self.stopping.get() {
            return;
        }
        let address = stream.peer_addr().ok();
        let peer = address.map_or_else(|| "unknown peer".to_string(), |a| a.to_string());
        self.next_inbound.set(self.next_inbound.get() + 1);
        let id = ConnId(self.next_inbound.get());
        let limit = self.config.write_limit;
        let tls = match self.config.tls.accept(kind) {
            Ok(tls) => tls,
            Err(e) => {
                warn!(node = %self.name, conn = %id, %peer, error = %e, "tls failed");
                return;
            }
        };
        let deadline = tls
            .is_some()
            .then(|| std::time::Instant::now() + self.config.tls.handshake_timeout());
        let conn = Rc::new(Conn::new(id, peer, State::Open, Some(kind), limit, tls));
        conn.handshake_deadline.set(deadline);
        debug!(node = %self.name, conn = %id, peer = %conn.peer, ?kind, "accepted");
        self.conns.borrow_mut().insert(id, conn.clone());
        self.spawn_serve(conn, stream);
        // Where it comes from matters to a session (operator switch client-off).
        self.turn(|node, now| match address {
            Some(a) => node.accepted_from(now, id, a.ip()),
            None => node.handle_input(now, Input::Accepted { conn: id }),
        });
    }

    fn connect(&self, node: &mut N, id: ConnId, address: &str) {
        let limit = self.config.write_limit;
        let tls = match self.config.tls.dial(address) {
            Ok(tls) => tls,
            Err(e) => {
                // No certificate can carry this name: the connection never comes up.
                warn!(node = %self.name, conn = %id, address, error = %e, "tls failed");
                node.handle_input(self.clock.now(), Input::Closed { conn: id });
                return;
            }
        };
        let conn = Rc::new(Conn::new(
            id,
            address.into(),
            State::Connecting,
            None,
            limit,
            tls,
        ));
        self.conns.borrow_mut().insert(id, conn.clone());
        let shard = self.rc();
        let address = address.to_string();
        glommio::spawn_local(async move {
            // A host name goes to the system resolver on glommio's blocking pool: it can
            // block for seconds, and the shard's turn must not.
            let addr = match literal(&address) {
                Some(a) => Ok(a),
                None => {
                    glommio::executor()
                        .spawn_blocking(move || resolve(&address))
                        .await
                }
            };
            let result = match addr {
                Ok(a) => TcpStream::connect(a).await.map_err(io::Error::from),
                Err(e) => Err(e),
            };
            shard.established(&conn, result);
        })
        .detach();
    }

    fn established(&self, conn: &Rc<Conn>, result: io::Result<TcpStream>) {
        if conn.state.get() != State::Connecting {
            // Closed by the node meanwhile, or the shard is stopping.
            return;
        }
        match result {
            Ok(stream) => {
                conn.state.set(State::Open);
                self.unreachable.borrow_mut().remove(&conn.peer);
                debug!(node = %self.name, conn = %conn.id, peer = %conn.peer, "connected");
                self.spawn_serve(conn.clone(), stream);
                if conn.handshaking.get() {
                    // `handshaken` says it is up; the task sends the first flight now.
                    conn.wake.raise();
                    return;
                }
                let id = conn.id;
                self.turn(|node, now| node.handle_input(now, Input::Connected { conn: id }));
            }
            Err(e) => {
                let reason = format!("connect to {} failed: {e}", conn.peer);
                self.turn(|node, _| self.give_up(node, conn, &reason));
            }
        }
    }

    /// Writes an open connection's queued bytes now (see [`Conn::write_now`]); a failed
    /// write gives it up.
    fn write_now(&self, node: &mut N, c: &Conn) {
        if c.state.get() != State::Open {
            // Still connecting (its task writes once it starts), or closed meanwhile.
            return;
        }
        if let Err(e) = c.write_now() {
            self.give_up(node, c, &format!("write to {}: {e}", c.peer));
        }
    }

    /// Gives up a connection the node did not close: log why and tell the node.
    fn give_up(&self, node: &mut N, conn: &Conn, reason: &str) {
        let id = conn.id;
        match conn.state.get() {
            State::Connecting => {
                // An unreachable peer is worth a warning, once per address and minute.
                let now = std::time::Instant::now();
                let mut seen = self.unreachable.borrow_mut();
                let recent = seen
                    .get(&conn.peer)
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60));
                if recent {
                    debug!(node = %self.name, conn = %id, reason, "connection closed");
                } else {
                    warn!(node = %self.name, conn = %id, reason, "peer unreachable (retrying with backoff)");
                    seen.insert(conn.peer.clone(), now);
                }
            }
            _ if id.is_outbound() => {
                debug!(node = %self.name, conn = %id, reason, "connection closed")
            }
            _ => warn!(node = %self.name, conn = %id, reason, "connection closed"),
        }
        self.conns.borrow_mut().remove(&id);
        conn.set(State::Gone);
        node.handle_input(self.clock.now(), Input::Closed { conn: id });
    }
}

impl<N: Node + Readiness + 'static, H: Hooks<N> + 'static> Owner for Shard<N, H> {
    fn handshaken(&self, conn: &Rc<Conn>) {
        if conn.state.get() != State::Open {
            return;
        }
        debug!(node = %self.name, conn = %conn.id, peer = %conn.peer, "tls handshake done");
        let id = conn.id;
        self.turn(|node, now| node.handle_input(now, Input::Connected { conn: id }));
    }

    fn handshake_timed_out(&self, conn: &Rc<Conn>) {
        self.config.tls.count_handshake_timeout();
        let timeout = self.config.tls.handshake_timeout();
        let e = io::Error::new(
            io::ErrorKind::TimedOut,
            format!("tls handshake not done within {timeout:?}"),
        );
        self.lost(conn, Some(e));
    }

    fn received(&self, conn: &Rc<Conn>, outcome: ReadOutcome) {
        self.turn(|node, now| {
            for frame in outcome.frames {
                if conn.state.get() != State::Open {
                    return;
                }
                let kind = conn.unchecked.take();
                if let Some(reason) = kind.and_then(|k| k.refusal(&frame.message, &conn.peer)) {
                    return self.give_up(node, conn, &reason);
                }
                // Before its first frame (the hello), the session learns who the client
                // proved to be.
                let identity = client_identity(kind, conn.tls.borrow().as_ref());
                if let Some(name) = identity {
                    node.authenticated(conn.id, name);
                }
                node.handle_input(
                    now,
                    Input::Frame {
                        conn: conn.id,
                        frame,
                    },
                );
            }
            if let Some(e) = outcome.malformed {
                if conn.state.get() == State::Open {
                    let reason = format!("{} from {}", FrameError::Malformed(e), conn.peer);
                    self.give_up(node, conn, &reason);
                }
            }
        });
    }

    fn lost(&self, conn: &Rc<Conn>, error: Option<io::Error>) {
        if conn.state.get() != State::Open {
            // The node closed it already; it hears of nothing more.
            return;
        }
        self.turn(|node, now| match error {
            Some(e) => {
                let reason = format!("{}: {e}", conn.peer);
                if conn.id.is_outbound() && e.kind() == io::ErrorKind::InvalidData {
                    // A refused certificate is worth the operator's eye on the dialling
                    // side too (`give_up` warns of inbound ones only).
                    warn!(node = %self.name, conn = %conn.id, reason, "tls failed");
                }
                self.give_up(node, conn, &reason)
            }
            None => {
                debug!(node = %self.name, conn = %conn.id, "closed by peer");
                self.conns.borrow_mut().remove(&conn.id);
                conn.set(State::Gone);
                node.handle_input(now, Input::Closed { conn: conn.id });
            }
        });
    }

    fn ended(&self) {
        self.live.set(self.live.get() - 1);
        if self.live.get() == 0 {
            self.all_ended.raise();
        }
    }
}

/// A shard's IO while draining its node, which the turn has borrowed.
struct Turn<'a, N: Node, H> {
    shard: &'a Shard<N, H>,
    node: &'a mut N,
}

impl<N: Node + Readiness + 'static, H: Hooks<N> + 'static> Transport for Turn<'_, N, H> {
    type Node = N;
    type Conn = Rc<Conn>;

    fn node(&mut self) -> &mut N {
        self.node
    }

    fn queue(
        &mut self,
        id: ConnId,
        frame: &Frame,
    ) -> Option<(Rc<Conn>, Result<Flush, FrameError>)> {
        let c = self.shard.conns.borrow().get(&id).cloned()?;
        let queued = c.framed.borrow_mut().queue(frame);
        Some((c, queued))
    }

    fn write(&mut self, c: &Rc<Conn>) {
        self.shard.write_now(self.node, c);
    }

    fn give_up(&mut self, c: &Rc<Conn>, reason: &str) {
        self.shard.give_up(self.node, c, reason);
    }

    fn connect(&mut self, id: ConnId, address: &str) -> io::Result<()> {
        self.shard.connect(self.node, id, address);
        Ok(())
    }

    fn close(&mut self, conn: ConnId, reason: &str) {
        if let Some(c) = self.shard.conns.borrow_mut().remove(&conn) {
            debug!(node = %self.shard.name, %conn, reason, "closing");
            c.set(State::Closing);
        }
    }
}

async fn accept_loop<N, H>(shard: Rc<Shard<N, H>>, listener: TcpListener, kind: ListenerKind)
where
    N: Node + Readiness + 'static,
    H: Hooks<N> + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => shard.accepted(stream, kind),
            Err(e) => {
                // Out of descriptors and the like: refuse this one, keep serving.
                warn!(node = %shard.name, error = %e, "accept failed");
                glommio::timer::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Sleeps until the node's next deadline, or until a turn armed an earlier one.
async fn timer_loop<N, H>(shard: Rc<Shard<N, H>>)
where
    N: Node + Readiness + 'static,
    H: Hooks<N> + 'static,
{
    loop {
        let next = shard.node.borrow().poll_timeout();
        shard.armed.set(next);
        match next {
            None => shard.rearm.wait().await,
            Some(at) => {
                // Capped, so that a far-future deadline never overflows the timer's clock.
                let wait = at.saturating_since(shard.clock.now()).min(LONGEST_SLEEP);
                if !wait.is_zero() {
                    future::or(glommio::timer::sleep(wait), shard.rearm.wait()).await;
                }
            }
        }
        let now = shard.clock.now();
        if shard.node.borrow().poll_timeout().is_some_and(|t| t <= now) {
            shard.turn(|node, now| node.handle_timeout(now));
        }
    }
}
