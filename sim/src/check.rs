//! The registry's promises, checked as the run goes.
//!
//! Safety, after every step (incrementally, from what the nodes send and emit):
//! - a subscriber's versions strictly increase;
//! - every list a subscriber receives is exactly a datum state a data leader served at
//!   that version (the sim records every `Datums` a data node sends, by key and version,
//!   and two different states at one version are a violation too);
//! - per slot and leader epoch, at most one process acts as writer (accepts a write batch
//!   routed at that epoch, or streams op-log entries of it), and it is the leader meta's
//!   tables named for that epoch;
//! - slot table epochs only grow on each node, and one epoch means one table;
//! - at most one meta leader per term.
//!
//! Liveness (after the faults stop) is evaluated by the world with [`Checker::list`], as it
//! needs the cluster's state.

use crate::trace::{FNV_START, hash_bytes, mix};
use bytes::Bytes;
use roster_core::client::Event;
use roster_core::io::ConnId;
use roster_core::model::{
    DataInfoId, DatumVersion, LeaderEpoch, ProcessId, RegisterVersion, SlotId, TableEpoch, Text,
};
use roster_core::slot::SlotTable;
use roster_core::wire::{Frame, Message, PublisherList, SlotRoute};
use std::collections::BTreeMap;
use std::fmt;

/// A broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: &'static str,
    /// What exactly.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}

/// A subscriber's view: (register id, payload) of each publisher in its last list.
pub type List = Vec<(Text, Vec<Bytes>)>;

/// Fingerprint of a publisher list, as a data node serves it and as a client receives it
/// (order-sensitive; lists are ordered by register id).
fn list_fingerprint(publishers: &PublisherList) -> u64 {
    publishers
        .iter()
        .fold(mix(FNV_START, publishers.len() as u64), |h, p| {
            fold_publisher(h, p.register_id(), p.version(), p.payload())
        })
}

fn fold_publisher<'a>(
    mut h: u64,
    register_id: &str,
    version: RegisterVersion,
    payload: impl Iterator<Item = &'a [u8]>,
) -> u64 {
    h = hash_bytes(h, register_id.as_bytes());
    h = mix(h, version.client_version);
    h = mix(h, version.connect_generation);
    for b in payload {
        h = hash_bytes(mix(h, b.len() as u64), b);
    }
    h
}

fn table_fingerprint(t: &SlotTable) -> u64 {
    let mut h = mix(FNV_START, t.epoch().0);
    for (_, s) in t.slots() {
        h = mix(h, s.leader_epoch.0);
        for p in s.replicas() {
            h = mix(mix(h, p.node.0), p.incarnation.0);
        }
        h = mix(h, u64::MAX);
    }
    h
}

/// Who a node is, for the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Who {
    /// Node index.
    pub node: usize,
    /// Incarnation.
    pub inc: u64,
}

/// The incremental checker.
#[derive(Debug, Default)]
pub struct Checker {
    /// Datum states served: (key, version) → fingerprint.
    states: BTreeMap<(DataInfoId, DatumVersion), u64>,
    /// (slot, leader epoch) → the process that acted as its writer.
    writers: BTreeMap<(SlotId, LeaderEpoch), ProcessId>,
    /// (slot, leader epoch) → the leader meta's tables named.
    leaders: BTreeMap<(SlotId, LeaderEpoch), ProcessId>,
    /// Table epoch → fingerprint.
    tables: BTreeMap<TableEpoch, u64>,
    /// Last table epoch each node process had.
    node_epochs: BTreeMap<Who, TableEpoch>,
    /// Meta term → leader id.
    terms: BTreeMap<u64, u64>,
    /// Write batches delivered to data nodes: (node, conn, request) → route.
    routes: BTreeMap<(Who, ConnId, u64), SlotRoute>,
    /// Per subscriber (client process, subscription id): last version and list.
    subscribers: BTreeMap<(Who, Text), (DatumVersion, List)>,
    /// Checks evaluated.
    pub checks: u64,
}

fn violation(property: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { property, detail })
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Checker {
            states: BTreeMap::new(),
            writers: BTreeMap::new(),
            leaders: BTreeMap::new(),
            tables: BTreeMap::new(),
            node_epochs: BTreeMap::new(),
            terms: BTreeMap::new(),
            routes: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            checks: 0,
        }
    }

    fn writer(
        &mut self,
        slot: SlotId,
        epoch: LeaderEpoch,
        p: ProcessId,
        how: &str,
    ) -> Result<(), Violation> {
        self.checks += 1;
        if let Some(leader) = self.leaders.get(&(slot, epoch)) {
            if *leader != p {
                return violation(
                    "single writer per slot and leader epoch",
                    format!(
                        "{p} {how} for slot {slot:?} at leader epoch {epoch:?}, but meta named {leader}"
                    ),
                );
            }
        }
        match self.writers.get(&(slot, epoch)) {
            Some(w) if *w != p => violation(
                "single writer per slot and leader epoch",
                format!(
                    "{p} {how} for slot {slot:?} at leader epoch {epoch:?}, but {w} already wrote it"
                ),
            ),
            Some(_) => Ok(()),
            None => {
                self.writers.insert((slot, epoch), p);
                Ok(())
            }
        }
    }

    /// A table a node holds (meta's applied one, or a data/session node's installed one).
    pub fn on_table(
        &mut self,
        who: Who,
        table: &SlotTable,
        is_meta: bool,
    ) -> Result<(), Violation> {
        let epoch = table.epoch();
        let last = self.node_epochs.get(&who).copied();
        if last == Some(epoch) {
            return Ok(());
        }
        self.checks += 1;
        if let Some(last) = last {
            if epoch < last {
                return violation(
                    "slot table epochs only grow",
                    format!(
                        "node {} (incarnation {}) went from table epoch {last:?} to {epoch:?}",
                        who.node, who.inc
                    ),
                );
            }
        }
        self.node_epochs.insert(who, epoch);
        if epoch == TableEpoch(0) {
            // The empty table a node starts with (its slot count may differ).
            return Ok(());
        }
        let fp = table_fingerprint(table);
        if let Some(&other) = self.tables.get(&epoch) {
            if other != fp {
                return violation(
                    "slot table epochs only grow",
                    format!(
                        "two different tables at epoch {epoch:?} (seen at node {})",
                        who.node
                    ),
                );
            }
        } else {
            self.tables.insert(epoch, fp);
        }
        if is_meta {
            for (slot, s) in table.slots() {
                if let Some(l) = s.leader {
                    self.leaders.entry((slot, s.leader_epoch)).or_insert(l);
                    if let Some(w) = self.writers.get(&(slot, s.leader_epoch)) {
                        if *w != l {
                            return violation(
                                "single writer per slot and leader epoch",
                                format!(
                                    "{w} wrote slot {slot:?} at leader epoch {:?}, which meta gives to {l}",
                                    s.leader_epoch
                                ),
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A meta node's role after a step.
    pub fn on_meta(&mut self, id: u64, leader: bool, term: u64) -> Result<(), Violation> {
        if !leader {
            return Ok(());
        }
        self.checks += 1;
        match self.terms.get(&term) {
            Some(&other) if other != id => violation(
                "at most one meta leader per term",
                format!("meta {id} and meta {other} both lead term {term}"),
            ),
            Some(_) => Ok(()),
            None => {
                self.terms.insert(term, id);
                Ok(())
            }
        }
    }

    /// A frame delivered to a data node.
    pub fn on_data_receive(&mut self, who: Who, conn: ConnId, frame: &Frame) {
        if let Message::WriteBatch(b) = &frame.message {
            self.routes.insert((who, conn, frame.request_id), b.route);
        }
    }

    /// A frame a data node sends.
    pub fn on_data_send(
        &mut self,
        who: Who,
        p: ProcessId,
        conn: ConnId,
        frame: &Frame,
    ) -> Result<(), Violation> {
        match &frame.message {
            Message::WriteAccepted(a) => {
                if let Some(route) = self.routes.remove(&(who, conn, frame.request_id)) {
                    self.writer(a.slot, route.leader_epoch, p, "accepted a write batch")?;
                }
            }
            Message::Refused(_) | Message::ErrorReply(_) => {
                self.routes.remove(&(who, conn, frame.request_id));
            }
            Message::OpLogAppend(a) if !a.entries.is_empty() => {
                self.writer(a.slot, a.leader_epoch, p, "streamed op-log entries")?;
            }
            Message::Datums(d) => {
                // Not a writer claim: a new leader serves versions of earlier epochs.
                for datum in &d.datums {
                    let fp = list_fingerprint(&datum.publishers);
                    let key = (datum.data_info_id.clone(), datum.version);
                    match self.states.get(&key) {
                        Some(&other) if other != fp => {
                            return violation(
                                "a version names one datum state",
                                format!(
                                    "{p} served {} at {:?} with a list differing from an earlier one",
                                    datum.data_info_id, datum.version
                                ),
                            );
                        }
                        Some(_) => {}
                        None => {
                            self.states.insert(key, fp);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A client's application event.
    pub fn on_client_event(&mut self, who: Who, e: &Event) -> Result<(), Violation> {
        let Event::Update {
            data_info_id,
            register_ids,
            version,
            publishers,
        } = e
        else {
            return Ok(());
        };
        self.checks += 1;
        let fp = list_fingerprint(publishers);
        match self.states.get(&(data_info_id.clone(), *version)) {
            None => {
                return violation(
                    "a subscriber's list is a state its leader had",
                    format!(
                        "client {} got {data_info_id} at {version:?}, a version no leader served",
                        who.node
                    ),
                );
            }
            Some(&s) if s != fp => {
                return violation(
                    "a subscriber's list is a state its leader had",
                    format!(
                        "client {} got {data_info_id} at {version:?} with a list the leader never had at that version",
                        who.node
                    ),
                );
            }
            Some(_) => {}
        }
        let list: List = publishers
            .iter()
            .map(|p| {
                let p = p.to_owned();
                (p.register_id, p.payload.to_vec())
            })
            .collect();
        for id in register_ids.iter() {
            let entry = self.subscribers.entry((who, id.clone()));
            if let std::collections::btree_map::Entry::Occupied(o) = &entry {
                let last = o.get().0;
                if *version <= last {
                    return violation(
                        "a subscriber's versions strictly increase",
                        format!(
                            "client {} subscription {id} on {data_info_id}: got {version:?} after {last:?}",
                            who.node
                        ),
                    );
                }
            }
            *entry.or_insert((*version, Vec::new())) = (*version, list.clone());
        }
        Ok(())
    }

    /// The last version and list a subscriber received, if any.
    pub fn list(&self, who: Who, sub: &Text) -> Option<&(DatumVersion, List)> {
        self.subscribers.get(&(who, sub.clone()))
    }

    /// Forgets a dead client process's subscribers.
    pub fn forget_client(&mut self, who: Who) {
        self.subscribers.retain(|(w, _), _| *w != who);
    }
}
