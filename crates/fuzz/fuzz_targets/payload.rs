//! A handshake payload (invite, acceptance, withdrawal, revocation): decode and verify.
//! The check is `accord_decoder_checks`'s `payload` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("payload", data));
