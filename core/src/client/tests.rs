//! Client behaviour (docs/design.md §4.9), one test per behaviour; the session's side is
//! played by hand-written frames.

use super::*;
use crate::model::{DataInfoId, DatumVersion, LeaderEpoch, Publisher, RegisterVersion};
use crate::wire::{PublisherList, PushDelta};
use std::time::Duration;

fn key() -> DataInfoId {
    DataInfoId::new("svc", "i", "g")
}

fn v(seq: u64) -> DatumVersion {
    DatumVersion::new(LeaderEpoch(1), seq)
}

struct T {
    c: Client,
    now: Instant,
}

impl T {
    fn new() -> T {
        let cfg = ClientConfig::new(
            Text::from("app-1"),
            vec![Text::from("s1:1"), Text::from("s2:1"), Text::from("s3:1")],
        );
        T {
            c: Client::new(cfg, 42).unwrap(),
            now: Instant::ZERO,
        }
    }

    fn drain(&mut self) -> Vec<Output<Event>> {
        std::iter::from_fn(|| self.c.poll_output()).collect()
    }

    /// Runs timers until the client asks to connect; accepts it; returns the connection,
    /// its address and everything sent on it.
    fn connect(&mut self) -> (ConnId, Text, Vec<Output<Event>>) {
        let (conn, address) = self.dial();
        self.c.handle_input(self.now, Input::Connected { conn });
        let outs = self.drain();
        (conn, address, outs)
    }

    /// Runs timers until the client asks to connect; the connection and its address.
    fn dial(&mut self) -> (ConnId, Text) {
        let at = self.c.poll_timeout().expect("a reconnect is armed");
        self.now = self.now.max(at);
        self.c.handle_timeout(self.now);
        self.drain()
            .into_iter()
            .find_map(|o| match o {
                Output::Connect { conn, address } => Some((conn, address)),
                _ => None,
            })
            .expect("expected a connect")
    }

    fn cmd(&mut self, c: Command) -> Vec<Output<Event>> {
        self.c.handle_input(self.now, Input::Command(c));
        self.drain()
    }

    fn push(
        &mut self,
        conn: ConnId,
        rid: u64,
        seq: u64,
        pubs: Vec<Publisher>,
    ) -> Vec<Output<Event>> {
        let push = Push {
            data_info_id: key(),
            version: v(seq),
            publishers: pubs.into(),
        };
        self.c.handle_input(
            self.now,
            Input::Frame {
                conn,
                frame: Frame::new(rid, push),
            },
        );
        self.drain()
    }
}

fn messages(outs: &[Output<Event>]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { frame, .. } => Some(frame.message.clone()),
            _ => None,
        })
        .collect()
}

fn updates(outs: &[Output<Event>]) -> Vec<(DatumVersion, usize)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(Event::Update {
                version,
                publishers,
                ..
            }) => Some((*version, publishers.len())),
            _ => None,
        })
        .collect()
}

fn p(id: &str) -> Publisher {
    Publisher {
        register_id: Text::from(id),
        version: RegisterVersion::new(1, 1),
        payload: smallvec::smallvec![],
        attributes: vec![],
    }
}

fn publish_cmd() -> Command {
    Command::Publish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
        payload: smallvec::smallvec![bytes::Bytes::from_static(b"10.0.0.1:80")],
        attributes: vec![],
    }
}

fn subscribe_cmd(id: &str) -> Command {
    Command::Subscribe {
        data_info_id: key(),
        register_id: Text::from(id),
    }
}

#[test]
fn every_connect_increments_the_generation_sends_hello_and_replays_everything() {
    let mut t = T::new();
    t.cmd(publish_cmd());
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, outs) = t.connect();
    let m = messages(&outs);
    let Message::ClientHello(h) = &m[0] else {
        panic!("hello first: {m:?}")
    };
    assert_eq!(h.connect_generation, 1);
    let Message::Publish(p1) = &m[1] else {
        panic!()
    };
    assert_eq!(p1.publisher.version, RegisterVersion::new(1, 1));
    assert!(matches!(&m[2], Message::Subscribe(s) if s.known.is_none()));
    t.push(conn, 9, 4, vec![p("a")]);
    t.c.handle_input(t.now, Input::Closed { conn });
    let (_, _, outs) = t.connect();
    let m = messages(&outs);
    let Message::ClientHello(h) = &m[0] else {
        panic!()
    };
    assert_eq!(h.connect_generation, 2);
    let Message::Publish(p2) = &m[1] else {
        panic!()
    };
    assert_eq!(
        p2.publisher.version,
        RegisterVersion::new(1, 2),
        "replay is newer"
    );
    assert!(p2.publisher.version > p1.publisher.version);
    assert!(
        matches!(&m[2], Message::Subscribe(s) if s.known == Some(v(4))),
        "carries known"
    );
}

#[test]
fn a_client_fails_over_to_the_next_session_with_jittered_doubling_backoff() {
    let mut t = T::new();
    let (conn, first, _) = t.connect();
    let lost_at = t.now;
    t.c.handle_input(t.now, Input::Closed { conn });
    assert!(matches!(
        t.drain()[..],
        [Output::Event(Event::Disconnected { .. })]
    ));
    let mut delays = Vec::new();
    let mut addresses = vec![first];
    let mut prev = lost_at;
    for _ in 0..8 {
        let at = t.c.poll_timeout().unwrap();
        delays.push(at - prev);
        t.now = at;
        t.c.handle_timeout(at);
        let Some(Output::Connect { conn, address }) = t.c.poll_output() else {
            panic!()
        };
        addresses.push(address);
        t.c.handle_input(at, Input::Closed { conn }); // connect failed
        prev = at;
    }
    assert_ne!(addresses[0], addresses[1], "fails over to another session");
    assert_eq!(addresses[0], addresses[3], "round the configured list");
    assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
    assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
    assert!(delays[7] <= Duration::from_secs(2), "capped at 2 s");
    assert!(delays[7] >= Duration::from_secs(1));
    // Same seed, same schedule.
    let mut u = T::new();
    let (c2, _, _) = u.connect();
    u.c.handle_input(u.now, Input::Closed { conn: c2 });
    assert_eq!(u.c.poll_timeout().unwrap() - u.now, delays[0]);
}

#[test]
fn only_newer_lists_are_delivered_and_every_push_is_acked() {
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, _) = t.connect();
    let outs = t.push(conn, 5, 3, vec![p("a"), p("b")]);
    assert_eq!(updates(&outs), [(v(3), 2)]);
    assert!(
        matches!(&outs[0], Output::Send { frame, .. } if frame.request_id == 5 && matches!(frame.message, Message::Ack(_)))
    );
    let outs = t.push(conn, 6, 3, vec![]);
    assert!(updates(&outs).is_empty(), "not newer: not delivered");
    assert_eq!(messages(&outs), [Message::Ack(Ack {})], "but acknowledged");
    let outs = t.push(conn, 7, 2, vec![]);
    assert!(updates(&outs).is_empty());
    let outs = t.push(conn, 8, 4, vec![p("a")]);
    assert_eq!(updates(&outs), [(v(4), 1)]);
}

#[test]
fn an_update_shares_the_pushed_list_instead_of_copying_it() {
    // A client with many subscriptions of one key hands every one of them the list; a
    // copy per update would cost O(publishers) per push (and per subscription upstream).
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    t.cmd(subscribe_cmd("sub-2"));
    let (conn, _, _) = t.connect();
    let list = PublisherList::from(vec![p("a"), p("b")]);
    t.c.handle_input(
        t.now,
        Input::Frame {
            conn,
            frame: Frame::new(
                5,
                Push {
                    data_info_id: key(),
                    version: v(3),
                    publishers: list.clone(),
                },
            ),
        },
    );
    let shared: Vec<_> = t
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(Event::Update {
                register_ids,
                publishers,
                ..
            }) => Some((register_ids.len(), publishers.ptr_eq(&list))),
            _ => None,
        })
        .collect();
    assert_eq!(shared, [(2, true)], "one update for both, sharing the list");
    // A later subscription gets the held list, still shared.
    let outs = t.cmd(subscribe_cmd("sub-3"));
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Update { publishers, .. }) if publishers.ptr_eq(&list)
    )));
}

#[test]
fn an_update_reads_the_pushed_publishers_in_place_from_the_frame() {
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, _) = t.connect();
    let mut pushed = vec![p("a"), p("b")];
    pushed[1].payload = smallvec::smallvec![bytes::Bytes::from_static(b"10.0.0.2:80")];
    pushed[1].attributes = vec![crate::model::Attribute {
        key: Text::from("zone"),
        value: Text::from("eu"),
    }];
    // As the shell hands it over: decoded from the bytes received.
    let wire = Frame::new(
        5,
        Push {
            data_info_id: key(),
            version: v(3),
            publishers: pushed.clone().into(),
        },
    )
    .to_bytes()
    .unwrap();
    let frame = Frame::decode(wire.clone()).unwrap();
    t.c.handle_input(t.now, Input::Frame { conn, frame });
    let list = t
        .drain()
        .into_iter()
        .find_map(|o| match o {
            Output::Event(Event::Update { publishers, .. }) => Some(publishers),
            _ => None,
        })
        .expect("an update");
    type Read<'a> = (&'a str, Vec<&'a [u8]>, Vec<(&'a str, &'a str)>);
    let read: Vec<Read<'_>> = list
        .iter()
        .map(|r| {
            (
                r.register_id(),
                r.payload().collect(),
                r.attributes().collect(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("a", vec![], vec![]),
            ("b", vec![&b"10.0.0.2:80"[..]], vec![("zone", "eu")])
        ]
    );
    assert_eq!(list.to_vec(), pushed);
    assert!(
        wire.as_ptr_range().contains(&list.as_bytes().as_ptr()),
        "the list was copied out of the frame"
    );
}

#[test]
fn the_last_list_is_kept_while_disconnected_and_shared_with_new_subscriptions() {
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, _) = t.connect();
    t.push(conn, 5, 3, vec![p("a")]);
    t.c.handle_input(t.now, Input::Closed { conn });
    let outs = t.drain();
    assert!(updates(&outs).is_empty(), "no empty list on disconnect");
    // A second subscription while disconnected gets the held list at once.
    let outs = t.cmd(subscribe_cmd("sub-2"));
    assert_eq!(updates(&outs), [(v(3), 1)]);
    // Frames on the dead connection are ignored.
    let outs = t.push(conn, 6, 9, vec![]);
    assert!(outs.is_empty());
}

#[test]
fn an_unpublish_is_newer_and_is_not_replayed() {
    let mut t = T::new();
    t.cmd(publish_cmd());
    let (conn, _, _) = t.connect();
    let outs = t.cmd(Command::Unpublish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
    });
    let m = messages(&outs);
    let Message::Unpublish(u) = &m[0] else {
        panic!()
    };
    assert_eq!(u.version, RegisterVersion::new(2, 1));
    t.c.handle_input(t.now, Input::Closed { conn });
    let (_, _, outs) = t.connect();
    assert_eq!(
        messages(&outs).len(),
        1,
        "only the hello: nothing left to replay"
    );
    // Re-publishing the same id later is newer than the removal.
    let outs = t.cmd(publish_cmd());
    let Message::Publish(p) = &messages(&outs)[0] else {
        panic!()
    };
    assert!(p.publisher.version > u.version);
}

#[test]
fn a_refused_registration_is_reported() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    let outs = t.cmd(publish_cmd());
    let Output::Send { frame, .. } = &outs[0] else {
        panic!()
    };
    let err = crate::wire::ErrorReply {
        code: crate::wire::ErrorCode::Overloaded,
        message: Text::from("too many"),
    };
    t.c.handle_input(
        t.now,
        Input::Frame {
            conn,
            frame: Frame::new(frame.request_id, err),
        },
    );
    let outs = t.drain();
    assert!(
        matches!(&outs[..], [Output::Event(Event::Rejected { register_id, code, reason })]
            if register_id == "pub-1" && *code == crate::wire::ErrorCode::Overloaded
                && reason == "too many"),
        "{outs:?}"
    );
}

/// The request id and message of the one registration request among `outs`.
fn request(outs: &[Output<Event>]) -> (u64, Message) {
    let sent: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Send { frame, .. } => Some((frame.request_id, frame.message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "{outs:?}");
    sent.into_iter().next().unwrap()
}

fn events(outs: &[Output<Event>]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn registered(id: &str, revision: u64) -> Event {
    Event::Registered {
        register_id: Text::from(id),
        revision,
    }
}

#[test]
fn a_publication_is_registered_when_the_session_acknowledges_it() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    let (rid, _) = request(&t.cmd(publish_cmd()));
    assert_eq!(
        events(&frame_in(&mut t, conn, rid, Ack {})),
        [registered("pub-1", 1)]
    );
    // A stray or repeated answer reports nothing.
    assert_eq!(frame_in(&mut t, conn, rid, Ack {}), vec![]);
}

#[test]
fn an_update_replaces_the_publication_in_place_with_the_next_revision() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    let (first_rid, first) = request(&t.cmd(publish_cmd()));
    let update = Command::Publish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
        payload: smallvec::smallvec![bytes::Bytes::from_static(b"10.0.0.2:80")],
        attributes: vec![],
    };
    let (rid, second) = request(&t.cmd(update));
    let (Message::Publish(a), Message::Publish(b)) = (first, second) else {
        panic!("two publishes")
    };
    assert_eq!(a.publisher.register_id, b.publisher.register_id, "same id");
    assert!(b.publisher.version > a.publisher.version, "a newer version");
    assert_eq!(b.publisher.payload[0].as_ref(), b"10.0.0.2:80");
    // The first's answer is for revision 1, the update's for revision 2.
    let outs = frame_in(&mut t, conn, first_rid, Ack {});
    assert_eq!(events(&outs), [registered("pub-1", 1)]);
    let outs = frame_in(&mut t, conn, rid, Ack {});
    assert_eq!(events(&outs), [registered("pub-1", 2)]);
    // A reconnect replays only the newest revision, once.
    t.c.handle_input(t.now, Input::Closed { conn });
    let (conn, _, outs) = t.connect();
    let replayed: Vec<_> = messages(&outs)
        .into_iter()
        .filter_map(|m| match m {
            Message::Publish(p) => Some(p.publisher.payload[0].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, [bytes::Bytes::from_static(b"10.0.0.2:80")]);
    let rid = outs
        .iter()
        .find_map(|o| match o {
            Output::Send { frame, .. } if matches!(frame.message, Message::Publish(_)) => {
                Some(frame.request_id)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        events(&frame_in(&mut t, conn, rid, Ack {})),
        [registered("pub-1", 2)]
    );
}

fn unpublish_cmd() -> Command {
    Command::Unpublish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
    }
}

#[test]
fn an_unpublication_is_reported_once_acknowledged_or_once_its_connection_is_gone() {
    let unregistered = || Event::Unregistered {
        register_id: Text::from("pub-1"),
    };
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    t.cmd(publish_cmd());
    let (rid, m) = request(&t.cmd(unpublish_cmd()));
    assert!(matches!(m, Message::Unpublish(_)), "{m:?}");
    assert_eq!(
        events(&frame_in(&mut t, conn, rid, Ack {})),
        [unregistered()]
    );
    // In flight when the connection ends: the session dropped it with the connection.
    t.cmd(publish_cmd());
    let outs = t.cmd(unpublish_cmd());
    assert_eq!(events(&outs), []);
    t.c.handle_input(t.now, Input::Closed { conn });
    let disconnected = Event::Disconnected {
        session: Text::from("s1:1"),
    };
    assert_eq!(events(&t.drain()), [disconnected, unregistered()]);
    // Disconnected, or never published: nothing to send, withdrawn at once.
    t.cmd(publish_cmd());
    assert_eq!(events(&t.cmd(unpublish_cmd())), [unregistered()]);
    assert_eq!(events(&t.cmd(unpublish_cmd())), [unregistered()]);
}

#[test]
fn config_errors_name_the_field() {
    let mut c = ClientConfig::new(Text::from("a"), vec![]);
    assert_eq!(c.validate().unwrap_err().field, "sessions");
    c.sessions = vec![Text::from("s:1")];
    c.client_id = Text::new();
    assert_eq!(c.validate().unwrap_err().field, "client_id");
}

/// Runs the client's timers up to `until`, returning everything it output on the way.
fn run_until(t: &mut T, until: Instant) -> Vec<(Instant, Output<Event>)> {
    let mut outs = Vec::new();
    while let Some(at) = t.c.poll_timeout() {
        if at > until {
            break;
        }
        t.now = t.now.max(at);
        t.c.handle_timeout(t.now);
        let now = t.now;
        outs.extend(t.drain().into_iter().map(|o| (now, o)));
    }
    t.now = t.now.max(until);
    outs
}

#[test]
fn liveness_a_stalled_client_reads_before_it_judges_its_session() {
    let mut t = T::new();
    t.cmd(publish_cmd());
    let (conn, _, _) = t.connect();
    let up = t.now;
    // The client process is stopped for 15 s: woken at last, it finds its session silent
    // for longer than the idle timeout, but sends a keep-alive instead of failing over.
    t.now = up + Duration::from_secs(15);
    t.c.handle_timeout(t.now);
    let outs = t.drain();
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Close { .. })),
        "{outs:?}"
    );
    assert!(
        outs.iter().any(|o| matches!(o, Output::Send { conn: c, frame } if *c == conn && frame.message == Message::KeepAlive(KeepAlive {}))),
        "{outs:?}"
    );
    // What the session sent meanwhile is read now: the connection is alive.
    t.c.handle_input(
        t.now,
        Input::Frame {
            conn,
            frame: Frame::new(0, KeepAlive {}),
        },
    );
    let outs = run_until(&mut t, up + Duration::from_secs(24));
    assert!(
        !outs.iter().any(|(_, o)| matches!(o, Output::Close { .. })),
        "alive"
    );
    // Stalled again, and this time the session is gone: closed one interval later.
    t.now = up + Duration::from_secs(40);
    t.c.handle_timeout(t.now);
    t.drain();
    let outs = run_until(&mut t, up + Duration::from_secs(43));
    let closed: Vec<Instant> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Close { conn: c, .. } if *c == conn))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(closed, [up + Duration::from_secs(43)]);
}

#[test]
fn liveness_client_fails_over_after_the_session_goes_silent_without_closed() {
    let mut t = T::new();
    t.cmd(publish_cmd());
    let (conn, first, _) = t.connect();
    let up = t.now;
    // The session dies silently: no frame and no `Closed` ever arrive.
    let outs = run_until(&mut t, up + Duration::from_secs(10));
    let keepalives: Vec<Instant> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Send { conn: c, frame } if *c == conn && frame.message == Message::KeepAlive(KeepAlive {}) && frame.request_id == 0))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(
        keepalives,
        [3, 6, 9].map(|s| up + Duration::from_secs(s)),
        "a KeepAlive every keepalive_interval of silence"
    );
    let closed_at = outs
        .iter()
        .find_map(|(at, o)| match o {
            Output::Close { conn: c, reason } if *c == conn => {
                assert_eq!(reason.as_str(), "idle timeout");
                Some(*at)
            }
            _ => None,
        })
        .expect("closed at the idle timeout");
    assert_eq!(closed_at, up + Duration::from_secs(10));
    assert!(
        outs.iter()
            .any(|(_, o)| matches!(o, Output::Event(Event::Disconnected { .. })))
    );
    assert!(!t.c.is_connected());
    // Fails over to the next session and replays, as after `Closed`.
    let (_, second, outs) = t.connect();
    assert_ne!(second, first);
    let m = messages(&outs);
    assert!(matches!(&m[0], Message::ClientHello(h) if h.connect_generation == 2));
    assert!(matches!(&m[1], Message::Publish(_)), "replayed: {m:?}");
    // Frames on the closed connection are ignored.
    t.push(conn, 1, 1, vec![p("a")]);
    assert!(t.c.is_connected());
}

#[test]
fn liveness_client_does_not_time_out_while_keepalives_arrive() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    let mut sent_keepalives = 0;
    for s in 1..=60u64 {
        // The session's KeepAlive every 2 s is the only thing that arrives.
        let outs = run_until(&mut t, Instant::ZERO + Duration::from_secs(s));
        sent_keepalives += outs
            .iter()
            .filter(|(_, o)| matches!(o, Output::Send { frame, .. } if frame.message == Message::KeepAlive(KeepAlive {})))
            .count();
        assert!(
            !outs.iter().any(|(_, o)| matches!(o, Output::Close { .. })),
            "closed at {s} s"
        );
        if s % 2 == 0 {
            t.c.handle_input(
                t.now,
                Input::Frame {
                    conn,
                    frame: Frame::new(0, KeepAlive {}),
                },
            );
            assert!(t.drain().is_empty(), "a KeepAlive is not answered");
        }
    }
    assert!(t.c.is_connected());
    assert_eq!(t.c.connect_generation(), 1);
    assert!(
        sent_keepalives >= 19,
        "the idle client kept sending: {sent_keepalives}"
    );
}

#[test]
fn liveness_client_sends_no_keepalive_while_it_sends_other_frames() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    for s in 1..=10u64 {
        let outs = run_until(&mut t, Instant::ZERO + Duration::from_secs(s));
        assert!(
            !outs.iter().any(|(_, o)| matches!(o, Output::Send { frame, .. } if frame.message == Message::KeepAlive(KeepAlive {}))),
            "a busy connection needs no KeepAlive ({s} s)"
        );
        // A push every second: the client acks it (a frame sent) and hears from the session.
        t.push(conn, s, s, vec![p("a")]);
    }
}

#[test]
fn liveness_config_validation_names_the_field() {
    let base = || ClientConfig::new(Text::from("app"), vec![Text::from("s:1")]);
    let c = base();
    assert_eq!(c.liveness.keepalive_interval, Duration::from_secs(3));
    assert_eq!(c.liveness.idle_timeout, Duration::from_secs(10));
    assert!(c.validate().is_ok());
    let mut c = base();
    c.liveness.idle_timeout = Duration::from_secs(3);
    let e = c.validate().unwrap_err();
    assert_eq!(e.field, "idle_timeout");
    assert!(e.to_string().contains("idle_timeout"));
    let mut c = base();
    c.liveness.keepalive_interval = Duration::ZERO;
    assert_eq!(c.validate().unwrap_err().field, "keepalive_interval");
    assert!(Client::new(c, 1).is_err());
}

#[test]
fn a_connect_nothing_answers_is_abandoned_at_its_deadline_and_the_next_session_tried() {
    let mut t = T::new();
    let (conn, first) = t.dial();
    // A black-holed host: neither `Connected` nor `Closed` ever comes.
    let deadline = t.c.poll_timeout().expect("the connect has a deadline");
    assert_eq!(deadline, t.now + crate::net::DEFAULT_CONNECT_TIMEOUT);
    t.now = deadline;
    t.c.handle_timeout(t.now);
    let outs = t.drain();
    assert!(
        outs.iter().any(|o| matches!(o,
            Output::Close { conn: c, reason } if *c == conn && reason.as_str() == crate::net::TIMED_OUT)),
        "the late dial is closed: {outs:?}"
    );
    let (_, next, _) = t.connect();
    assert_ne!(next, first, "the next session is tried");
    assert!(
        t.now <= deadline + Duration::from_millis(100),
        "within one backoff of the deadline"
    );
}

// ----- hellos and protocol evolution (docs/protocol.md §9) ---------------------------------

fn frame_in(t: &mut T, conn: ConnId, rid: u64, m: impl Into<Message>) -> Vec<Output<Event>> {
    t.c.handle_input(
        t.now,
        Input::Frame {
            conn,
            frame: Frame::new(rid, m),
        },
    );
    t.drain()
}

/// The request id of the hello among `outs`.
fn hello_id(outs: &[Output<Event>]) -> u64 {
    outs.iter()
        .find_map(|o| match o {
            Output::Send { frame, .. } if matches!(frame.message, Message::ClientHello(_)) => {
                Some(frame.request_id)
            }
            _ => None,
        })
        .expect("a hello")
}

#[test]
fn the_hello_announces_this_builds_version_and_the_welcome_is_recorded() {
    let mut t = T::new();
    let (conn, _, outs) = t.connect();
    let m = messages(&outs);
    assert!(
        matches!(&m[0], Message::ClientHello(h)
            if h.version == negotiate::VERSION && h.features == crate::wire::Features::SUPPORTED),
        "{m:?}"
    );
    assert_eq!(t.c.agreement(), None, "not answered yet");
    let session = crate::model::ProcessId {
        node: crate::model::NodeId(4),
        incarnation: crate::model::Incarnation(9),
    };
    let welcome = crate::wire::ClientWelcome {
        version: negotiate::VERSION,
        features: crate::wire::Features::NONE,
        session,
    };
    assert_eq!(frame_in(&mut t, conn, hello_id(&outs), welcome), vec![]);
    assert_eq!(
        t.c.agreement(),
        Some(Agreement {
            version: negotiate::VERSION,
            features: crate::wire::Features::NONE
        })
    );
    assert_eq!(t.c.session_process(), Some(session));
    t.c.handle_input(t.now, Input::Closed { conn });
    assert_eq!(t.c.agreement(), None, "forgotten with the connection");
}

#[test]
fn a_version_1_sessions_ack_to_the_hello_means_version_1() {
    let mut t = T::new();
    let (conn, _, outs) = t.connect();
    frame_in(&mut t, conn, hello_id(&outs), Ack {});
    assert_eq!(t.c.agreement(), Some(Agreement::UNVERSIONED));
    assert_eq!(t.c.session_process(), None);
}

#[test]
fn a_push_reusing_the_hellos_request_id_is_a_push_not_the_hellos_answer() {
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, outs) = t.connect();
    let id = hello_id(&outs);
    let outs = t.push(conn, id, 4, vec![p("a")]);
    assert_eq!(updates(&outs), vec![(v(4), 1)]);
    assert_eq!(t.c.agreement(), None, "still waiting for the answer");
}

#[test]
fn a_refused_hello_gives_up_the_session_and_fails_over() {
    let mut t = T::new();
    let (conn, first, outs) = t.connect();
    let refusal = negotiate::negotiate(0, crate::wire::Features::NONE).unwrap_err();
    let outs = frame_in(&mut t, conn, hello_id(&outs), refusal);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn: c, .. } if *c == conn)),
        "{outs:?}"
    );
    assert!(!t.c.is_connected());
    let (_, next, _) = t.connect();
    assert_ne!(next, first, "the next session is tried");
}

#[test]
fn an_unknown_request_from_the_session_is_answered_unsupported_and_a_one_way_one_ignored() {
    let mut t = T::new();
    let (conn, _, _) = t.connect();
    let unknown = |kind| Message::Unknown(crate::wire::Unknown { kind });
    assert_eq!(frame_in(&mut t, conn, 0, unknown(0x80)), vec![]);
    let outs = frame_in(&mut t, conn, 33, unknown(0x81));
    assert!(
        matches!(&outs[..], [Output::Send { conn: c, frame }] if *c == conn
            && frame.request_id == 33
            && matches!(&frame.message, Message::ErrorReply(e)
                if e.code == crate::wire::ErrorCode::Unsupported)),
        "{outs:?}"
    );
    assert!(t.c.is_connected());
}

// ----- delta pushes (docs/protocol.md §6.2) ---------------------------------------------

fn pv(id: &str, client_version: u64) -> Publisher {
    Publisher {
        version: RegisterVersion::new(client_version, 1),
        ..p(id)
    }
}

fn delta(base: u64, seq: u64, upserts: Vec<Publisher>, removed: &[&str]) -> PushDelta {
    // The digest of what the session holds at `seq`: the base list below, changed.
    let mut list: std::collections::BTreeMap<String, Publisher> = base_list()
        .into_iter()
        .map(|p| (p.register_id.to_string(), p))
        .collect();
    for id in removed {
        list.remove(*id);
    }
    for p in &upserts {
        list.insert(p.register_id.to_string(), p.clone());
    }
    let result: PublisherList = list.into_values().collect();
    PushDelta {
        data_info_id: key(),
        base: v(base),
        version: v(seq),
        digest: crate::wire::Digest::of_list(&result),
        upserts: upserts.into(),
        removed: removed.iter().map(|id| Text::from(*id)).collect(),
    }
}

fn base_list() -> Vec<Publisher> {
    vec![pv("a", 1), pv("b", 1), pv("c", 1)]
}

/// A client subscribed as "sub-1" that holds `base_list()` at v3.
fn holding_v3() -> (T, ConnId) {
    let mut t = T::new();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, _) = t.connect();
    assert_eq!(updates(&t.push(conn, 5, 3, base_list())), [(v(3), 3)]);
    (t, conn)
}

fn delivered(outs: &[Output<Event>]) -> Vec<(DatumVersion, Vec<(String, u64)>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(Event::Update {
                version,
                publishers,
                ..
            }) => Some((
                *version,
                publishers
                    .iter()
                    .map(|p| (p.register_id().to_owned(), p.version().client_version))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

fn resubscribed_without_known(outs: &[Output<Event>]) -> bool {
    messages(outs).iter().any(|m| {
        matches!(m, Message::Subscribe(s)
            if s.data_info_id == key() && s.register_id.as_str() == "sub-1" && s.known.is_none())
    })
}

#[test]
fn a_delta_is_applied_to_the_list_held_at_its_base_and_delivered_in_order() {
    let (mut t, conn) = holding_v3();
    let outs = frame_in(
        &mut t,
        conn,
        9,
        delta(3, 5, vec![pv("b", 2), pv("d", 1)], &["a"]),
    );
    assert_eq!(messages(&outs)[0], Message::Ack(Ack {}));
    assert_eq!(
        delivered(&outs),
        [(
            v(5),
            vec![("b".into(), 2), ("c".into(), 1), ("d".into(), 1)]
        )]
    );
    assert!(!resubscribed_without_known(&outs));
    // The next delta builds on the delivered result.
    let next = PushDelta {
        base: v(5),
        version: v(6),
        upserts: PublisherList::new(),
        removed: vec![Text::from("c")],
        digest: crate::wire::Digest::of_list(&vec![pv("b", 2), pv("d", 1)].into()),
        data_info_id: key(),
    };
    let outs = frame_in(&mut t, conn, 10, next);
    assert_eq!(
        delivered(&outs),
        [(v(6), vec![("b".into(), 2), ("d".into(), 1)])]
    );
}

#[test]
fn a_delta_whose_result_has_another_digest_is_not_delivered_and_the_whole_list_is_asked_for() {
    let (mut t, conn) = holding_v3();
    let mut wrong = delta(3, 5, vec![pv("b", 2)], &[]);
    wrong.digest.hash = wrong.digest.hash.wrapping_add(1);
    let outs = frame_in(&mut t, conn, 9, wrong);
    assert!(
        matches!(&outs[0], Output::Send { frame, .. }
            if frame.request_id == 9 && frame.message == Message::Ack(Ack {})),
        "acknowledged, so that the session does not resend it: {outs:?}"
    );
    assert!(delivered(&outs).is_empty(), "never a wrong list");
    assert!(resubscribed_without_known(&outs), "{outs:?}");
    // A wrong count is caught the same way.
    let mut short = delta(3, 5, vec![pv("b", 2)], &[]);
    short.digest.count += 1;
    let outs = frame_in(&mut t, conn, 10, short);
    assert!(delivered(&outs).is_empty() && resubscribed_without_known(&outs));
    // The whole list then comes as a plain push, and is delivered.
    let outs = t.push(conn, 11, 5, vec![pv("a", 1), pv("b", 2), pv("c", 1)]);
    assert_eq!(updates(&outs), [(v(5), 3)]);
}

#[test]
fn a_delta_against_a_base_the_client_does_not_hold_is_not_applied() {
    let (mut t, conn) = holding_v3();
    // The digest is right for the session's list, but the base is v4, which this client
    // never got: applied to v3 it could give a wrong list that happens to match.
    let outs = frame_in(&mut t, conn, 9, delta(4, 5, vec![pv("b", 2)], &[]));
    assert!(delivered(&outs).is_empty());
    assert!(resubscribed_without_known(&outs));
    // Not newer than what it holds: ignored, and nothing asked for.
    let outs = frame_in(&mut t, conn, 10, delta(2, 3, vec![], &[]));
    assert_eq!(messages(&outs), [Message::Ack(Ack {})]);
}

#[test]
fn a_client_configured_without_deltas_does_not_announce_them() {
    let mut t = T::new();
    let mut cfg = ClientConfig::new(Text::from("old"), vec![Text::from("s1:1")]);
    cfg.features = crate::wire::Features::NONE;
    t.c = Client::new(cfg, 1).unwrap();
    let (_, _, outs) = t.connect();
    assert!(matches!(&messages(&outs)[0], Message::ClientHello(h)
            if h.features == crate::wire::Features::NONE));
}

fn welcome() -> crate::wire::ClientWelcome {
    crate::wire::ClientWelcome {
        version: negotiate::VERSION,
        features: crate::wire::Features::NONE,
        session: crate::model::ProcessId {
            node: crate::model::NodeId(4),
            incarnation: crate::model::Incarnation(9),
        },
    }
}

fn redirect() -> Redirect {
    Redirect {
        reason: Text::from("session draining"),
    }
}

#[test]
fn a_redirect_moves_to_another_session_at_once_and_replays_there() {
    let mut t = T::new();
    let (conn, first, outs) = t.connect();
    frame_in(&mut t, conn, hello_id(&outs), welcome());
    t.cmd(publish_cmd());
    let outs = frame_in(&mut t, conn, 0, redirect());
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn: c, .. } if *c == conn)),
        "{outs:?}"
    );
    assert!(!t.c.is_connected());
    assert_eq!(t.c.poll_timeout(), Some(t.now), "no backoff");
    let before = t.now;
    let (_, next, outs) = t.connect();
    assert_eq!(t.now, before);
    assert_ne!(next, first, "another session");
    let sent = messages(&outs);
    assert!(
        matches!(&sent[0], Message::ClientHello(h) if h.connect_generation == 2),
        "{sent:?}"
    );
    assert!(
        sent.iter().any(
            |m| matches!(m, Message::Publish(p) if p.publisher.version.connect_generation == 2)
        ),
        "the publisher replayed at the new generation: {sent:?}"
    );
}

#[test]
fn a_redirect_instead_of_a_welcome_is_a_refusal_with_a_backoff() {
    let mut t = T::new();
    let (conn, first, _) = t.connect();
    frame_in(&mut t, conn, 0, redirect());
    assert!(!t.c.is_connected());
    let at = t.c.poll_timeout().unwrap();
    assert!(at > t.now, "a refused hello waits out the backoff");
    let (_, next, _) = t.connect();
    assert_ne!(next, first);
}

mod requery;
