//! `roster admin`: the operator's commands over a process's admin HTTP API (`/v1/...`).
//!
//! This module owns what every command shares: the flags (`--admin`, `--token`, `--json`),
//! the HTTP client ([`Api`]), the errors, and the dispatch. Each command group is one file
//! here with one clap `Args` type implementing [`Command`] and one variant of [`AdminCmd`].

mod switch;

use clap::{Args, Subcommand};
use serde_json::Value;
use std::fmt;
use std::io::Write;
use std::time::Duration;
use ureq::http::{Method, Request};

/// What a command prints: the API's JSON (`--json`) or a readable view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable lines.
    Text,
    /// The API's JSON, one document per line.
    Json,
}

/// One `roster admin` command group.
pub trait Command {
    /// Runs the command against `api`, printing to `out` in `format`.
    fn run(&self, api: &Api, format: Format, out: &mut dyn Write) -> Result<(), ApiError>;
}

/// `roster admin` flags shared by every command.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin HTTP address (`host:port` or `http://host:port`).
    #[arg(long, value_name = "ADDR")]
    pub admin: String,
    /// Bearer token of the admin API, when it requires one.
    #[arg(long)]
    pub token: Option<String>,
    /// Print the API's raw JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCmd,
}

/// The `roster admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// The operator switches: `get`, or `set SWITCH [ARG] on|off`.
    Switch(switch::Switch),
}

impl AdminCmd {
    fn command(&self) -> &dyn Command {
        match self {
            AdminCmd::Switch(c) => c,
        }
    }
}

/// Why a `roster admin` command failed.
#[derive(Debug)]
pub enum ApiError {
    /// The flags were wrong.
    Config(String),
    /// The admin address did not answer.
    Unreachable(String),
    /// The API answered with an error status: its code and message.
    Status {
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer was not what the API sends.
    Decode(String),
    /// Writing the output failed.
    Output(std::io::Error),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Config(m) | ApiError::Decode(m) => f.write_str(m),
            ApiError::Unreachable(m) => write!(f, "no answer: {m}"),
            ApiError::Status {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
            ApiError::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// The admin API of one process.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    /// The API at `addr` (`host:port` or `http://host:port`).
    pub fn new(addr: &str, token: Option<&str>) -> Result<Api, ApiError> {
        let addr = addr.trim().trim_end_matches('/');
        if addr.is_empty() || addr.starts_with("https://") {
            return Err(ApiError::Config(format!(
                "--admin {addr:?}: expected host:port or http://host:port"
            )));
        }
        let base = match addr.starts_with("http://") {
            true => addr.to_string(),
            false => format!("http://{addr}"),
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Api {
            base,
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
            agent,
        })
    }

    /// `GET path` as JSON; an error status is an [`ApiError::Status`].
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.json(Method::GET, path, None)
    }

    /// `method path` with a JSON body, answered with JSON.
    pub fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json(method, path, Some(body))
    }

    fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(b.to_string()),
            None => req.body(String::new()),
        }
        .map_err(|e| ApiError::Config(format!("{url}: {e}")))?;
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| ApiError::Unreachable(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| ApiError::Decode(format!("{url}: {e}")))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| ApiError::Decode(format!("{url}: not JSON ({e})")))?;
        if !(200..300).contains(&status) {
            let field = |k: &str| value[k].as_str().unwrap_or_default().to_string();
            return Err(ApiError::Status {
                status,
                code: field("code"),
                message: field("message"),
            });
        }
        Ok(value)
    }
}

/// Writes one line.
fn line(out: &mut dyn Write, s: &str) -> Result<(), ApiError> {
    writeln!(out, "{s}").map_err(ApiError::Output)
}

/// Writes a JSON document on one line.
fn json(out: &mut dyn Write, v: &Value) -> Result<(), ApiError> {
    line(out, &v.to_string())
}

/// A JSON value as text: strings bare, null or empty as `-`, arrays joined.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "-".into(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(v) => v.to_string(),
    }
}

/// Runs `roster admin ...`, printing to stdout.
pub fn run(args: AdminArgs) -> Result<(), ApiError> {
    let api = Api::new(&args.admin, args.token.as_deref())?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Text
    };
    let mut out = std::io::stdout().lock();
    args.command.command().run(&api, format, &mut out)?;
    out.flush().map_err(ApiError::Output)
}
