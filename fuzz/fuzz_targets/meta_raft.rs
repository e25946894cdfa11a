#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_core::meta::fuzzing::check_raft_messages(data));
