//! The session's counters (`Session::stats`): writes and their latency, pushes and the push
//! latency, and the gauges, each against what the test did at known instants.

use super::*;

#[test]
fn a_write_is_counted_and_timed_from_queueing_to_the_leaders_ack() {
    let mut t = T::new();
    let c = t.client(1);
    publish(&mut t, c, 7, &key(1), publisher("p1", 1, 1));
    let batch = find(&t.sent(), is_batch).1;
    let s = t.session.stats();
    assert_eq!((s.writes_queued, s.writes_acked), (1, 0));
    assert_eq!((s.publishers, s.clients), (1, 1));
    t.advance(Duration::from_millis(3));
    let d1 = t.d1();
    t.frame(d1, batch.request_id, WriteAccepted { slot: SlotId(0) });
    let s = t.session.stats();
    assert_eq!(s.writes_acked, 1);
    assert_eq!(s.write_latency.count(), 1);
    assert_eq!(
        s.write_latency.sum_micros(),
        3_000,
        "queued at 0, acked at 3 ms"
    );
}

#[test]
fn push_latency_adds_the_leaders_wait_to_the_time_until_the_clients_ack() {
    let mut t = T::new();
    let c = t.client(1);
    t.subscribed(c, &key(1), Some(datum(&key(1), 1, &["a"])));
    let s = t.session.stats();
    assert_eq!((s.subscribers, s.pushes_sent, s.pushes_acked), (1, 1, 1));
    assert_eq!(
        s.push_latency.count(),
        0,
        "a first push after subscribing is not timed"
    );

    // The change waited 2 ms at the leader; the session fetches it, pushes it 5 ms later
    // and the client acknowledges 1 ms after that.
    // (Later than the wait after the driver's origin: instants before it saturate.)
    t.advance(Duration::from_millis(10));
    let d1 = t.d1();
    let notify = ChangeNotify {
        changes: vec![DatumChange {
            data_info_id: key(1),
            version: v(2),
        }],
        waits_micros: vec![2_000],
    };
    t.frame(d1, 900, notify);
    let fetch = find(&t.sent(), is_fetch).1;
    t.advance(Duration::from_millis(5));
    let datums = vec![datum(&key(1), 2, &["a", "b"])];
    t.frame(d1, fetch.request_id, Datums { datums });
    let (pc, push) = find(&t.sent(), is_push);
    t.advance(Duration::from_millis(1));
    t.frame(pc, push.request_id, Ack {});
    let s = t.session.stats();
    assert_eq!((s.notifications_received, s.changes_received), (1, 1));
    assert_eq!((s.pushes_sent, s.pushes_acked), (2, 2));
    assert_eq!(s.push_latency.count(), 1);
    assert_eq!(
        s.push_latency.sum_micros(),
        8_000,
        "2 ms at the leader + 6 ms here"
    );
    assert!(s.push_bytes > 0);
}
