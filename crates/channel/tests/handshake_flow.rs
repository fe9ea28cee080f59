//! End to end with the real handshake: invite, acceptance carrying the invitee's first channel
//! message (sealed over the gossip inbox as a node would send it), attestation, then a
//! conversation — using only the public APIs of the three crates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use accord_channel::{ChannelError, ENVELOPE_OVERHEAD, Role, Session};
use accord_handshake::{Acceptance, Invite, Note, Payload, open_payload, seal_payload};
use accord_identity::Identity;
use getrandom::SysRng;
use rand_core::UnwrapErr;

const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 86_400_000;

#[test]
fn first_message_travels_in_the_acceptance() {
    let mut rng = UnwrapErr(SysRng);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);

    // Alice invites Bob; her node keeps the one-time secret with the outgoing invite.
    let note = Note::new("Hi Bob", 300).unwrap();
    let (invite, one_time) =
        Invite::create(&alice, bob.id(), note, NOW, 14 * DAY_MS, &mut rng).unwrap();
    let frame = seal_payload(&bob.id(), &Payload::Invite(invite.clone()), NOW, &mut rng).unwrap();

    // Bob receives and checks it, accepts, and sets up his session.
    let Payload::Invite(received) = open_payload(&bob, &frame, NOW + 1).unwrap() else {
        panic!("not an invite");
    };
    received.verify(&bob.id(), NOW + 1, 60_000).unwrap();
    let (mut acceptance, ephemeral) =
        Acceptance::create(&bob, &received, Vec::new(), &mut rng).unwrap();
    let attestation_id = received.statement().id();
    let mut bob_session = Session::new_invitee(
        &bob,
        &ephemeral,
        &received.inviter,
        &received.one_time_key,
        &attestation_id,
        &mut rng,
    )
    .unwrap();
    drop(ephemeral); // Used once, then deleted.
    assert_eq!(bob_session.role(), Role::Invitee);
    let first = bob_session.encrypt(b"Hello Alice!", &mut rng).unwrap();
    assert!(first.len() <= Acceptance::MAX_FIRST_MESSAGE);
    acceptance.set_first_message(first).unwrap();
    let frame = seal_payload(
        &alice.id(),
        &Payload::Acceptance(acceptance),
        NOW + 1,
        &mut rng,
    )
    .unwrap();

    // Alice opens and verifies the acceptance, builds her session, reads the first message.
    let Payload::Acceptance(acceptance) = open_payload(&alice, &frame, NOW + 2).unwrap() else {
        panic!("not an acceptance");
    };
    let attestation = acceptance.verify(&invite).unwrap();
    assert_eq!(attestation.id(), attestation_id);
    let mut alice_session = Session::new_inviter(
        &alice,
        &one_time,
        &acceptance.invitee,
        &acceptance.ephemeral_key,
        &attestation.id(),
    )
    .unwrap();
    drop(one_time); // Deleted with the attestation's store transaction.
    assert_eq!(alice_session.session_id(), bob_session.session_id());
    assert!(!alice_session.can_send());
    assert_eq!(
        alice_session
            .decrypt(acceptance.first_message(), NOW + 2)
            .unwrap(),
        b"Hello Alice!"
    );
    // A replayed acceptance's first message does not decrypt again.
    assert_eq!(
        alice_session.decrypt(acceptance.first_message(), NOW + 2),
        Err(ChannelError::MessageKeyUnavailable)
    );

    // Now both can talk, with the state persisted and restored between messages.
    for i in 0..10u32 {
        let text = format!("message {i}");
        let (from, to) = if i % 2 == 0 {
            (&mut alice_session, &mut bob_session)
        } else {
            (&mut bob_session, &mut alice_session)
        };
        let envelope = from.encrypt(text.as_bytes(), &mut rng).unwrap();
        assert_eq!(envelope.len(), ENVELOPE_OVERHEAD + text.len());
        *from = Session::from_bytes(&from.to_bytes()).unwrap();
        assert_eq!(to.decrypt(&envelope, NOW + 3).unwrap(), text.as_bytes());
        *to = Session::from_bytes(&to.to_bytes()).unwrap();
    }
}

#[test]
fn empty_first_message_still_lets_the_inviter_send() {
    let mut rng = UnwrapErr(SysRng);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let note = Note::new("hi", 300).unwrap();
    let (invite, one_time) = Invite::create(&alice, bob.id(), note, NOW, DAY_MS, &mut rng).unwrap();
    let (mut acceptance, ephemeral) =
        Acceptance::create(&bob, &invite, Vec::new(), &mut rng).unwrap();
    let id = invite.statement().id();
    let mut bob_session = Session::new_invitee(
        &bob,
        &ephemeral,
        &invite.inviter,
        &invite.one_time_key,
        &id,
        &mut rng,
    )
    .unwrap();
    acceptance
        .set_first_message(bob_session.encrypt(b"", &mut rng).unwrap())
        .unwrap();
    let attestation = acceptance.verify(&invite).unwrap();
    let mut alice_session = Session::new_inviter(
        &alice,
        &one_time,
        &acceptance.invitee,
        &acceptance.ephemeral_key,
        &attestation.id(),
    )
    .unwrap();
    assert_eq!(
        alice_session
            .decrypt(acceptance.first_message(), NOW)
            .unwrap(),
        b""
    );
    let m = alice_session.encrypt(b"welcome", &mut rng).unwrap();
    assert_eq!(bob_session.decrypt(&m, NOW).unwrap(), b"welcome");
}
