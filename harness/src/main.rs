//! `roster-harness`: runs a roster cluster as real processes, one network namespace per
//! host, injects faults drawn from a seed, and checks what real clients saw against the
//! ground truth (docs/harness.md).
//!
//! - `run`: the orchestrator (needs root: namespaces, nftables, tc);
//! - `client`: one client application, started by `run` inside a client namespace;
//! - `clean`: removes namespaces left by a crashed run.

use clap::{Parser, Subcommand};
use roster_harness::{client, netns, run};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "roster-harness",
    about = "Fault harness on real roster processes in network namespaces."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Builds the topology, runs the cluster under faults, checks and reports.
    Run(run::RunArgs),
    /// One client application (started by `run`; prints JSON event lines).
    Client(client::ClientArgs),
    /// Removes namespaces of earlier runs whose harness process is gone.
    Clean {
        /// Namespace name base.
        #[arg(long, default_value = "rh")]
        prefix: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Run(a) => match run::run(a) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!("roster-harness: violations found (see the report above)");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("roster-harness: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Client(a) => match client::run(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roster-harness client: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Clean { prefix } => {
            let n = netns::remove_stale(&prefix);
            println!("removed {n} namespaces");
            ExitCode::SUCCESS
        }
    }
}
