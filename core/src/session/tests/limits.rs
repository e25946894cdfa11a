//! Client limits on a session (`session::limits`): each refusal names its limit, is
//! counted, and leaves other clients and registrations as they were.

use super::*;
use crate::session::ClientLimits;
use std::net::IpAddr;

fn limited(edit: impl FnOnce(&mut ClientLimits)) -> T {
    let mut c = config();
    edit(&mut c.limits);
    T::with(c)
}

impl T {
    /// Connection `n` from `ip` says hello; returns the frames sent to it.
    fn hello_from(&mut self, n: u64, ip: &str) -> Vec<Message> {
        let c = ConnId(n);
        let now = self.now;
        let ip: IpAddr = ip.parse().unwrap();
        self.session.accepted_from(now, c, ip);
        self.frame(c, 1, ClientHello::new(Text::from("app"), 1));
        self.sent()
            .into_iter()
            .filter(|(to, _)| *to == c)
            .map(|(_, f)| f.message)
            .collect()
    }

    fn closed(&mut self, conn: ConnId) -> bool {
        self.drain()
            .iter()
            .any(|o| matches!(o, Output::Close { conn: c, .. } if *c == conn))
    }
}

fn refusal(sent: &[Message]) -> Option<String> {
    sent.iter().find_map(|m| match m {
        Message::ErrorReply(e) => Some(e.message.to_string()),
        _ => None,
    })
}

#[test]
fn clients_over_the_session_and_address_limits_are_refused_and_others_served() {
    let mut t = limited(|l| {
        l.max_clients = 3;
        l.max_clients_per_address = 2;
    });
    assert_eq!(refusal(&t.hello_from(1, "10.0.0.1")), None);
    assert_eq!(refusal(&t.hello_from(2, "10.0.0.1")), None);
    let third = refusal(&t.hello_from(3, "10.0.0.1")).expect("refused");
    assert!(third.contains("max_clients_per_address"), "{third}");
    assert_eq!(
        refusal(&t.hello_from(4, "10.0.0.2")),
        None,
        "another address"
    );
    let full = refusal(&t.hello_from(5, "10.0.0.3")).expect("refused");
    assert!(full.contains("max_clients"), "{full}");
    assert_eq!(t.session.stats().limit_refusals.clients, 1);
    assert_eq!(t.session.stats().limit_refusals.clients_per_address, 1);
    // The admitted clients still publish; one leaving frees its address's place.
    publish(&mut t, ConnId(1), 2, &key(1), publisher("a", 1, 1));
    assert_eq!(t.session.publisher_count(&key(1)), 1);
    t.input(Input::Closed { conn: ConnId(2) });
    assert_eq!(refusal(&t.hello_from(6, "10.0.0.1")), None);
}

#[test]
fn a_publisher_over_the_size_limit_is_refused_and_nothing_is_written() {
    let mut t = limited(|l| l.max_publisher_bytes = 16);
    let c = t.client(1);
    t.sent();
    let mut big = publisher("big", 1, 1);
    big.payload = smallvec::smallvec![bytes::Bytes::from(vec![b'x'; 17])];
    t.frame(
        c,
        7,
        Publish {
            data_info_id: key(1),
            publisher: big,
        },
    );
    let sent = t.sent();
    let (_, e) = find(&sent, |m| matches!(m, Message::ErrorReply(_)));
    assert_eq!(e.request_id, 7);
    assert!(
        matches!(&e.message, Message::ErrorReply(r) if r.message.contains("max_publisher_bytes (16)"))
    );
    assert!(
        !sent.iter().any(|(_, f)| is_batch(&f.message)),
        "nothing forwarded"
    );
    assert_eq!(t.session.publisher_count(&key(1)), 0);
    publish(&mut t, c, 8, &key(1), publisher("small", 1, 1));
    assert_eq!(
        t.session.publisher_count(&key(1)),
        1,
        "the connection goes on"
    );
    assert_eq!(t.session.stats().limit_refusals.publisher_bytes, 1);
}

#[test]
fn a_connection_without_a_hello_is_closed_after_the_hello_timeout() {
    let mut t = limited(|l| l.hello_timeout = Duration::from_secs(4));
    t.input(Input::Accepted { conn: ConnId(1) });
    let talker = t.client(2);
    t.advance(Duration::from_secs(3));
    assert!(!t.closed(ConnId(1)), "not yet");
    t.advance(Duration::from_secs(3));
    assert!(t.closed(ConnId(1)), "closed once the timeout passed");
    assert!(!t.closed(talker), "a client that said hello stays");
    assert_eq!(t.session.stats().limit_refusals.hello_timeouts, 1);
}
