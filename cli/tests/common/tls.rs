//! TLS for the multi-process tests: the one certificate generator (rcgen) the tests share,
//! and the test matrix's switch. With `ROSTER_TEST_TLS=1` every `roster` cluster the
//! helpers start runs with TLS (`dev --tls`; a `[tls]` table for separate meta, data and
//! session processes; the in-process dev cluster's node settings) and every client they make
//! trusts the cluster's CA, so the same tests run over plain TCP and over TLS.
//!
//! Separate processes share one CA and one loopback certificate, made once per test binary.
//! A `roster dev --tls` makes its own CA and prints it (`tls ca PATH`); the output pump
//! records it against the session addresses the dev prints, so a client of those addresses
//! trusts that CA.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
use roster_client::{Client, ClientBuilder, ClientOptions, ClientTls};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The switch: `ROSTER_TEST_TLS=1` runs the multi-process tests over TLS.
pub const SWITCH: &str = "ROSTER_TEST_TLS";

/// Whether this run is the TLS pass of the matrix.
pub fn on() -> bool {
    std::env::var(SWITCH).is_ok_and(|v| v == "1")
}

/// For a test that cannot run over TLS: under the switch, prints why and returns true
/// (the test then returns); otherwise false.
pub fn skipped(reason: &str) -> bool {
    if on() {
        // Straight to stderr: the test harness captures `eprintln!` of a passing test.
        let line = format!("skipped under {SWITCH}=1: {reason}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    on()
}

/// A CA whose certificate is `dir/NAME.pem`.
pub struct Ca {
    /// The CA's certificate: what nodes and clients trust.
    pub pem: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA, its certificate written to `dir/NAME.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A loopback certificate (127.0.0.1, ::1 and localhost) `dir/NAME.pem` and key
    /// `dir/NAME.key`; expired a year ago if `expired`.
    pub fn issue(&self, dir: &Path, name: &str, expired: bool) -> (PathBuf, PathBuf) {
        let names = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
        let mut params = CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// The `[tls]` table of a node trusting `ca` and presenting `cert` with `key`.
pub fn table(ca: &Path, (cert, key): &(PathBuf, PathBuf)) -> String {
    format!(
        "[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        ca.display().to_string(),
        cert.display().to_string(),
        key.display().to_string()
    )
}

/// A node file `dir/NAME.toml` holding only a `[tls]` table: it trusts `ca` and presents
/// `cert`.
pub fn node_file(dir: &Path, name: &str, ca: &Path, cert: &(PathBuf, PathBuf)) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, table(ca, cert)).unwrap();
    path
}

/// The matrix's certificates: one CA and one node certificate, shared by every separately
/// started process of this test binary.
pub struct Shared {
    /// Where the files are.
    pub dir: PathBuf,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The loopback node certificate and its key.
    pub node: (PathBuf, PathBuf),
    /// A node file with only the `[tls]` table.
    pub file: PathBuf,
}

/// The shared certificates, made on first use (under the target directory's temporary
/// directory, one directory per test binary run).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("test-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new(&dir, "ca");
        let node = ca.issue(&dir, "node", false);
        let file = node_file(&dir, "node", &ca.pem, &node);
        Shared {
            ca: ca.pem,
            node,
            file,
            dir,
        }
    })
}

/// Session client addresses of `roster dev --tls` processes, and the CA each trusts.
fn dev_cas() -> &'static Mutex<BTreeMap<String, PathBuf>> {
    static CAS: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    CAS.get_or_init(Default::default)
}

/// Output of a `roster dev` read so far: its CA (`tls ca PATH`), and the addresses it
/// serves under it: its sessions (`sessions A,B`) and its HTTPS ports (`admin URL`, `http
/// URL`, `console URL`), recorded as the lines come (forgotten when the process is dropped).
#[derive(Debug, Default)]
pub struct DevWatch {
    ca: Option<PathBuf>,
    /// Addresses printed before the CA line.
    pending: Vec<String>,
    /// The addresses recorded under the dev's CA.
    pub recorded: Vec<String>,
}

impl DevWatch {
    /// Reads one stdout line (before the test can see it).
    pub fn line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("tls ca ") {
            self.ca = rest.split_whitespace().next().map(PathBuf::from);
            let pending = std::mem::take(&mut self.pending);
            pending.into_iter().for_each(|a| self.record(a));
            return;
        }
        let served: Vec<String> = if let Some(rest) = line.strip_prefix("sessions ") {
            rest.split(',').map(str::trim).map(String::from).collect()
        } else {
            let url = ["admin ", "http ", "console "]
                .iter()
                .find_map(|p| line.strip_prefix(p))
                .filter(|u| u.starts_with("https://"));
            url.map(|u| vec![addr_of(u).to_string()])
                .unwrap_or_default()
        };
        for a in served.into_iter().filter(|a| !a.is_empty()) {
            match self.ca {
                Some(_) => self.record(a),
                None => self.pending.push(a),
            }
        }
    }

    fn record(&mut self, addr: String) {
        if let Some(ca) = &self.ca {
            dev_cas().lock().unwrap().insert(addr.clone(), ca.clone());
            self.recorded.push(addr);
        }
    }

    /// Forgets the recorded addresses (their ports may be reused by other processes).
    pub fn forget(&self) {
        let mut cas = dev_cas().lock().unwrap();
        for a in &self.recorded {
            cas.remove(a);
        }
    }
}

/// The `host:port` of a URL (`https://127.0.0.1:4000/ui/` → `127.0.0.1:4000`).
pub fn addr_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// An HTTP client for `url` (any URL of the server it will talk to): for an `https://`
/// one, trusting the CA that server's process was given (its dev's, else the shared one).
/// Statuses of 400 and up come back as errors when `status_as_error`.
pub fn http_agent(url: &str, status_as_error: bool) -> ureq::Agent {
    let ca = url.starts_with("https://").then(|| ca_for(addr_of(url)));
    agent_trusting(ca.as_deref(), status_as_error)
}

/// An HTTP client trusting only the CA in the PEM file `ca` for HTTPS (`None`: plain HTTP
/// only). Statuses of 400 and up come back as errors when `status_as_error`.
pub fn agent_trusting(ca: Option<&Path>, status_as_error: bool) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(status_as_error)
        .proxy(None);
    if let Some(ca) = ca {
        let roots: Vec<ureq::tls::Certificate<'static>> = roster_shell::tls::load_certs("ca", ca)
            .unwrap()
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build();
        config = config.tls_config(tls);
    }
    config.build().into()
}

/// The CA a client of `addr` trusts: its dev cluster's, else the shared one.
pub fn ca_for(addr: &str) -> PathBuf {
    let recorded = dev_cas().lock().unwrap().get(addr.trim()).cloned();
    recorded.unwrap_or_else(|| shared().ca.clone())
}

/// The client TLS trusting `ca`: one per CA, cloned for each client, as the client library
/// asks (clones share their IO threads).
fn trusting(ca: PathBuf) -> ClientTls {
    static MADE: OnceLock<Mutex<BTreeMap<PathBuf, ClientTls>>> = OnceLock::new();
    let mut made = MADE.get_or_init(Default::default).lock().unwrap();
    made.entry(ca)
        .or_insert_with_key(|ca| ClientTls::from_ca_file(ca).unwrap())
        .clone()
}

/// Client options for `sessions`, trusting their CA under the switch.
pub fn options<S: Into<String>>(sessions: impl IntoIterator<Item = S>) -> ClientOptions {
    let mut options = ClientOptions::new(sessions);
    if on() {
        let first = options.sessions.first().cloned().unwrap_or_default();
        options.tls = Some(trusting(ca_for(&first)));
    }
    options
}

/// `Client::builder()` for `sessions`, trusting their CA under the switch.
pub fn builder<S: Into<String>>(sessions: impl IntoIterator<Item = S>) -> ClientBuilder {
    let options = options(sessions);
    let b = Client::builder().sessions(options.sessions);
    match options.tls {
        Some(tls) => b.tls(tls),
        None => b,
    }
}

/// `Client::connect(sessions)`, over TLS under the switch.
pub fn client<S: Into<String>>(
    sessions: impl IntoIterator<Item = S>,
) -> Result<Client, roster_client::Error> {
    Client::with_options(options(sessions))
}

/// The node TLS of an in-process dev cluster: the shared certificates under the switch,
/// plain otherwise.
pub fn node_tls() -> roster_shell::tls::Tls {
    if !on() {
        return roster_shell::tls::Tls::default();
    }
    let s = shared();
    let files = roster_shell::tls::TlsFiles {
        ca: s.ca.clone(),
        cert: s.node.0.clone(),
        key: s.node.1.clone(),
        client_ca: Some(s.ca.clone()),
    };
    roster_shell::tls::Tls::node(&files).unwrap()
}

/// Under the switch, `cmd` if it runs `roster` turned into the same command with TLS:
/// `dev` gets `--tls`; `meta`, `data` and `session` get the shared `[tls]` table (added to
/// their node file, if they name one without a `[tls]` table); `publish` and `subscribe`
/// trust their session's CA; `admin` trusts the CA of the HTTPS admin it is given. Any
/// other command is returned as it is.
pub fn with_tls(cmd: Command) -> Command {
    if !on() || cmd.get_program() != env!("CARGO_BIN_EXE_roster") {
        return cmd;
    }
    let mut args: Vec<OsString> = cmd.get_args().map(OsString::from).collect();
    let Some(role) = args.first().and_then(|a| a.to_str()).map(String::from) else {
        return cmd;
    };
    let extra: Vec<OsString> = match role.as_str() {
        "dev" if !args.iter().any(|a| a == "--tls") => vec!["--tls".into()],
        "meta" | "data" | "session" => match args.iter().position(|a| a == "--config") {
            None => vec!["--config".into(), shared().file.clone().into()],
            Some(i) => {
                let given = PathBuf::from(&args[i + 1]);
                args[i + 1] = with_table(&given).into();
                Vec::new()
            }
        },
        "admin" if !args.iter().any(|a| a == "--tls-ca") => {
            // The addresses of --admin, else of ROSTER_ADMIN; the CA of the first HTTPS one.
            let flag = args
                .iter()
                .position(|a| a == "--admin")
                .map(|i| &args[i + 1]);
            let env = cmd
                .get_envs()
                .find(|(k, _)| *k == "ROSTER_ADMIN")
                .and_then(|(_, v)| v);
            let addrs = flag.map(OsString::as_os_str).or(env);
            let https = addrs
                .and_then(|a| a.to_str())
                .and_then(|a| a.split(',').find(|u| u.starts_with("https://")));
            match https {
                Some(url) => vec!["--tls-ca".into(), ca_for(addr_of(url)).into()],
                None => Vec::new(),
            }
        }
        "publish" | "subscribe" if !args.iter().any(|a| a == "--tls-ca") => {
            let session = args
                .iter()
                .position(|a| a == "--session")
                .and_then(|i| args.get(i + 1))
                .and_then(|s| s.to_str())
                .and_then(|s| s.split(',').next())
                .unwrap_or_default()
                .to_string();
            vec!["--tls-ca".into(), ca_for(&session).into()]
        }
        _ => Vec::new(),
    };
    args.splice(1..1, extra);
    let mut out = Command::new(cmd.get_program());
    out.args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out
}

/// A copy of the node file `given` with the shared `[tls]` table appended (`given` itself
/// if it has a `[tls]` table, or cannot be read: the node then reports it as it would).
fn with_table(given: &Path) -> PathBuf {
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let Ok(text) = std::fs::read_to_string(given) else {
        return given.to_path_buf();
    };
    if text.contains("[tls]") {
        return given.to_path_buf();
    }
    let s = shared();
    let n = COPIES.fetch_add(1, Ordering::Relaxed);
    let copy = s.dir.join(format!("node-file-{n}.toml"));
    let text = format!("{text}\n{}", table(&s.ca, &s.node));
    std::fs::write(&copy, text).unwrap();
    copy
}
