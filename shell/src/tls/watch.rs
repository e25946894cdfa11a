//! Reloading a node's certificates while it runs: [`Reloader`] is a thread that, about once
//! a second, looks at the TLS files' modification times and at a flag the process's SIGHUP
//! handler raises, and on either calls [`Tls::reload`]. Every shell, and the HTTP ports,
//! read the configuration per new handshake, so the new certificate serves the next
//! connection while those already up keep theirs.
//!
//! Polling rather than inotify: four files, a stat each per second, and no dependency or
//! platform code for it; a second's delay is nothing next to how rarely certificates
//! change.

use crate::tls::config::{Tls, TlsFiles};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// How often the files are looked at.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// A running reloader; dropping it stops its thread.
#[derive(Debug)]
pub struct Reloader {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    reloads: Arc<AtomicU64>,
}

/// What is known of one file: its modification time and length (`None`: unreadable).
/// A changed stamp is what makes a watcher read a file again (the access-rule file's too).
pub type Stamp = Option<(SystemTime, u64)>;

/// The stamp of the file at `path`.
pub fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    paths.iter().map(|p| stamp(p)).collect()
}

fn paths(files: &TlsFiles) -> Vec<PathBuf> {
    let mut paths = vec![files.ca.clone(), files.cert.clone(), files.key.clone()];
    paths.extend(files.client_ca.clone());
    paths
}

impl Reloader {
    /// Watches `tls`'s files (`None` for a TLS not made from files: nothing to watch), and
    /// reloads when one changes or when `hangup` is found raised (it is lowered then).
    pub fn start(tls: &Tls, hangup: Arc<AtomicBool>) -> std::io::Result<Option<Reloader>> {
        let Some(files) = tls.files() else {
            return Ok(None);
        };
        let paths = paths(files);
        let tls = tls.clone();
        let reloads = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let count = reloads.clone();
        let thread = std::thread::Builder::new()
            .name("tls-reload".into())
            .spawn(move || {
                let mut seen = stamps(&paths);
                loop {
                    match stopped.recv_timeout(RELOAD_POLL) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let now = stamps(&paths);
                    let hup = hangup.swap(false, Ordering::SeqCst);
                    if now == seen && !hup {
                        continue;
                    }
                    // Remembered even when the reload fails: a half-written pair (a new
                    // certificate, the old key) is tried again when the next file lands,
                    // and a bad file is reported once, not every second.
                    seen = now;
                    let why = if hup { "SIGHUP" } else { "a file changed" };
                    match tls.reload() {
                        Ok(_) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            info!(why, "tls reloaded: new handshakes use the new files");
                        }
                        Err(e) => {
                            warn!(why, error = %e, "tls reload failed: the files in force stay")
                        }
                    }
                }
            })?;
        Ok(Some(Reloader {
            stop: Some(stop),
            thread: Some(thread),
            reloads,
        }))
    }

    /// How many reloads succeeded so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::SeqCst)
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
