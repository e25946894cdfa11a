//! The harness's parts, one module each (the binary is `src/main.rs`):
//! the topology ([`netns`]), roster and client processes ([`procs`]), the client
//! application ([`client`]), faults ([`faults`]), ground truth and checks ([`truth`]),
//! figures ([`report`]) and the orchestrator ([`run`]).

pub mod client;
pub mod faults;
pub mod netns;
pub mod procs;
pub mod report;
pub mod rng;
pub mod run;
pub mod truth;
