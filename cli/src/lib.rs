//! The `roster` binary's library: configuration, role start-up and the dev cluster, shared
//! by the binary, its tests and its benchmark. Nodes are made the same way whichever
//! runtime runs them (`roles`); `runtime` starts data and session nodes on glommio and
//! holds a started node of either runtime; `alloc` is the process allocator the binary and
//! the benchmark share, with the settings a server needs.

pub mod alloc;
pub mod cluster;
pub mod config;
pub mod roles;
pub mod runtime;
