//! Draining (docs/operations.md, "Draining a session"): an operator asked meta to drain
//! this session, and meta's `ClusterView` lists it among the `draining` nodes. The session
//! then tells every client to move (`Redirect`), and answers every new `ClientHello` with
//! `Redirect` and a close, until a view no longer lists it (undrained).
//!
//! The session keeps serving the clients that have not moved yet, and a moved client's
//! publishers go through the usual disconnect path: kept for `disconnect_grace`, then
//! removed at their old versions, which the client's replay through another session
//! (a newer connect generation) outranks. So no publisher leaves any list.

use super::{Session, SessionEvent};
use crate::io::ConnId;
use crate::time::Instant;
use crate::wire::{ClusterView, Redirect};

/// The reason a `Redirect` gives.
const REASON: &str = "session draining";

impl Session {
    /// Whether meta lists this session as draining.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Open client connections.
    pub fn client_count(&self) -> usize {
        self.registry.client_count()
    }

    /// Follows the `draining` field of a view from meta.
    pub(super) fn follow_drain(&mut self, view: &ClusterView) {
        let draining = view.draining.contains(&self.config.process.node);
        if draining == self.draining {
            return;
        }
        self.draining = draining;
        let clients: Vec<ConnId> = self.registry.clients_mut().map(|(c, _)| c).collect();
        if draining {
            for &conn in &clients {
                self.redirect(conn);
            }
        }
        self.out.event(SessionEvent::Draining {
            draining,
            clients: clients.len(),
        });
    }

    /// A draining session's answer to a `ClientHello`: move elsewhere. `true` if it was
    /// refused so (the connection is closed and forgotten).
    pub(super) fn refuse_while_draining(&mut self, _now: Instant, conn: ConnId) -> bool {
        if !self.draining {
            return false;
        }
        self.redirect(conn);
        self.out.close(conn, REASON);
        true
    }

    fn redirect(&mut self, conn: ConnId) {
        let redirect = Redirect {
            reason: REASON.into(),
        };
        self.out.send(conn, 0, redirect);
    }
}

#[cfg(test)]
mod tests {
    use super::super::SessionConfig;
    use super::*;
    use crate::io::{Input, Output};
    use crate::model::SlotId;
    use crate::model::{DataInfoId, NodeId, RegisterVersion, Role, Text};
    use crate::testkit::{
        SessionRig, all_slots_led_by, cluster_view, member, process, publisher, sends,
    };
    use crate::wire::{Message, Publish, WriteAccepted, WriteOp};
    use std::time::Duration;

    const D1: crate::model::ProcessId = process(2);

    fn view(members_version: u64, draining: &[u64]) -> ClusterView {
        let mut v = cluster_view(
            vec![member(D1, Role::Data, "data:1")],
            all_slots_led_by(D1, 1),
        );
        v.members_version = members_version;
        v.draining = draining.iter().map(|&n| NodeId(n)).collect();
        v
    }

    fn rig() -> SessionRig {
        let mut c = SessionConfig::new(process(1), Text::from("s:1"), Text::from("s:2"));
        c.slot_count = crate::slot::SlotCount::new(1).unwrap();
        c.disconnect_grace = Duration::from_secs(5);
        SessionRig::new(c, view(1, &[]))
    }

    fn redirected(outs: &[Output<SessionEvent>]) -> Vec<ConnId> {
        sends(outs.to_vec())
            .into_iter()
            .filter(|(_, f)| matches!(f.message, Message::Redirect(_)) && f.request_id == 0)
            .map(|(c, _)| c)
            .collect()
    }

    fn removals(outs: Vec<Output<SessionEvent>>) -> usize {
        sends(outs)
            .iter()
            .filter_map(|(_, f)| match &f.message {
                Message::WriteBatch(b) => Some(b),
                _ => None,
            })
            .flat_map(|b| b.ops.iter())
            .filter(|op| matches!(op, WriteOp::Remove { .. }))
            .count()
    }

    #[test]
    fn a_drained_session_moves_its_clients_refuses_new_ones_and_keeps_the_grace() {
        let mut r = rig();
        let (a, b) = (r.client(10), r.client(11));
        let key = DataInfoId::new("svc", "dev", "grp");
        let p = publisher("p1", RegisterVersion::new(1, 1), &b"10.0.0.1:80"[..]);
        r.frame(
            a,
            5,
            Publish {
                data_info_id: key,
                publisher: p,
            },
        );
        // The data leader accepts the put, so the write queue is free for the removal.
        let sent = sends(r.drain());
        let (d1, put) = crate::testkit::find_sent(&sent, |m| matches!(m, Message::WriteBatch(_)));
        r.frame(d1, put.request_id, WriteAccepted { slot: SlotId(0) });
        r.drain();
        let meta = r.meta;
        // Another session draining changes nothing here.
        r.frame(meta, 0, view(2, &[7]));
        assert!(redirected(&r.drain()).is_empty());
        assert!(!r.session.is_draining());
        r.frame(meta, 0, view(3, &[1, 7]));
        let outs = r.drain();
        assert_eq!(redirected(&outs), vec![a, b], "every client told to move");
        assert!(outs.iter().any(|o| matches!(
            o,
            Output::Event(SessionEvent::Draining {
                draining: true,
                clients: 2
            })
        )));
        assert!(r.session.is_draining());
        // The same view again tells nobody twice.
        r.frame(meta, 0, view(3, &[1, 7]));
        assert!(redirected(&r.drain()).is_empty());
        // A new client is sent away and its connection closed, never served.
        let c = r.client(12);
        let outs = r.drain();
        assert_eq!(redirected(&outs), vec![c]);
        assert!(
            outs.iter()
                .any(|o| matches!(o, Output::Close { conn, .. } if *conn == c))
        );
        assert!(
            !sends(outs)
                .iter()
                .any(|(_, f)| matches!(f.message, Message::ClientWelcome(_)))
        );
        assert_eq!(r.session.client_count(), 2);
        // The moved client's publisher stays for the disconnect grace (its replay elsewhere
        // outranks the removal that follows).
        r.input(Input::Closed { conn: a });
        r.advance(Duration::from_secs(4));
        assert_eq!(removals(r.drain()), 0, "still listed within the grace");
        r.advance(Duration::from_secs(2));
        assert_eq!(
            removals(r.drain()),
            1,
            "removed at its old version after it"
        );
        // Undrained: new clients are served again.
        r.frame(meta, 0, view(4, &[7]));
        let outs = r.drain();
        assert!(outs.iter().any(|o| matches!(
            o,
            Output::Event(SessionEvent::Draining {
                draining: false,
                ..
            })
        )));
        let d = r.client(13);
        let welcomed = sends(r.drain())
            .iter()
            .any(|(c, f)| *c == d && matches!(f.message, Message::ClientWelcome(_)));
        assert!(welcomed);
        assert!(!r.session.is_draining());
    }
}
