//! A channel envelope: decode, then decrypt with a fixed session that a failure must leave untouched.
//! The check is `accord_decoder_checks`'s `envelope` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("envelope", data));
