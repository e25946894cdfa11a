//! The meta persist file: `MetaEvent::Persist` records made durable before the node performs
//! any later output, read back at start for `MetaNode::restore`.
//!
//! File `meta.log` in the data directory. Its format, recovery and compaction are decided by
//! the core (`roster_core::meta::LogWriter`); this file only performs the writes: appends
//! (fsynced by [`PersistFile::sync`] before the node's next output), cuts, and whole-file
//! replacements written aside, fsynced and renamed over the log, then the directory fsynced,
//! so a crash leaves either the old file or the new one.

use crate::hooks::Hooks;
use roster_core::meta::{FileWrite, LogWriter, MetaEvent, MetaNode, Persist};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

const FILE: &str = "meta.log";

/// The open persist file of one meta node.
#[derive(Debug)]
pub struct PersistFile {
    dir: PathBuf,
    file: File,
    writer: LogWriter,
    pending: bool,
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

impl PersistFile {
    /// Opens (creating) `dir/meta.log` and returns it with the records it holds, in order.
    pub fn open(dir: &Path) -> io::Result<(PersistFile, Vec<Persist>)> {
        fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("data directory {}: {e}", dir.display()))
        })?;
        let path = dir.join(FILE);
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        let recovered = LogWriter::recover(&bytes).map_err(|e| invalid(&path, e))?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut f = PersistFile {
            dir: dir.to_path_buf(),
            file,
            writer: recovered.writer,
            pending: false,
        };
        if let Some(repair) = recovered.repair {
            match &repair {
                FileWrite::Truncate(len) => {
                    warn!(path = %path.display(), offset = len, "cutting off a torn last record")
                }
                FileWrite::Replace(_) if !bytes.is_empty() => {
                    info!(path = %path.display(), "rewriting the meta log in the current format")
                }
                _ => {}
            }
            f.write(repair)?;
            f.sync()?;
        }
        Ok((f, recovered.records))
    }

    /// Makes `record` durable after [`PersistFile::sync`] (a compaction is durable at once).
    pub fn append(&mut self, record: &Persist) -> io::Result<()> {
        let path = self.dir.join(FILE);
        let write = self.writer.append(record).map_err(|e| invalid(&path, e))?;
        self.write(write)
    }

    fn write(&mut self, write: FileWrite) -> io::Result<()> {
        match write {
            FileWrite::Append(bytes) => {
                self.file.write_all(&bytes)?;
                self.pending = true;
            }
            FileWrite::Truncate(len) => {
                self.file.set_len(len)?;
                self.pending = true;
            }
            FileWrite::Replace(bytes) => {
                self.replace(&bytes)?;
                let log = self.writer.log();
                info!(
                    snapshot = log.snapshot().get_metadata().index,
                    entries_kept = log.entries().len(),
                    bytes = bytes.len(),
                    "meta log compacted"
                );
            }
        }
        Ok(())
    }

    /// Replaces the file: written aside, synced, renamed over it, the directory synced.
    fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(FILE))?;
        File::open(&self.dir)?.sync_all()?;
        self.file = OpenOptions::new().append(true).open(self.dir.join(FILE))?;
        self.pending = false;
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.pending {
            self.file.sync_data()?;
            self.pending = false;
        }
        Ok(())
    }
}

impl Hooks<MetaNode> for PersistFile {
    fn event(&mut self, event: MetaEvent) -> io::Result<()> {
        match event {
            MetaEvent::Persist(record) => self.append(&record),
            // Logged by the meta hooks (`nodes::MetaHooks`); nothing to keep.
            MetaEvent::TableInstalled(_) => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        PersistFile::sync(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use roster_core::meta::eraftpb::{Entry, HardState, Snapshot};
    use roster_core::meta::{MetaStorage, PersistedLog};

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("roster-persist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn entry(index: u64) -> Entry {
        Entry {
            index,
            term: 1,
            data: Bytes::from(vec![index as u8]),
            ..Default::default()
        }
    }

    fn hard_state(commit: u64) -> Persist {
        Persist::HardState(HardState {
            term: 1,
            vote: 1,
            commit,
            ..Default::default()
        })
    }

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut() {
        let dir = tmpdir("torn");
        let (mut f, recs) = PersistFile::open(&dir).unwrap();
        assert!(recs.is_empty());
        let a = Persist::Entries(vec![entry(1)]);
        let b = Persist::Entries(vec![entry(2)]);
        f.append(&a).unwrap();
        f.append(&b).unwrap();
        f.sync().unwrap();
        drop(f);
        // A torn append: a header promising more bytes than follow.
        let mut raw = OpenOptions::new()
            .append(true)
            .open(dir.join(FILE))
            .unwrap();
        raw.write_all(&[0, 0, 0, 50, 1, 2, 3, 4, 9]).unwrap();
        drop(raw);
        let (_f, recs) = PersistFile::open(&dir).unwrap();
        assert_eq!(recs, vec![a.clone(), b]);
        let len = fs::metadata(dir.join(FILE)).unwrap().len();
        let (_f, recs) = PersistFile::open(&dir).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(fs::metadata(dir.join(FILE)).unwrap().len(), len);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_record_is_refused_with_its_offset() {
        let dir = tmpdir("crc");
        let (mut f, _) = PersistFile::open(&dir).unwrap();
        f.append(&Persist::Entries(vec![entry(1)])).unwrap();
        f.sync().unwrap();
        drop(f);
        let mut bytes = fs::read(dir.join(FILE)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(dir.join(FILE), bytes).unwrap();
        let err = PersistFile::open(&dir).unwrap_err();
        assert!(err.to_string().contains("offset 12"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    /// A follower persisted entries 1..=5, applied and snapshotted at 3 (the file is
    /// compacted), then learned commit 5 and crashed. Entries 4 and 5 were reported durable:
    /// the restarted node must have them, and its hard state's commit must be in its log.
    #[test]
    fn a_crash_after_compaction_restarts_with_every_acknowledged_entry() {
        let dir = tmpdir("compact");
        let (mut f, _) = PersistFile::open(&dir).unwrap();
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 3;
        snap.mut_metadata().term = 1;
        let records = vec![
            Persist::Entries((1..=5).map(entry).collect()),
            hard_state(3),
            Persist::Snapshot(snap),
            hard_state(5),
        ];
        for r in &records {
            f.append(r).unwrap();
            f.sync().unwrap();
        }
        drop(f);
        let (_f, back) = PersistFile::open(&dir).unwrap();
        let log = PersistedLog::replay(&back).unwrap();
        assert_eq!(log.entries().len(), 2, "entries 4 and 5 are in the file");
        assert_eq!(log.hard_state().commit, 5);
        assert_eq!(
            MetaStorage::restore(vec![1], back).unwrap(),
            MetaStorage::restore(vec![1], records).unwrap(),
            "restoring from the file equals restoring from every record emitted"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
