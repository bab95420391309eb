//! Fuzz target `binary_decode`: see `cookim_protocol_fuzz::binary_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cookim_protocol_fuzz::binary_decode(data));
