//! The gate every Raft message from a peer passes before raft-rs sees it.
//!
//! raft-rs trusts its peers: messages no correct member sends make it panic — a heartbeat
//! committing past the end of the log, appended entries whose indexes do not follow the
//! one they are appended after, a snapshot whose configuration cannot be restored, a
//! read-index request without its context, terms so large that the next election
//! overflows. A peer allowed to reach Raft may still be buggy, corrupted or compromised, so
//! [`check`] holds each message to what a correct member of this group sends, and the meta
//! node closes the connection of a peer whose message fails, instead of losing the node.
//!
//! What a correct member sends, here: only the messages raft-rs exchanges between peers
//! and this group uses (no read-index: roster reads the state it applied); no number
//! beyond [`MAX_COUNTER`]; a term on every message but the forwarded ones (proposals and
//! leadership transfers), which raft-rs sends without one and would fail to forward with one; proposals forwarded by followers carry only command batches
//! that decode (configuration changes are proposed by the leader itself); appended
//! entries are numbered consecutively after the index they follow, with terms from 1 up
//! that never decrease and never exceed the message's, after an entry that has a term; a heartbeat commits no further than this
//! member's log reaches; an acknowledgement acknowledges no more than this member's log
//! holds; a snapshot carries a state that decodes and a plain (not joint) configuration
//! with voters, naming each member once.

use super::state::{CommandBatch, MetaState, from_bytes};
use raft::eraftpb::{EntryType, Message, MessageType, Snapshot};
use std::collections::BTreeSet;

/// Terms, indexes and commit points never come near this (2^62): anything larger is forged,
/// and would overflow raft-rs's arithmetic.
pub(crate) const MAX_COUNTER: u64 = 1 << 62;

/// What [`check`] needs of this member's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogBounds {
    /// Index of the last entry (or of the snapshot, if the log is empty after it).
    pub(crate) last_index: u64,
}

/// Checks `m` against the rules of the module docs; the error says which one it broke.
pub(crate) fn check(m: &Message, log: LogBounds) -> Result<(), &'static str> {
    use MessageType::*;
    match m.get_msg_type() {
        MsgAppend
        | MsgAppendResponse
        | MsgRequestVote
        | MsgRequestVoteResponse
        | MsgRequestPreVote
        | MsgRequestPreVoteResponse
        | MsgSnapshot
        | MsgHeartbeat
        | MsgHeartbeatResponse
        | MsgTransferLeader
        | MsgTimeoutNow
        | MsgPropose => {}
        MsgHup | MsgBeat | MsgUnreachable | MsgSnapStatus | MsgCheckQuorum => {
            return Err("a member-local consensus message from a peer");
        }
        MsgReadIndex | MsgReadIndexResp => return Err("read-index is not used by this group"),
    }
    let counters = [
        m.term,
        m.log_term,
        m.index,
        m.commit,
        m.commit_term,
        m.reject_hint,
        m.request_snapshot,
    ];
    let entries = m.get_entries().iter().flat_map(|e| [e.index, e.term]);
    if counters
        .into_iter()
        .chain(entries)
        .any(|n| n >= MAX_COUNTER)
    {
        return Err("a term or index out of range");
    }
    if m.get_entries()
        .iter()
        .any(|e| e.get_entry_type() == EntryType::EntryConfChangeV2)
    {
        return Err("a joint configuration change (this group makes single-step ones)");
    }
    // raft-rs forwards proposals and leadership transfers without a term, and sends every
    // other message with one; a term-less append would pass for the current leader's.
    let forwarded = matches!(m.get_msg_type(), MsgPropose | MsgTransferLeader);
    if forwarded != (m.term == 0) {
        return Err("a term where raft-rs sends none, or none where it sends one");
    }
    match m.get_msg_type() {
        MsgPropose => check_proposal(m),
        MsgAppend => check_append(m),
        MsgHeartbeat if m.commit > log.last_index => Err("a heartbeat commits past the log"),
        MsgAppendResponse if !m.reject && m.index > log.last_index => {
            Err("an acknowledgement of entries this member does not hold")
        }
        MsgSnapshot => match m.snapshot.as_ref() {
            Some(s) => check_snapshot(s),
            None => Err("a snapshot message without a snapshot"),
        },
        _ => Ok(()),
    }
}

fn check_proposal(m: &Message) -> Result<(), &'static str> {
    if m.get_entries().is_empty() {
        return Err("an empty proposal");
    }
    let batches = m.get_entries().iter().all(|e| {
        e.get_entry_type() == EntryType::EntryNormal && from_bytes::<CommandBatch>(&e.data).is_ok()
    });
    if !batches {
        return Err("a forwarded proposal that is not a command batch");
    }
    Ok(())
}

fn check_append(m: &Message) -> Result<(), &'static str> {
    // raft-rs reads the term of an index past its log as 0: a claimed term of 0 there
    // would "match", and the commit that follows would pass the end of the log.
    if (m.index == 0) != (m.log_term == 0) {
        return Err("an append after an entry without a term");
    }
    let mut term = m.log_term.max(1);
    for (i, e) in m.get_entries().iter().enumerate() {
        if e.index != m.index + 1 + i as u64 {
            return Err("appended entries out of sequence");
        }
        if e.term < term || e.term > m.term {
            return Err("appended entries with terms out of order");
        }
        term = e.term;
    }
    Ok(())
}

fn check_snapshot(s: &Snapshot) -> Result<(), &'static str> {
    let meta = s.get_metadata();
    if meta.index >= MAX_COUNTER || meta.term >= MAX_COUNTER {
        return Err("a term or index out of range");
    }
    if meta.index == 0 || meta.term == 0 {
        // Term 0 would "match" any index past the log (see `check_append`).
        return Err("a snapshot without an index or a term");
    }
    let cs = meta.get_conf_state();
    if !cs.get_voters_outgoing().is_empty() || !cs.get_learners_next().is_empty() || cs.auto_leave {
        return Err("a snapshot with a joint configuration");
    }
    if cs.get_voters().is_empty() {
        return Err("a snapshot whose configuration has no voter");
    }
    let mut named = BTreeSet::new();
    if !cs
        .get_voters()
        .iter()
        .chain(cs.get_learners())
        .all(|id| *id != 0 && named.insert(*id))
    {
        return Err("a snapshot whose configuration names a member twice");
    }
    if MetaState::from_snapshot_data(&s.data).is_none() {
        return Err("a snapshot whose state does not decode");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
