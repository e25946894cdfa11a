#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_dns::fuzzing::check_query(data));
