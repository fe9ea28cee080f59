//! A gossip frame as a relay and its recipient see it: decode, validate, trial-open as the fixed recipient.
//! The check is `accord_decoder_checks`'s `gossip_frame` target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| accord_decoder_checks::run("gossip_frame", data));
