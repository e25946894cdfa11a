//! The `roster` binary's library: configuration, role start-up and the dev cluster, shared
//! by the binary, its tests and its benchmark, and independent of the event loop's kind
//! apart from the calls into `roster_mio`.

pub mod cluster;
pub mod config;
pub mod roles;
