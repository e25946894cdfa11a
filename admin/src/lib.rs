//! The admin HTTP server every roster process runs (`--admin-listen`; `roster dev` prints
//! `admin http://ADDR`, `admin https://ADDR` when the node has TLS): how an operator, a script or the console asks the process's nodes
//! what they know. It lives beside the shells, not in either: the nodes are asked through
//! [`roster_shell::Inspector`]s, which run a closure inside a node's own event loop, and
//! the core answers with plain values that this crate turns into JSON.
//!
//! - [`process`]: the nodes this process runs, each with its inspector.
//! - [`server`]: the HTTP server, its router and bearer-token check.
//! - [`server_thread`]: a server on a thread of its own (this one, the gateway, DNS).
//! - [`https`]: HTTPS on this server's and the gateway's ports, when the node has TLS.
//! - [`error`]: every error as JSON with a code and a message.
//! - `health`: `GET /healthz`, `GET /readyz`.
//! - `cluster`: `GET /v1/cluster`: members, meta leader and term, the slot table.
//! - `keys`: `GET /v1/keys/{data_id}`, `GET /v1/sessions/{id}/clients`.
//! - [`switches`]: `GET`/`PUT /v1/switches`, the operator switches.
//! - `json`: the core's values as JSON, one shape each.
//! - `members`: the meta group's members; adding, removing and replacing meta voters.
//! - `console`: the web console, one page embedded in the binary, at `/ui/`.
//! - [`metrics`]: `GET /metrics`, every node's stats in the Prometheus text format.
//! - `drain`: draining sessions and decommissioning data nodes, `GET /v1/ops`.
//!
//! A module that adds endpoints exports `routes() -> Router<Shared>`, merged in
//! [`server::router`].

pub mod error;
pub mod https;
pub mod process;
pub mod server;
pub mod server_thread;

mod cluster;
mod console;
mod drain;
mod health;
pub mod json;
mod keys;
mod members;
pub mod metrics;
pub mod switches;

pub use error::ApiError;
pub use https::TlsListener;
pub use process::{Probe, Process};
pub use server::{AdminConfig, AdminServer, Shared};
pub use server_thread::ServerThread;
