//! A key file: the parse-only step, decode without a passphrase, cheap decryption.
//! The check is `accord_decoder_checks`'s `key_file` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("key_file", data));
