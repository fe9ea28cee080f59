//! A control API request line.
//! The check is `accord_decoder_checks`'s `control_request` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("control_request", data));
