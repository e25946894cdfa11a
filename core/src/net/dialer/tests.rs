use super::*;

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn dialer() -> Dialer<u8> {
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    Dialer::new(backoff, Duration::from_millis(1_000))
}

fn dial(d: &mut Dialer<u8>, key: u8, now: Instant) -> ConnId {
    let (conn, output) = d.dial::<()>(key, Text::from("p:1"), now);
    assert!(matches!(output, Output::Connect { conn: c, .. } if c == conn));
    conn
}

fn between(t: Instant, lo: Instant, hi: Instant) -> bool {
    t >= lo && t <= hi
}

#[test]
fn a_link_goes_connecting_up_and_down_with_a_growing_backoff() {
    let mut d = dialer();
    let mut rng = Rng::seed_from_u64(1);
    let c1 = dial(&mut d, 7, at(0));
    assert_eq!(d.state(7), Some(LinkState::Connecting(c1)));
    assert_eq!(d.up(7), None);
    assert_eq!(d.key(c1), Some(7));

    let (key, retry) = d.lost(c1, at(10), &mut rng).unwrap();
    assert_eq!(key, 7);
    assert!(between(retry, at(60), at(110)), "first failure: 50-100 ms");
    assert_eq!(d.next_retry(), Some(retry));
    assert_eq!(d.key(c1), None);

    let c2 = dial(&mut d, 7, retry);
    let (_, retry2) = d.lost(c2, retry, &mut rng).unwrap();
    let from = retry;
    assert!(
        retry2 >= from + Duration::from_millis(100) && retry2 <= from + Duration::from_millis(200),
        "second failure in a row: 100-200 ms"
    );

    let c3 = dial(&mut d, 7, retry2);
    assert_eq!(d.connected(c3), Some(7));
    assert_eq!(d.up(7), Some(c3));
    let (_, retry3) = d.lost(c3, at(5_000), &mut rng).unwrap();
    assert!(
        between(retry3, at(5_050), at(5_100)),
        "being up resets the backoff"
    );
}

#[test]
fn a_dial_past_its_deadline_expires_and_then_backs_off() {
    let mut d = dialer();
    let mut rng = Rng::seed_from_u64(2);
    let c = dial(&mut d, 1, at(0));
    assert_eq!(d.next_dial_deadline(), Some(at(1_000)));
    assert!(d.expire(at(999)).is_empty());
    assert_eq!(d.expire(at(1_000)), vec![c]);
    let (_, retry) = d.lost(c, at(1_000), &mut rng).unwrap();
    assert!(between(retry, at(1_050), at(1_100)));
    assert_eq!(d.next_dial_deadline(), None);
    assert_eq!(
        d.connected(c),
        None,
        "a late connect of an abandoned dial is stale"
    );
}

#[test]
fn events_of_a_replaced_connection_are_ignored() {
    let mut d = dialer();
    let mut rng = Rng::seed_from_u64(3);
    let old = dial(&mut d, 1, at(0));
    let new = dial(&mut d, 1, at(5));
    assert_ne!(old, new);
    assert_eq!(d.connected(old), None);
    assert!(d.lost(old, at(6), &mut rng).is_none());
    assert_eq!(d.state(1), Some(LinkState::Connecting(new)));
    assert_eq!(
        d.next_dial_deadline(),
        Some(at(1_005)),
        "the old deadline is gone"
    );
}

#[test]
fn due_links_turn_idle_and_forget_and_remove_drop_the_connection() {
    let mut d = dialer();
    let mut rng = Rng::seed_from_u64(4);
    d.insert(1, Some(at(0)));
    d.insert(2, Some(at(50)));
    d.insert(3, None);
    assert_eq!(d.next_retry(), Some(at(0)));
    assert_eq!(d.due(at(10)), vec![1]);
    assert_eq!(d.state(1), Some(LinkState::Down { retry_at: None }));
    assert_eq!(d.next_retry(), Some(at(50)));

    let c = dial(&mut d, 3, at(10));
    assert_eq!(d.forget(c), Some(3));
    assert_eq!(d.state(3), Some(LinkState::Down { retry_at: None }));
    let c = dial(&mut d, 3, at(20));
    let retry = d.back_off(3, at(20), &mut rng).unwrap();
    assert!(
        between(retry, at(70), at(120)),
        "the forget counted no failure"
    );
    assert_eq!(d.key(c), None);

    let c = dial(&mut d, 2, at(30));
    assert_eq!(d.remove(2), Some(c));
    assert_eq!(d.state(2), None);
    assert_eq!(d.key(c), None);
    assert!(
        d.expire(at(10_000)).is_empty(),
        "a removed link's dial has no deadline"
    );
}
