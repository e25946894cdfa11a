//! The periodic re-query through the library: a session that loses a push, and answers
//! the client's repeated subscription with its current list.

mod common;

use common::{Reply, WAIT, fake_session, payloads, push, v};
use roster_core::wire::Message;
use std::time::Duration;

#[test]
fn a_lost_push_is_repaired_by_the_requery() {
    // The session's list is at version 2, but its push of version 2 was lost: the client
    // holds version 1. Only a subscription stating version 1 gets version 2.
    let (addr, seen) = fake_session(|m| match m {
        Message::Subscribe(s) if s.known.is_none() => {
            Reply::ack_then(vec![push("rq.svc", 1, &["10.0.0.1:80"])])
        }
        Message::Subscribe(s) if s.known == Some(v(1)) => {
            Reply::ack_then(vec![push("rq.svc", 2, &["10.0.0.1:80", "10.0.0.2:80"])])
        }
        _ => Reply::ack(),
    });
    let client = roster_client::Client::builder()
        .sessions([addr])
        .requery_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let sub = client.subscribe("rq.svc").unwrap();
    let first = sub.recv_timeout(WAIT).unwrap();
    assert_eq!((first.version(), first.is_cached()), (v(1), false));
    let repaired = sub.recv_timeout(WAIT).unwrap();
    assert_eq!(repaired.version(), v(2));
    assert_eq!(payloads(&repaired), ["10.0.0.1:80", "10.0.0.2:80"]);
    // It was the re-query that asked: a repeated subscription under the same id, stating
    // the version held.
    let subscribes: Vec<_> = seen
        .try_iter()
        .filter_map(|m| match m {
            Message::Subscribe(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(subscribes.len() >= 2, "{subscribes:?}");
    assert_eq!(subscribes[1].register_id, subscribes[0].register_id);
    assert_eq!(subscribes[1].known, Some(v(1)));
}
