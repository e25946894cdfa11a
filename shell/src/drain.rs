//! Draining a node: carrying out everything it wants done, in the order and by the rules
//! both shells follow, over a [`Transport`] that performs the IO of one runtime.
//!
//! The rules live here once: events go to the hooks and are made durable before any output
//! that follows them (meta must not act on state it has not persisted); a frame is queued
//! on its connection and written at once when a full write waits, otherwise once when the
//! node has nothing more to say, so a burst of small frames to one peer costs one write; a
//! frame that cannot be queued gives its connection up; and since a connection given up is
//! reported to the node, which may answer with more output, draining goes on until the
//! node wants nothing and nothing is left to write.

use crate::framing::{Flush, FrameError};
use crate::hooks::Hooks;
use roster_core::io::{ConnId, Node, Output};
use roster_core::wire::Frame;
use std::io;

/// The IO of one shell, as draining a node needs it. Each shell implements it over its
/// own connections; what a call does on the socket is the shell's business.
pub trait Transport {
    /// The node being drained.
    type Node: Node;
    /// The shell's hold on a connection, kept from queueing a frame until it is written.
    type Conn;

    /// The node, to poll for output (a connection given up is reported to it).
    fn node(&mut self) -> &mut Self::Node;
    /// Queues `frame` on connection `id`: `None` if the shell no longer has it (closed,
    /// failed), else the connection and when to write it.
    fn queue(
        &mut self,
        id: ConnId,
        frame: &Frame,
    ) -> Option<(Self::Conn, Result<Flush, FrameError>)>;
    /// Writes what is queued on `conn` as far as the socket takes it without waiting; a
    /// connection still connecting is left to be written once it is established, and one
    /// whose write fails is given up.
    fn write(&mut self, conn: &Self::Conn);
    /// Gives up a connection the node did not close: drops it and tells the node it closed.
    fn give_up(&mut self, conn: &Self::Conn, reason: &str);
    /// Starts opening connection `id` to `address`; the node hears of the outcome later. An
    /// error stops the shell (it could not even try: no thread, no registration).
    fn connect(&mut self, id: ConnId, address: &str) -> io::Result<()>;
    /// Closes connection `id` at the node's request, after writing what is queued on it;
    /// the node hears nothing more of it.
    fn close(&mut self, id: ConnId, reason: &str);
}

/// What draining remembers from one drain to the next: whether events went to the hooks
/// and were not made durable yet, which is so only after a hook failed mid-drain; the next
/// output of a shell still turning its node must then wait for them all the same.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drain {
    unsynced: bool,
}

impl Drain {
    /// Carries out everything the node wants done, until it wants nothing. A hook's error
    /// stops at once and is returned, as is a failed `connect`.
    pub fn run<T: Transport>(
        &mut self,
        io: &mut T,
        hooks: &mut impl Hooks<T::Node>,
    ) -> io::Result<()> {
        let mut unflushed: Vec<T::Conn> = Vec::new();
        loop {
            while let Some(out) = io.node().poll_output() {
                if let Output::Event(e) = out {
                    hooks.event(e)?;
                    self.unsynced = true;
                    continue;
                }
                self.sync(hooks)?;
                match out {
                    Output::Send { conn, frame } => {
                        let Some((c, queued)) = io.queue(conn, &frame) else {
                            continue;
                        };
                        match queued {
                            Err(e) => io.give_up(&c, &e.to_string()),
                            // Sent now, so the peer works on it while the next is encoded
                            // (a push fanned out to many connections reaches the first early).
                            Ok(Flush::Now) => io.write(&c),
                            Ok(Flush::AfterDrain) => unflushed.push(c),
                            Ok(Flush::Listed) => {}
                        }
                    }
                    Output::Connect { conn, address } => io.connect(conn, address.as_str())?,
                    Output::Close { conn, reason } => io.close(conn, reason.as_str()),
                    Output::Event(_) => unreachable!("handled above"),
                }
            }
            if unflushed.is_empty() {
                break;
            }
            for c in unflushed.drain(..) {
                io.write(&c);
            }
        }
        self.sync(hooks)
    }

    /// Makes the events so far durable. Cleared first: a failed sync stops the shell, and
    /// is not retried.
    fn sync<N: Node>(&mut self, hooks: &mut impl Hooks<N>) -> io::Result<()> {
        if std::mem::take(&mut self.unsynced) {
            hooks.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::io::Input;
    use roster_core::model::Text;
    use roster_core::time::Instant;
    use roster_core::wire::Ack;
    use std::cell::RefCell;
    use std::collections::{HashMap, HashSet, VecDeque};
    use std::convert::Infallible;
    use std::rc::Rc;

    type Log = Rc<RefCell<Vec<String>>>;

    /// A node that says what it is told to, and answers a connection's close with more.
    #[derive(Default)]
    struct Script {
        outputs: VecDeque<Output<u32>>,
        on_closed: HashMap<ConnId, Vec<Output<u32>>>,
    }

    impl Node for Script {
        type Command = Infallible;
        type Event = u32;
        fn handle_input(&mut self, _: Instant, input: Input<Infallible>) {
            if let Input::Closed { conn } = input {
                let answer = self.on_closed.remove(&conn).unwrap_or_default();
                self.outputs.extend(answer);
            }
        }
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_output(&mut self) -> Option<Output<u32>> {
            self.outputs.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    /// Records every call; queueing answers from `flushes` in turn (then `AfterDrain`).
    struct Fake {
        node: Script,
        log: Log,
        flushes: VecDeque<Result<Flush, FrameError>>,
        gone: HashSet<ConnId>,
        failing: HashSet<ConnId>,
    }

    impl Transport for Fake {
        type Node = Script;
        type Conn = ConnId;
        fn node(&mut self) -> &mut Script {
            &mut self.node
        }
        fn queue(
            &mut self,
            id: ConnId,
            frame: &Frame,
        ) -> Option<(ConnId, Result<Flush, FrameError>)> {
            if self.gone.contains(&id) {
                return None;
            }
            let flush = self.flushes.pop_front().unwrap_or(Ok(Flush::AfterDrain));
            self.log
                .borrow_mut()
                .push(format!("queue {} {id}", frame.request_id));
            Some((id, flush))
        }
        fn write(&mut self, conn: &ConnId) {
            self.log.borrow_mut().push(format!("write {conn}"));
            if self.failing.contains(conn) {
                self.give_up(conn, "write failed");
            }
        }
        fn give_up(&mut self, conn: &ConnId, reason: &str) {
            self.log
                .borrow_mut()
                .push(format!("give up {conn}: {reason}"));
            self.gone.insert(*conn);
            self.node
                .handle_input(Instant::from_nanos(0), Input::Closed { conn: *conn });
        }
        fn connect(&mut self, id: ConnId, address: &str) -> io::Result<()> {
            self.log
                .borrow_mut()
                .push(format!("connect {id} {address}"));
            Ok(())
        }
        fn close(&mut self, id: ConnId, reason: &str) {
            self.log.borrow_mut().push(format!("close {id}: {reason}"));
        }
    }

    /// Hooks that log, and fail the event `fail_on`.
    struct Logged {
        log: Log,
        fail_on: Option<u32>,
    }

    impl Hooks<Script> for Logged {
        fn event(&mut self, event: u32) -> io::Result<()> {
            self.log.borrow_mut().push(format!("event {event}"));
            match self.fail_on {
                Some(e) if e == event => Err(io::Error::other("disk full")),
                _ => Ok(()),
            }
        }
        fn sync(&mut self) -> io::Result<()> {
            self.log.borrow_mut().push("sync".into());
            Ok(())
        }
    }

    fn send(conn: u64, request_id: u64) -> Output<u32> {
        Output::Send {
            conn: ConnId(conn),
            frame: Frame::new(request_id, Ack {}),
        }
    }

    fn rig(outputs: Vec<Output<u32>>, fail_on: Option<u32>) -> (Fake, Logged, Log) {
        let log = Log::default();
        let node = Script {
            outputs: outputs.into(),
            ..Script::default()
        };
        let fake = Fake {
            node,
            log: log.clone(),
            flushes: VecDeque::new(),
            gone: HashSet::new(),
            failing: HashSet::new(),
        };
        let hooks = Logged {
            log: log.clone(),
            fail_on,
        };
        (fake, hooks, log)
    }

    fn taken(log: &Log) -> Vec<String> {
        std::mem::take(&mut *log.borrow_mut())
    }

    #[test]
    fn events_are_made_durable_before_any_output_after_them() {
        let outputs = vec![
            Output::Event(1),
            Output::Event(2),
            send(1, 7),
            Output::Event(3),
        ];
        let (mut io, mut hooks, log) = rig(outputs, None);
        Drain::default().run(&mut io, &mut hooks).unwrap();
        let expected = [
            "event 1",
            "event 2",
            "sync",
            "queue 7 in#1",
            "event 3",
            "write in#1",
            "sync",
        ];
        assert_eq!(taken(&log), expected);
    }

    #[test]
    fn a_burst_is_written_once_after_the_drain_and_a_full_write_at_once() {
        let outputs = vec![send(1, 1), send(1, 2), send(2, 3), send(3, 4)];
        let (mut io, mut hooks, log) = rig(outputs, None);
        io.gone.insert(ConnId(3));
        io.flushes = [Ok(Flush::AfterDrain), Ok(Flush::Listed), Ok(Flush::Now)].into();
        Drain::default().run(&mut io, &mut hooks).unwrap();
        let expected = [
            "queue 1 in#1",
            "queue 2 in#1",
            "queue 3 in#2",
            "write in#2",
            "write in#1",
        ];
        assert_eq!(taken(&log), expected, "in#3 is gone: its frame is dropped");
    }

    #[test]
    fn what_the_node_answers_to_a_connection_given_up_is_drained_too() {
        let outputs = vec![send(1, 1), send(2, 2)];
        let (mut io, mut hooks, log) = rig(outputs, None);
        io.flushes = [
            Ok(Flush::AfterDrain),
            Err(FrameError::Encode("too big".into())),
        ]
        .into();
        io.failing.insert(ConnId(1));
        let redial = Output::Connect {
            conn: ConnId(9),
            address: Text::from("peer:1"),
        };
        io.node
            .on_closed
            .insert(ConnId(1), vec![redial, send(4, 3)]);
        let close = Output::Close {
            conn: ConnId(5),
            reason: Text::from("bye"),
        };
        io.node.on_closed.insert(ConnId(2), vec![close]);
        Drain::default().run(&mut io, &mut hooks).unwrap();
        let expected = [
            "queue 1 in#1",
            "queue 2 in#2",
            "give up in#2: frame not sent: too big",
            "close in#5: bye",
            "write in#1",
            "give up in#1: write failed",
            "connect in#9 peer:1",
            "queue 3 in#4",
            "write in#4",
        ];
        assert_eq!(taken(&log), expected);
        assert!(io.node.outputs.is_empty());
    }

    #[test]
    fn a_failed_hook_stops_the_drain_and_its_earlier_events_still_come_first() {
        let outputs = vec![Output::Event(1), Output::Event(2), send(1, 1)];
        let (mut io, mut hooks, log) = rig(outputs, Some(2));
        let mut drain = Drain::default();
        let e = drain.run(&mut io, &mut hooks).unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(taken(&log), ["event 1", "event 2"]);
        drain.run(&mut io, &mut hooks).unwrap();
        assert_eq!(taken(&log), ["sync", "queue 1 in#1", "write in#1"]);
    }
}
