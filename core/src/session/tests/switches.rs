//! Operator switches on a session (`session::switches`): what each one does to pushes,
//! clients and registrations, with meta played by hand-written `ClusterView`s.

use super::*;
use crate::model::Switches;
use std::net::IpAddr;

/// The rig's view, carrying `switches`.
fn with_switches(switches: Switches) -> ClusterView {
    ClusterView {
        switches,
        ..view(1, D1, 1, 1)
    }
}

fn switches(version: u64, edit: impl FnOnce(&mut Switches)) -> Switches {
    let mut s = Switches::default();
    edit(&mut s);
    s.version = version;
    s
}

impl T {
    fn meta_sends(&mut self, s: Switches) {
        let meta = self.meta;
        self.frame(meta, 0, with_switches(s));
    }

    /// A client connection `n` from `ip` that said hello.
    fn client_from(&mut self, n: u64, ip: &str) -> ConnId {
        let c = ConnId(n);
        let now = self.now;
        let ip: IpAddr = ip.parse().unwrap();
        self.session.accepted_from(now, c, ip);
        self.frame(c, 0, ClientHello::new(Text::from("app"), 1));
        c
    }

    /// Answers every write batch sent with `WriteAccepted` until none is left, returning
    /// the ops of each.
    fn accept_writes(&mut self, mut sent: Vec<(ConnId, Frame)>) -> Vec<String> {
        let mut ops = Vec::new();
        let d1 = self.d1();
        while let Some((_, f)) = sent.into_iter().find(|(_, f)| is_batch(&f.message)) {
            ops.extend(batch_ids(&f));
            self.frame(d1, f.request_id, WriteAccepted { slot: SlotId(0) });
            sent = self.sent();
        }
        ops
    }
}

fn notify(t: &mut T, k: &DataInfoId, seq: u64) -> Vec<(ConnId, Frame)> {
    let d1 = t.d1();
    let changes = vec![DatumChange {
        data_info_id: k.clone(),
        version: v(seq),
    }];
    t.frame(d1, 0, ChangeNotify { changes });
    t.sent()
}

#[test]
fn stop_push_holds_a_key_and_lifting_it_pushes_the_newest_list_at_once() {
    let mut t = T::new();
    let c = t.client(1);
    t.subscribed(c, &key(1), Some(datum(&key(1), 1, &["a"])));
    t.subscribed(c, &key(2), Some(datum(&key(2), 1, &["b"])));
    let held = key(1).data_id.clone();
    t.meta_sends(switches(1, |s| {
        s.push_stopped_data_ids.insert(held.clone());
    }));
    assert_eq!(t.session.switches().version, 1);
    // A change of each key: both are fetched, only the key not held is pushed.
    let sent = notify(&mut t, &key(1), 2);
    let (_, fetch) = find(&sent, is_fetch);
    let d1 = t.d1();
    let datums = vec![datum(&key(1), 2, &["a", "a2"])];
    t.frame(d1, fetch.request_id, Datums { datums });
    assert_eq!(count(&t.sent(), is_push), 0, "held: no push of key 1");
    let sent = notify(&mut t, &key(2), 2);
    let (_, fetch) = find(&sent, is_fetch);
    t.frame(
        d1,
        fetch.request_id,
        Datums {
            datums: vec![datum(&key(2), 2, &["b", "b2"])],
        },
    );
    let sent = t.sent();
    let (_, push) = find(&sent, is_push);
    let Message::Push(p) = &push.message else {
        unreachable!()
    };
    assert_eq!(p.data_info_id, key(2), "a key not held is pushed");
    t.frame(c, push.request_id, Ack {});
    // An older set (a deposed meta leader's) changes nothing.
    t.meta_sends(switches(0, |_| {}));
    assert_eq!(count(&t.sent(), is_push), 0);
    // Lifted: the held key's newest list goes out at once.
    t.meta_sends(switches(2, |_| {}));
    let sent = t.sent();
    let (pc, push) = find(&sent, is_push);
    let Message::Push(p) = &push.message else {
        unreachable!()
    };
    assert_eq!((pc, &p.data_info_id, p.version), (c, &key(1), v(2)));
    assert_eq!(count(&sent, is_push), 1);
}

#[test]
fn stop_all_pushes_holds_every_key() {
    let mut t = T::new();
    t.meta_sends(switches(1, |s| s.pushes_stopped = true));
    let c = t.client(1);
    t.frame(c, 50, sub(&key(3), "sub", None));
    let sent = t.sent();
    let (_, fetch) = find(&sent, is_fetch);
    let d1 = t.d1();
    t.frame(
        d1,
        fetch.request_id,
        Datums {
            datums: vec![datum(&key(3), 1, &["x"])],
        },
    );
    assert_eq!(count(&t.sent(), is_push), 0, "a new subscriber waits too");
    t.meta_sends(switches(2, |_| {}));
    assert_eq!(count(&t.sent(), is_push), 1);
}

#[test]
fn client_off_closes_the_client_removes_its_publishers_at_once_and_refuses_it() {
    let mut t = T::new();
    let off = t.client_from(1, "10.0.0.7");
    let other = t.client_from(2, "10.0.0.8");
    publish(&mut t, off, 3, &key(1), publisher("p-off", 1, 1));
    publish(&mut t, other, 3, &key(1), publisher("p-other", 1, 1));
    let sent = t.sent();
    assert_eq!(t.accept_writes(sent), ["put p-off", "put p-other"]);
    assert_eq!(t.session.publisher_count(&key(1)), 2);

    t.meta_sends(switches(1, |s| {
        s.clients_off.insert(Text::from("10.0.0.7"));
    }));
    let outs = t.drain();
    let closed: Vec<ConnId> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Close { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [off], "only the switched-off client is closed");
    assert_eq!(t.session.publisher_count(&key(1)), 1);
    let sent = sends(outs);
    assert_eq!(
        t.accept_writes(sent),
        ["remove p-off"],
        "removed at once, without the disconnect grace"
    );

    // It comes back (an IPv4 address seen through an IPv6 socket): refused at its hello.
    let again = t.client_from(3, "::ffff:10.0.0.7");
    let outs = t.drain();
    assert!(
        outs.iter().any(|o| matches!(o,
            Output::Send { conn, frame } if *conn == again
                && matches!(&frame.message, Message::ErrorReply(e) if e.message.contains("client-off"))
        )),
        "{outs:?}"
    );
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn, .. } if *conn == again))
    );
    publish(&mut t, again, 4, &key(1), publisher("p-off", 2, 2));
    assert_eq!(t.session.publisher_count(&key(1)), 1, "nothing registered");

    // Lifted: it may return.
    t.meta_sends(switches(2, |_| {}));
    let back = t.client_from(4, "10.0.0.7");
    publish(&mut t, back, 5, &key(1), publisher("p-off", 3, 3));
    assert_eq!(t.session.publisher_count(&key(1)), 2);
}

#[test]
fn a_client_off_client_in_its_grace_loses_its_publishers_at_once() {
    let mut t = T::new();
    let c = t.client_from(1, "10.0.0.7");
    publish(&mut t, c, 3, &key(1), publisher("p", 1, 1));
    let sent = t.sent();
    t.accept_writes(sent);
    t.input(Input::Closed { conn: c });
    assert_eq!(t.session.publisher_count(&key(1)), 1, "kept for the grace");
    t.meta_sends(switches(1, |s| {
        s.clients_off.insert(Text::from("10.0.0.7"));
    }));
    assert_eq!(t.session.publisher_count(&key(1)), 0);
    let sent = t.sent();
    assert_eq!(t.accept_writes(sent), ["remove p"]);
}

#[test]
fn a_blacklisted_data_id_is_refused_and_its_publishers_removed() {
    let mut t = T::new();
    let c = t.client(1);
    publish(&mut t, c, 3, &key(1), publisher("p", 1, 1));
    publish(&mut t, c, 4, &key(2), publisher("q", 1, 1));
    let sent = t.sent();
    t.accept_writes(sent);
    t.meta_sends(switches(1, |s| {
        s.blacklisted_data_ids.insert(key(1).data_id.clone());
    }));
    assert_eq!(t.session.publisher_count(&key(1)), 0);
    assert_eq!(t.session.publisher_count(&key(2)), 1, "other keys stay");
    let sent = t.sent();
    assert_eq!(t.accept_writes(sent), ["remove p"]);

    publish(&mut t, c, 5, &key(1), publisher("p", 2, 1));
    t.frame(c, 6, sub(&key(1), "s", None));
    let sent = t.sent();
    for rid in [5, 6] {
        let replies: Vec<_> = sent
            .iter()
            .filter(|(_, f)| f.request_id == rid)
            .map(|(_, f)| f.message.clone())
            .collect();
        assert!(
            matches!(&replies[..], [Message::ErrorReply(e)] if e.message.contains("blacklist")),
            "request {rid}: {replies:?}"
        );
    }
    assert_eq!(
        count(&sent, is_batch) + count(&sent, is_fetch),
        0,
        "nothing changed"
    );
    assert_eq!(t.session.publisher_count(&key(1)), 0);
}
