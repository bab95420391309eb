//! Fuzz target `thumbnail`: see `cookim_protocol_fuzz::thumbnail`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cookim_protocol_fuzz::thumbnail(data));
