//! Replays the `config` and `acl` fuzz corpora (`fuzz/corpus/config/`, `fuzz/corpus/acl/`)
//! through the checks the cargo-fuzz targets run (`roster::fuzzing`), on stable and without libFuzzer: every
//! file there, so an input a fuzzer found (kept as `seed-regression-*`) is checked by a
//! plain `cargo test`. The seeds are the operations guide's example files and the bad files
//! the tests start nodes with.

use roster::config::NodeFile;
use roster::fuzzing::{check_acl_file, check_node_file};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    corpus_of("config")
}

fn corpus_of(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The corpus files of `target` that make `check` panic.
fn failing(target: &str, check: fn(&[u8])) -> Vec<String> {
    let files = corpus_of(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target}/ is empty");
    files
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn every_corpus_file_passes_the_fuzz_check() {
    let failed = failing("config", check_node_file);
    assert!(failed.is_empty(), "failing inputs: {failed:?}");
}

#[test]
fn the_example_seeds_parse_and_the_bad_ones_are_refused() {
    for file in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = NodeFile::parse(&text);
        if name.starts_with("seed-operations-") {
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        } else if name == "seed-unknown-field.toml" || name == "seed-wrong-type.toml" {
            let e = parsed.unwrap_err().0;
            assert!(e.contains("heartbeat"), "{name}: {e}");
        }
    }
}

#[test]
fn every_acl_corpus_file_passes_the_fuzz_check() {
    let failed = failing("acl", check_acl_file);
    assert!(failed.is_empty(), "failing inputs: {failed:?}");
}

#[test]
fn the_guide_s_rule_file_parses_and_the_bad_seeds_are_refused() {
    for file in corpus_of("acl") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = roster::acl::parse(&text);
        match name.as_str() {
            "seed-security-guide.toml" | "seed-allow-all.toml" | "seed-deny-first.toml" => {
                assert!(parsed.is_ok(), "{name}: {parsed:?}")
            }
            "seed-bad-digest.toml"
            | "seed-twice.toml"
            | "seed-empty-prefix.toml"
            | "seed-unknown-field.toml" => assert!(parsed.is_err(), "{name}"),
            _ => {}
        }
    }
}
