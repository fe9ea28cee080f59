//! Statements, attestations, their portable text form, attestation ids, offline verification.
//! The check is `accord_decoder_checks`'s `attestation` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("attestation", data));
