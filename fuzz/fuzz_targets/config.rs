#![no_main]
//! Node files: arbitrary text through the parser and the start-up checks
//! (`roster::fuzzing::check_node_file`); nothing panics and every refusal says why.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster::fuzzing::check_node_file(data));
