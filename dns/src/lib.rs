//! The DNS interface of a roster session (`roster session --dns-listen ADDR`): any
//! resolver looks services up as `<data_id>.service.roster.` and gets SRV, A and AAAA
//! records of the publishers whose payload is an address (docs/dns.md).
//!
//! - [`name`]: the names served and what each one asks for.
//! - [`instances`]: which publishers are instances, with their SRV weight and priority.
//! - [`answer`]: from a query's bytes to an answer's, within a size limit (pure).
//! - [`directory`]: the subscriptions that keep every asked-for list current.
//! - [`kept`]: a list, and the answers already encoded from it.
//! - [`server`]: UDP and TCP on one address, on a thread of its own.
//! - [`fuzzing`]: the check the `dns` fuzz target runs.
//!
//! Messages are parsed and built by `hickory-proto`: no DNS encoding here.

pub mod answer;
pub mod directory;
pub mod fuzzing;
pub mod instances;
pub mod kept;
pub mod name;
pub mod server;

pub use crate::directory::Limits;
pub use crate::instances::{DEFAULT_PRIORITY, DEFAULT_WEIGHT, Instance};
pub use crate::server::{DnsConfig, DnsServer};
