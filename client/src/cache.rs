//! The on-disk cache of the newest list of every subscribed key (Nacos's failover cache):
//! what lets an application start, and find its services, while no session is reachable.
//!
//! One file per key in the cache directory, named by the key with every byte outside
//! `[A-Za-z0-9._-]` escaped as `%XX` (a long key: a prefix and a hash of the whole key).
//! The file holds a small versioned format: the magic `RSTRLIST`, the format version (u32,
//! big-endian, 1), the CRC-32C of the rest (u32, big-endian), then the list as the
//! protocol's own `Push` frame (docs/protocol.md), so no second encoding of a publisher
//! list exists. A file is written whole to a temporary name in the same directory, synced,
//! then renamed over the old one: a reader sees the old list or the new, never a part.
//! A file that is unreadable, of another format or version, fails its checksum, or holds
//! another key is ignored with a warning.
//!
//! Writes happen on a thread of the client's own ([`Writer`]), never on the shared IO
//! thread, and coalesce: a key that changed several times while a write was under way is
//! written once more, at its newest list.

use crate::Update;
use roster_core::model::{DataInfoId, DatumVersion};
use roster_core::wire::{Frame, Message, PublisherList, Push};
use rustc_hash::FxHashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tracing::warn;

const MAGIC: &[u8; 8] = b"RSTRLIST";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
/// Escaped names longer than this are shortened (most file systems allow 255 bytes).
const MAX_NAME: usize = 180;

/// A cache directory.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
}

/// A list read back from the cache.
pub(crate) struct Cached {
    pub(crate) version: DatumVersion,
    pub(crate) publishers: PublisherList,
}

impl Cache {
    /// The cache in `dir`, created if missing.
    pub(crate) fn open(dir: PathBuf) -> io::Result<Cache> {
        fs::create_dir_all(&dir)?;
        if !fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::other("not a directory"));
        }
        Ok(Cache { dir })
    }

    /// The file of `key`.
    pub(crate) fn path(&self, key: &DataInfoId) -> PathBuf {
        self.dir.join(file_name(&key.to_string()))
    }

    /// The cached list of `key`, if a valid one is there (a bad file is ignored, warned of).
    pub(crate) fn load(&self, key: &DataInfoId) -> Option<Cached> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cache file unreadable; ignored");
                return None;
            }
        };
        match decode(&bytes, key) {
            Ok(c) => Some(c),
            Err(why) => {
                warn!(path = %path.display(), why, "cache file ignored");
                None
            }
        }
    }

    /// Writes `update` as its key's file, atomically (temporary file, sync, rename).
    pub(crate) fn store(&self, update: &Update) -> io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        let bytes = encode(update)?;
        let path = self.path(update.data_info_id());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let temp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            name.unwrap_or_default(),
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_synced(&temp, &bytes).and_then(|()| fs::rename(&temp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create_new(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The file name of a key (module docs).
fn file_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > MAX_NAME {
        // A collision of shortened names is caught on reading: the file names its key.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        name.truncate(MAX_NAME - 17);
        name = format!("{name}-{hash:016x}");
    }
    // Names starting with `.` are the temporary files'.
    if name.starts_with('.') {
        name.replace_range(..1, "%2E");
    }
    name.push_str(".list");
    name
}

/// The file's bytes for `update`.
fn encode(update: &Update) -> io::Result<Vec<u8>> {
    let push = Push {
        data_info_id: update.data_info_id().clone(),
        version: update.version(),
        publishers: update.publishers().clone(),
    };
    let frame = Frame::new(0, push).to_bytes().map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(HEADER_LEN + frame.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&frame).to_be_bytes());
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The list in a file's bytes, if they are a valid cache file of `key`.
fn decode(bytes: &[u8], key: &DataInfoId) -> Result<Cached, String> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a roster cache file".into());
    }
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = word(8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "cache format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let body = &bytes[HEADER_LEN..];
    if crc32c::crc32c(body) != word(12) {
        return Err("checksum mismatch (a torn or damaged file)".into());
    }
    let frame = Frame::decode(bytes::Bytes::copy_from_slice(body)).map_err(|e| e.to_string())?;
    let Message::Push(push) = frame.message else {
        return Err("holds no list".into());
    };
    if push.data_info_id != *key {
        return Err(format!("holds another key ({})", push.data_info_id));
    }
    Ok(Cached {
        version: push.version,
        publishers: push.publishers,
    })
}

/// The lists waiting to be written, newest per key.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pending: Mutex<(FxHashMap<DataInfoId, Update>, bool)>,
    changed: Condvar,
}

impl Queue {
    /// Schedules `update` to be written (replacing an older list of its key not yet
    /// written). Cheap: called on the IO thread.
    pub(crate) fn put(&self, update: Update) {
        let mut p = crate::lock(&self.pending);
        p.0.insert(update.data_info_id().clone(), update);
        self.changed.notify_one();
    }
}

/// The client's cache writer thread; dropping it writes what is pending, then ends it.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer of `cache`.
    pub(crate) fn spawn(cache: Arc<Cache>) -> io::Result<Writer> {
        let queue = Arc::new(Queue::default());
        let q = queue.clone();
        let thread = std::thread::Builder::new()
            .name("roster-client-cache".into())
            .spawn(move || write_loop(&cache, &q))?;
        Ok(Writer {
            queue,
            thread: Some(thread),
        })
    }

    /// Where the IO thread puts lists.
    pub(crate) fn queue(&self) -> Arc<Queue> {
        self.queue.clone()
    }
}

fn write_loop(cache: &Cache, queue: &Queue) {
    loop {
        let batch = {
            let mut p = crate::lock(&queue.pending);
            while p.0.is_empty() && !p.1 {
                p = queue.changed.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            if p.0.is_empty() {
                return; // closed, and everything written
            }
            std::mem::take(&mut p.0)
        };
        for update in batch.values() {
            if let Err(e) = cache.store(update) {
                let path = cache.path(update.data_info_id());
                warn!(path = %path.display(), error = %e, "cache file not written");
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        crate::lock(&self.queue.pending).1 = true;
        self.queue.changed.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
