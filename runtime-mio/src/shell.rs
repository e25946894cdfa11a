//! The event loop: one mio `Poll` per node, with the node's listeners and connections, its
//! clock and its timers. It holds no protocol logic: it turns readiness into the node's
//! `Input`s and performs the node's `Output`s. A connection whose listener or dial has TLS
//! configured (`ShellConfig::tls`) runs its framing over rustls (`roster_shell::tls`).

use crate::queue::{Closed, Queue};
use crate::sync::Arc;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use roster_core::io::{ConnId, Input, Node};
use roster_core::wire::Frame;
use roster_shell::framing::{Flush, FrameError, Framed, ReadOutcome};
use roster_shell::resolve::{literal, resolve};
use roster_shell::tls::TlsConn;
use roster_shell::tls::identity::client_identity;
use roster_shell::{Clock, Drain, Hooks, Inbox, Inspector, ListenerKind, ShellConfig, Transport};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{debug, info, warn};

const WAKER: Token = Token(0);

/// A bound listener and its kind.
#[derive(Debug)]
pub struct Listener {
    /// Its kind.
    pub kind: ListenerKind,
    /// The socket.
    pub socket: TcpListener,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free one), with an error that names the address.
    pub fn bind(kind: ListenerKind, addr: &str) -> io::Result<Listener> {
        let sa = resolve(addr)?;
        let socket = TcpListener::bind(sa)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        Ok(Listener { kind, socket })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// A message to a running loop.
#[derive(Debug)]
pub enum Control<C> {
    /// An application command for the node.
    Command(C),
    /// Close every connection and return from `run`.
    Stop,
}

/// A host name the loop asked for, resolved on another thread: the connection to open, the
/// address as the node gave it, and its socket address or why there is none.
type Resolved = (ConnId, String, io::Result<SocketAddr>);

/// Sends control messages to a running loop from any thread.
#[derive(Debug)]
pub struct Handle<C> {
    queue: Queue<Control<C>>,
    waker: Arc<Waker>,
}

impl<C> Clone for Handle<C> {
    fn clone(&self) -> Self {
        Handle {
            queue: self.queue.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<C> Handle<C> {
    /// Hands a command to the node; refused once the loop has stopped.
    pub fn command(&self, c: C) -> Result<(), Closed<C>> {
        let first = self
            .queue
            .push_first(Control::Command(c))
            .map_err(|Closed(c)| match c {
                Control::Command(c) => Closed(c),
                Control::Stop => unreachable!("a command was pushed"),
            })?;
        // The loop takes the whole queue per turn, so only the command that found it empty
        // needs to wake it (a wake-up is a system call and a context switch; a burst of
        // commands costs one). A failed wake-up is only a delay.
        if first {
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// Asks the loop to stop (idempotent).
    pub fn stop(&self) {
        let _ = self.queue.push(Control::Stop);
        let _ = self.waker.wake();
    }
}

#[derive(Debug)]
struct Conn {
    token: Token,
    stream: TcpStream,
    framed: Framed,
    /// The connection's TLS, if its listener or dial has it.
    tls: Option<TlsConn>,
    /// Outbound and not yet established.
    connecting: bool,
    /// Outbound with TLS, connected, and its handshake not yet done: the node hears
    /// `Connected` only once it is, so the connect timeout bounds the handshake too and a
    /// server that fails it is a connection that never came up.
    handshaking: bool,
    /// Inbound: the listener it came from, until its first frame is checked.
    unchecked: Option<ListenerKind>,
    peer: String,
}

impl Conn {
    /// Writes queued frames (and, with TLS, the ciphertext rustls holds) as far as the
    /// socket takes them.
    fn flush(&mut self) -> io::Result<bool> {
        match &mut self.tls {
            None => self.framed.flush(&mut self.stream),
            Some(tls) => {
                let framed = self.framed.flush(&mut tls.io(&mut self.stream))?;
                Ok(tls.flush(&mut self.stream)? && framed)
            }
        }
    }

    /// Reads until the socket would block. With TLS, the read may have finished the
    /// handshake, which lets frames queued meanwhile go: they are flushed now, since an
    /// edge-triggered socket that stayed writable will not say so again.
    fn read(&mut self) -> io::Result<ReadOutcome> {
        match &mut self.tls {
            None => self.framed.read(&mut self.stream),
            Some(tls) => {
                let out = self.framed.read(&mut tls.io(&mut self.stream))?;
                self.flush()?;
                Ok(out)
            }
        }
    }

    /// Flushes what it can before the socket is dropped; with TLS, says close_notify.
    fn close(&mut self) {
        let _ = self.flush();
        if let Some(tls) = &mut self.tls {
            tls.close(&mut self.stream);
        }
    }
}

/// One node's event loop.
#[derive(Debug)]
pub struct Shell<N: Node> {
    node: N,
    clock: Clock,
    poll: Poll,
    listeners: Vec<Listener>,
    conns: HashMap<ConnId, Conn>,
    tokens: HashMap<Token, ConnId>,
    next_token: usize,
    next_inbound: u64,
    control: Queue<Control<N::Command>>,
    /// Questions from other threads (the admin server), run between turns.
    inbox: Arc<Inbox<N>>,
    waker: Arc<Waker>,
    config: ShellConfig,
    /// What draining the node remembers between turns.
    drain: Drain,
    name: String,
    /// When an unreachable peer was last reported, by address.
    unreachable: HashMap<String, std::time::Instant>,
    /// Connections waiting for their host name to resolve.
    resolving: HashSet<ConnId>,
    /// Where resolver threads hand their answers back.
    resolved: Queue<Resolved>,
    /// Inbound TLS connections by the time their handshake must be done, oldest first
    /// (the timeout is one for all, so accept order is deadline order).
    handshakes: VecDeque<(Instant, ConnId)>,
}

impl<N: Node> Shell<N> {
    /// A loop for `node` (made with `clock`), serving `listeners`.
    pub fn new(
        name: impl Into<String>,
        node: N,
        clock: Clock,
        listeners: Vec<Listener>,
        config: ShellConfig,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners = listeners;
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(&mut l.socket, Token(1 + i), Interest::READABLE)?;
        }
        Ok(Shell {
            next_token: 1 + listeners.len(),
            node,
            clock,
            poll,
            listeners,
            conns: HashMap::new(),
            tokens: HashMap::new(),
            next_inbound: 0,
            control: Queue::new(),
            inbox: Arc::default(),
            waker,
            config,
            drain: Drain::default(),
            name: name.into(),
            unreachable: HashMap::new(),
            resolving: HashSet::new(),
            resolved: Queue::new(),
            handshakes: VecDeque::new(),
        })
    }

    /// A handle to send commands or stop the loop from other threads.
    pub fn handle(&self) -> Handle<N::Command> {
        Handle {
            queue: self.control.clone(),
            waker: self.waker.clone(),
        }
    }

    /// An inspector that asks the node questions from other threads.
    pub fn inspector(&self) -> Inspector<N>
    where
        N: 'static,
    {
        let waker = self.waker.clone();
        Inspector::new(
            self.inbox.clone(),
            Arc::new(move || {
                // A failed wake-up only delays the answer to the loop's next turn.
                let _ = waker.wake();
            }),
        )
    }

    /// The node.
    pub fn node(&self) -> &N {
        &self.node
    }

    /// Runs until stopped through a [`Handle`], or until a hook fails.
    pub fn run(mut self, hooks: &mut impl Hooks<N>) -> io::Result<N> {
        let result = self.run_inner(hooks);
        self.control.close();
        self.inbox.close();
        self.resolved.close();
        for (_, mut c) in self.conns.drain() {
            c.close();
        }
        result.map(|()| self.node)
    }

    fn run_inner(&mut self, hooks: &mut impl Hooks<N>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.drain(hooks)?;
        hooks.observe(&self.node);
        loop {
            for control in self.control.drain() {
                match control {
                    Control::Stop => {
                        debug!(node = %self.name, "stopping");
                        return Ok(());
                    }
                    Control::Command(c) => {
                        let now = self.clock.now();
                        self.node.handle_input(now, Input::Command(c));
                    }
                }
            }
            self.inbox.run(&mut self.node, self.clock.now());
            for (conn, address, result) in self.resolved.drain() {
                // Dropped if the node closed the connection meanwhile.
                if self.resolving.remove(&conn) {
                    self.connect_to(conn, result, &address)?;
                }
            }
            self.drain(hooks)?;
            let now = self.clock.now();
            let timeout = self.node.poll_timeout().map(|t| {
                // Round up to the next millisecond so a timer is never polled early.
                let d = t.saturating_since(now);
                let ms = d.as_nanos().div_ceil(1_000_000);
                std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
            });
            let timeout = match self.handshakes.front() {
                Some((deadline, _)) => {
                    let d = deadline.saturating_duration_since(Instant::now());
                    // Rounded up as well, so the deadline has passed when the poll ends.
                    let d = d + std::time::Duration::from_millis(1);
                    Some(timeout.map_or(d, |t| t.min(d)))
                }
                None => timeout,
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let token = ev.token();
                if token == WAKER {
                    continue;
                }
                if token.0 <= self.listeners.len() {
                    self.accept(token.0 - 1)?;
                } else if let Some(&conn) = self.tokens.get(&token) {
                    self.ready(conn, ev.is_readable() || ev.is_read_closed(), ev.is_error());
                }
                self.drain(hooks)?;
            }
            self.expire_handshakes();
            self.drain(hooks)?;
            let now = self.clock.now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
                self.drain(hooks)?;
            }
            hooks.observe(&self.node);
        }
    }

    /// Closes inbound connections whose TLS handshake is past its deadline: a client that
    /// connects and sends nothing (or half a ClientHello) holds a descriptor and a buffer
    /// until then, and no longer.
    fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = self.handshakes.front() {
            if deadline > now {
                return;
            }
            self.handshakes.pop_front();
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            if !c.tls.as_ref().is_some_and(TlsConn::is_handshaking) {
                continue;
            }
            self.config.tls.count_handshake_timeout();
            let reason = format!(
                "tls handshake from {} not done within {:?}",
                c.peer,
                self.config.tls.handshake_timeout()
            );
            self.fail(id, &reason);
        }
    }

    /// Registers a new connection's socket for both directions (edge-triggered); its token.
    fn register(&mut self, stream: &mut TcpStream) -> io::Result<Token> {
        let _ = stream.set_nodelay(true);
        let token = Token(self.next_token);
        self.next_token += 1;
        self.poll
            .registry()
            .register(stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(token)
    }

    fn accept(&mut self, index: usize) -> io::Result<()> {
        loop {
            let (stream, peer) = match self.listeners[index].socket.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: refuse this one, keep serving.
                    warn!(node = %self.name, error = %e, "accept failed");
                    return Ok(());
                }
            };
            self.next_inbound += 1;
            let conn = ConnId(self.next_inbound);
            let unchecked = Some(self.listeners[index].kind);
            self.attach(conn, stream, unchecked, peer.to_string())?;
            if !self.conns.contains_key(&conn) {
                continue;
            }
            debug!(node = %self.name, %conn, %peer, "accepted");
            let now = self.clock.now();
            // Where it comes from matters to a session (operator switch client-off).
            self.node.accepted_from(now, conn, peer.ip());
        }
    }

    /// Readiness on a connection: finish a connect, read frames, flush writes.
    fn ready(&mut self, id: ConnId, readable: bool, error: bool) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let now = self.clock.now();
        if c.connecting {
            match c.stream.take_error() {
                Ok(None) if !error => {}
                Ok(Some(e)) | Err(e) => {
                    {
                        let reason = format!("connect to {} failed: {e}", c.peer);
                        return self.fail(id, &reason);
                    };
                }
                Ok(None) => {
                    let reason = format!("connect to {} failed", c.peer);
                    return self.fail(id, &reason);
                }
            }
            match c.stream.peer_addr() {
                Ok(_) => {
                    c.connecting = false;
                    let peer = c.peer.clone();
                    self.unreachable.remove(&peer);
                    let Some(c) = self.conns.get_mut(&id) else {
                        return;
                    };
                    debug!(node = %self.name, conn = %id, peer = %c.peer, "connected");
                    if c.tls.is_some() {
                        c.handshaking = true;
                    } else {
                        self.node.handle_input(now, Input::Connected { conn: id });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let reason = format!("connect to {} failed: {e}", c.peer);
                    return self.fail(id, &reason);
                }
            }
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if let Err(e) = c.flush() {
            {
                let reason = format!("write to {}: {e}", c.peer);
                return self.fail(id, &reason);
            };
        }
        if !readable && !error {
            return;
        }
        let out = match c.read() {
            Ok(out) => out,
            Err(e) => {
                let reason = format!("read from {}: {e}", c.peer);
                if id.is_outbound() && c.tls.is_some() && e.kind() == io::ErrorKind::InvalidData {
                    // A refused certificate is a setup problem worth the operator's eye
                    // on the dialling side too (`fail` warns of inbound ones only).
                    warn!(node = %self.name, conn = %id, reason, "tls failed");
                }
                return self.fail(id, &reason);
            }
        };
        if c.handshaking && c.tls.as_ref().is_some_and(|t| !t.is_handshaking()) {
            c.handshaking = false;
            debug!(node = %self.name, conn = %id, peer = %c.peer, "tls handshake done");
            self.node.handle_input(now, Input::Connected { conn: id });
        }
        for frame in out.frames {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let kind = c.unchecked.take();
            let refusal = kind.and_then(|k| k.refusal(&frame.message, &c.peer));
            if let Some(reason) = refusal {
                return self.fail(id, &reason);
            }
            // Before its first frame (the hello), the session learns who the client proved
            // to be.
            if let Some(name) = client_identity(kind, c.tls.as_ref()) {
                self.node.authenticated(id, name);
            }
            self.node
                .handle_input(now, Input::Frame { conn: id, frame });
        }
        if let Some(e) = out.malformed {
            let peer = self
                .conns
                .get(&id)
                .map(|c| c.peer.clone())
                .unwrap_or_default();
            {
                let reason = format!("{} from {peer}", FrameError::Malformed(e));
                return self.fail(id, &reason);
            };
        }
        if out.eof {
            debug!(node = %self.name, conn = %id, "closed by peer");
            self.remove(id);
            self.node.handle_input(now, Input::Closed { conn: id });
        }
    }

    /// Gives up a connection the node did not close: log why and tell the node.
    fn fail(&mut self, id: ConnId, reason: &str) {
        let connecting = self
            .conns
            .get(&id)
            .is_some_and(|c| c.connecting || c.handshaking);
        if connecting {
            // An unreachable peer is worth a warning, once per address and minute.
            let peer = self
                .conns
                .get(&id)
                .map(|c| c.peer.clone())
                .unwrap_or_default();
            let now = std::time::Instant::now();
            let quiet = self
                .unreachable
                .get(&peer)
                .is_some_and(|t| now.duration_since(*t) < std::time::Duration::from_secs(60));
            if !quiet {
                warn!(node = %self.name, conn = %id, reason, "peer unreachable (retrying with backoff)");
                self.unreachable.insert(peer, now);
            } else {
                debug!(node = %self.name, conn = %id, reason, "connection closed");
            }
        } else if id.is_outbound() {
            debug!(node = %self.name, conn = %id, reason, "connection closed");
        } else {
            warn!(node = %self.name, conn = %id, reason, "connection closed");
        }
        self.remove(id);
        let now = self.clock.now();
        self.node.handle_input(now, Input::Closed { conn: id });
    }

    fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let mut c = self.conns.remove(&id)?;
        self.tokens.remove(&c.token);
        let _ = self.poll.registry().deregister(&mut c.stream);
        Some(c)
    }

    /// Performs everything the node wants done, until it wants nothing (`roster_shell::drain`
    /// has the rules; [`Turn`] does the IO).
    fn drain(&mut self, hooks: &mut impl Hooks<N>) -> io::Result<()> {
        let mut drain = self.drain;
        let result = drain.run(&mut Turn(self), hooks);
        self.drain = drain;
        result
    }

    /// Opens `conn`: at once to a literal address; a host name is resolved on a thread of
    /// its own (the system resolver may block) and the connect made when it answers.
    fn connect(&mut self, conn: ConnId, address: &str) -> io::Result<()> {
        if let Some(sa) = literal(address) {
            return self.connect_to(conn, Ok(sa), address);
        }
        self.resolving.insert(conn);
        let (queue, waker) = (self.resolved.clone(), self.waker.clone());
        let address = address.to_string();
        std::thread::Builder::new()
            .name("roster-resolve".into())
            .spawn(move || {
                let result = resolve(&address);
                if queue.push((conn, address, result)).is_ok() {
                    let _ = waker.wake();
                }
            })?;
        Ok(())
    }

    fn connect_to(
        &mut self,
        conn: ConnId,
        addr: io::Result<SocketAddr>,
        address: &str,
    ) -> io::Result<()> {
        let stream = addr.and_then(TcpStream::connect);
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                debug!(node = %self.name, %conn, address, error = %e, "connect failed");
                let now = self.clock.now();
                self.node.handle_input(now, Input::Closed { conn });
                return Ok(());
            }
        };
        self.attach(conn, stream, None, address.to_string())
    }

    /// Registers a new connection's socket and starts its framing: inbound ones carry the
    /// listener whose first frame rule applies (`unchecked`), outbound ones are connecting.
    fn attach(
        &mut self,
        conn: ConnId,
        mut stream: TcpStream,
        unchecked: Option<ListenerKind>,
        peer: String,
    ) -> io::Result<()> {
        let tls = match unchecked {
            Some(kind) => self.config.tls.accept(kind),
            None => self.config.tls.dial(&peer),
        };
        let tls = match tls {
            Ok(tls) => tls,
            Err(e) => {
                // This connection cannot start (a dialled name no certificate can carry);
                // the node hears it closed, as for a failed connect.
                warn!(node = %self.name, %conn, %peer, error = %e, "tls failed");
                if unchecked.is_none() {
                    let now = self.clock.now();
                    self.node.handle_input(now, Input::Closed { conn });
                }
                return Ok(());
            }
        };
        let token = self.register(&mut stream)?;
        self.tokens.insert(token, conn);
        let framed = Framed::new(self.config.write_limit);
        let connecting = unchecked.is_none();
        if tls.is_some() && !connecting {
            let deadline = Instant::now() + self.config.tls.handshake_timeout();
            self.handshakes.push_back((deadline, conn));
        }
        let c = Conn {
            token,
            stream,
            framed,
            tls,
            connecting,
            handshaking: false,
            unchecked,
            peer,
        };
        self.conns.insert(conn, c);
        Ok(())
    }
}

/// The shell's IO while draining its node: the loop itself, lent whole.
struct Turn<'a, N: Node>(&'a mut Shell<N>);

impl<N: Node> Transport for Turn<'_, N> {
    type Node = N;
    type Conn = ConnId;

    fn node(&mut self) -> &mut N {
        &mut self.0.node
    }

    fn queue(&mut self, id: ConnId, frame: &Frame) -> Option<(ConnId, Result<Flush, FrameError>)> {
        let c = self.0.conns.get_mut(&id)?;
        Some((id, c.framed.queue(frame)))
    }

    fn write(&mut self, &id: &ConnId) {
        let Some(c) = self.0.conns.get_mut(&id) else {
            return;
        };
        // A connecting socket is written when it becomes writable (`ready`).
        if c.connecting || c.handshaking {
            return;
        }
        if let Err(e) = c.flush() {
            let reason = format!("write to {}: {e}", c.peer);
            self.0.fail(id, &reason);
        }
    }

    fn give_up(&mut self, &id: &ConnId, reason: &str) {
        self.0.fail(id, reason);
    }

    fn connect(&mut self, id: ConnId, address: &str) -> io::Result<()> {
        self.0.connect(id, address)
    }

    fn close(&mut self, conn: ConnId, reason: &str) {
        let shell = &mut *self.0;
        shell.resolving.remove(&conn);
        if let Some(mut c) = shell.remove(conn) {
            debug!(node = %shell.name, %conn, reason, "closing");
            c.close();
        }
    }
}

/// Logs the first lines of a node's life in one format.
pub fn log_listening(role: &str, listeners: &[(&str, SocketAddr)]) {
    for (what, addr) in listeners {
        info!(role, listener = *what, %addr, "listening");
    }
}
