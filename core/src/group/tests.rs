use super::*;
use crate::wire::{Frame, KeepAlive};
use std::time::Duration;

/// A node that does what its commands say and reports what it is fed.
#[derive(Debug, Default)]
struct Probe {
    ids: ConnIds,
    out: VecDeque<Output<Seen>>,
    timer: Option<Instant>,
    fired: usize,
    label: u32,
}

#[derive(Debug)]
enum Do {
    Dial(&'static str),
    Send(ConnId, u64),
    Hang(ConnId),
    Timer(Instant),
}

/// What a probe saw, under its own connection ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Dialled(ConnId),
    Connected(ConnId),
    Closed(ConnId),
    Frame(ConnId, u64),
}

impl Node for Probe {
    type Command = Do;
    type Event = Seen;

    fn handle_input(&mut self, _now: Instant, input: Input<Do>) {
        let seen = match input {
            Input::Command(Do::Dial(address)) => {
                let conn = self.ids.allocate();
                self.out.push_back(Output::Connect {
                    conn,
                    address: Text::from_static(address),
                });
                Seen::Dialled(conn)
            }
            Input::Command(Do::Send(conn, id)) => {
                self.out.push_back(Output::Send {
                    conn,
                    frame: Frame::new(id, KeepAlive {}),
                });
                return;
            }
            Input::Command(Do::Hang(conn)) => {
                self.out.push_back(Output::Close {
                    conn,
                    reason: Text::from_static("hung up"),
                });
                return;
            }
            Input::Command(Do::Timer(at)) => {
                self.timer = Some(at);
                return;
            }
            Input::Connected { conn } => Seen::Connected(conn),
            Input::Closed { conn } => Seen::Closed(conn),
            Input::Frame { conn, frame } => Seen::Frame(conn, frame.request_id),
            Input::Accepted { .. } => unreachable!("members are never handed accepted conns"),
        };
        self.out.push_back(Output::Event(seen));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            self.fired += 1;
        }
    }

    fn poll_output(&mut self) -> Option<Output<Seen>> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
}

const A: MemberId = MemberId(1);
const B: MemberId = MemberId(2);

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn group_of_two() -> NodeGroup<Probe> {
    let mut g = NodeGroup::new();
    for member in [A, B] {
        g.handle_input(
            at(0),
            Input::Command(GroupCommand::Join {
                member,
                node: Probe::default(),
            }),
        );
    }
    assert_eq!(drain(&mut g), vec![]);
    g
}

fn command(g: &mut NodeGroup<Probe>, member: MemberId, command: Do) {
    g.handle_input(
        at(0),
        Input::Command(GroupCommand::Command { member, command }),
    );
}

fn drain(g: &mut NodeGroup<Probe>) -> Vec<Output<GroupEvent<Seen>>> {
    std::iter::from_fn(|| g.poll_output()).collect()
}

/// Has `member` dial; the group's id of the new connection.
fn dial(g: &mut NodeGroup<Probe>, member: MemberId) -> ConnId {
    command(g, member, Do::Dial("peer:1"));
    let out = drain(g);
    let conn = out
        .iter()
        .find_map(|o| match o {
            Output::Connect { conn, address } => {
                assert_eq!(address.as_str(), "peer:1");
                Some(*conn)
            }
            _ => None,
        })
        .expect("a connect");
    assert!(conn.is_outbound());
    conn
}

fn seen(out: &[Output<GroupEvent<Seen>>]) -> Vec<(MemberId, Seen)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(GroupEvent { member, event }) => Some((*member, event.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn members_connections_get_distinct_ids_and_their_inputs_reach_their_owner() {
    let mut g = group_of_two();
    // Both members name their first connection alike; the driver must see two.
    let a = dial(&mut g, A);
    let b = dial(&mut g, B);
    assert_ne!(a, b);

    g.handle_input(at(1), Input::Connected { conn: b });
    g.handle_input(
        at(1),
        Input::Frame {
            conn: a,
            frame: Frame::new(7, KeepAlive {}),
        },
    );
    let inner = ConnIds::default().allocate();
    assert_eq!(
        seen(&drain(&mut g)),
        vec![(B, Seen::Connected(inner)), (A, Seen::Frame(inner, 7))]
    );

    // A member's send goes out on the group's id of its connection.
    command(&mut g, B, Do::Send(inner, 9));
    match drain(&mut g).as_slice() {
        [Output::Send { conn, frame }] => {
            assert_eq!(*conn, b);
            assert_eq!(frame.request_id, 9);
        }
        other => panic!("expected one send, got {other:?}"),
    }
}

#[test]
fn a_member_that_leaves_has_its_connections_closed_and_nothing_more_reaches_it() {
    let mut g = group_of_two();
    let a1 = dial(&mut g, A);
    let a2 = dial(&mut g, A);
    let b = dial(&mut g, B);

    g.handle_input(at(1), Input::Command(GroupCommand::Leave { member: A }));
    let mut closed: Vec<ConnId> = drain(&mut g)
        .into_iter()
        .map(|o| match o {
            Output::Close { conn, .. } => conn,
            other => panic!("expected closes only, got {other:?}"),
        })
        .collect();
    closed.sort();
    assert_eq!(closed, vec![a1, a2]);
    assert_eq!(g.len(), 1);
    assert!(g.member(A).is_none());

    // Late input on its connections and commands to it go nowhere; B is untouched.
    g.handle_input(
        at(2),
        Input::Frame {
            conn: a1,
            frame: Frame::new(1, KeepAlive {}),
        },
    );
    command(&mut g, A, Do::Dial("peer:1"));
    assert_eq!(drain(&mut g), vec![]);
    g.handle_input(at(2), Input::Connected { conn: b });
    assert_eq!(seen(&drain(&mut g)).len(), 1);
}

#[test]
fn a_connection_a_member_closes_is_forgotten() {
    let mut g = group_of_two();
    let a = dial(&mut g, A);
    let inner = ConnIds::default().allocate();
    command(&mut g, A, Do::Hang(inner));
    assert!(matches!(
        drain(&mut g).as_slice(),
        [Output::Close { conn, .. }] if *conn == a
    ));
    // Sending on it afterwards is dropped, as is input the driver still had for it.
    command(&mut g, A, Do::Send(inner, 3));
    g.handle_input(at(1), Input::Closed { conn: a });
    assert_eq!(drain(&mut g), vec![]);
}

#[test]
fn the_driver_is_woken_for_the_earliest_member_and_only_due_members_run() {
    let mut g = group_of_two();
    assert_eq!(g.poll_timeout(), None);
    command(&mut g, A, Do::Timer(at(50)));
    command(&mut g, B, Do::Timer(at(20)));
    assert_eq!(g.poll_timeout(), Some(at(20)));

    g.handle_timeout(at(20));
    assert_eq!(g.member(B).map(|p| p.fired), Some(1));
    assert_eq!(g.member(A).map(|p| p.fired), Some(0));
    assert_eq!(g.poll_timeout(), Some(at(50)));

    g.handle_input(at(30), Input::Command(GroupCommand::Leave { member: A }));
    assert_eq!(g.poll_timeout(), None);
}

#[test]
fn connections_accepted_by_the_driver_are_refused() {
    let mut g = group_of_two();
    g.handle_input(at(0), Input::Accepted { conn: ConnId(4) });
    assert!(matches!(
        drain(&mut g).as_slice(),
        [Output::Close {
            conn: ConnId(4),
            ..
        }]
    ));
}

#[test]
fn a_second_join_under_a_taken_id_is_refused() {
    let mut g = group_of_two();
    let a = dial(&mut g, A);
    let usurper = Probe {
        label: 9,
        ..Probe::default()
    };
    g.handle_input(
        at(1),
        Input::Command(GroupCommand::Join {
            member: A,
            node: usurper,
        }),
    );
    assert_eq!(g.len(), 2);
    assert_eq!(g.member(A).map(|p| p.label), Some(0));
    // The original member still owns its connection.
    g.handle_input(at(1), Input::Connected { conn: a });
    assert_eq!(seen(&drain(&mut g)).len(), 1);
}

#[test]
fn output_of_one_member_does_not_hide_another_s() {
    let mut g = group_of_two();
    let inner = ConnIds::default().allocate();
    let a = dial(&mut g, A);
    let b = dial(&mut g, B);
    // Both have output queued before the driver drains.
    for i in 0..3 {
        command(&mut g, A, Do::Send(inner, i));
    }
    command(&mut g, B, Do::Send(inner, 10));
    let sends: Vec<(ConnId, u64)> = drain(&mut g)
        .into_iter()
        .map(|o| match o {
            Output::Send { conn, frame } => (conn, frame.request_id),
            other => panic!("expected sends, got {other:?}"),
        })
        .collect();
    assert_eq!(sends, vec![(a, 0), (a, 1), (a, 2), (b, 10)]);
}
