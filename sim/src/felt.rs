//! The promises a user feels while the run goes, not only where it ends (docs/simulator.md,
//! "What users feel"):
//! - (a) **no transient loss**: a list delivered to a subscriber holds every publisher whose
//!   registration was acknowledged to a live client and not unregistered since, once a data
//!   node served the key with it — unless a documented window excuses the loss;
//! - (b) **no resurrection**: once a data node served a key without a publisher's version
//!   (or with a newer one) after its client unregistered or replaced that version, no list
//!   at a later datum version holds it again;
//! - (c) **pushes on the wire strictly increase** per session connection and key (what the
//!   session sends, before the client library filters anything).
//!
//! The world reports sends, acknowledgements, served datums, delivered lists and the
//! faults that open excused windows; this module keeps the state and decides.

use crate::check::{Violation, Who};
use roster_core::io::ConnId;
use roster_core::model::{DataInfoId, DatumVersion, RegisterVersion, Text};
use roster_core::time::Instant;
use roster_core::wire::{PublisherList, WriteBatch, WriteOp};
use std::collections::BTreeMap;

/// A version the client gave up: every version below it, and it too if `inclusive` (an
/// unregistration at that version), is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kill {
    version: RegisterVersion,
    inclusive: bool,
    /// An unregistration: a data leader accepted a write batch removing it at (or above)
    /// `version`, so a list without it from then on shows the removal took effect.
    applied: bool,
}

impl Kill {
    fn kills(self, v: RegisterVersion) -> bool {
        v < self.version || (self.inclusive && v == self.version)
    }
}

/// A publication a subscriber is owed.
#[derive(Debug, Clone)]
struct Owed {
    client: Who,
    version: RegisterVersion,
    /// Whether the client's publish was acknowledged.
    acked: bool,
    /// The first datum version a data node served with it (or newer): lists from there on
    /// must hold it.
    since: Option<DatumVersion>,
}

/// A removal in a write batch: key, register id, version.
type Removal = (DataInfoId, Text, RegisterVersion);

/// Why a loss may be excused, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Window {
    /// The owner's connection broke, was cut, or its session was paused or crashed.
    Connection,
    /// The owner stopped reading.
    ReadStall,
    /// A data node crashed or paused, or a partition cut servers apart.
    Servers,
}

/// The state of checks (a), (b) and (c).
#[derive(Debug, Default)]
pub struct Felt {
    /// (b) Kills not yet seen served, per key and register id.
    pending_kills: BTreeMap<DataInfoId, BTreeMap<Text, Kill>>,
    /// (b) Established kills: (key, register id) → (first datum version served without the
    /// killed versions, the kill).
    dead: BTreeMap<(DataInfoId, Text), Vec<(DatumVersion, Kill)>>,
    /// (b) Per key and register id, the highest datum version served holding it, and its
    /// version there.
    shown: BTreeMap<(DataInfoId, Text), (DatumVersion, RegisterVersion)>,
    /// (c) Last version pushed per (connection, key), while the key has subscriptions on
    /// the connection.
    wire: BTreeMap<(usize, DataInfoId), (DatumVersion, bool)>,
    /// (c) Pushes awaiting their ack: (connection, request id) → key and version.
    wire_pending: BTreeMap<(usize, u64), (DataInfoId, DatumVersion)>,
    /// (c) Subscriptions per (connection, key), as the session received them.
    subscriptions: BTreeMap<(usize, DataInfoId), std::collections::BTreeSet<Text>>,
    /// (b) Removals in write batches a data node has not answered yet.
    batches: BTreeMap<(Who, ConnId, u64), Vec<Removal>>,
    /// (a) Owed publications per key and register id.
    owed: BTreeMap<DataInfoId, BTreeMap<Text, Owed>>,
    /// (a) Publish requests in flight: (client, connection, request id) → (key, id).
    publishes: BTreeMap<(Who, ConnId, u64), (DataInfoId, Text)>,
    /// (a) Per client, until when a loss of its publishers is excused, and why.
    client_excused: BTreeMap<Who, (Instant, Window)>,
    /// (a) Until when server faults excuse every loss.
    servers_excused: Option<Instant>,
    /// Losses excused, by window (reported).
    pub excused: BTreeMap<Window, u64>,
    /// Checks evaluated.
    pub checks: u64,
}

fn violation(property: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { property, detail })
}

impl Felt {
    /// A client sent `Publish` of `id` at `version` on `conn` (request `request`).
    pub fn on_publish(
        &mut self,
        client: Who,
        (conn, request): (ConnId, u64),
        key: &DataInfoId,
        id: &Text,
        version: RegisterVersion,
    ) {
        self.kill(key, id, version, false);
        self.owed.entry(key.clone()).or_default().insert(
            id.clone(),
            Owed {
                client,
                version,
                acked: false,
                since: None,
            },
        );
        self.publishes
            .insert((client, conn, request), (key.clone(), id.clone()));
    }

    /// The application unregistered `id` (whether or not the client library sends an
    /// `Unpublish`: offline, it only forgets it and does not replay it).
    pub fn on_unregister(&mut self, key: &DataInfoId, id: &Text) {
        if let Some(m) = self.owed.get_mut(key) {
            m.remove(id);
        }
    }

    /// A client sent `Unpublish` of `id` at `version`.
    pub fn on_unpublish(&mut self, key: &DataInfoId, id: &Text, version: RegisterVersion) {
        self.kill(key, id, version, true);
        if let Some(m) = self.owed.get_mut(key) {
            m.remove(id);
        }
    }

    fn kill(&mut self, key: &DataInfoId, id: &Text, version: RegisterVersion, inclusive: bool) {
        let k = Kill {
            version,
            inclusive,
            applied: false,
        };
        let m = self.pending_kills.entry(key.clone()).or_default();
        match m.get(id) {
            Some(old) if old.version > version => {}
            _ => {
                m.insert(id.clone(), k);
            }
        }
    }

    /// A data node received a write batch (request `request` on its connection `conn`):
    /// its removals, until the node accepts or refuses it.
    pub fn on_write_batch(&mut self, data: Who, conn: ConnId, request: u64, b: &WriteBatch) {
        let removes: Vec<_> = b
            .ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Remove {
                    data_info_id,
                    register_id,
                    version,
                } => Some((data_info_id.clone(), register_id.clone(), *version)),
                WriteOp::Put { .. } => None,
            })
            .collect();
        if !removes.is_empty() {
            self.batches.insert((data, conn, request), removes);
        }
    }

    /// A data node answered a write batch: `accepted` or not.
    pub fn on_write_answer(&mut self, data: Who, conn: ConnId, request: u64, accepted: bool) {
        let Some(removes) = self.batches.remove(&(data, conn, request)) else {
            return;
        };
        if !accepted {
            return;
        }
        for (key, id, v) in removes {
            if let Some(k) = self
                .pending_kills
                .get_mut(&key)
                .and_then(|m| m.get_mut(&id))
            {
                if k.inclusive && v >= k.version {
                    k.applied = true;
                }
            }
        }
    }

    /// A client received an `Ack` for request `request` on `conn`.
    pub fn on_ack(&mut self, client: Who, conn: ConnId, request: u64) {
        let Some((key, id)) = self.publishes.remove(&(client, conn, request)) else {
            return;
        };
        if let Some(o) = self.owed.get_mut(&key).and_then(|m| m.get_mut(&id)) {
            if o.client == client {
                o.acked = true;
            }
        }
    }

    /// A client process died: it owes nothing and is owed nothing.
    pub fn forget_client(&mut self, client: Who) {
        for m in self.owed.values_mut() {
            m.retain(|_, o| o.client != client);
        }
        self.publishes.retain(|(c, _, _), _| *c != client);
        self.client_excused.remove(&client);
    }

    /// Losses of `client`'s publishers are excused until `until`.
    pub fn excuse_client(&mut self, client: Who, until: Instant, why: Window) {
        let e = self.client_excused.entry(client).or_insert((until, why));
        if until >= e.0 {
            *e = (until, why);
        }
    }

    /// Losses of every publisher are excused until `until`.
    pub fn excuse_servers(&mut self, until: Instant) {
        self.servers_excused = Some(self.servers_excused.map_or(until, |u| u.max(until)));
    }

    /// A data node served `key` at `version` with `publishers`: establishes kills (b) and
    /// owed publications (a).
    pub fn on_served(&mut self, key: &DataInfoId, version: DatumVersion, list: &PublisherList) {
        let held = |id: &str| {
            list.iter()
                .find(|p| p.register_id() == id)
                .map(|p| p.version())
        };
        if let Some(kills) = self.pending_kills.get_mut(key) {
            let mut established = Vec::new();
            let shown = &self.shown;
            kills.retain(|id, k| {
                if held(id.as_str()).is_some_and(|v| k.kills(v)) {
                    return true;
                }
                // The kill took effect here: the replacing version (or a newer one) is
                // served, or the key is served without it after a leader accepted the
                // removal and a lower version showed a killed one. Absence alone proves
                // nothing: the publisher may still be in flight, or removed for another
                // reason (its session lost) with the client's older write still queued.
                let now_held = held(id.as_str());
                let replaced = !k.inclusive && now_held.is_some_and(|v| v >= k.version);
                let removed = k.inclusive
                    && k.applied
                    && now_held.is_none()
                    && shown
                        .get(&(key.clone(), id.clone()))
                        .is_some_and(|(d, v)| *d < version && k.kills(*v));
                if !replaced && !removed {
                    return true;
                }
                established.push((id.clone(), *k));
                false
            });
            for (id, k) in established {
                let v = self.dead.entry((key.clone(), id)).or_default();
                if !v
                    .iter()
                    .any(|(d, old)| *d <= version && old.version >= k.version)
                {
                    v.push((version, k));
                }
            }
        }
        for p in list.iter() {
            let e = self
                .shown
                .entry((key.clone(), Text::from(p.register_id())))
                .or_insert((version, p.version()));
            if e.0 <= version {
                *e = (version, p.version());
            }
        }
        if let Some(owed) = self.owed.get_mut(key) {
            for (id, o) in owed.iter_mut() {
                if o.since.is_none() && held(id.as_str()).is_some_and(|v| v >= o.version) {
                    o.since = Some(version);
                }
            }
        }
    }

    /// (b) and (a) on a list delivered to subscriber `who` at `now`.
    pub fn on_delivered(
        &mut self,
        who: Who,
        now: Instant,
        key: &DataInfoId,
        version: DatumVersion,
        list: &PublisherList,
    ) -> Result<(), Violation> {
        self.checks += 1;
        for p in list.iter() {
            let id = p.register_id();
            let Some(kills) = self.dead.get(&(key.clone(), Text::from(id))) else {
                continue;
            };
            if let Some((d, k)) = kills
                .iter()
                .find(|(d, k)| *d < version && k.kills(p.version()))
            {
                // A later leader epoch while server faults are in their window: the new
                // leader may have been promoted without the removal (the old one accepted
                // it without a follower's ack, after its bounded wait, then was lost), and
                // reconciliation with the owning session removes it again.
                if d.leader_epoch != version.leader_epoch
                    && self.servers_excused.is_some_and(|u| now <= u)
                {
                    *self.excused.entry(Window::Servers).or_default() += 1;
                    continue;
                }
                return violation(
                    "no resurrection",
                    format!(
                        "client {} got {key} at {version:?} holding {id} at {:?}, a version its \
                         client gave up ({:?}{}) and a data node served without at {d:?}",
                        who.node,
                        p.version(),
                        k.version,
                        if k.inclusive {
                            ", unregistered"
                        } else {
                            ", replaced"
                        }
                    ),
                );
            }
        }
        let Some(owed) = self.owed.get(key) else {
            return Ok(());
        };
        for (id, o) in owed {
            let due = o.acked && o.since.is_some_and(|s| s < version);
            if !due || list.iter().any(|p| p.register_id() == id.as_str()) {
                continue;
            }
            if self.servers_excused.is_some_and(|u| now <= u) {
                *self.excused.entry(Window::Servers).or_default() += 1;
                continue;
            }
            if let Some((u, why)) = self.client_excused.get(&o.client) {
                if now <= *u {
                    *self.excused.entry(*why).or_default() += 1;
                    continue;
                }
            }
            return violation(
                "no transient loss",
                format!(
                    "client {} got {key} at {version:?} without {id} (client {}, {:?}, \
                     acknowledged, served since {:?}), outside every excused window",
                    who.node, o.client.node, o.version, o.since
                ),
            );
        }
        Ok(())
    }

    /// (c) A session received a `Subscribe` (`on`) or `Unsubscribe` of `id` on connection
    /// `conn` (the simulator's index). When the key's last subscription on it goes, the
    /// next subscription starts a new sequence.
    pub fn on_subscription(&mut self, conn: usize, key: &DataInfoId, id: &Text, on: bool) {
        let k = (conn, key.clone());
        let subs = self.subscriptions.entry(k.clone()).or_default();
        if on {
            subs.insert(id.clone());
        } else {
            subs.remove(id);
            if subs.is_empty() {
                self.subscriptions.remove(&k);
                self.wire.remove(&k);
            }
        }
    }

    /// (c) The session received an `Ack` of request `request` on connection `conn`.
    pub fn on_push_ack(&mut self, conn: usize, request: u64) {
        if let Some((key, v)) = self.wire_pending.remove(&(conn, request)) {
            if let Some(w) = self.wire.get_mut(&(conn, key)) {
                if w.0 == v {
                    w.1 = true;
                }
            }
        }
    }

    /// (c) A session sent a push of `key` at `version` on connection `conn` (the
    /// simulator's index; `session` and `at` name it for the report), request `request`.
    /// Strictly newer than the last push of the key on the connection — except the retry
    /// of a push that timed out unacknowledged, which repeats its version (the session
    /// cannot tell a slow reader from a lost push; docs/simulator.md).
    pub fn on_wire_push(
        &mut self,
        (session, at): (Who, ConnId),
        (conn, request): (usize, u64),
        key: &DataInfoId,
        version: DatumVersion,
    ) -> Result<(), Violation> {
        self.checks += 1;
        let conn_name = at;
        self.wire_pending
            .insert((conn, request), (key.clone(), version));
        let last = self.wire.insert((conn, key.clone()), (version, false));
        match last {
            Some((l, false)) if l == version => Ok(()),
            Some((l, acked)) if l >= version => violation(
                "pushes on the wire strictly increase",
                format!(
                    "session {} pushed {key} at {version:?} on {conn_name} after {l:?}{}",
                    session.node,
                    if acked { " (acknowledged)" } else { "" }
                ),
            ),
            _ => Ok(()),
        }
    }
}

/// The excused windows' lengths, from the configuration the simulator runs (the core's
/// defaults).
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// After a client's connection broke (or its session stalled, or it stopped reading):
    /// the idle timeout that notices a silent connection, a connect attempt that times out,
    /// the longest reconnect backoff, and a second to replay its registrations.
    pub failover: std::time::Duration,
    /// After a server fault ends (a data node restarted or resumed, a partition healed):
    /// meta's lease to move the node's slots, a data node's session lease (after which it
    /// drops an unreachable session's publishers), one reconciliation interval and one
    /// request timeout for the sessions to write them back.
    pub servers: std::time::Duration,
}

impl Windows {
    /// The windows of the core's default configurations.
    pub fn defaults() -> Self {
        use roster_core::data::DataConfig;
        let client = roster_core::client::ClientConfig::new(Text::from("c"), vec![Text::from("s")]);
        let data = DataConfig::new(
            roster_core::model::ProcessId {
                node: roster_core::model::NodeId(0),
                incarnation: roster_core::model::Incarnation(0),
            },
            "d",
            vec![],
        );
        let meta_lease = std::time::Duration::from_secs(10);
        Windows {
            failover: client.liveness.idle_timeout
                + client.connect_timeout
                + client.reconnect_backoff.max
                + std::time::Duration::from_secs(1),
            servers: meta_lease
                + data.session_lease
                + data.reconcile_interval
                + data.request_timeout,
        }
    }
}
