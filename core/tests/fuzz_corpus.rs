//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the cargo-fuzz
//! targets run (`roster_core::wire::fuzzing`), on stable and without libFuzzer.
//!
//! Every file in each directory is replayed, not only the committed `seed-*` files, so an
//! input a fuzzer found (or a crash file copied there) is checked by a plain `cargo test`.
//! A crash the fuzzer found is kept as `seed-regression-*` so that it is committed.
//!
//! The generated seeds are rebuilt, deterministically, by the ignored test at the bottom:
//! `cargo test -p roster-core --test fuzz_corpus -- --ignored`.

use arbitrary::{Arbitrary, Unstructured};
use roster_core::client::fuzzing::check_delta;
use roster_core::meta::fuzzing::{RaftGroup, check_raft_messages};
use roster_core::wire::{Frame, MessageKind, fuzzing};
use std::collections::BTreeSet;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every regular file in the target's corpus directory, in name order.
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus directory {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file of the target's corpus and fails, naming each offending file,
/// if any of them panics.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus_files(target);
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target}/ is empty; regenerate the seeds with \
         `cargo test -p roster-core --test fuzz_corpus -- --ignored`"
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("readable corpus file");
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} fuzz/corpus/{target}/ inputs fail the check:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn decode_corpus_passes() {
    replay("decode", fuzzing::check_decode);
}

#[test]
fn roundtrip_corpus_passes() {
    replay("roundtrip", fuzzing::check_roundtrip);
}

#[test]
fn stream_corpus_passes() {
    replay("stream", fuzzing::check_stream);
}

#[test]
fn delta_corpus_passes() {
    replay("delta", check_delta);
}

#[test]
fn meta_raft_corpus_passes() {
    replay("meta_raft", check_raft_messages);
}

// ---------------------------------------------------------------------------------------
// Seed generation.

/// xorshift64: a fixed-seed byte source, so the seeds are the same on every run.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// How `check_stream` splits its input; kept in step with `fuzzing::check_stream`.
fn stream_parts(data: &[u8]) -> Option<(Vec<Frame>, Vec<u16>, &[u8])> {
    let mut u = Unstructured::new(data);
    let frames = Vec::<Frame>::arbitrary(&mut u).ok()?;
    let cuts = Vec::<u16>::arbitrary(&mut u).ok()?;
    let tail = <&[u8]>::arbitrary(&mut u).ok()?;
    Some((frames, cuts, tail))
}

fn kind_label(kind: MessageKind) -> String {
    format!("{:02x}-{}", kind as u8, kind.name())
}

/// Removes the generated seeds of a target. Keeps `seed-regression-*` (crash inputs the
/// fuzzer found) and the files fuzzing added (not committed, see `.gitignore`).
fn reset_seed_dir(target: &str) -> PathBuf {
    let dir = corpus_dir(target);
    fs::create_dir_all(&dir).expect("create corpus directory");
    for path in corpus_files(target) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("seed-") && !name.starts_with("seed-regression-") {
            fs::remove_file(&path).expect("remove old seed");
        }
    }
    dir
}

/// One valid frame of every message kind, each from a short random input so it stays small
/// but has non-default fields.
fn one_frame_per_kind(rng: &mut XorShift) -> Vec<Frame> {
    let mut frames: Vec<Option<Frame>> = vec![None; MessageKind::ALL.len()];
    for attempt in 0..100_000 {
        if frames.iter().all(Option::is_some) {
            break;
        }
        let input = rng.bytes([32, 64, 96, 128][attempt % 4]);
        let Ok(frame) = Frame::arbitrary(&mut Unstructured::new(&input)) else {
            continue;
        };
        // Kinds this build does not define get seeds of their own (write_decode_seeds).
        let Some(index) = MessageKind::ALL
            .iter()
            .position(|&k| k == frame.message.kind())
        else {
            continue;
        };
        if frames[index].is_none() && frame.encoded_len() <= 512 {
            frames[index] = Some(frame);
        }
    }
    frames
        .into_iter()
        .map(|f| f.expect("every kind is generated"))
        .collect()
}

fn write_decode_seeds(rng: &mut XorShift) -> usize {
    let dir = reset_seed_dir("decode");
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let frames = one_frame_per_kind(rng);
    for frame in &frames {
        let bytes = frame.to_bytes().expect("small frame encodes").to_vec();
        seeds.push((
            format!("seed-ok-{}", kind_label(frame.message.kind())),
            bytes,
        ));
    }

    // Invalid inputs, derived from the longest valid frame so each fails in one place.
    let base = frames
        .iter()
        .max_by_key(|f| f.encoded_len())
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec();
    let with_header_byte = |i: usize, b: u8| {
        let mut v = base.clone();
        v[i] = b;
        v
    };
    // A newer peer's body (one byte past the known fields) and an undefined kind both
    // decode: the byte and the body are skipped.
    let mut appended_body_byte = base.clone();
    let body_len = u32::from_be_bytes(base[4..8].try_into().unwrap());
    appended_body_byte[4..8].copy_from_slice(&(body_len + 1).to_be_bytes());
    appended_body_byte.push(0);
    let unknown_kind = with_header_byte(3, 0xEE);
    let mut too_large = base[..16].to_vec();
    too_large[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let two_frames = [&base[..], &seeds[0].1[..]].concat();
    seeds.extend([
        ("seed-err-truncated-header".to_owned(), base[..11].to_vec()),
        (
            "seed-err-truncated-body".to_owned(),
            base[..base.len() - 1].to_vec(),
        ),
        ("seed-err-two-frames".to_owned(), two_frames),
        ("seed-ok-appended-body-byte".to_owned(), appended_body_byte),
        ("seed-ok-unknown-kind".to_owned(), unknown_kind),
        (
            "seed-err-bad-magic".to_owned(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("seed-err-bad-version".to_owned(), with_header_byte(2, 2)),
        ("seed-err-too-large".to_owned(), too_large),
    ]);
    seeds.extend(resync_page_seeds());
    for (name, bytes) in &seeds {
        fs::write(dir.join(name), bytes).expect("write seed");
    }
    seeds.len()
}

/// A resync page carrying tombstones (the appended field), and the same page as an older
/// leader writes it (the body ends before the field, which decodes as none).
fn resync_page_seeds() -> Vec<(String, Vec<u8>)> {
    use roster_core::model::{DataInfoId, LeaderEpoch, RegisterVersion, SlotId, Text};
    use roster_core::wire::{ReplicaTombstone, ResyncPage};
    let page = ResyncPage {
        slot: SlotId(5),
        leader_epoch: LeaderEpoch(3),
        datums: Vec::new(),
        next: None,
        tombstones: vec![ReplicaTombstone {
            data_info_id: DataInfoId::new("svc", "i", "g"),
            register_id: Text::from("r1"),
            version: RegisterVersion::new(4, 2),
        }],
    };
    let with = Frame::new(9, page.clone()).to_bytes().unwrap().to_vec();
    let without = Frame::new(
        9,
        ResyncPage {
            tombstones: Vec::new(),
            ..page
        },
    )
    .to_bytes()
    .unwrap()
    .to_vec();
    // The empty field is its 4-byte count: cut it off and shorten body_len.
    let mut old = without[..without.len() - 4].to_vec();
    let body = u32::from_be_bytes(old[4..8].try_into().unwrap()) - 4;
    old[4..8].copy_from_slice(&body.to_be_bytes());
    vec![
        ("seed-ok-35-ResyncPage-tombstones".to_owned(), with),
        ("seed-ok-35-ResyncPage-older-leader".to_owned(), old),
    ]
}

/// Random inputs that `check_roundtrip` turns into frames of as many distinct kinds as
/// possible, of several input sizes.
fn write_roundtrip_seeds(rng: &mut XorShift) -> usize {
    let dir = reset_seed_dir("roundtrip");
    let mut kinds = BTreeSet::new();
    for attempt in 0..100_000 {
        // Every defined kind, and one this build does not define.
        if kinds.len() == MessageKind::ALL.len() + 1 {
            break;
        }
        let input = rng.bytes([16, 48, 96, 192, 320][attempt % 5]);
        let Ok(frame) = Frame::arbitrary(&mut Unstructured::new(&input)) else {
            continue;
        };
        let kind = frame.message.kind();
        if kinds.insert(kind) {
            let name = format!("seed-{}-{}b", kind_label(kind), input.len());
            fs::write(dir.join(name), &input).expect("write seed");
        }
    }
    kinds.len()
}

/// Random inputs that `check_stream` turns into streams covering every message kind, then
/// a few more with several frames, chunk sizes and a garbage tail.
fn write_stream_seeds(rng: &mut XorShift) -> usize {
    const WANTED: usize = 30;
    let dir = reset_seed_dir("stream");
    let mut kinds = BTreeSet::new();
    let mut written = 0;
    for attempt in 0..100_000 {
        if written == WANTED {
            break;
        }
        let input = rng.bytes([64, 128, 256, 512, 768][attempt % 5]);
        let Some((frames, cuts, tail)) = stream_parts(&input) else {
            continue;
        };
        let all_covered = kinds.len() == MessageKind::ALL.len() + 1;
        let new_kinds = frames
            .iter()
            .filter(|f| kinds.insert(f.message.kind()))
            .count();
        let rich = frames.len() >= 3 && !cuts.is_empty() && !tail.is_empty();
        if (!all_covered && new_kinds > 0) || (all_covered && rich) {
            let name = format!(
                "seed-{written:02}-{}f-{}c-{}t-{}b",
                frames.len(),
                cuts.len(),
                tail.len(),
                input.len()
            );
            fs::write(dir.join(name), &input).expect("write seed");
            written += 1;
        }
    }
    written
}

/// Random inputs for `check_delta`, of several sizes (the check reads lists, a removal
/// set, a forged digest or none, then a second list, so larger inputs reach further).
fn write_delta_seeds(rng: &mut XorShift) -> usize {
    let dir = reset_seed_dir("delta");
    let sizes = [8, 24, 48, 96, 160, 256];
    for (i, len) in sizes.iter().cycle().take(12).enumerate() {
        let name = format!("seed-{i:02}-{len}b");
        fs::write(dir.join(name), rng.bytes(*len)).expect("write seed");
    }
    12
}

/// Rewrites the committed seed corpus. Deterministic: the same files on every run.
#[test]
#[ignore = "rewrites fuzz/corpus/*/seed-*; run with --ignored to regenerate the seeds"]
fn regenerate_seed_corpus() {
    let mut rng = XorShift(0x005E_ED0F_2057_E4A1);
    let decode = write_decode_seeds(&mut rng);
    let roundtrip = write_roundtrip_seeds(&mut rng);
    let stream = write_stream_seeds(&mut rng);
    // From a generator of its own, so that the other targets' seeds stay what they were.
    let delta = write_delta_seeds(&mut XorShift(0xDE17_A5EE_D5EE_D501));
    let meta_raft = write_meta_raft_seeds();
    println!(
        "seeds written: decode {decode}, roundtrip {roundtrip}, stream {stream}, delta {delta}, \
         meta_raft {meta_raft}"
    );
    replay("decode", fuzzing::check_decode);
    replay("roundtrip", fuzzing::check_roundtrip);
    replay("stream", fuzzing::check_stream);
    replay("delta", check_delta);
    replay("meta_raft", check_raft_messages);
}

/// Real messages of a group electing a leader and committing, one per seed, in
/// `check_raft_messages`'s record format (destination, two-byte length, protobuf).
fn write_meta_raft_seeds() -> usize {
    use protobuf::Message as _;
    let dir = reset_seed_dir("meta_raft");
    let mut g = RaftGroup::new();
    assert!(g.commits(1));
    let mut n = 0;
    for (i, m) in g.sent().iter().enumerate().step_by(7).take(24) {
        let body = m.write_to_bytes().expect("encodes");
        let mut record = vec![i as u8, (body.len() >> 8) as u8, body.len() as u8];
        record.extend_from_slice(&body);
        let name = format!("seed-{:02}-{:?}", n, m.get_msg_type());
        fs::write(dir.join(name), record).expect("write seed");
        n += 1;
    }
    n
}
