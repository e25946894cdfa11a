//! The cache file format and its writer: a round trip, atomic replacement, and every kind
//! of bad file ignored (never a panic).

use super::*;
use roster_core::model::{LeaderEpoch, Publisher, RegisterVersion, Text};

fn key(id: &str) -> DataInfoId {
    DataInfoId::new(id, "i", "g")
}

fn update(id: &str, seq: u64, payloads: &[&str]) -> Update {
    let publishers: Vec<Publisher> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Publisher {
            register_id: Text::from(format!("r{i}")),
            version: RegisterVersion::new(1, 1),
            payload: std::iter::once(bytes::Bytes::copy_from_slice(p.as_bytes())).collect(),
            attributes: vec![],
        })
        .collect();
    Update::live(
        key(id),
        DatumVersion::new(LeaderEpoch(3), seq),
        publishers.into(),
    )
}

fn payloads(c: &Cached) -> Vec<Vec<u8>> {
    c.publishers
        .iter()
        .flat_map(|p| p.payload().map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect()
}

#[test]
fn a_stored_list_reads_back_and_a_newer_one_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("nested/cache")).unwrap();
    assert!(cache.load(&key("svc")).is_none(), "nothing cached yet");
    cache.store(&update("svc", 1, &["10.0.0.1:80"])).unwrap();
    cache
        .store(&update("svc", 2, &["10.0.0.1:80", "10.0.0.2:80"]))
        .unwrap();
    let c = cache.load(&key("svc")).unwrap();
    assert_eq!(c.version, DatumVersion::new(LeaderEpoch(3), 2));
    assert_eq!(
        payloads(&c),
        [b"10.0.0.1:80".to_vec(), b"10.0.0.2:80".to_vec()]
    );
    // Nothing but the one file is left behind (no temporary files).
    let names: Vec<_> = fs::read_dir(cache.dir.clone())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(cache.load(&key("other")).is_none());
}

#[test]
fn bad_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().to_path_buf()).unwrap();
    let good = encode(&update("svc", 1, &["10.0.0.1:80"])).unwrap();
    let path = cache.path(&key("svc"));
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("foreign", b"{\"hosts\": []}".to_vec()),
        ("truncated", good[..good.len() - 3].to_vec()),
    ];
    let mut newer_format = good.clone();
    newer_format[11] = 2;
    cases.push(("another format version", newer_format));
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    cases.push(("a flipped byte", flipped));
    // A valid file of another key under this key's name.
    cases.push((
        "another key",
        encode(&update("elsewhere", 1, &["10.0.0.9:80"])).unwrap(),
    ));
    for (what, bytes) in cases {
        fs::write(&path, &bytes).unwrap();
        assert!(cache.load(&key("svc")).is_none(), "{what} was accepted");
    }
    fs::write(&path, &good).unwrap();
    assert!(cache.load(&key("svc")).is_some(), "the good file is read");
    // A directory where the file should be: unreadable, ignored.
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    assert!(cache.load(&key("svc")).is_none());
}

#[test]
fn file_names_are_safe_and_distinct() {
    let plain = file_name("svc#@#i#@#g");
    assert_eq!(plain, "svc%23%40%23i%23%40%23g.list");
    assert!(!file_name("../../etc/passwd").contains('/'));
    assert!(!file_name(".hidden").starts_with('.'));
    let long_a = file_name(&"a".repeat(400));
    let long_b = file_name(&format!("{}b", "a".repeat(399)));
    assert!(long_a.len() <= MAX_NAME + 5, "{}", long_a.len());
    assert_ne!(long_a, long_b, "long keys stay distinct by their hash");
}

#[test]
fn the_writer_writes_the_newest_list_of_each_key_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(Cache::open(dir.path().to_path_buf()).unwrap());
    let writer = Writer::spawn(cache.clone()).unwrap();
    let q = writer.queue();
    for seq in 1..=50 {
        q.put(update("a", seq, &["10.0.0.1:80"]));
        q.put(update("b", seq, &["10.0.0.2:80"]));
    }
    drop(writer); // writes what is pending, then ends
    for k in ["a", "b"] {
        let c = cache.load(&key(k)).unwrap();
        assert_eq!(c.version, DatumVersion::new(LeaderEpoch(3), 50), "{k}");
    }
}

#[test]
fn an_unusable_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    assert!(Cache::open(file).is_err());
}
