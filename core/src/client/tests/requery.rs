//! The periodic re-query (`ClientConfig::requery_interval`): a repeated subscription per key
//! carrying the version held, which repairs a lost push.

use super::*;

const EVERY: Duration = Duration::from_secs(5);

fn requerying() -> T {
    let mut cfg = ClientConfig::new(Text::from("app-1"), vec![Text::from("s1:1")]);
    cfg.requery_interval = Some(EVERY);
    T {
        c: Client::new(cfg, 42).unwrap(),
        now: Instant::ZERO,
    }
}

/// Runs the client's timers up to `until`; everything it put out.
fn run_until(t: &mut T, until: Instant) -> Vec<Output<Event>> {
    let mut outs = Vec::new();
    while let Some(at) = t.c.poll_timeout().filter(|at| *at <= until) {
        t.now = t.now.max(at);
        t.c.handle_timeout(t.now);
        outs.extend(t.drain());
    }
    t.now = until;
    outs
}

fn subscribes(outs: &[Output<Event>]) -> Vec<Subscribe> {
    messages(outs)
        .into_iter()
        .filter_map(|m| match m {
            Message::Subscribe(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lost_push_is_repaired_by_the_next_requery() {
    let mut t = requerying();
    t.cmd(subscribe_cmd("sub-1"));
    t.cmd(subscribe_cmd("sub-2"));
    let (conn, _, _) = t.connect();
    let connected_at = t.now;
    assert_eq!(updates(&t.push(conn, 7, 1, vec![p("a")])), [(v(1), 1)]);
    // The session's push of version 2 is lost: nothing arrives. Just before the interval
    // nothing is asked again (the connection's replay has just asked).
    let quiet = run_until(&mut t, connected_at + EVERY - Duration::from_millis(1));
    assert!(subscribes(&quiet).is_empty(), "{quiet:?}");
    let outs = run_until(&mut t, connected_at + EVERY);
    let asked = subscribes(&outs);
    assert_eq!(
        asked.len(),
        1,
        "one per key, not per subscription: {asked:?}"
    );
    assert_eq!(
        (asked[0].data_info_id.clone(), asked[0].known),
        (key(), Some(v(1))),
        "the version held, so the session pushes only something newer"
    );
    assert_eq!(
        asked[0].register_id,
        Text::from("sub-1"),
        "an existing subscription"
    );
    // The session answers with its current list: the lost version is delivered.
    assert_eq!(
        updates(&t.push(conn, 8, 2, vec![p("a"), p("b")])),
        [(v(2), 2)]
    );
    // And the next re-query is an interval later, carrying the newer version.
    let outs = run_until(&mut t, connected_at + EVERY * 2);
    assert_eq!(subscribes(&outs)[0].known, Some(v(2)));
}

#[test]
fn no_requery_while_disconnected_or_when_off() {
    let mut t = requerying();
    t.cmd(subscribe_cmd("sub-1"));
    let (conn, _, _) = t.connect();
    t.c.handle_input(t.now, Input::Closed { conn });
    t.drain();
    // Down (the reconnects fail): however long, no subscription is sent anywhere.
    let until = t.now + EVERY * 3;
    let mut sent = Vec::new();
    while let Some(at) = t.c.poll_timeout().filter(|at| *at <= until) {
        t.now = t.now.max(at);
        t.c.handle_timeout(t.now);
        for o in t.drain() {
            if let Output::Connect { conn, .. } = o {
                t.c.handle_input(t.now, Input::Closed { conn });
            }
            sent.push(o);
        }
    }
    assert!(subscribes(&sent).is_empty());

    // The default configuration never re-queries.
    let mut off = T::new();
    off.cmd(subscribe_cmd("sub-1"));
    let (_, _, replay) = off.connect();
    assert_eq!(subscribes(&replay).len(), 1, "the replay");
    let at = off.now + EVERY * 3;
    assert!(subscribes(&run_until(&mut off, at)).is_empty());
}

#[test]
fn a_zero_interval_is_refused() {
    let mut cfg = ClientConfig::new(Text::from("app-1"), vec![Text::from("s1:1")]);
    cfg.requery_interval = Some(Duration::ZERO);
    assert_eq!(cfg.validate().unwrap_err().field, "requery_interval");
}
