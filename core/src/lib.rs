//! roster's sans-IO core: the wire protocol and the state machines of every role.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a thread or draws OS
//! randomness (`core/clippy.toml` enforces it): time and randomness are parameters, and the
//! shells (`runtime-mio`, `runtime-glommio`) and the simulator (`sim`) drive it.
//!
//! - [`model`]: identities, versions, service keys and publishers.
//! - [`wire`]: the messages and their codec (see `docs/protocol.md`).

#[macro_use]
pub mod wire;
pub mod model;
