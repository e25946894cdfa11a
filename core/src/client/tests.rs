//! Client behaviour (DESIGN.md mechanism 9), one test per behaviour; the session's side is
//! played by hand-written frames.

use super::*;
use crate::model::{DataInfoId, DatumVersion, LeaderEpoch, Publisher, RegisterVersion};
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
        let at = self.c.poll_timeout().expect("a reconnect is armed");
        self.now = self.now.max(at);
        self.c.handle_timeout(self.now);
        let (conn, address) = self
            .drain()
            .into_iter()
            .find_map(|o| match o {
                Output::Connect { conn, address } => Some((conn, address)),
                _ => None,
            })
            .expect("expected a connect");
        self.c.handle_input(self.now, Input::Connected { conn });
        let outs = self.drain();
        (conn, address, outs)
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
        payload: vec![],
        attributes: vec![],
    }
}

fn publish_cmd() -> Command {
    Command::Publish {
        data_info_id: key(),
        register_id: Text::from("pub-1"),
        payload: vec![bytes::Bytes::from_static(b"10.0.0.1:80")],
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
fn m9_every_connect_increments_the_generation_sends_hello_and_replays_everything() {
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
fn m9_fails_over_to_the_next_session_with_jittered_doubling_backoff() {
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
    assert!(delays[7] <= Duration::from_secs(5), "capped at 5 s");
    assert!(delays[7] >= Duration::from_millis(2500));
    // Same seed, same schedule.
    let mut u = T::new();
    let (c2, _, _) = u.connect();
    u.c.handle_input(u.now, Input::Closed { conn: c2 });
    assert_eq!(u.c.poll_timeout().unwrap() - u.now, delays[0]);
}

#[test]
fn m9_delivers_only_newer_lists_and_acks_every_push() {
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
fn m9_keeps_the_last_list_while_disconnected_and_shares_it_with_new_subscriptions() {
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
fn m9_unpublish_is_newer_and_not_replayed() {
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
fn m9_a_refused_registration_is_reported() {
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
        matches!(&outs[..], [Output::Event(Event::Rejected { register_id, .. })] if register_id == "pub-1")
    );
}

#[test]
fn config_errors_name_the_field() {
    let mut c = ClientConfig::new(Text::from("a"), vec![]);
    assert_eq!(c.validate().unwrap_err().field, "sessions");
    c.sessions = vec![Text::from("s:1")];
    c.client_id = Text::new();
    assert_eq!(c.validate().unwrap_err().field, "client_id");
}
