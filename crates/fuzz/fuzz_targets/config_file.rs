//! The config file.
//! The check is `accord_decoder_checks`'s `config_file` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("config_file", data));
