//! In-memory harness: one client, one session and one data node — the real state
//! machines — wired by passing every frame through the codec (`Frame::to_bytes`, then
//! `Frame::decode`) and advancing virtual time through `poll_timeout`. Meta is played by
//! the harness: it answers heartbeats and installs one `ClusterView` into the session and
//! the data node over their meta connections.
//!
//! Shows the write → notify → fetch → push path (docs/design.md §4.3, §4.5, §4.8) and a
//! client reconnect with replay (§4.9).

use roster_core::client::{Client, ClientConfig, Command, Event};
use roster_core::data::{DataConfig, DataNode};
use roster_core::io::{ConnId, Input, Node, Output};
use roster_core::model::{DataInfoId, DatumVersion, ProcessId, Role, Text};
use roster_core::session::{Session, SessionConfig};
use roster_core::testkit::{self, all_slots_led_by, cluster_view, member, through_codec};
use roster_core::time::Instant;
use roster_core::wire::{Frame, HeartbeatAck, Message, MessageKind};
use std::collections::BTreeMap;
use std::time::Duration;

const SESSION: ProcessId = testkit::process(1);
const DATA: ProcessId = testkit::process(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ep {
    Client,
    Session,
    Data,
    Meta,
}

struct Net {
    now: Instant,
    client: Client,
    session: Session,
    data: DataNode,
    /// Each connection end, to its other end.
    links: BTreeMap<(Ep, ConnId), (Ep, ConnId)>,
    next_inbound: u64,
    /// Connections the session and data node opened to meta.
    meta: BTreeMap<Ep, ConnId>,
    /// Every application event of the client.
    events: Vec<Event>,
    /// Kinds of every frame delivered, with sender and receiver.
    trace: Vec<(Ep, Ep, MessageKind)>,
    /// Frames between client and session are lost (a silent death: no `Closed`).
    silenced: bool,
    /// Every connection a node closed itself, with the reason.
    closes: Vec<(Ep, String)>,
}

fn is_client_session(a: Ep, b: Ep) -> bool {
    matches!(
        (a, b),
        (Ep::Client, Ep::Session) | (Ep::Session, Ep::Client)
    )
}

fn address_of(a: &str) -> Ep {
    match a {
        "session:client" | "session:peer" => Ep::Session,
        "data:peer" => Ep::Data,
        _ => Ep::Meta,
    }
}

impl Net {
    fn new() -> Net {
        let mut sc = SessionConfig::new(
            SESSION,
            Text::from("session:client"),
            Text::from("session:peer"),
        );
        sc.meta_addresses = vec![Text::from("meta:1")];
        let dc = DataConfig::new(DATA, "data:peer", vec![Text::from("meta:1")]);
        let cc = ClientConfig::new(Text::from("app"), vec![Text::from("session:client")]);
        Net {
            now: Instant::ZERO,
            client: Client::new(cc, 7).unwrap(),
            session: Session::new(sc, 8).unwrap(),
            data: DataNode::new(dc, Instant::ZERO).unwrap(),
            links: BTreeMap::new(),
            next_inbound: 1,
            meta: BTreeMap::new(),
            events: Vec::new(),
            trace: Vec::new(),
            silenced: false,
            closes: Vec::new(),
        }
    }

    fn input(&mut self, ep: Ep, input: Input<()>) {
        let now = self.now;
        fn map<C>(i: Input<()>) -> Input<C> {
            match i {
                Input::Connected { conn } => Input::Connected { conn },
                Input::Accepted { conn } => Input::Accepted { conn },
                Input::Closed { conn } => Input::Closed { conn },
                Input::Frame { conn, frame } => Input::Frame { conn, frame },
                Input::Command(()) => unreachable!("commands go through command()"),
            }
        }
        match ep {
            Ep::Client => self.client.handle_input(now, map(input)),
            Ep::Session => self.session.handle_input(now, map(input)),
            Ep::Data => self.data.handle_input(now, map(input)),
            Ep::Meta => {}
        }
    }

    fn command(&mut self, c: Command) {
        self.client.handle_input(self.now, Input::Command(c));
        self.settle();
    }

    /// Drains every node's outputs until nothing moves.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(o) = self.client.poll_output() {
                moved = true;
                if let Output::Event(e) = o {
                    self.events.push(e);
                } else {
                    self.route(Ep::Client, o.map_event());
                }
            }
            while let Some(o) = self.session.poll_output() {
                moved = true;
                if !matches!(o, Output::Event(_)) {
                    self.route(Ep::Session, o.map_event());
                }
            }
            while let Some(o) = self.data.poll_output() {
                moved = true;
                if !matches!(o, Output::Event(_)) {
                    self.route(Ep::Data, o.map_event());
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the nodes never settle");
    }

    fn route(&mut self, from: Ep, o: Output<()>) {
        match o {
            Output::Connect { conn, address } => {
                let to = address_of(&address);
                if self.silenced && is_client_session(from, to) {
                    // The session's host is unreachable: the attempt fails.
                    self.input(from, Input::Closed { conn });
                    return;
                }
                if to == Ep::Meta {
                    self.meta.insert(from, conn);
                    self.links.insert((from, conn), (Ep::Meta, conn));
                } else {
                    let inbound = ConnId(self.next_inbound);
                    self.next_inbound += 1;
                    self.links.insert((from, conn), (to, inbound));
                    self.links.insert((to, inbound), (from, conn));
                    self.input(to, Input::Accepted { conn: inbound });
                }
                self.input(from, Input::Connected { conn });
            }
            Output::Send { conn, frame } => {
                let Some(&(to, to_conn)) = self.links.get(&(from, conn)) else {
                    return;
                };
                if self.silenced && is_client_session(from, to) {
                    return;
                }
                // Through the real codec, both ways.
                let frame = through_codec(frame);
                self.trace.push((from, to, frame.message.kind()));
                if to == Ep::Meta {
                    self.meta_answers(from, conn, frame);
                } else {
                    self.input(
                        to,
                        Input::Frame {
                            conn: to_conn,
                            frame,
                        },
                    );
                }
            }
            Output::Close { conn, reason } => {
                self.closes.push((from, reason.to_string()));
                if let Some((to, to_conn)) = self.links.remove(&(from, conn)) {
                    self.links.remove(&(to, to_conn));
                    // Silenced, the other end does not hear of it either.
                    if !(self.silenced && is_client_session(from, to)) {
                        self.input(to, Input::Closed { conn: to_conn });
                    }
                }
            }
            Output::Event(()) => {}
        }
    }

    /// Meta's part: acknowledge heartbeats.
    fn meta_answers(&mut self, from: Ep, conn: ConnId, frame: Frame) {
        if let Message::Heartbeat(hb) = frame.message {
            let ack = HeartbeatAck {
                table_epoch: hb.table_epoch,
                members_version: hb.members_version,
            };
            self.deliver_from_meta(from, conn, Frame::new(frame.request_id, ack));
        }
    }

    fn deliver_from_meta(&mut self, to: Ep, conn: ConnId, frame: Frame) {
        let frame = through_codec(frame);
        self.trace.push((Ep::Meta, to, frame.message.kind()));
        self.input(to, Input::Frame { conn, frame });
    }

    /// Installs the cluster view (every slot led by the data node) into session and data.
    fn install_view(&mut self) {
        let members = vec![
            member(SESSION, Role::Session, "session:peer"),
            member(DATA, Role::Data, "data:peer"),
        ];
        let view = cluster_view(members, all_slots_led_by(DATA, 256));
        for ep in [Ep::Session, Ep::Data] {
            let conn = self.meta[&ep];
            self.deliver_from_meta(ep, conn, Frame::new(0, view.clone()));
        }
        self.settle();
    }

    /// Advances virtual time by `d`, firing every timer due on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [
                self.client.poll_timeout(),
                self.session.poll_timeout(),
                self.data.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    if self.client.poll_timeout().is_some_and(|t| t <= now) {
                        self.client.handle_timeout(now);
                    }
                    if self.session.poll_timeout().is_some_and(|t| t <= now) {
                        self.session.handle_timeout(now);
                    }
                    if self.data.poll_timeout().is_some_and(|t| t <= now) {
                        self.data.handle_timeout(now);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Cuts the client's session connection, as a network failure would.
    fn cut_client(&mut self) {
        let ends: Vec<_> = self
            .links
            .keys()
            .filter(|(ep, _)| *ep == Ep::Client)
            .copied()
            .collect();
        for (ep, conn) in ends {
            if let Some((to, to_conn)) = self.links.remove(&(ep, conn)) {
                self.links.remove(&(to, to_conn));
                self.input(to, Input::Closed { conn: to_conn });
                self.input(ep, Input::Closed { conn });
            }
        }
        self.settle();
    }

    fn updates(&self) -> Vec<(DatumVersion, Vec<String>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Update {
                    version,
                    publishers,
                    ..
                } => Some((
                    *version,
                    publishers
                        .iter()
                        .map(|p| p.register_id().to_string())
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }

    fn delivered(&self, kind: MessageKind, from: Ep, to: Ep) -> bool {
        self.trace.contains(&(from, to, kind))
    }
}

/// Output<E> → Output<()>: the harness routes frames and connections, not events.
trait MapEvent {
    fn map_event(self) -> Output<()>;
}

impl<E> MapEvent for Output<E> {
    fn map_event(self) -> Output<()> {
        match self {
            Output::Send { conn, frame } => Output::Send { conn, frame },
            Output::Connect { conn, address } => Output::Connect { conn, address },
            Output::Close { conn, reason } => Output::Close { conn, reason },
            Output::Event(_) => Output::Event(()),
        }
    }
}

fn key() -> DataInfoId {
    DataInfoId::new("com.example.Orders", "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP")
}

/// A cluster up: everyone connected, the view installed, the data node reconciled.
fn cluster() -> Net {
    let mut net = Net::new();
    net.advance(Duration::from_millis(1));
    net.install_view();
    net.advance(Duration::from_millis(10));
    assert!(net.client.is_connected());
    net
}

/// The client subscribes to and publishes one key, and everything settles.
fn subscribed_and_published() -> Net {
    let mut net = cluster();
    net.command(Command::Subscribe {
        data_info_id: key(),
        register_id: Text::from("sub-1"),
    });
    net.command(Command::Publish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
        payload: smallvec::smallvec![bytes::Bytes::from_static(b"10.0.0.1:8080")],
        attributes: vec![],
    });
    net.advance(Duration::from_millis(100));
    net
}

#[test]
fn a_publish_travels_write_notify_fetch_push_to_the_subscriber() {
    let net = subscribed_and_published();
    for (kind, from, to) in [
        (MessageKind::Publish, Ep::Client, Ep::Session),
        (MessageKind::WriteBatch, Ep::Session, Ep::Data),
        (MessageKind::WriteAccepted, Ep::Data, Ep::Session),
        (MessageKind::ChangeNotify, Ep::Data, Ep::Session),
        (MessageKind::FetchDatums, Ep::Session, Ep::Data),
        (MessageKind::Datums, Ep::Data, Ep::Session),
        (MessageKind::Push, Ep::Session, Ep::Client),
        (MessageKind::Ack, Ep::Client, Ep::Session),
    ] {
        assert!(
            net.delivered(kind, from, to),
            "{kind:?} {from:?} → {to:?} missing: {:?}",
            net.trace
        );
    }
    let updates = net.updates();
    let (_, last) = updates.last().expect("the client got a list");
    assert_eq!(last, &["pub-1"]);
    assert!(
        updates.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly newer: {updates:?}"
    );
    assert_eq!(net.data.publisher_count(), 1);
}

#[test]
fn a_reconnecting_client_replays_its_registrations_with_a_new_generation() {
    let mut net = subscribed_and_published();
    assert_eq!(net.client.connect_generation(), 1);
    let before = net.updates().len();
    net.cut_client();
    assert!(!net.client.is_connected());
    // Disconnected, the client keeps its list: no update, in particular no empty one.
    assert_eq!(net.updates().len(), before);
    net.advance(Duration::from_secs(1));
    assert!(net.client.is_connected(), "reconnected after the backoff");
    assert_eq!(net.client.connect_generation(), 2);
    net.advance(Duration::from_secs(1));
    let hellos = net
        .trace
        .iter()
        .filter(|t| **t == (Ep::Client, Ep::Session, MessageKind::ClientHello))
        .count();
    assert_eq!(hellos, 2);
    let publishes = net
        .trace
        .iter()
        .filter(|t| **t == (Ep::Client, Ep::Session, MessageKind::Publish))
        .count();
    assert_eq!(publishes, 2, "the publisher was replayed");
    let updates = net.updates();
    assert!(
        updates.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly newer: {updates:?}"
    );
    assert_eq!(
        updates.last().unwrap().1,
        ["pub-1"],
        "converged: {updates:?}"
    );
    assert_eq!(net.data.publisher_count(), 1);
}

#[test]
fn liveness_idle_connections_carry_keepalives_both_ways_and_stay_up() {
    let mut net = subscribed_and_published();
    let publishers = net.data.publisher_count();
    // A minute with no traffic at all but keep-alives (and meta heartbeats).
    net.advance(Duration::from_secs(60));
    for (from, to) in [
        (Ep::Session, Ep::Data),
        (Ep::Data, Ep::Session),
        (Ep::Session, Ep::Client),
        (Ep::Client, Ep::Session),
    ] {
        assert!(
            net.delivered(MessageKind::KeepAlive, from, to),
            "no KeepAlive {from:?} → {to:?}"
        );
    }
    assert!(
        net.closes.is_empty(),
        "nothing idle-timed out: {:?}",
        net.closes
    );
    assert!(net.client.is_connected());
    assert_eq!(net.client.connect_generation(), 1);
    assert_eq!(net.data.publisher_count(), publishers, "the lease held");
    assert_eq!(net.session.publisher_count(&key()), 1);
}

#[test]
fn liveness_client_fails_over_when_the_session_goes_silent_and_session_drops_it() {
    let mut net = subscribed_and_published();
    assert_eq!(net.client.connect_generation(), 1);
    net.silenced = true;
    // No `Closed` is delivered to either end; both notice within the idle timeout (plus
    // the session's half-interval sweep).
    net.advance(Duration::from_millis(11_600));
    assert!(
        net.closes
            .contains(&(Ep::Client, "idle timeout".to_string())),
        "{:?}",
        net.closes
    );
    assert!(
        net.closes
            .contains(&(Ep::Session, "idle timeout".to_string())),
        "{:?}",
        net.closes
    );
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. }))
    );
    assert_eq!(
        net.session.publisher_count(&key()),
        1,
        "the disconnect grace keeps it for the client's failover"
    );
    // The network heals: the client's next attempt connects and replays the publisher.
    net.silenced = false;
    net.advance(Duration::from_secs(6));
    assert!(net.client.is_connected(), "reconnected");
    assert_eq!(net.client.connect_generation(), 2);
    net.advance(Duration::from_secs(1));
    assert_eq!(net.session.publisher_count(&key()), 1);
    assert_eq!(net.data.publisher_count(), 1);
    assert_eq!(net.updates().last().unwrap().1, ["pub-1"]);
}

#[test]
fn liveness_session_removes_the_publishers_of_a_silent_client() {
    let mut net = subscribed_and_published();
    assert_eq!(net.session.publisher_count(&key()), 1);
    net.silenced = true;
    net.advance(Duration::from_millis(11_600));
    assert!(
        net.closes
            .contains(&(Ep::Session, "idle timeout".to_string()))
    );
    // Still silenced: the client's reconnections go nowhere useful. The publisher stays
    // for the disconnect grace (5 s from the close at the 10.5 s sweep), then the session
    // drops the old connection's publisher and forwards the removal to data.
    assert_eq!(net.session.publisher_count(&key()), 1);
    assert_eq!(net.data.publisher_count(), 1);
    net.advance(Duration::from_millis(4_000));
    assert_eq!(net.session.publisher_count(&key()), 0);
    assert_eq!(net.data.publisher_count(), 0);
}
