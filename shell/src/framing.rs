//! Framing over a byte stream, independent of any event loop (so the glommio shell can share
//! it): a read side that turns bytes into frames with the core's `FrameDecoder`, and a
//! bounded write side. A peer that does not read fills its write buffer past the bound and
//! is cut off rather than buffered forever. The mio shell calls `read`/`flush` on its
//! sockets; the glommio shell reads asynchronously itself, so it feeds `ingest`, and
//! writes through `flush` with writers of its own.

use bytes::{Buf, BytesMut};
use roster_core::wire::{DEFAULT_MAX_FRAME_LEN, DecodeError, Frame, FrameDecoder};
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};

/// Default bound of a connection's unsent bytes: 64 MiB (four maximal frames).
pub const DEFAULT_WRITE_LIMIT: usize = 4 * DEFAULT_MAX_FRAME_LEN;

/// Pending bytes at which a connection is to be written at once rather than at the end of
/// draining its node: small frames (acks, registrations) are batched into one write, large
/// ones (a pushed list) are not held back. Writing each push as soon as it is encoded also
/// sends it while it is still in the cache, and lets the peer start on it while the next
/// one is encoded.
const EAGER_FLUSH: usize = 32 * 1024;

/// When a shell should write a connection it has just queued a frame on. Both shells
/// follow it, so they batch and write alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Enough waits for a full write ([`EAGER_FLUSH`] bytes): write it now.
    Now,
    /// The first bytes since the buffer was empty: write it once, when the node has been
    /// drained.
    AfterDrain,
    /// Bytes were waiting already: the connection is listed for writing already, or waits
    /// for its socket to take more.
    Listed,
}

/// Bytes asked of the socket per `read`.
const READ_CHUNK: usize = 64 * 1024;

/// Largest buffer a connection keeps once it is empty again. A burst (a subscribe storm's
/// full-list pushes, a 16 MiB frame) grows a buffer to its peak; keeping every idle
/// connection's peak would leave the process at its busiest size for good, so an emptied
/// buffer larger than this is given back and grown again only when needed.
pub const RETAINED_CAPACITY: usize = 64 * 1024;

/// The rest of a begun frame at least this long is read straight into the connection's
/// buffer (zeroing the room costs less than a copy through the scratch buffer), at most
/// [`DIRECT_MAX`] per `read`, so that a 16 MiB frame arriving in small pieces is not
/// zeroed again whole before each one.
const DIRECT_MIN: usize = 16 * 1024;
const DIRECT_MAX: usize = 1024 * 1024;

thread_local! {
    /// The buffer sockets are read into, one per thread and zeroed once: reading straight
    /// into a connection's `BytesMut` would need its spare capacity initialised (a 64 KiB
    /// `memset`) on every `read` call, including the last one that only sees `WouldBlock`.
    /// What arrives is appended to the connection's buffer, so only received bytes are
    /// copied.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Why a connection is given up by the framing layer.
#[derive(Debug)]
pub enum FrameError {
    /// The peer sent bytes that are not roster framing.
    Malformed(DecodeError),
    /// The peer does not read: more than the write limit is waiting to be sent.
    WriteLimit {
        /// Bytes waiting.
        pending: usize,
        /// The limit.
        limit: usize,
    },
    /// An outgoing frame could not be encoded (larger than the maximum frame).
    Encode(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed(e) => write!(f, "malformed frame: {e}"),
            FrameError::WriteLimit { pending, limit } => write!(
                f,
                "peer does not read: {pending} bytes pending exceed the {limit}-byte write limit"
            ),
            FrameError::Encode(e) => write!(f, "frame not sent: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One connection's buffers.
#[derive(Debug)]
pub struct Framed {
    decoder: FrameDecoder,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// The largest each buffer has been since it was last given back: `capacity()` leaves
    /// out what was consumed from the front, which the allocation still holds.
    rbuf_peak: usize,
    wbuf_peak: usize,
    write_limit: usize,
}

/// What a read pass produced.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// Complete frames, in order.
    pub frames: Vec<Frame>,
    /// The peer closed its side.
    pub eof: bool,
    /// The stream turned out malformed after `frames` (which are still valid).
    pub malformed: Option<DecodeError>,
}

impl Framed {
    /// Buffers with the default limits.
    pub fn new(write_limit: usize) -> Self {
        Framed {
            decoder: FrameDecoder::default(),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            rbuf_peak: 0,
            wbuf_peak: 0,
            write_limit,
        }
    }

    /// Queues a frame for sending; when to write it.
    pub fn queue(&mut self, frame: &Frame) -> Result<Flush, FrameError> {
        let idle = self.wbuf.is_empty();
        frame
            .encode(&mut self.wbuf, self.decoder.max_frame_len())
            .map_err(|e| FrameError::Encode(e.to_string()))?;
        self.wbuf_peak = self.wbuf_peak.max(self.wbuf.capacity());
        if self.wbuf.len() > self.write_limit {
            return Err(FrameError::WriteLimit {
                pending: self.wbuf.len(),
                limit: self.write_limit,
            });
        }
        Ok(if self.wbuf.len() >= EAGER_FLUSH {
            Flush::Now
        } else if idle {
            Flush::AfterDrain
        } else {
            Flush::Listed
        })
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.wbuf.len()
    }

    /// Writes as much as the socket takes. `Ok(true)` when everything was written.
    pub fn flush(&mut self, w: &mut impl Write) -> io::Result<bool> {
        while !self.wbuf.is_empty() {
            match w.write(&self.wbuf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        release_if_large(&mut self.wbuf, &mut self.wbuf_peak);
        Ok(true)
    }

    /// At most how many bytes the connection's buffers hold allocated (what an idle
    /// connection costs).
    pub fn allocated(&self) -> usize {
        self.rbuf_peak + self.wbuf_peak
    }

    /// Reads until the socket would block (edge-triggered readiness), decoding as it goes.
    pub fn read(&mut self, r: &mut impl Read) -> io::Result<ReadOutcome> {
        SCRATCH.with_borrow_mut(|scratch| self.read_with(r, scratch))
    }

    fn read_with(&mut self, r: &mut impl Read, scratch: &mut [u8]) -> io::Result<ReadOutcome> {
        let mut out = ReadOutcome::default();
        loop {
            let read = match self.missing() {
                Some(missing) => self.read_in_place(r, missing.min(DIRECT_MAX)),
                None => self.read_through(r, scratch),
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                },
            };
            if n == 0 {
                out.eof = true;
                break;
            }
            if let Err(e) = self.decode_into(&mut out.frames) {
                out.malformed = Some(e);
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// How much of a begun frame has yet to arrive, if it is enough to read in place.
    fn missing(&self) -> Option<usize> {
        let len = self.decoder.frame_len(&self.rbuf)?;
        let missing = len.saturating_sub(self.rbuf.len());
        (missing >= DIRECT_MIN).then_some(missing)
    }

    /// Reads at most `len` bytes onto the end of the read buffer.
    fn read_in_place(&mut self, r: &mut impl Read, len: usize) -> io::Result<usize> {
        let have = self.rbuf.len();
        self.rbuf.resize(have + len, 0);
        self.rbuf_peak = self.rbuf_peak.max(self.rbuf.capacity());
        let read = r.read(&mut self.rbuf[have..]);
        self.rbuf.truncate(have + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Reads into `scratch` and appends what came.
    fn read_through(&mut self, r: &mut impl Read, scratch: &mut [u8]) -> io::Result<usize> {
        let n = r.read(scratch)?;
        self.append(&scratch[..n]);
        Ok(n)
    }

    /// Appends received bytes. A chunk that begins a frame longer than itself makes room
    /// for the whole frame first, so the buffer is not grown (and copied) again when the
    /// decoder learns the length.
    fn append(&mut self, chunk: &[u8]) {
        if self.rbuf.is_empty() {
            if let Some(len) = self.decoder.frame_len(chunk) {
                self.rbuf.reserve(len.max(chunk.len()));
            }
        }
        self.rbuf.extend_from_slice(chunk);
        self.rbuf_peak = self.rbuf_peak.max(self.rbuf.capacity());
    }

    /// Decodes bytes the caller read itself, for shells whose streams are not `Read` (the
    /// glommio shell reads asynchronously into its own buffer). Never reports `eof`: only
    /// the caller knows the stream ended.
    pub fn ingest(&mut self, bytes: &[u8]) -> ReadOutcome {
        self.append(bytes);
        let mut out = ReadOutcome::default();
        if let Err(e) = self.decode_into(&mut out.frames) {
            out.malformed = Some(e);
        }
        out
    }

    fn decode_into(&mut self, frames: &mut Vec<Frame>) -> Result<(), DecodeError> {
        while let Some(f) = self.decoder.decode(&mut self.rbuf)? {
            frames.push(f);
        }
        release_if_large(&mut self.rbuf, &mut self.rbuf_peak);
        Ok(())
    }
}

/// Gives back an empty buffer's allocation if it grew larger than [`RETAINED_CAPACITY`].
/// Frames decoded from it keep their bytes alive themselves (they share the allocation).
fn release_if_large(buf: &mut BytesMut, peak: &mut usize) {
    if buf.is_empty() && *peak > RETAINED_CAPACITY {
        *buf = BytesMut::new();
        *peak = 0;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use roster_core::wire::KeepAlive;

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut bytes = Vec::new();
        for id in 1..=3 {
            bytes.extend_from_slice(&Frame::new(id, KeepAlive {}).to_bytes().unwrap());
        }
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let mut first = &bytes[..20];
        let out = f.read(&mut first).unwrap();
        assert_eq!(out.frames.len(), 1);
        assert!(out.eof);
        let mut rest = &bytes[20..];
        let out = f.read(&mut rest).unwrap();
        assert_eq!(out.frames.len(), 2);
        assert!(out.malformed.is_none());
    }

    /// A socket that hands out its bytes in the given pieces, with "would block" between
    /// some of them, as a non-blocking socket does when the peer's writes trickle in.
    struct Trickle<'a> {
        bytes: &'a [u8],
        pieces: std::vec::IntoIter<Option<usize>>,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // After the listed pieces, everything that fits.
            let piece = match self.pieces.next() {
                Some(None) => return Err(io::ErrorKind::WouldBlock.into()),
                Some(Some(piece)) => piece,
                None => usize::MAX,
            };
            let n = piece.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn long_frames_arriving_in_pieces_are_reassembled_around_short_ones() {
        let long = |id| push_frame(id, 3_000);
        let frames = vec![
            Frame::new(1, KeepAlive {}),
            long(2),
            long(3),
            Frame::new(4, KeepAlive {}),
            long(5),
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            bytes.extend_from_slice(&f.to_bytes().unwrap());
        }
        assert!(
            frames[1].encoded_len() > 2 * READ_CHUNK,
            "long enough to read in place"
        );
        // Pieces that cut headers, begin frames mid-chunk and stop short of frame ends.
        let pieces = vec![
            Some(10),
            None,
            Some(30),
            Some(READ_CHUNK),
            None,
            Some(5),
            Some(DIRECT_MIN + 1),
            None,
            Some(7),
            Some(200_000),
            None,
            Some(1),
            None,
        ];
        let mut socket = Trickle {
            bytes: &bytes,
            pieces: pieces.into_iter(),
        };
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let mut got = Vec::new();
        loop {
            let out = f.read(&mut socket).unwrap();
            assert!(out.malformed.is_none());
            got.extend(out.frames);
            if out.eof {
                break;
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let mut garbage: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        let out = f.read(&mut garbage).unwrap();
        assert!(out.frames.is_empty());
        assert!(out.malformed.is_some());
    }

    #[test]
    fn ingested_bytes_decode_like_read_ones() {
        let frame = Frame::new(7, KeepAlive {});
        let bytes = frame.to_bytes().unwrap();
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let (head, tail) = bytes.split_at(3);
        assert!(f.ingest(head).frames.is_empty());
        let out = f.ingest(tail);
        assert_eq!(out.frames, vec![frame.clone()]);
        assert!(!out.eof && out.malformed.is_none());
        assert!(f.ingest(b"\xff\xff\xff\xff garbage").malformed.is_some());
    }

    /// A socket that takes at most `room` bytes, then would block.
    struct Cramped {
        sent: Vec<u8>,
        room: usize,
    }

    impl Write for Cramped {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room).min(5);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.sent.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn what_a_full_socket_does_not_take_stays_queued_in_order() {
        let frames: Vec<Frame> = (1..=3).map(|id| Frame::new(id, KeepAlive {})).collect();
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        for frame in &frames {
            f.queue(frame).unwrap();
        }
        let total = f.pending();
        let mut socket = Cramped {
            sent: Vec::new(),
            room: 7,
        };
        assert!(
            !f.flush(&mut socket).unwrap(),
            "the socket took only 7 bytes"
        );
        assert_eq!(f.pending(), total - 7);
        // More is queued behind the rest before the socket has room again.
        let late = Frame::new(4, KeepAlive {});
        f.queue(&late).unwrap();
        socket.room = usize::MAX;
        assert!(f.flush(&mut socket).unwrap());
        assert_eq!(f.pending(), 0);
        let mut sent = &socket.sent[..];
        let got = Framed::new(DEFAULT_WRITE_LIMIT).read(&mut sent).unwrap();
        assert_eq!(got.frames, [frames, vec![late]].concat());
    }

    #[test]
    fn small_frames_are_written_after_the_drain_and_a_large_one_at_once() {
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let small = Frame::new(1, KeepAlive {});
        assert_eq!(f.queue(&small).unwrap(), Flush::AfterDrain);
        assert_eq!(f.queue(&small).unwrap(), Flush::Listed);
        let payload = bytes::Bytes::from(vec![0; EAGER_FLUSH]);
        let large = Frame::new(2, roster_core::wire::Raft { payload });
        assert_eq!(f.queue(&large).unwrap(), Flush::Now);
    }

    #[test]
    fn buffers_grown_by_a_burst_are_given_back_once_empty() {
        let mut f = Framed::new(DEFAULT_WRITE_LIMIT);
        let payload = bytes::Bytes::from(vec![7; 1 << 20]);
        let large = Frame::new(2, roster_core::wire::Raft { payload });
        for _ in 0..4 {
            f.queue(&large).unwrap();
        }
        assert!(f.allocated() >= 4 << 20);
        let mut sink = Vec::new();
        assert!(f.flush(&mut sink).unwrap());
        assert!(f.allocated() <= RETAINED_CAPACITY, "{}", f.allocated());
        // The read side too, and what was decoded stays intact.
        let got = f.ingest(&sink);
        assert_eq!(got.frames, vec![large; 4]);
        assert!(f.allocated() <= RETAINED_CAPACITY, "{}", f.allocated());
        // A small buffer is kept, so steady small traffic does not reallocate.
        f.queue(&Frame::new(3, KeepAlive {})).unwrap();
        // Not the old allocation reclaimed: a fresh, small one.
        assert!(
            f.wbuf.capacity() < RETAINED_CAPACITY,
            "{}",
            f.wbuf.capacity()
        );
        let kept = f.allocated();
        assert!(f.flush(&mut Vec::new()).unwrap());
        assert_eq!(f.allocated(), kept);
    }

    #[test]
    fn a_reader_that_never_reads_hits_the_write_limit() {
        let mut f = Framed::new(64);
        let frame = Frame::new(1, KeepAlive {});
        let mut err = None;
        for _ in 0..10 {
            if let Err(e) = f.queue(&frame) {
                err = Some(e);
                break;
            }
        }
        assert!(matches!(
            err,
            Some(FrameError::WriteLimit { limit: 64, .. })
        ));
    }

    /// A push of `publishers` publishers (about 20 bytes each): big frames cross many reads,
    /// TLS records and partial writes.
    pub(crate) fn push_frame(id: u64, publishers: usize) -> Frame {
        use roster_core::model::{
            DataInfoId, DatumVersion, LeaderEpoch, Publisher, RegisterVersion, Text,
        };
        use roster_core::wire::Push;
        let publishers: Vec<Publisher> = (0..publishers)
            .map(|i| Publisher {
                register_id: Text::from(format!("pub-{i}")),
                version: RegisterVersion::new(1, 1),
                payload: [bytes::Bytes::from(format!(
                    "10.0.{}.{}:80",
                    i / 256,
                    i % 256
                ))]
                .into_iter()
                .collect(),
                attributes: Vec::new(),
            })
            .collect();
        Frame::new(
            id,
            Push {
                data_info_id: DataInfoId::new("svc", "i", "g"),
                version: DatumVersion::new(LeaderEpoch(1), id),
                publishers: publishers.into(),
            },
        )
    }
}
