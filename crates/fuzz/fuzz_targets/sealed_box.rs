//! A sealed box opened as the fixed recipient.
//! The check is `accord_decoder_checks`'s `sealed_box` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("sealed_box", data));
