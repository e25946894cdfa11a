#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_core::client::fuzzing::check_delta(data));
