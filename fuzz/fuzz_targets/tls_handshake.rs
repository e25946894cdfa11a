#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_shell::tls::fuzzing::check_server_handshake(data));
