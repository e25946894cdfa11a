#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_core::wire::fuzzing::check_roundtrip(data));
