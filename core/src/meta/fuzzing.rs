//! A three-member consensus group in memory, and the check behind the `meta_raft` fuzz
//! target: whatever Raft messages an authenticated peer sends, no member panics. It lives
//! here, not in `fuzz/`, so that the stable test suite replays the committed corpus
//! through exactly the code the fuzzer runs, and the guard's tests share the group.

use super::consensus::{Consensus, Effect, StepError};
use super::state::{Command, CommandBatch, from_bytes, to_bytes};
use super::{MetaConfig, MetaPeer, MetaStorage};
use crate::model::{Incarnation, NodeId, ProcessId, Role, Text};
use crate::rng::Rng;
use crate::wire::Member;
use protobuf::Message as _;
use raft::eraftpb::Message;

/// Members 1, 2 and 3, ticked together, their messages delivered in send order.
#[derive(Debug)]
pub struct RaftGroup {
    members: Vec<Consensus>,
    wire: Vec<Message>,
    sent: Vec<Message>,
}

impl Default for RaftGroup {
    fn default() -> Self {
        RaftGroup::new()
    }
}

impl RaftGroup {
    /// A new group; nothing has happened yet.
    pub fn new() -> RaftGroup {
        let peers: Vec<MetaPeer> = (1..=3)
            .map(|id| MetaPeer {
                id,
                address: Text::from(format!("m{id}:1")),
            })
            .collect();
        let members = (1..=3)
            .map(|id| {
                let config = MetaConfig::new(id, Incarnation(1), peers.clone());
                let mut rng = Rng::seed_from_u64(id);
                let storage = MetaStorage::new(vec![1, 2, 3]);
                Consensus::new(&config, &mut rng, storage).expect("a valid configuration")
            })
            .collect();
        RaftGroup {
            members,
            wire: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Every message the members sent so far.
    pub fn sent(&self) -> &[Message] {
        &self.sent
    }

    /// Hands `m` to member `to` (1..=3) as if it came from a peer.
    pub fn step(&mut self, to: u64, m: Message) -> Result<(), StepError> {
        let r = match self.members.get_mut((to as usize).wrapping_sub(1)) {
            Some(c) => c.step(m),
            None => Ok(()),
        };
        self.collect();
        r
    }

    fn collect(&mut self) {
        for c in &mut self.members {
            while let Some(e) = c.poll_effect() {
                if let Effect::Send(m) = e {
                    self.sent.push(m.clone());
                    self.wire.push(m);
                }
            }
        }
    }

    /// Ticks every member and delivers what is in flight, `rounds` times.
    pub fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            for c in &mut self.members {
                c.tick();
            }
            self.collect();
            for m in std::mem::take(&mut self.wire) {
                let to = m.to;
                let _ = self.step(to, m);
            }
        }
    }

    /// The member (index) that leads, if any.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|c| c.is_leader())
    }

    /// Whether a proposal through the leader reaches every member's applied state.
    pub fn commits(&mut self, node: u64) -> bool {
        self.run(100);
        let Some(l) = self.leader() else {
            return false;
        };
        let b =
            from_bytes::<CommandBatch>(&bytes::Bytes::from(batch(node))).expect("a batch decodes");
        self.members[l].propose(&b);
        self.run(30);
        self.members
            .iter()
            .all(|c| c.state().members.get(NodeId(node)).is_some())
    }
}

/// An encoded command batch adding data node `node`.
pub fn batch(node: u64) -> Vec<u8> {
    let member = Member {
        process: ProcessId {
            node: NodeId(node),
            incarnation: Incarnation(1),
        },
        role: Role::Data,
        address: Text::from(format!("d{node}:1")),
    };
    let b = CommandBatch {
        commands: vec![Command::MemberUp { member }],
    };
    to_bytes(&b).to_vec()
}

/// Arbitrary bytes as Raft messages from member 3 to members 1 and 2 of a group that has
/// elected a leader and committed an entry: each record is a destination byte, a
/// two-byte length and that many bytes of protobuf. No member may panic, and the members
/// go on running afterwards.
pub fn check_raft_messages(data: &[u8]) {
    let mut g = RaftGroup::new();
    assert!(g.commits(100), "the group works before the forgery");
    let mut rest = data;
    while let [to, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let Ok(mut m) = Message::parse_from_bytes(bytes) else {
            continue;
        };
        // The meta node drops a message whose sender is not the peer that said hello.
        m.from = 3;
        m.to = 1 + u64::from(*to % 2);
        let _ = g.step(m.to, m);
        g.run(1);
    }
    g.run(50);
}
