//! Meta: who is in the cluster, the slot table and the operator switches (docs/design.md §4.1, §4.2, §4.7, §4.10).
//!
//! - [`arrange`]: the next slot table as a pure function (§4.2).
//! - [`SlotReports`]: data nodes' slot statuses and the stability check balancing waits for.
//! - [`StartWindow`]: when a new cluster's table is placed (§4.2).
//! - [`Members`], [`Leases`]: membership and leases (§4.7).
//! - [`Protection`]: protection mode, the limit on expulsions per lease period (§4.7).
//! - [`MetaState`], [`Command`]: the replicated state machine and its commands.
//! - [`Ops`], [`OpsRequest`]: drained sessions and decommissioned data nodes, as operators
//!   ask for them ([`MetaNode::request`]).
//! - [`Persist`], [`PersistedLog`]: the records the driver persists and what they amount to.
//! - [`LogWriter`]: the meta log file's format, recovery and compaction, as pure decisions.
//! - [`MetaStorage`]: raft-rs storage over the persisted log.
//! - [`Consensus`]: raft-rs's `RawNode` driven sans-IO (§4.10), behind `raft_guard`, which
//!   refuses Raft messages no correct member sends before raft-rs (which would panic) sees them.
//! - [`VoterChange`]: adding, removing and replacing meta voters at run time.
//! - [`MetaNode`]: all of it as an `io::Node`.
//! - [`fuzzing`]: a consensus group in memory, and the check the `meta_raft` fuzz target runs.
//! - [`MetaConfig`]: validated configuration.

mod arrange;
mod config;
mod consensus;
mod drain;
pub mod fuzzing;
mod log_file;
mod membership;
mod node;
mod persisted;
mod protection;
mod raft_guard;
mod reports;
mod start;
mod state;
mod storage;
mod voters;

pub use arrange::{ArrangeConfig, arrange, arrange_leaving, is_cold};
pub use config::{MetaConfig, MetaPeer};
pub use consensus::{Consensus, Effect, StepError};
pub use drain::{Decommission, Ops, OpsRefusal, OpsReport, OpsRequest, holdings};
pub use log_file::{FileWrite, LogWriter, Recovered, apply_write};
pub use membership::{Leases, Members, RETIRED_MAX};
pub use node::{Installed, MetaCommand, MetaError, MetaEvent, MetaNode, MetaStats, SwitchOutcome};
pub use persisted::{Persist, PersistError, PersistedLog};
pub use protection::Protection;
/// raft-rs's consensus messages, which persist records carry.
pub use raft::eraftpb;
pub use reports::SlotReports;
pub use start::StartWindow;
pub use state::{Command, CommandBatch, MetaState, PeerAddress, StateImage};
pub use storage::MetaStorage;
pub use voters::{MetaMember, VoterChange, VoterChangeError, VoterOutcome, VoterRole};
