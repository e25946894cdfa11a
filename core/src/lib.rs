//! roster's sans-IO core: the wire protocol and the state machines of every role.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a thread or draws OS
//! randomness (`core/clippy.toml` enforces it): time and randomness are parameters, and the
//! shells (`runtime-mio`, `runtime-glommio`) and the simulator (`sim`) drive it.
//!
//! - [`model`]: identities, versions, service keys and publishers.
//! - [`wire`]: the messages and their codec (see `docs/protocol.md`).
//! - [`io`]: the sans-IO surface every role implements ([`io::Node`]).
//! - [`group`]: many nodes of one role behind one driver (clients sharing an IO thread).
//! - [`config`]: the configuration error every role reports.
//! - [`liveness`]: per-connection keep-alives and idle timeouts.
//! - [`net`]: outbound connections' deadlines, the same for every role.
//! - [`time`], [`rng`]: time as a value, randomness from a seed.
//! - [`slot`]: slot hashing and the slot table.
//! - [`stats`]: the plain-value histogram the roles' metrics use.
//! - [`digest`]: publisher-set digests for reconciliation and resync.
//! - [`data`]: the data node.
//! - [`meta`]: membership, slot arrangement and the meta consensus group.
//! - [`session`], [`client`]: the session node and the client library's core.
//! - `testkit` (feature `test-kit`): in-memory scaffolding for tests, benches and examples.

#[macro_use]
pub mod wire;
pub mod client;
pub mod config;
pub mod data;
pub mod delta;
pub mod digest;
pub mod group;
pub mod io;
pub mod liveness;
pub mod meta;
pub mod model;
pub mod net;
pub mod rng;
pub mod session;
pub mod slot;
pub mod stats;
#[cfg(any(test, feature = "test-kit"))]
pub mod testkit;
pub mod time;
