//! A Double Ratchet header.
//! The check is `accord_decoder_checks`'s `ratchet_header` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("ratchet_header", data));
