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
//! (as a `StateImage`) and the log before it compacted.

use super::config::MetaConfig;
use super::persisted::Persist;
use super::state::{CommandBatch, MetaState, StateImage, from_body, from_bytes, to_bytes};
use super::storage::MetaStorage;
use crate::rng::Rng;
use raft::eraftpb::{Entry, EntryType, Message, Snapshot};
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

/// The Raft group member and the state machine it drives.
pub struct Consensus {
    raw: RawNode<MetaStorage>,
    state: MetaState,
    applied: u64,
    snapshot_interval: u64,
    changed: bool,
    effects: VecDeque<Effect>,
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
        let state = from_body::<StateImage>(&snap.data)
            .ok()
            .and_then(MetaState::from_image);
        let (state, applied) = match state {
            Some(s) if index > 0 => (s, index),
            _ => (MetaState::new(config.slot_count), 0),
        };
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
            effects: VecDeque::new(),
        };
        c.process();
        Ok(c)
    }

    /// One tick of logical time.
    pub fn tick(&mut self) {
        self.raw.tick();
        self.process();
    }

    /// A message from a peer. Errors are raft-rs refusing it (stale or foreign).
    pub fn step(&mut self, message: Message) -> raft::Result<()> {
        let r = self.raw.step(message);
        self.process();
        r
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
        }
    }

    fn restore_snapshot(&mut self, snap: &Snapshot) {
        let state = from_body::<StateImage>(&snap.data)
            .ok()
            .and_then(MetaState::from_image);
        if let Some(state) = state {
            self.state = state;
            self.applied = snap.get_metadata().index;
            self.changed = true;
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            self.applied = e.index;
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            // Only this group's leaders write entries; one that does not decode is skipped.
            if let Ok(batch) = from_bytes::<CommandBatch>(&e.data) {
                for c in &batch.commands {
                    self.changed |= self.state.apply(c);
                }
            }
        }
    }

    fn maybe_snapshot(&mut self) {
        let store = self.raw.store();
        let last = store.latest_snapshot().get_metadata().index;
        if self.applied < last + self.snapshot_interval {
            return;
        }
        let Ok(term) = store.term(self.applied) else {
            return;
        };
        let mut snap = Snapshot {
            data: to_bytes(&self.state.image()),
            ..Default::default()
        };
        snap.mut_metadata().index = self.applied;
        snap.mut_metadata().term = term;
        self.raw.mut_store().install_snapshot(snap);
        let stored = self.raw.store().latest_snapshot().clone();
        self.effects
            .push_back(Effect::Persist(Persist::Snapshot(stored)));
    }
}
