//! What the session hands its driver: frames to send, connections to open or close, and
//! [`SessionEvent`]s (the session's log and metrics stream), plus the request-id counter
//! and the [`SessionStats`] counters every mechanism updates.

use crate::io::{ConnId, Output};
use crate::model::{DataInfoId, SlotId, TableEpoch, Text};
use crate::stats::Histogram;
use crate::wire::{ErrorCode, ErrorReply, Frame, Message};
use std::collections::VecDeque;

/// Something worth logging or counting that the session did or suffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A slot table was installed.
    TableInstalled {
        /// Its epoch.
        epoch: TableEpoch,
    },
    /// A received slot table was not installed.
    TableRejected {
        /// Why.
        reason: Text,
    },
    /// Writes to a slot were given up after the retry bound (or evicted from a full
    /// queue); the data leader's periodic reconciliation will restore them.
    WritesDropped {
        /// The slot.
        slot: SlotId,
        /// How many writes.
        ops: usize,
    },
    /// A connection's pushes failed too often; pushes to it pause for the cooldown.
    BreakerOpened {
        /// The client connection.
        conn: ConnId,
    },
    /// A datum came back older than the version a notification announced; the version
    /// scan will retry.
    StaleDatum {
        /// The key.
        data_info_id: DataInfoId,
    },
    /// Newer operator switches from meta were applied.
    SwitchesApplied {
        /// Their version.
        version: u64,
    },
    /// Meta started (`draining`) or ended a drain of this session; when it started, every
    /// one of `clients` was told to move.
    Draining {
        /// Whether the session now drains.
        draining: bool,
        /// Client connections open at the time.
        clients: usize,
    },
    /// A peer or client sent something the session cannot accept.
    ProtocolViolation {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        reason: Text,
    },
}

/// Counters of the session's work, for metrics (docs/operations.md, "Metrics"). Counters
/// only grow; the gauges (marked so) are filled in when read, by `Session::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Gauge: client connections that said hello.
    pub clients: u64,
    /// Gauge: publishers the session holds for its clients.
    pub publishers: u64,
    /// Gauge: subscriptions (register ids) its clients hold.
    pub subscribers: u64,
    /// Gauge: links to data nodes that are up.
    pub data_links: u64,
    /// Gauge: the installed slot table's epoch.
    pub table_epoch: u64,
    /// Slot tables installed.
    pub tables_installed: u64,
    /// Publisher writes (puts and removals) queued for a data leader.
    pub writes_queued: u64,
    /// Of those, writes a data leader acknowledged (`WriteAccepted`).
    pub writes_acked: u64,
    /// From the session queueing a write (a client's registration arriving, or a grace
    /// ending) to the data leader's `WriteAccepted` of the batch carrying it.
    pub write_latency: Histogram,
    /// `ChangeNotify` messages received from data leaders.
    pub notifications_received: u64,
    /// Changes those carried.
    pub changes_received: u64,
    /// Bytes of the pushes sent (frame header included).
    pub push_bytes: u64,
    /// Pushes the client acknowledged (late ones included).
    pub pushes_acked: u64,
    /// Push latency: from the change at the data leader to the client's ack of the push
    /// carrying it, as the leader's wait before notifying plus the session's time from the
    /// notification to the ack (see `docs/operations.md`). One observation per
    /// acknowledged push that brought its connection a notified change.
    pub push_latency: Histogram,
    /// Keys a version scan found this session behind on (repairs of lost notifications).
    pub scan_repairs: u64,
    /// Reconciliation queries and page fetches answered for data leaders.
    pub reconcile_answers: u64,
    /// Write batches sent to data leaders (retries included).
    pub write_batches_sent: u64,
    /// Writes dropped after the retry bound or from a full queue.
    pub writes_dropped: u64,
    /// `FetchDatums` requests sent.
    pub fetches_sent: u64,
    /// `Push` and `PushDelta` frames sent.
    pub pushes_sent: u64,
    /// Of `pushes_sent`, the `PushDelta` frames.
    pub delta_pushes_sent: u64,
    /// Pushes that timed out or were refused.
    pub push_failures: u64,
    /// Times a circuit breaker opened.
    pub breakers_opened: u64,
    /// Gauge: pushes sent and not yet acknowledged.
    pub pushes_in_flight: u64,
    /// Gauge: bytes of those pushes, against the write budget (`push_budget_bytes`).
    pub push_bytes_in_flight: u64,
    /// `VersionScan` requests sent.
    pub scans_sent: u64,
    /// Requests and connections refused by the client limits, per limit.
    pub limit_refusals: crate::session::LimitRefusals,
    /// Requests refused by the access rules, per kind.
    pub access_denials: crate::session::AccessDenials,
}

/// The output queue and request-id counter.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output<SessionEvent>>,
    next_request: u64,
    pub(crate) stats: SessionStats,
}

impl Outbox {
    pub(crate) fn push(&mut self, output: Output<SessionEvent>) {
        self.queue.push_back(output);
    }

    pub(crate) fn pop(&mut self) -> Option<Output<SessionEvent>> {
        if self.queue.is_empty() {
            if self.queue.capacity() > 4096 {
                // A fan-out's burst of frames must not stay allocated once drained.
                self.queue.shrink_to(256);
            }
            return None;
        }
        // Straight into the caller's slot: an output is a few hundred bytes.
        self.queue.pop_front()
    }

    /// The connection the next output is a frame for, if it is one.
    pub(crate) fn next_send(&self) -> Option<ConnId> {
        match self.queue.front()? {
            Output::Send { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    /// Sends a one-way message or a reply (`request_id` of the request it answers).
    pub(crate) fn send(&mut self, conn: ConnId, request_id: u64, message: impl Into<Message>) {
        self.queue.push_back(Output::Send {
            conn,
            frame: Frame::new(request_id, message),
        });
    }

    /// Sends a request with a fresh id, which it returns.
    pub(crate) fn request(&mut self, conn: ConnId, message: impl Into<Message>) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        self.send(conn, id, message);
        id
    }

    pub(crate) fn event(&mut self, event: SessionEvent) {
        self.queue.push_back(Output::Event(event));
    }

    /// Answers a request the session will not serve, and logs it.
    pub(crate) fn reject(&mut self, conn: ConnId, request_id: u64, code: ErrorCode, reason: &str) {
        self.send(
            conn,
            request_id,
            ErrorReply {
                code,
                message: Text::from(reason),
            },
        );
        self.event(SessionEvent::ProtocolViolation {
            conn,
            reason: Text::from(reason),
        });
    }

    /// Closes a connection with a reason.
    pub(crate) fn close(&mut self, conn: ConnId, reason: &str) {
        self.queue.push_back(Output::Close {
            conn,
            reason: Text::from(reason),
        });
    }
}
