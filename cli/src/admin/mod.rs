//! `roster admin`: the operator's commands over a process's admin HTTP API (`/v1/...`).
//!
//! This module owns what every command shares: the flags (`--admin`, `--token`, `--json`),
//! the HTTP client with its fail-over across the listed admin addresses ([`Api`]), the
//! errors, and the dispatch. Each command group is one file here with one clap `Args`
//! type implementing [`Command`]; adding a group is that file plus one line in
//! `commands!` below.

mod api;
mod key;
mod meta;
mod ops;
mod render;
mod slots;
mod status;
mod switch;

pub use api::{Answer, Api, ApiError, segment};

use clap::{Args, Subcommand};

/// What a command prints to: the raw JSON of the API (`--json`) or a readable view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable tables.
    Text,
    /// The API's JSON, one document per line.
    Json,
}

/// One `roster admin` command group.
pub trait Command {
    /// Runs the command against `api`, printing to `out` in `format`.
    fn run(&self, api: &Api, format: Format, out: &mut dyn std::io::Write) -> Result<(), ApiError>;
}

/// `roster admin` flags shared by every command.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin HTTP addresses (`host:port`, `http://host:port` or `https://host:port`),
    /// comma-separated; each is tried in turn until one answers.
    #[arg(long, env = "ROSTER_ADMIN", value_name = "ADDRS")]
    pub admin: String,
    /// Bearer token of the admin API, when it requires one.
    #[arg(long, env = "ROSTER_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The cluster CA (PEM) to verify an HTTPS admin port against (a node with `[tls]`
    /// serves its admin port over HTTPS); bare addresses are then `https://`.
    #[arg(long, env = "ROSTER_ADMIN_TLS_CA", value_name = "PATH")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Print the API's raw JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCmd,
}

/// Declares the command groups: each `Variant(Type)` becomes a subcommand (named after the
/// variant, in kebab case) whose doc comment is its help, dispatched to `Type::run`.
macro_rules! commands {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// The `roster admin` commands.
        #[derive(Debug, Subcommand)]
        pub enum AdminCmd {
            $($(#[$doc])* $variant($ty),)*
        }

        impl AdminCmd {
            fn command(&self) -> &dyn Command {
                match self {
                    $(AdminCmd::$variant(c) => c,)*
                }
            }
        }
    };
}

commands! {
    /// The cluster at a glance: nodes, their health, the meta leader, the table epoch.
    Status(status::Status),
    /// The slot table: per slot its leader, leader epoch, followers and status.
    Slots(slots::Slots),
    /// Who publishes and who subscribes to one service key.
    Key(key::Key),
    /// The operator switches: `get`, or `set SWITCH [ARG] on|off`.
    Switch(switch::Switch),
    /// Drains a session: its clients move to other sessions (`--undo` takes it back).
    Drain(ops::Drain),
    /// Decommissions a data node: its slots move off before it may stop (`--undo`).
    Decommission(ops::Decommission),
    /// Drains and decommissions under way, and how far each has come.
    Ops(ops::Ops),
    /// The meta group's voters: list, add, remove, replace.
    Meta(meta::Meta),
}

/// Runs `roster admin ...`, printing to stdout.
pub fn run(args: AdminArgs) -> Result<(), ApiError> {
    let api = Api::new(&args.admin, args.token.as_deref(), args.tls_ca.as_deref())?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Text
    };
    let mut out = std::io::stdout().lock();
    let done = args
        .command
        .command()
        .run(&api, format, &mut out)
        .and_then(|()| std::io::Write::flush(&mut out).map_err(ApiError::Output));
    match done {
        // A reader that stopped early (`| head`) is not a failure of the command.
        Err(ApiError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done,
    }
}
