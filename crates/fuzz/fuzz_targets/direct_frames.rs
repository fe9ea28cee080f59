//! The direct request-response frames: the shared framing, the inbox and /accord/dm/1 decoders.
//! The check is `accord_decoder_checks`'s `direct_frames` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("direct_frames", data));
