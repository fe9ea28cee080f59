//! What every decoder of untrusted bytes must do on any input: return a typed error or a
//! value, never panic, and, for the canonical encodings, re-encode what it accepted to
//! exactly the bytes it was given.
//!
//! Each [`Target`] is one entry point a peer, a client or a damaged disk can reach with bytes
//! of its choosing; its check runs the decoders behind it and asserts their invariants, so
//! a broken invariant is a panic. Two drivers share these checks:
//!
//! - the cargo-fuzz crate in `crates/fuzz` (outside the workspace), one fuzz target per
//!   [`Target`], under libFuzzer;
//! - `tests/tests/decoders.rs`, which runs them over the committed seed corpus and over
//!   random and mutated inputs with proptest, so CI catches a regression without a fuzzer.
//!
//! The checks run in a fixed [`fixtures::World`] (identities, a handshake and a channel built
//! deterministically), and [`seeds::all`] gives the valid encodings the corpus starts from.
//! See `docs/fuzzing.md`.

mod channel_checks;
pub mod fixtures;
mod handshake_checks;
mod local_checks;
pub mod seeds;
mod transport_checks;

/// One decoder entry point and its check.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The fuzz target's name, which is also its seed corpus directory.
    pub name: &'static str,
    /// Runs the decoders on the input and asserts their invariants (panics on a violation).
    pub check: fn(&[u8]),
}

/// Every target, in the order `docs/fuzzing.md` lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "gossip_frame",
        check: handshake_checks::gossip_frame,
    },
    Target {
        name: "payload",
        check: handshake_checks::payload,
    },
    Target {
        name: "sealed_box",
        check: handshake_checks::sealed_box,
    },
    Target {
        name: "ratchet_header",
        check: channel_checks::ratchet_header,
    },
    Target {
        name: "envelope",
        check: channel_checks::envelope,
    },
    Target {
        name: "ratchet_state",
        check: channel_checks::ratchet_state,
    },
    Target {
        name: "attestation",
        check: handshake_checks::attestation,
    },
    Target {
        name: "direct_frames",
        check: transport_checks::direct_frames,
    },
    Target {
        name: "control_request",
        check: transport_checks::control_request,
    },
    Target {
        name: "key_file",
        check: local_checks::key_file,
    },
    Target {
        name: "config_file",
        check: local_checks::config_file,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// Runs the check of the target called `name` (what each fuzz target does).
///
/// # Panics
///
/// If there is no such target (a typo in a fuzz target), or when the check finds a broken
/// invariant.
pub fn run(name: &str, data: &[u8]) {
    match target(name) {
        Some(target) => (target.check)(data),
        None => panic!("no decoder target called {name:?}"),
    }
}

/// Asserts that an error explains itself: the "clear message" half of "a typed error, never a
/// panic".
fn assert_explained<E: std::fmt::Display>(err: &E) {
    assert!(
        !err.to_string().trim().is_empty(),
        "a decoder error has an empty message"
    );
}
