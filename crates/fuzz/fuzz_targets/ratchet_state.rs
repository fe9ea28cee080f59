//! Stored session state, as a damaged disk may return it.
//! The check is `accord_decoder_checks`'s `ratchet_state` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("ratchet_state", data));
