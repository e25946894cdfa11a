//! The meta persist file: `MetaEvent::Persist` records appended and fsynced before the node
//! performs any later output, read back at start for `MetaNode::restore`.
//!
//! File `meta.log` in the data directory; each record is `len: u32 BE`, `crc32c: u32 BE`,
//! then `len` bytes of `Persist::to_bytes()`. A torn last record (a crash mid-append) is cut
//! off at start with a warning; a checksum mismatch is refused with its offset. When a
//! snapshot record is written, the file is rewritten (temporary file, fsync, rename) as the
//! last hard state followed by that snapshot, as `core::meta::storage` allows.

use crate::shell::Hooks;
use bytes::Bytes;
use roster_core::meta::{MetaEvent, MetaNode, Persist};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tracing::warn;

const FILE: &str = "meta.log";

/// The open persist file of one meta node.
#[derive(Debug)]
pub struct PersistFile {
    dir: PathBuf,
    file: File,
    last_hard_state: Option<Bytes>,
    pending: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn frame(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(record.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(record).to_be_bytes());
    out.extend_from_slice(record);
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
        let mut records = Vec::new();
        let mut last_hard_state = None;
        let mut at = 0;
        while at < bytes.len() {
            if bytes.len() - at < 8 {
                break;
            }
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
            let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap_or_default());
            if bytes.len() - at - 8 < len {
                break;
            }
            let body = Bytes::copy_from_slice(&bytes[at + 8..at + 8 + len]);
            if crc32c::crc32c(&body) != crc {
                return Err(invalid(format!(
                    "{}: checksum mismatch in the record at offset {at}",
                    path.display()
                )));
            }
            let record = Persist::from_bytes(&body)
                .map_err(|e| invalid(format!("{} at offset {at}: {e}", path.display())))?;
            if matches!(record, Persist::HardState(_)) {
                last_hard_state = Some(body.clone());
            }
            records.push(record);
            at += 8 + len;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if at < bytes.len() {
            warn!(path = %path.display(), offset = at, "cutting off a torn last record");
            file.set_len(at as u64)?;
        }
        Ok((
            PersistFile {
                dir: dir.to_path_buf(),
                file,
                last_hard_state,
                pending: false,
            },
            records,
        ))
    }

    /// Appends one record (durable after [`PersistFile::sync`]).
    pub fn append(&mut self, record: &Persist) -> io::Result<()> {
        let body = record.to_bytes();
        match record {
            Persist::HardState(_) => self.last_hard_state = Some(body.clone()),
            Persist::Snapshot(_) => return self.compact(&body),
            Persist::Entries(_) => {}
        }
        let mut buf = Vec::with_capacity(body.len() + 8);
        frame(&body, &mut buf);
        self.file.write_all(&buf)?;
        self.pending = true;
        Ok(())
    }

    /// Rewrites the file as the last hard state and `snapshot`.
    fn compact(&mut self, snapshot: &[u8]) -> io::Result<()> {
        let mut buf = Vec::new();
        if let Some(hs) = &self.last_hard_state {
            frame(hs, &mut buf);
        }
        frame(snapshot, &mut buf);
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
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
        let MetaEvent::Persist(record) = event;
        self.append(&record)
    }

    fn sync(&mut self) -> io::Result<()> {
        PersistFile::sync(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("roster-persist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut() {
        let dir = tmpdir("torn");
        let (mut f, recs) = PersistFile::open(&dir).unwrap();
        assert!(recs.is_empty());
        let a = Persist::Entries(Vec::new());
        f.append(&a).unwrap();
        f.append(&a).unwrap();
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
        assert_eq!(recs, vec![a.clone(), a]);
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
        f.append(&Persist::Entries(Vec::new())).unwrap();
        f.sync().unwrap();
        drop(f);
        let mut bytes = fs::read(dir.join(FILE)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(dir.join(FILE), bytes).unwrap();
        let err = PersistFile::open(&dir).unwrap_err();
        assert!(err.to_string().contains("offset 0"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
