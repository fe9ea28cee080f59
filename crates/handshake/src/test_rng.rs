//! Test helpers: fixed times, parties and invites. The deterministic RNG and the leak-check
//! encoders are accord-identity's (`test_rng`), shared by every crate's tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use accord_identity::Identity;
pub(crate) use accord_identity::test_rng::{TestRng, base58};

use crate::{Invite, Note, OneTimeSecret};

/// A fixed "now" for tests: 2023-11-14T22:13:20Z.
pub(crate) const NOW: u64 = 1_700_000_000_000;
/// One day in milliseconds.
pub(crate) const DAY: u64 = 86_400_000;

/// Three distinct identities: (inviter, invitee, stranger).
pub(crate) fn parties(seed: u64) -> (Identity, Identity, Identity) {
    let mut rng = TestRng::new(seed);
    (
        Identity::generate(&mut rng),
        Identity::generate(&mut rng),
        Identity::generate(&mut rng),
    )
}

/// An invite from `a` to `b` made at [`NOW`], valid 14 days, with the secret; `seed` picks
/// the invite id and one-time key.
pub(crate) fn invite(a: &Identity, b: &Identity, seed: u64) -> (Invite, OneTimeSecret) {
    let note = Note::new("Hello! Let's connect.", Note::MAX_CHARS).unwrap();
    Invite::create(a, b.id(), note, NOW, 14 * DAY, &mut TestRng::new(seed)).unwrap()
}
