//! The meta log file: its byte format, how a file is read back at restart (a torn tail cut,
//! corruption refused with its offset), and when it is rewritten compacted.
//!
//! Pure: [`LogWriter`] decides what to write as [`FileWrite`]s; the driver performs them on a
//! real file, and the simulator on bytes in memory, so both restart from what a file holds.
//!
//! Format 1 (independent of the wire protocol, so either can change without the other):
//! - header, 12 bytes: the magic `RSTRMLOG`, the format version (u16 big-endian, 1), two
//!   reserved zero bytes;
//! - then records, each: body length (u32 BE), CRC-32C of the body (u32 BE), body;
//! - body: a kind byte (1 hard state, 2 entries, 3 snapshot), then for 1 and 3 one
//!   length-prefixed protobuf message (raft's `eraftpb::HardState` / `Snapshot`), for 2 a
//!   u32 count of length-prefixed protobuf `Entry`s; lengths are u32 BE.
//!
//! A file without the header is one written before the format had a version (its records
//! have the same body layout): it is read, and rewritten in the current format at once. A
//! file of a newer format is refused by name rather than misread.
//!
//! Compaction: when a snapshot record arrives the file is replaced, atomically, by the
//! records [`PersistedLog::records`] keeps: the snapshot, the hard state and every entry
//! after the snapshot. Entries past the snapshot were already reported durable to raft-rs;
//! dropping them would let a restarted node forget what it voted into a quorum.

use super::persisted::{Persist, PersistError, PersistedLog};

/// The first bytes of every meta log file.
const MAGIC: [u8; 8] = *b"RSTRMLOG";
/// The format this code writes, and the newest it reads.
const FORMAT: u16 = 1;
const HEADER_LEN: usize = 12;
const FRAME_HEADER: usize = 8;

const HARD_STATE: u8 = 1;
const ENTRIES: u8 = 2;
const SNAPSHOT: u8 = 3;

/// A change to the file, to be made durable before the node's next output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileWrite {
    /// Append these bytes.
    Append(Vec<u8>),
    /// Replace the whole file with these bytes, atomically (write aside, sync, rename).
    Replace(Vec<u8>),
    /// Cut the file to this length (a torn last record).
    Truncate(u64),
}

/// A log file read back: its records, and what to write to it first, if anything.
#[derive(Debug)]
pub struct Recovered {
    /// The records, in order, for `MetaNode::restore`.
    pub records: Vec<Persist>,
    /// The writer that continues the file.
    pub writer: LogWriter,
    /// A repair to perform before anything else: the header of a new file, a legacy file
    /// rewritten in the current format, or a torn tail cut off.
    pub repair: Option<FileWrite>,
}

/// Decides the writes that keep a log file equal to the records meta emitted, compacted.
#[derive(Debug, Default)]
pub struct LogWriter {
    log: PersistedLog,
}

impl LogWriter {
    /// Reads a whole file (empty for a new one).
    pub fn recover(file: &[u8]) -> Result<Recovered, PersistError> {
        if file.is_empty() {
            return Ok(Recovered {
                records: Vec::new(),
                writer: LogWriter::default(),
                repair: Some(FileWrite::Replace(header().to_vec())),
            });
        }
        let legacy = !file.starts_with(&MAGIC);
        let start = if legacy {
            0
        } else {
            read_header(file)?;
            HEADER_LEN
        };
        let (records, end) = read_records(file, start)?;
        let log = PersistedLog::replay(&records)?;
        let repair = if legacy {
            Some(FileWrite::Replace(encode_file(&log.records())))
        } else if end < file.len() {
            Some(FileWrite::Truncate(end as u64))
        } else {
            None
        };
        Ok(Recovered {
            records,
            writer: LogWriter { log },
            repair,
        })
    }

    /// The write that makes `record` durable: an append, or after a snapshot the whole
    /// file compacted.
    pub fn append(&mut self, record: &Persist) -> Result<FileWrite, PersistError> {
        self.log.apply(record)?;
        Ok(match record {
            Persist::Snapshot(_) => FileWrite::Replace(encode_file(&self.log.records())),
            _ => {
                let mut out = Vec::new();
                frame(&encode_record(record), &mut out);
                FileWrite::Append(out)
            }
        })
    }

    /// What the file amounts to.
    pub fn log(&self) -> &PersistedLog {
        &self.log
    }
}

/// Applies a write to a file held in memory (the simulator's disk, tests).
pub fn apply_write(file: &mut Vec<u8>, write: FileWrite) {
    match write {
        FileWrite::Append(b) => file.extend_from_slice(&b),
        FileWrite::Replace(b) => *file = b,
        FileWrite::Truncate(len) => file.truncate(usize::try_from(len).unwrap_or(usize::MAX)),
    }
}

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT.to_be_bytes());
    h
}

fn read_header(file: &[u8]) -> Result<(), PersistError> {
    let Some(h) = file.get(..HEADER_LEN) else {
        return Err(PersistError("the file's header is cut short".into()));
    };
    let version = u16::from_be_bytes([h[8], h[9]]);
    if version > FORMAT {
        return Err(PersistError(format!(
            "format {version} is newer than this roster reads ({FORMAT}); run a newer roster"
        )));
    }
    if version == 0 {
        return Err(PersistError("format 0 does not exist".into()));
    }
    Ok(())
}

/// The records from `start`, and where the last whole one ends. A last record cut short (a
/// crash mid-append) ends the file there; a checksum mismatch anywhere is refused.
fn read_records(file: &[u8], start: usize) -> Result<(Vec<Persist>, usize), PersistError> {
    let mut records = Vec::new();
    let mut at = start;
    while let Some(head) = file.get(at..at + FRAME_HEADER) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let Some(body) = file
            .get(at + FRAME_HEADER..)
            .and_then(|rest| rest.get(..len))
        else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            return Err(PersistError(format!(
                "checksum mismatch in the record at offset {at}"
            )));
        }
        let record = decode_record(body)
            .map_err(|e| PersistError(format!("the record at offset {at}: {}", e.0)))?;
        records.push(record);
        at += FRAME_HEADER + len;
    }
    Ok((records, at))
}

/// A whole file holding `records`.
fn encode_file(records: &[Persist]) -> Vec<u8> {
    let mut out = header().to_vec();
    for r in records {
        frame(&encode_record(r), &mut out);
    }
    out
}

fn frame(body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&len32(body.len()).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
}

fn len32(len: usize) -> u32 {
    // raft-rs entries are capped far below 4 GiB (`max_size_per_msg`); a larger one would be
    // a bug, and saturating makes its record fail the checksum instead of misframing.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_message(m: &impl protobuf::Message, out: &mut Vec<u8>) {
    // Writing a well-formed message to memory cannot fail.
    let bytes = m.write_to_bytes().unwrap_or_default();
    out.extend_from_slice(&len32(bytes.len()).to_be_bytes());
    out.extend_from_slice(&bytes);
}

/// A record's body.
fn encode_record(record: &Persist) -> Vec<u8> {
    let mut out = Vec::new();
    match record {
        Persist::HardState(h) => {
            out.push(HARD_STATE);
            put_message(h, &mut out);
        }
        Persist::Entries(es) => {
            out.push(ENTRIES);
            out.extend_from_slice(&len32(es.len()).to_be_bytes());
            for e in es {
                put_message(e, &mut out);
            }
        }
        Persist::Snapshot(s) => {
            out.push(SNAPSHOT);
            put_message(s, &mut out);
        }
    }
    out
}

struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PersistError> {
        if self.0.len() < n {
            return Err(PersistError(format!(
                "{n} bytes wanted, {} left",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, PersistError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn message<M: protobuf::Message>(&mut self) -> Result<M, PersistError> {
        let len = self.u32()? as usize;
        M::parse_from_bytes(self.take(len)?).map_err(|e| PersistError(e.to_string()))
    }
}

/// A record from its body; never panics, allocates no more than the body's size.
fn decode_record(body: &[u8]) -> Result<Persist, PersistError> {
    let mut b = Body(body);
    let kind = b.take(1)?[0];
    let record = match kind {
        HARD_STATE => Persist::HardState(b.message()?),
        SNAPSHOT => Persist::Snapshot(b.message()?),
        ENTRIES => {
            let count = b.u32()? as usize;
            // Each entry takes at least its 4-byte length: bound the count by the body.
            let mut es = Vec::with_capacity(count.min(b.0.len() / 4));
            for _ in 0..count {
                es.push(b.message()?);
            }
            Persist::Entries(es)
        }
        other => return Err(PersistError(format!("unknown record kind {other}"))),
    };
    if !b.0.is_empty() {
        return Err(PersistError(format!(
            "{} bytes after the record",
            b.0.len()
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::super::persisted::test_records::{entry, snapshot};
    use super::*;
    use raft::eraftpb::HardState;

    fn hs(term: u64, commit: u64) -> Persist {
        Persist::HardState(HardState {
            term,
            vote: 2,
            commit,
            ..Default::default()
        })
    }

    /// Writes `records` through a writer into an in-memory file, as a driver would.
    fn write_all(records: &[Persist]) -> Vec<u8> {
        let r = LogWriter::recover(&[]).unwrap();
        let mut file = Vec::new();
        apply_write(&mut file, r.repair.unwrap());
        let mut w = r.writer;
        for rec in records {
            apply_write(&mut file, w.append(rec).unwrap());
        }
        file
    }

    #[test]
    fn every_record_kind_roundtrips() {
        for r in [
            hs(3, 9),
            Persist::Entries(vec![entry(1, 1), entry(2, 3)]),
            Persist::Entries(Vec::new()),
            Persist::Snapshot(snapshot(4, 2)),
        ] {
            assert_eq!(decode_record(&encode_record(&r)), Ok(r));
        }
    }

    #[test]
    fn a_file_compacted_at_a_snapshot_still_holds_every_acknowledged_entry() {
        let records = [
            Persist::Entries((1..=5).map(|i| entry(i, 1)).collect()),
            hs(1, 3),
            Persist::Snapshot(snapshot(3, 1)),
            hs(1, 5),
            Persist::Entries(vec![entry(6, 1)]),
        ];
        let file = write_all(&records);
        let back = LogWriter::recover(&file).unwrap();
        assert_eq!(back.repair, None);
        assert_eq!(back.writer.log(), &PersistedLog::replay(&records).unwrap());
        assert_eq!(back.writer.log().last(), 6, "entries 4 and 5 survived");
    }

    #[test]
    fn a_torn_tail_is_cut_and_corruption_is_refused_with_its_offset() {
        let records = [hs(1, 0), Persist::Entries(vec![entry(1, 1)])];
        let mut file = write_all(&records);
        let whole = file.len();
        file.extend_from_slice(&[0, 0, 0, 50, 1, 2, 3, 4, 9]);
        let back = LogWriter::recover(&file).unwrap();
        assert_eq!(back.records, records);
        assert_eq!(back.repair, Some(FileWrite::Truncate(whole as u64)));
        let mut bad = file[..whole].to_vec();
        bad[whole - 1] ^= 0xff;
        let err = LogWriter::recover(&bad).unwrap_err();
        let second = HEADER_LEN + FRAME_HEADER + encode_record(&records[0]).len();
        assert!(err.0.contains(&format!("offset {second}")), "{err}");
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let mut file = write_all(&[hs(1, 0)]);
        file[9] = 2;
        let err = LogWriter::recover(&file).unwrap_err();
        assert!(err.0.contains("format 2 is newer"), "{err}");
    }

    #[test]
    fn a_file_without_a_header_is_read_and_rewritten_in_the_current_format() {
        // The layout before format 1: the same framed records, no header.
        let records = [hs(2, 1), Persist::Entries(vec![entry(1, 2), entry(2, 2)])];
        let mut legacy = Vec::new();
        for r in &records {
            frame(&encode_record(r), &mut legacy);
        }
        let back = LogWriter::recover(&legacy).unwrap();
        assert_eq!(back.records, records);
        let Some(FileWrite::Replace(current)) = back.repair else {
            panic!("a legacy file is rewritten")
        };
        assert!(current.starts_with(&MAGIC));
        let again = LogWriter::recover(&current).unwrap();
        assert_eq!(again.writer.log(), back.writer.log());
        assert_eq!(again.repair, None);
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        for body in [
            &[][..],
            &[9],
            &[1, 0, 0, 0, 9],
            &[2, 255, 255, 255, 255],
            &[3, 0, 0, 0, 0, 7],
        ] {
            assert!(decode_record(body).is_err(), "{body:?}");
        }
    }
}
