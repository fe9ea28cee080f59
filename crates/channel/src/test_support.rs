//! Test helpers: sessions set up through the real handshake, with accord-identity's shared
//! deterministic RNG.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use accord_handshake::{Acceptance, Invite, Note};
use accord_identity::Identity;
pub(crate) use accord_identity::test_rng::TestRng;

use crate::session::Session;

/// A fixed "now" for tests (Unix ms).
pub(crate) const NOW: u64 = 1_700_000_000_000;

/// Two sessions set up from a real invite and acceptance, before the first message:
/// `(inviter, invitee, rng)`.
pub(crate) fn fresh_pair(seed: u64) -> (Session, Session, TestRng) {
    let mut rng = TestRng::new(seed);
    let inviter = Identity::generate(&mut rng);
    let invitee = Identity::generate(&mut rng);
    let note = Note::new("hello", 300).unwrap();
    let (invite, one_time) =
        Invite::create(&inviter, invitee.id(), note, NOW, 86_400_000, &mut rng).unwrap();
    let (acceptance, ephemeral) =
        Acceptance::create(&invitee, &invite, Vec::new(), &mut rng).unwrap();
    let attestation = acceptance.verify(&invite).unwrap();
    let invitee_session = Session::new_invitee(
        &invitee,
        &ephemeral,
        &invite.inviter,
        &invite.one_time_key,
        &attestation.id(),
        &mut rng,
    )
    .unwrap();
    let inviter_session = Session::new_inviter(
        &inviter,
        &one_time,
        &acceptance.invitee,
        &acceptance.ephemeral_key,
        &attestation.id(),
    )
    .unwrap();
    (inviter_session, invitee_session, rng)
}

/// Two sessions after the invitee's (empty) first message was received, so both can send:
/// `(inviter, invitee, rng)`.
pub(crate) fn connected_pair(seed: u64) -> (Session, Session, TestRng) {
    let (mut inviter, mut invitee, mut rng) = fresh_pair(seed);
    let first = invitee.encrypt(b"", &mut rng).unwrap();
    assert_eq!(inviter.decrypt(&first, NOW).unwrap(), b"");
    (inviter, invitee, rng)
}

/// The session's state bytes, to check that a call left it unchanged.
pub(crate) fn snapshot(session: &Session) -> Vec<u8> {
    session.to_bytes().to_vec()
}

/// An independent copy of a session, as an attacker who read the stored state would have.
pub(crate) fn copy(session: &Session) -> Session {
    Session::from_bytes(&session.to_bytes()).unwrap()
}

/// An independent copy of a session with another peer ID and attestation id (its associated
/// data changes accordingly), as if it had been set up with those.
pub(crate) fn copy_with(
    session: &Session,
    peer: accord_identity::AccordId,
    attestation_id: accord_handshake::AttestationId,
) -> Session {
    let copy = copy(session);
    Session::assemble(copy.role, &attestation_id, copy.us, peer, copy.ratchet)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
