//! Consensus (docs/design.md §4.10): the replicated state driven through raft-rs's
//! `RawNode` — `tick`, `step`, `ready`, `advance` — so it stays sans-IO.
//!
//! Each `Ready` is handled in raft-rs's order for synchronous persistence: messages a
//! leader may send before persisting; the snapshot, new entries and hard state, each
//! written to [`MetaStorage`] and queued as a [`Persist`] effect; committed entries applied
//! to [`MetaState`]; then the messages that needed persistence; then `advance`. The node
//! turns effects into outputs in order, so a driver that makes each persist durable before
//! the next output upholds Raft's rules.
//!
//! Determinism: raft-rs draws each election timeout from its own thread-local RNG in
//! `min_election_tick..max_election_tick`; we make that range one tick wide, its start
//! drawn once from the node's seeded `Rng`, so the draw has a single outcome. Logging goes
//! to a discard logger. Every `snapshot_interval` applied entries the state is snapshotted
//! (as a `StateImage` and the address book) and the log before it compacted.
//!
//! Configuration changes (`voters` plans them) are raft-rs's single-step `ConfChange`s whose
//! context is the member's address. Applying one changes raft-rs's configuration, the
//! storage's `ConfState` and the replicated address book, and forces a snapshot at once: the
//! configuration is then durable, and the leader's log starts after the change, so a member
//! that joins with an empty log is sent that snapshot (which names it) instead of entries
//! from index 1 (which would not tell it the group's first voters). A leader that applies
//! its own removal hands leadership to the most caught-up reachable voter.

use super::config::MetaConfig;
use super::persisted::Persist;
use super::raft_guard::{self, LogBounds};
use super::state::{CommandBatch, MetaState, from_bytes, to_bytes};
use super::storage::MetaStorage;
use crate::model::Text;
use crate::rng::Rng;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, Snapshot};
use raft::{RawNode, StateRole, Storage as _};
use std::collections::VecDeque;

/// Something consensus wants done, in order.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send a message to a peer (`to`).
    Send(Message),
    /// Make a record durable.
    Persist(Persist),
}

/// Why [`Consensus::step`] did not take a message.
#[derive(Debug)]
pub enum StepError {
    /// No correct member sends it (the rule it broke): the peer is cut off.
    Malformed(&'static str),
    /// raft-rs refused it (stale, or from a member no longer in the group): nothing to do.
    Refused(raft::Error),
}

/// The Raft group member and the state machine it drives.
pub struct Consensus {
    raw: RawNode<MetaStorage>,
    state: MetaState,
    applied: u64,
    snapshot_interval: u64,
    changed: bool,
    /// A configuration change was applied: snapshot at once (module docs).
    snapshot_due: bool,
    /// Bumped by every applied configuration change.
    conf_changes: u64,
    /// Leadership to hand over once the current `Ready` is done (this leader was removed).
    transfer_to: Option<u64>,
    effects: VecDeque<Effect>,
    /// `MemberExpired` commands this member applied that removed a member.
    expelled: u64,
}

impl std::fmt::Debug for Consensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consensus")
            .field("id", &self.raw.raft.id)
            .field("term", &self.raw.raft.term)
            .field("role", &self.raw.raft.state)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

impl Consensus {
    /// A member over `storage` (fresh, or restored from persist records).
    pub fn new(config: &MetaConfig, rng: &mut Rng, storage: MetaStorage) -> raft::Result<Self> {
        let snap = storage.latest_snapshot();
        let index = snap.get_metadata().index;
        let state = MetaState::from_snapshot_data(&snap.data);
        let (mut state, applied) = match state {
            Some(s) if index > 0 => (s, index),
            _ => (MetaState::new(config.slot_count), 0),
        };
        if state.meta_peers.is_empty() {
            // A new group, or a snapshot from before the address book: the configured peers.
            let peers = config.peers.iter().map(|p| (p.id, p.address.clone()));
            state.meta_peers = peers.collect();
        }
        let election = config.election_ticks;
        let timeout = election + rng.below(election as u64) as usize;
        let raft_config = raft::Config {
            id: config.id,
            election_tick: election,
            heartbeat_tick: config.heartbeat_ticks,
            min_election_tick: timeout,
            max_election_tick: timeout + 1,
            applied,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            ..Default::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&raft_config, storage, &logger)?;
        let mut c = Consensus {
            raw,
            state,
            applied,
            snapshot_interval: config.snapshot_interval,
            changed: false,
            snapshot_due: false,
            conf_changes: 0,
            transfer_to: None,
            effects: VecDeque::new(),
            expelled: 0,
        };
        c.process();
        Ok(c)
    }

    /// One tick of logical time.
    pub fn tick(&mut self) {
        self.raw.tick();
        self.process();
    }

    /// A message from a peer, checked by [`raft_guard`](super::raft_guard) before raft-rs
    /// sees it.
    pub fn step(&mut self, message: Message) -> Result<(), StepError> {
        let log = LogBounds {
            last_index: self.raw.raft.raft_log.last_index(),
        };
        raft_guard::check(&message, log).map_err(StepError::Malformed)?;
        let r = self.raw.step(message);
        self.process();
        r.map_err(StepError::Refused)
    }

    /// Proposes a batch of commands; `false` if it was dropped (not leader).
    pub fn propose(&mut self, batch: &CommandBatch) -> bool {
        let ok = self
            .raw
            .propose(Vec::new(), to_bytes(batch).to_vec())
            .is_ok();
        self.process();
        ok
    }

    /// Proposes one configuration change; `false` if raft-rs dropped it (not leader). The
    /// caller checks that no other change is pending: raft-rs would turn this one into an
    /// empty entry without saying so.
    pub fn propose_conf_change(&mut self, kind: ConfChangeType, id: u64, address: &Text) -> bool {
        let cc = ConfChange {
            change_type: kind,
            node_id: id,
            context: address.as_str().as_bytes().to_vec().into(),
            ..Default::default()
        };
        let ok = self.raw.propose_conf_change(Vec::new(), cc).is_ok();
        self.process();
        ok
    }

    /// The current configuration: voters and learners.
    pub fn conf(&self) -> ConfState {
        self.raw.raft.prs().conf().to_conf_state()
    }

    /// Whether a configuration change was proposed and is not applied yet.
    pub fn conf_pending(&self) -> bool {
        self.raw.raft.has_pending_conf()
    }

    /// How many configuration changes this member applied since it started.
    pub fn conf_changes(&self) -> u64 {
        self.conf_changes
    }

    /// On the leader: how far member `id` matches the log, and whether it was heard from
    /// within the last election timeout (raft-rs's check-quorum bookkeeping).
    pub fn progress(&self, id: u64) -> Option<(u64, bool)> {
        if !self.is_leader() {
            return None;
        }
        let pr = self.raw.raft.prs().get(id)?;
        Some((pr.matched, id == self.id() || pr.recent_active))
    }

    /// The commit index.
    pub fn committed(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// This member's consensus id.
    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// Whether this member leads.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The leader this member knows of.
    pub fn leader_id(&self) -> Option<u64> {
        Some(self.raw.raft.leader_id).filter(|&id| id != raft::INVALID_ID)
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// Whether the state reflects every entry of the log (nothing proposed is pending).
    pub fn settled(&self) -> bool {
        self.applied >= self.raw.raft.raft_log.last_index()
    }

    /// The applied state.
    pub fn state(&self) -> &MetaState {
        &self.state
    }

    /// Index of the last applied entry.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Members expelled (lease ran out) by the entries this process applied since it
    /// started (a restart replays the log after the last snapshot, and counts those again).
    pub fn expelled(&self) -> u64 {
        self.expelled
    }

    /// Whether the state changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The next effect.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn persist(&mut self, record: Persist) {
        // Records raft-rs hands over are always contiguous; an error would be a raft-rs bug
        // and leaves the storage unchanged.
        let _ = self.raw.mut_store().persist(&record);
        self.effects.push_back(Effect::Persist(record));
    }

    fn send(&mut self, messages: Vec<Message>) {
        self.effects.extend(messages.into_iter().map(Effect::Send));
    }

    fn process(&mut self) {
        while self.raw.has_ready() {
            let mut rd = self.raw.ready();
            self.send(rd.take_messages());
            if !rd.snapshot().is_empty() {
                let snap = rd.snapshot().clone();
                self.restore_snapshot(&snap);
                self.persist(Persist::Snapshot(snap));
            }
            if !rd.entries().is_empty() {
                self.persist(Persist::Entries(rd.take_entries()));
            }
            if let Some(hs) = rd.hs() {
                self.persist(Persist::HardState(hs.clone()));
            }
            self.apply(rd.take_committed_entries());
            self.send(rd.take_persisted_messages());
            let mut light = self.raw.advance(rd);
            if let Some(commit) = light.commit_index() {
                let mut hs = self.raw.store().hard_state().clone();
                hs.commit = commit;
                self.persist(Persist::HardState(hs));
            }
            self.send(light.take_messages());
            self.apply(light.take_committed_entries());
            self.raw.advance_apply();
            self.maybe_snapshot();
            if let Some(to) = self.transfer_to.take() {
                self.raw.transfer_leader(to);
            }
        }
    }

    fn restore_snapshot(&mut self, snap: &Snapshot) {
        let state = MetaState::from_snapshot_data(&snap.data);
        if let Some(mut state) = state {
            if state.meta_peers.is_empty() {
                state.meta_peers = std::mem::take(&mut self.state.meta_peers);
            }
            self.state = state;
            self.conf_changes += 1;
            self.applied = snap.get_metadata().index;
            self.changed = true;
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            self.applied = e.index;
            if e.get_entry_type() == EntryType::EntryConfChange {
                self.apply_conf_change(&e);
                continue;
            }
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            // Only this group's leaders write entries; one that does not decode is skipped.
            if let Ok(batch) = from_bytes::<CommandBatch>(&e.data) {
                for c in &batch.commands {
                    let changed = self.state.apply(c);
                    let expired = matches!(c, super::state::Command::MemberExpired { .. });
                    self.expelled += u64::from(changed && expired);
                    self.changed |= changed;
                }
            }
        }
    }

    /// Applies a committed configuration change (module docs). Only this group's leaders
    /// write these entries; one raft-rs refuses changes nothing.
    fn apply_conf_change(&mut self, e: &Entry) {
        let Ok(cc) = ConfChange::parse_from_bytes(&e.data) else {
            return;
        };
        let Ok(conf) = self.raw.apply_conf_change(&cc) else {
            return;
        };
        let id = cc.node_id;
        match cc.get_change_type() {
            ConfChangeType::RemoveNode => {
                self.state.meta_peers.remove(&id);
            }
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                if let Ok(address) = std::str::from_utf8(&cc.context) {
                    if !address.is_empty() {
                        self.state.meta_peers.insert(id, Text::from(address));
                    }
                }
            }
        }
        let me = self.id();
        if self.is_leader() && !conf.voters.contains(&me) {
            self.transfer_to = conf
                .voters
                .iter()
                .filter_map(|&v| self.progress(v).map(|(m, active)| (active, m, v)))
                .max()
                .map(|(_, _, v)| v);
        }
        self.raw.mut_store().set_conf_state(conf);
        self.conf_changes += 1;
        self.snapshot_due = true;
    }

    fn maybe_snapshot(&mut self) {
        let store = self.raw.store();
        let last = store.latest_snapshot().get_metadata().index;
        let due = self.snapshot_due && self.applied > last;
        if self.applied < last + self.snapshot_interval && !due {
            return;
        }
        let Ok(term) = store.term(self.applied) else {
            return;
        };
        self.snapshot_due = false;
        let mut snap = Snapshot {
            data: self.state.to_snapshot_data(),
            ..Default::default()
        };
        snap.mut_metadata().index = self.applied;
        snap.mut_metadata().term = term;
        snap.mut_metadata().set_conf_state(self.conf());
        self.raw.mut_store().install_snapshot(snap);
        let stored = self.raw.store().latest_snapshot().clone();
        self.effects
            .push_back(Effect::Persist(Persist::Snapshot(stored)));
    }
}
