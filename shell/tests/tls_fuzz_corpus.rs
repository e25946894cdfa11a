//! Replays the `tls_handshake` fuzz corpus (`fuzz/corpus/tls_handshake/`) through the check
//! the cargo-fuzz target runs (`roster_shell::tls::fuzzing`), on stable and without
//! libFuzzer: every file, so an input the fuzzer found and was copied there is checked by a
//! plain `cargo test`.
//!
//! The committed seeds are rebuilt by the ignored test at the bottom:
//! `cargo test -p roster-shell --test tls_fuzz_corpus -- --ignored`.

use roster_core::model::Text;
use roster_core::wire::{ClientHello, Frame};
use roster_shell::tls::fuzzing::{check_server_handshake, client_hello};
use std::fs;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/tls_handshake")
}

#[test]
fn every_corpus_file_runs_without_panicking() {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("the corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the committed seeds are there");
    for f in files {
        check_server_handshake(&fs::read(&f).unwrap());
    }
}

#[test]
#[ignore = "rewrites the committed seeds"]
fn write_seeds() {
    let hello = client_hello();
    let frame = Frame::new(1, ClientHello::new(Text::from("fuzz"), 1))
        .to_bytes()
        .unwrap();
    // First byte: how the rest is fed (see the fuzzing module).
    let seeds: [(&str, u8, &[u8]); 6] = [
        ("client-hello-whole", 0x00, &hello),
        ("client-hello-5b-pieces", 0x05, &hello),
        ("client-hello-glommio", 0x40, &hello),
        ("frame-after-handshake", 0x80, &frame),
        ("frame-after-handshake-3b-glommio", 0xc3, &frame),
        ("junk-record", 0x00, b"\x16\x03\x01\xff\xff\x01\x00"),
    ];
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, how, body) in seeds {
        let mut bytes = vec![how];
        bytes.extend_from_slice(body);
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}
