//! The `roster` binary's library: configuration, choosing a runtime and the dev cluster,
//! shared by the binary, its tests and its benchmark. Nodes are made by `roster_shell::nodes`
//! and started by each runtime's `roles`; `roles` here says why a start failed; `runtime`
//! holds a started node of either runtime; `alloc` is the process allocator the binary and
//! the benchmark share, with the settings a server needs; `admin_server` starts a process's
//! admin HTTP server; `admin` is `roster admin`, the operator's commands over that server's
//! API; `tls` loads a node's `[tls]` table and makes `roster dev --tls`'s certificates;
//! `acl` reads a session's access-rule file and reloads it on change; `fuzzing` holds the
//! checks the `config` and `acl` fuzz targets run.

pub mod acl;
pub mod admin;
pub mod admin_server;
pub mod alloc;
pub mod cluster;
pub mod config;
pub mod fuzzing;
pub mod http_gateway;
pub mod roles;
pub mod runtime;
pub mod tls;
