#![no_main]
//! Access-rule files: arbitrary text through the parser (`roster::fuzzing::check_acl_file`);
//! nothing panics, every refusal says why, and accepted rules decide consistently.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster::fuzzing::check_acl_file(data));
