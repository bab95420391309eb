//! Fuzz target `chat_up`: see `cookim_protocol_fuzz::chat_up`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cookim_protocol_fuzz::chat_up(data));
