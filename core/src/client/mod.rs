//! The client's core (docs/design.md §4.9): the state machine a client library embeds.
//!
//! It keeps the application's registrations ([`registrations`]), connects to one session
//! of its configured list at a time, and on every connection increments its connect
//! generation, sends `ClientHello` and replays every registration (a subscription carries
//! the version already held, so the session pushes only something newer). A lost
//! connection fails over to the next session after a jittered backoff. Pushes are
//! acknowledged and delivered to the application only when strictly newer than the last
//! delivered list, which stays valid (and is never replaced by an empty list that was not
//! received) while disconnected. A delta push (`PushDelta`) is applied to the list held at
//! its base and delivered only if the result has the pushed digest; otherwise the client
//! subscribes again without a known version, so that the session pushes the whole list.
//!
//! The hello is answered by `ClientWelcome` (a version 2 session: the agreed version and
//! features, and the session's process, kept as [`Client::agreement`]), by `Ack` (a version
//! 1 session, which speaks version 1), or by `ErrorReply` (the session refused it and will
//! close the connection). A request of a kind this build does not define is answered
//! `ErrorReply` (`Unsupported`); an unknown one-way message is ignored.
//!
//! A draining session sends `Redirect` (docs/protocol.md §6.2): the client closes the
//! connection and fails over to the next session at once, without a backoff, replaying
//! there as after any reconnect. A `Redirect` that comes instead of the answer to the hello
//! (the session drains and takes no new client) is a refusal: the next session is tried
//! after the usual backoff, so a client whose sessions all drain does not spin.
//!
//! Re-query (`ClientConfig::requery_interval`, off by default): every interval while
//! connected, the client repeats one subscription of every key it subscribes to with the
//! version it holds as `known`. The session treats a repeated subscription as a statement of
//! what the client holds (docs/protocol.md, `Subscribe`): it pushes its current list if that
//! is newer, and otherwise fetches the key from its data node, pushing what is newer. A push
//! lost anywhere between the data node and the application is so repaired within an
//! interval, with no message of its own. The first re-query of a connection is an interval
//! after it came up (its replay has just asked the same).
//!
//! Liveness ([`crate::liveness`]): on an idle connection the client sends `KeepAlive`
//! every `keepalive_interval`; a connection on which nothing arrived for `idle_timeout`
//! (the session died without a reset) is closed with reason "idle timeout" and failed over
//! exactly as if the driver had reported it closed. While connected the client is woken at
//! least every keep-alive interval; woken much later than that, it was stalled itself (a
//! GC pause, `SIGSTOP`), and the session's frames of that time are still unread in its
//! socket: its silence is excused for one more interval ([`Liveness::excuse`]) rather
//! than failed over at once.

mod api;
mod config;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
mod registrations;

pub use api::{Command, Event};
pub use config::ClientConfig;

use crate::config::ConfigError;
use crate::io::{ConnId, ConnIds, Input, Node, Output};
use crate::liveness::{Due, Liveness};
use crate::model::{ProcessId, Text};
use crate::net::Dials;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::negotiate::{self, Agreement};
use crate::wire::{
    Ack, ClientHello, Frame, KeepAlive, Message, Push, Redirect, Subscribe, Unpublish, Unsubscribe,
};
use registrations::{Delivered, DeltaOutcome, Registrations};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A registration request awaiting the session's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Publish { register_id: Text, revision: u64 },
    Unpublish { register_id: Text },
    Subscribe { register_id: Text },
}

impl Pending {
    fn register_id(self) -> Text {
        match self {
            Pending::Publish { register_id, .. }
            | Pending::Unpublish { register_id }
            | Pending::Subscribe { register_id } => register_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Waiting to (re)connect at this instant.
    Down { retry_at: Instant },
    /// Connecting on this connection.
    Connecting(ConnId),
    /// Connected and replayed; with the connection's liveness.
    Ready(ConnId, Liveness),
}

/// The client state machine. Drive it through [`Node`].
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: Rng,
    ids: ConnIds,
    dials: Dials,
    out: VecDeque<Output<Event>>,
    regs: Registrations,
    link: Link,
    session: usize,
    attempts: u32,
    connect_generation: u64,
    next_request: u64,
    /// Registration requests awaiting an answer, by request id.
    pending: BTreeMap<u64, Pending>,
    /// The request id of this connection's hello, until it is answered.
    hello: Option<u64>,
    /// What the session answered to this connection's hello.
    welcome: Option<(Agreement, Option<ProcessId>)>,
    /// The latest `now` handed in, stamped on frames as they are drained.
    now: Instant,
    /// When the next re-query is due, while connected with re-query on.
    requery_at: Option<Instant>,
}

impl Client {
    /// A client with a validated configuration, drawing randomness from `seed`. It
    /// connects at the first `handle_timeout`.
    pub fn new(config: ClientConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::seed_from_u64(seed);
        let session = rng.below(config.sessions.len() as u64) as usize;
        Ok(Client {
            dials: Dials::new(config.connect_timeout),
            config,
            rng,
            ids: ConnIds::default(),
            out: VecDeque::new(),
            regs: Registrations::default(),
            link: Link::Down {
                retry_at: Instant::ZERO,
            },
            session,
            attempts: 0,
            connect_generation: 0,
            next_request: 0,
            pending: BTreeMap::new(),
            hello: None,
            welcome: None,
            now: Instant::ZERO,
            requery_at: None,
        })
    }

    /// The generation of the current (or last) connection.
    pub fn connect_generation(&self) -> u64 {
        self.connect_generation
    }

    /// Whether a session connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Ready(..))
    }

    /// The protocol version and features agreed with the session on the current
    /// connection, once it answered the hello.
    pub fn agreement(&self) -> Option<Agreement> {
        self.welcome.map(|(a, _)| a)
    }

    /// The session process serving the current connection, if its answer to the hello
    /// said (version 2 on).
    pub fn session_process(&self) -> Option<ProcessId> {
        self.welcome.and_then(|(_, p)| p)
    }

    fn address(&self) -> Text {
        self.config.sessions[self.session].clone()
    }

    fn request(&mut self, conn: ConnId, message: impl Into<Message>) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        self.out.push_back(Output::Send {
            conn,
            frame: Frame::new(id, message),
        });
        id
    }

    /// Sends a registration request if connected (otherwise the next replay carries it);
    /// whether it was sent.
    fn send_registration(&mut self, pending: Pending, message: impl Into<Message>) -> bool {
        let Link::Ready(conn, _) = self.link else {
            return false;
        };
        let id = self.request(conn, message);
        self.pending.insert(id, pending);
        true
    }

    fn event(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    fn on_command(&mut self, command: Command) {
        let generation = self.connect_generation;
        match command {
            Command::Publish {
                data_info_id,
                register_id,
                payload,
                attributes,
            } => {
                let (msg, revision) = self.regs.publish(
                    data_info_id,
                    register_id.clone(),
                    payload,
                    attributes,
                    generation,
                );
                let pending = Pending::Publish {
                    register_id,
                    revision,
                };
                self.send_registration(pending, msg);
            }
            Command::Unpublish {
                data_info_id,
                register_id,
            } => {
                let version = if self.regs.publication_key(&register_id) == Some(&data_info_id) {
                    self.regs.unpublish(&register_id, generation)
                } else {
                    None
                };
                let sent = version.is_some_and(|version| {
                    let msg = Unpublish {
                        data_info_id,
                        register_id: register_id.clone(),
                        version,
                    };
                    let pending = Pending::Unpublish {
                        register_id: register_id.clone(),
                    };
                    self.send_registration(pending, msg)
                });
                if !sent {
                    // Not registered, or not connected (and a session holds nothing of a
                    // closed connection): withdrawn already.
                    self.event(Event::Unregistered { register_id });
                }
            }
            Command::Subscribe {
                data_info_id,
                register_id,
            } => {
                let known = self.regs.known(&data_info_id);
                if let Some(d) = self
                    .regs
                    .subscribe(data_info_id.clone(), register_id.clone())
                {
                    // Another subscription of the key already has a list: share it now.
                    self.emit_update(&data_info_id, Arc::from([register_id.clone()]), d);
                }
                let msg = Subscribe {
                    data_info_id,
                    register_id: register_id.clone(),
                    known,
                };
                self.send_registration(Pending::Subscribe { register_id }, msg);
            }
            Command::Unsubscribe {
                data_info_id,
                register_id,
            } => {
                if self.regs.unsubscribe(&data_info_id, &register_id) {
                    let msg = Unsubscribe {
                        data_info_id,
                        register_id: register_id.clone(),
                    };
                    self.send_registration(Pending::Subscribe { register_id }, msg);
                }
            }
        }
    }

    fn emit_update(
        &mut self,
        data_info_id: &crate::model::DataInfoId,
        register_ids: Arc<[Text]>,
        d: Delivered,
    ) {
        self.out.push_back(Output::Event(Event::Update {
            data_info_id: data_info_id.clone(),
            register_ids,
            version: d.version,
            publishers: d.publishers,
        }));
    }

    fn connect(&mut self) {
        let conn = self.ids.allocate();
        self.link = Link::Connecting(conn);
        let address = self.address();
        let connect = self.dials.dial(self.now, conn, address);
        self.out.push_back(connect);
    }

    fn connected(&mut self, now: Instant, conn: ConnId) {
        self.link = Link::Ready(conn, Liveness::new(now));
        self.requery_at = self.config.requery_interval.map(|i| now + i);
        self.attempts = 0;
        self.connect_generation += 1;
        let generation = self.connect_generation;
        let hello = ClientHello {
            features: self.config.features,
            token: self.config.token.clone(),
            ..ClientHello::new(self.config.client_id.clone(), generation)
        };
        self.welcome = None;
        self.hello = Some(self.request(conn, hello));
        let (pubs, subs) = self.regs.replay(generation);
        for (p, revision) in pubs {
            let register_id = p.publisher.register_id.clone();
            self.send_registration(
                Pending::Publish {
                    register_id,
                    revision,
                },
                p,
            );
        }
        for s in subs {
            let register_id = s.register_id.clone();
            self.send_registration(Pending::Subscribe { register_id }, s);
        }
        self.out.push_back(Output::Event(Event::Connected {
            session: self.address(),
            connect_generation: generation,
        }));
    }

    /// The connection ended (or never came up): fail over to the next session.
    fn lost(&mut self, now: Instant, was_ready: bool) {
        if was_ready {
            self.out.push_back(Output::Event(Event::Disconnected {
                session: self.address(),
            }));
        }
        // A session drops a closed connection's publishers: a removal in flight is done.
        for p in std::mem::take(&mut self.pending).into_values() {
            if let Pending::Unpublish { register_id } = p {
                self.event(Event::Unregistered { register_id });
            }
        }
        self.hello = None;
        self.welcome = None;
        self.requery_at = None;
        self.session = (self.session + 1) % self.config.sessions.len();
        let delay = self
            .config
            .reconnect_backoff
            .after_failure(&mut self.attempts, &mut self.rng);
        self.link = Link::Down {
            retry_at: now + delay,
        };
    }

    fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        let rid = frame.request_id;
        // Only replies answer the hello: the session's own requests (pushes) draw their
        // ids from its side and may reuse the hello's.
        let reply = matches!(
            frame.message,
            Message::ClientWelcome(_) | Message::Ack(_) | Message::ErrorReply(_)
        );
        if reply && self.hello == Some(rid) {
            return self.on_hello_answer(now, conn, frame.message);
        }
        match frame.message {
            Message::Push(Push {
                data_info_id,
                version,
                publishers,
            }) => {
                // Acknowledge even what is not newer, so the session stops resending it.
                self.out.push_back(Output::Send {
                    conn,
                    frame: Frame::new(rid, Ack {}),
                });
                if let Some((ids, d)) = self.regs.deliver(&data_info_id, version, publishers) {
                    self.emit_update(&data_info_id, ids, d);
                }
            }
            Message::PushDelta(d) => {
                // Acknowledged whatever it did: a delta that cannot be applied is not
                // retried as it is; the whole list is asked for instead.
                self.out.push_back(Output::Send {
                    conn,
                    frame: Frame::new(rid, Ack {}),
                });
                let key = d.data_info_id.clone();
                match self.regs.apply_delta(d) {
                    DeltaOutcome::Deliver(ids, delivered) => self.emit_update(&key, ids, delivered),
                    DeltaOutcome::Ignored => {}
                    DeltaOutcome::Resync(register_id) => {
                        let msg = Subscribe {
                            data_info_id: key,
                            register_id: register_id.clone(),
                            known: None,
                        };
                        self.send_registration(Pending::Subscribe { register_id }, msg);
                    }
                }
            }
            Message::Ack(_) => match self.pending.remove(&rid) {
                Some(Pending::Publish {
                    register_id,
                    revision,
                }) => self.event(Event::Registered {
                    register_id,
                    revision,
                }),
                Some(Pending::Unpublish { register_id }) => {
                    self.event(Event::Unregistered { register_id });
                }
                Some(Pending::Subscribe { .. }) | None => {}
            },
            Message::ErrorReply(e) => {
                if let Some(p) = self.pending.remove(&rid) {
                    self.event(Event::Rejected {
                        register_id: p.register_id(),
                        code: e.code,
                        reason: e.message,
                    });
                }
            }
            Message::Redirect(r) => self.redirected(now, conn, r),
            Message::Unknown(u) if rid != 0 => self.out.push_back(Output::Send {
                conn,
                frame: Frame::new(rid, negotiate::unsupported_kind(u.kind)),
            }),
            _ => {}
        }
    }

    /// Repeats one subscription of every key with the version held (module docs), and
    /// arms the next re-query.
    fn requery(&mut self, now: Instant) {
        self.requery_at = self.config.requery_interval.map(|i| now + i);
        for s in self.regs.requery() {
            let register_id = s.register_id.clone();
            self.send_registration(Pending::Subscribe { register_id }, s);
        }
    }

    /// The session drains: move to the next session, at once if it had served this
    /// connection, after the backoff if it refused the hello (module docs).
    fn redirected(&mut self, now: Instant, conn: ConnId, r: Redirect) {
        let served = self.hello.is_none();
        self.out.push_back(Output::Close {
            conn,
            reason: Text::from(format!("redirected by the session: {}", r.reason)),
        });
        self.lost(now, true);
        if served {
            self.link = Link::Down { retry_at: now };
        }
    }

    /// The session's answer to this connection's hello.
    fn on_hello_answer(&mut self, now: Instant, conn: ConnId, answer: Message) {
        self.hello = None;
        match answer {
            Message::ClientWelcome(w) => {
                let agreement = Agreement {
                    version: w.version,
                    features: w.features,
                };
                self.welcome = Some((agreement, Some(w.session)));
            }
            // A version 1 session acknowledges the hello: it speaks version 1.
            Message::Ack(_) => self.welcome = Some((Agreement::UNVERSIONED, None)),
            Message::ErrorReply(e) => {
                // Refused (a version this session does not serve): it will not serve this
                // connection, so give it up and try the next session.
                self.out.push_back(Output::Close {
                    conn,
                    reason: Text::from(format!("session refused the hello: {}", e.message)),
                });
                self.lost(now, true);
            }
            _ => {}
        }
    }
}

impl Node for Client {
    type Command = Command;
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input<Command>) {
        self.now = self.now.max(now);
        if let Input::Connected { conn } | Input::Closed { conn } = input {
            self.dials.settle(conn);
        }
        match input {
            Input::Command(c) => self.on_command(c),
            Input::Connected { conn } if self.link == Link::Connecting(conn) => {
                self.connected(now, conn);
            }
            Input::Closed { conn } => match self.link {
                Link::Connecting(c) if c == conn => self.lost(now, false),
                Link::Ready(c, _) if c == conn => self.lost(now, true),
                _ => {}
            },
            Input::Frame { conn, frame } => {
                if let Link::Ready(c, ref mut liveness) = self.link
                    && c == conn
                {
                    liveness.received(now);
                    self.on_frame(now, conn, frame);
                }
            }
            // Stale connections, or inbound ones a client never accepts.
            Input::Accepted { conn } => self.out.push_back(Output::Close {
                conn,
                reason: Text::from_static("a client accepts no connections"),
            }),
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let asleep = now.saturating_since(self.now);
        self.now = self.now.max(now);
        let cfg = self.config.liveness;
        if let Link::Ready(_, ref mut liveness) = self.link
            && asleep > cfg.keepalive_interval * 2
        {
            liveness.excuse(now, &cfg);
        }
        for conn in self.dials.expire(now) {
            self.out.push_back(Dials::abandon(conn));
            if self.link == Link::Connecting(conn) {
                self.lost(now, false);
            }
        }
        match self.link {
            Link::Down { retry_at } if retry_at <= now => self.connect(),
            Link::Ready(conn, liveness) => match liveness.due(now, &self.config.liveness) {
                Due::Dead => {
                    self.out.push_back(Output::Close {
                        conn,
                        reason: Text::from_static("idle timeout"),
                    });
                    self.lost(now, true);
                }
                Due::KeepAlive => self.out.push_back(Output::Send {
                    conn,
                    frame: Frame::new(0, KeepAlive {}),
                }),
                Due::Nothing => {}
            },
            _ => {}
        }
        if self.requery_at.is_some_and(|at| at <= now) && matches!(self.link, Link::Ready(..)) {
            self.requery(now);
        }
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        let o = self.out.pop_front()?;
        if let (Output::Send { conn, .. }, Link::Ready(c, liveness)) = (&o, &mut self.link)
            && *conn == *c
        {
            liveness.sent(self.now);
        }
        Some(o)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.link {
            Link::Down { retry_at } => Some(retry_at),
            Link::Ready(_, liveness) => {
                let live = liveness.next_deadline(&self.config.liveness);
                Some(self.requery_at.map_or(live, |at| at.min(live)))
            }
            Link::Connecting(_) => self.dials.next_deadline(),
        }
    }
}

#[cfg(test)]
mod tests;
