//! Session behaviour: round trips, ordering, replays, bounds, tampering and set-up checks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use super::*;
use crate::test_support::{NOW, TestRng, connected_pair, fresh_pair, snapshot};
use crate::{MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_TTL_MS};
use accord_handshake::{Acceptance, Invite, Note};
use accord_identity::Identity;

/// Small-order x25519 u-coordinates (and non-canonical encodings of them): DH with any of
/// them gives all zeros.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut one = [0u8; 32];
    one[0] = 1;
    let hex = |s: &str| -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    };
    vec![
        [0u8; 32],
        one,
        hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ]
}

#[test]
fn round_trip_both_directions() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(1);
    assert_eq!(inviter.session_id(), invitee.session_id());
    assert_eq!(inviter.role(), Role::Inviter);
    assert_eq!(invitee.role(), Role::Invitee);
    assert_eq!(inviter.peer_id(), invitee.our_id());
    let m = inviter.encrypt(b"from the inviter", &mut rng).unwrap();
    assert_eq!(invitee.decrypt(&m, NOW).unwrap(), b"from the inviter");
    let m = invitee.encrypt(b"from the invitee", &mut rng).unwrap();
    assert_eq!(inviter.decrypt(&m, NOW).unwrap(), b"from the invitee");
    let empty = invitee.encrypt(b"", &mut rng).unwrap();
    assert_eq!(empty.len(), crate::ENVELOPE_OVERHEAD);
    assert_eq!(inviter.decrypt(&empty, NOW).unwrap(), b"");
}

#[test]
fn inviter_cannot_send_first() {
    let (mut inviter, mut invitee, mut rng) = fresh_pair(2);
    assert!(!inviter.can_send());
    assert!(invitee.can_send());
    let before = snapshot(&inviter);
    assert_eq!(
        inviter.encrypt(b"too early", &mut rng),
        Err(ChannelError::CannotSendYet)
    );
    assert_eq!(snapshot(&inviter), before);
    let first = invitee.encrypt(b"hi", &mut rng).unwrap();
    inviter.decrypt(&first, NOW).unwrap();
    assert!(inviter.can_send());
}

#[test]
fn long_one_way_runs() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(3);
    for i in 0..300u32 {
        let m = invitee.encrypt(&i.to_be_bytes(), &mut rng).unwrap();
        assert_eq!(inviter.decrypt(&m, NOW).unwrap(), i.to_be_bytes());
    }
    for i in 0..300u32 {
        let m = inviter.encrypt(&i.to_be_bytes(), &mut rng).unwrap();
        assert_eq!(invitee.decrypt(&m, NOW).unwrap(), i.to_be_bytes());
    }
    assert_eq!(inviter.skipped_key_count(), 0);
    assert_eq!(invitee.skipped_key_count(), 0);
}

#[test]
fn ping_pong_steps_the_dh_ratchet_every_turn() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(4);
    let mut seen_keys = std::collections::HashSet::new();
    for turn in 0..50u32 {
        let (from, to) = if turn % 2 == 0 {
            (&mut inviter, &mut invitee)
        } else {
            (&mut invitee, &mut inviter)
        };
        let m = from.encrypt(&turn.to_be_bytes(), &mut rng).unwrap();
        let header = Envelope::decode(&m).unwrap().header;
        // A fresh ratchet key every turn, and each turn is message 0 of a new chain.
        assert!(
            seen_keys.insert(header.ratchet_key.to_bytes()),
            "turn {turn}"
        );
        assert_eq!(header.message_number, 0);
        assert_eq!(to.decrypt(&m, NOW).unwrap(), turn.to_be_bytes());
    }
}

#[test]
fn out_of_order_within_max_skip() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(5);
    let messages: Vec<_> = (0..20u32)
        .map(|i| invitee.encrypt(&i.to_be_bytes(), &mut rng).unwrap())
        .collect();
    // Deliver in reverse: the first delivery skips 19 keys.
    for (i, m) in messages.iter().enumerate().rev() {
        assert_eq!(inviter.decrypt(m, NOW).unwrap(), (i as u32).to_be_bytes());
    }
    assert_eq!(inviter.skipped_key_count(), 0);

    // Across a DH ratchet step: hold back message 1 of a chain, let the chain change, then
    // deliver it.
    let a0 = inviter.encrypt(b"a0", &mut rng).unwrap();
    let a1 = inviter.encrypt(b"a1", &mut rng).unwrap();
    let a2 = inviter.encrypt(b"a2", &mut rng).unwrap();
    invitee.decrypt(&a0, NOW).unwrap();
    invitee.decrypt(&a2, NOW).unwrap();
    let b = invitee.encrypt(b"b", &mut rng).unwrap();
    inviter.decrypt(&b, NOW).unwrap();
    let a3 = inviter.encrypt(b"a3", &mut rng).unwrap();
    assert_eq!(invitee.decrypt(&a3, NOW).unwrap(), b"a3");
    assert_eq!(invitee.skipped_key_count(), 1);
    assert_eq!(invitee.decrypt(&a1, NOW).unwrap(), b"a1");
    assert_eq!(invitee.skipped_key_count(), 0);
}

#[test]
fn a_new_chain_skips_the_rest_of_the_previous_one() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(6);
    let lost: Vec<_> = (0..3)
        .map(|_| invitee.encrypt(b"old chain", &mut rng).unwrap())
        .collect();
    let m = inviter.encrypt(b"turn", &mut rng).unwrap();
    invitee.decrypt(&m, NOW).unwrap();
    let new = invitee.encrypt(b"new chain", &mut rng).unwrap();
    // The previous chain: the (empty) first message, then the three lost ones.
    assert_eq!(
        Envelope::decode(&new).unwrap().header.previous_chain_length,
        4
    );
    assert_eq!(inviter.decrypt(&new, NOW).unwrap(), b"new chain");
    assert_eq!(inviter.skipped_key_count(), 3);
    for m in lost.iter().rev() {
        assert_eq!(inviter.decrypt(m, NOW).unwrap(), b"old chain");
    }
}

#[test]
fn replay_fails_and_changes_nothing() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(7);
    let m0 = invitee.encrypt(b"zero", &mut rng).unwrap();
    let m1 = invitee.encrypt(b"one", &mut rng).unwrap();
    let m2 = invitee.encrypt(b"two", &mut rng).unwrap();
    inviter.decrypt(&m0, NOW).unwrap();
    inviter.decrypt(&m2, NOW).unwrap();
    inviter.decrypt(&m1, NOW).unwrap(); // from the skipped store
    for m in [&m0, &m1, &m2] {
        let before = snapshot(&inviter);
        assert_eq!(
            inviter.decrypt(m, NOW),
            Err(ChannelError::MessageKeyUnavailable)
        );
        assert_eq!(snapshot(&inviter), before);
    }
    // Also a replay from an older chain, after a DH ratchet step.
    let reply = inviter.encrypt(b"reply", &mut rng).unwrap();
    invitee.decrypt(&reply, NOW).unwrap();
    let m3 = invitee.encrypt(b"three", &mut rng).unwrap();
    inviter.decrypt(&m3, NOW).unwrap();
    let before = snapshot(&inviter);
    assert!(inviter.decrypt(&m0, NOW).is_err());
    assert!(inviter.decrypt(&m3, NOW).is_err());
    assert_eq!(snapshot(&inviter), before);
}

#[test]
fn a_node_may_lower_the_skip_bounds() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(9);
    let limits = crate::SkipLimits::new(10, 12).unwrap();
    // The inviter expects message 1; message 12 skips 11, one more than allowed.
    let messages: Vec<_> = (1..=30)
        .map(|_| invitee.encrypt(b"x", &mut rng).unwrap())
        .collect();
    let before = snapshot(&inviter);
    assert_eq!(
        inviter.decrypt_within(&messages[11], NOW, limits),
        Err(ChannelError::TooManySkipped { skip: 11, max: 10 })
    );
    assert_eq!(snapshot(&inviter), before);
    // Skipping 10 is allowed, and the default bounds would allow the refused header.
    assert_eq!(
        inviter.decrypt_within(&messages[10], NOW, limits).unwrap(),
        b"x"
    );
    assert_eq!(inviter.skipped_key_count(), 10);
    // Ten more skipped keys: only the newest 12 are kept.
    assert_eq!(
        inviter.decrypt_within(&messages[21], NOW, limits).unwrap(),
        b"x"
    );
    assert_eq!(inviter.skipped_key_count(), 12);
    // The oldest skipped key (message 1) was evicted; a recent one (message 20) still opens.
    assert!(inviter.decrypt_within(&messages[0], NOW, limits).is_err());
    assert_eq!(
        inviter.decrypt_within(&messages[20], NOW, limits).unwrap(),
        b"x"
    );
}

#[test]
fn too_many_skipped_is_refused_before_any_work() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(8);
    // The inviter has received message 0 of this chain and expects message 1.
    let messages: Vec<_> = (1..=MAX_SKIP + 2)
        .map(|_| invitee.encrypt(b"x", &mut rng).unwrap())
        .collect();
    let too_far = &messages[messages.len() - 1]; // message MAX_SKIP + 2: skips MAX_SKIP + 1
    let before = snapshot(&inviter);
    assert_eq!(
        inviter.decrypt(too_far, NOW),
        Err(ChannelError::TooManySkipped {
            skip: u64::from(MAX_SKIP) + 1,
            max: MAX_SKIP
        })
    );
    assert_eq!(snapshot(&inviter), before);
    assert_eq!(inviter.skipped_key_count(), 0);
    // Exactly MAX_SKIP is allowed.
    let just_enough = &messages[messages.len() - 2];
    assert_eq!(inviter.decrypt(just_enough, NOW).unwrap(), b"x");
    assert_eq!(inviter.skipped_key_count(), MAX_SKIP as usize);
    assert_eq!(inviter.decrypt(too_far, NOW).unwrap(), b"x");
}

#[test]
fn forged_huge_message_numbers_are_refused_unchanged() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(9);
    let m = invitee.encrypt(b"x", &mut rng).unwrap();
    let before = snapshot(&inviter);
    for (pn, n) in [(0, u32::MAX), (u32::MAX, 0), (MAX_SKIP + 2, 0)] {
        let mut forged = Envelope::decode(&m).unwrap();
        forged.header.previous_chain_length = pn;
        forged.header.message_number = n;
        let result = inviter.decrypt(&forged.encode(), NOW);
        if n > MAX_SKIP {
            assert!(
                matches!(result, Err(ChannelError::TooManySkipped { .. })),
                "{result:?}"
            );
        } else {
            assert!(result.is_err());
        }
        assert_eq!(snapshot(&inviter), before);
    }
    // A new ratchet key whose header claims a previous chain far beyond ours.
    let reply = inviter.encrypt(b"r", &mut rng).unwrap();
    invitee.decrypt(&reply, NOW).unwrap();
    let next = invitee.encrypt(b"n", &mut rng).unwrap();
    let mut forged = Envelope::decode(&next).unwrap();
    forged.header.previous_chain_length = MAX_SKIP + 10;
    let before = snapshot(&inviter);
    assert!(matches!(
        inviter.decrypt(&forged.encode(), NOW),
        Err(ChannelError::TooManySkipped { .. })
    ));
    assert_eq!(snapshot(&inviter), before);
    assert_eq!(inviter.decrypt(&next, NOW).unwrap(), b"n");
}

/// Sends `count` messages from `from` and delivers only the last one, leaving `count - 1`
/// skipped keys at `to`.
fn skip_a_chain(from: &mut Session, to: &mut Session, count: u32, rng: &mut TestRng, now: u64) {
    let mut last = Vec::new();
    for _ in 0..count {
        last = from.encrypt(b"s", rng).unwrap();
    }
    to.decrypt(&last, now).unwrap();
}

#[test]
fn skipped_keys_are_bounded_in_number() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(10);
    let mut held = Vec::new();
    for round in 0..3u64 {
        held.push(invitee.encrypt(b"held", &mut rng).unwrap());
        skip_a_chain(&mut invitee, &mut inviter, MAX_SKIP, &mut rng, NOW + round);
        let turn = inviter.encrypt(b"turn", &mut rng).unwrap();
        invitee.decrypt(&turn, NOW + round).unwrap();
    }
    // 3 chains × 1000 skipped keys, capped at 2000: the first chain's keys were evicted.
    assert_eq!(inviter.skipped_key_count(), MAX_SKIPPED_KEYS);
    let before = snapshot(&inviter);
    assert!(inviter.decrypt(&held[0], NOW).is_err());
    assert_eq!(snapshot(&inviter), before);
    assert_eq!(inviter.decrypt(&held[2], NOW).unwrap(), b"held");
    assert_eq!(inviter.decrypt(&held[1], NOW).unwrap(), b"held");
    let state = inviter.to_bytes();
    assert!(state.len() <= crate::MAX_STATE_LEN);
}

#[test]
fn skipped_keys_expire_after_seven_days() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(11);
    let late = invitee.encrypt(b"late", &mut rng).unwrap();
    let later = invitee.encrypt(b"later", &mut rng).unwrap();
    let next = invitee.encrypt(b"next", &mut rng).unwrap();
    inviter.decrypt(&next, NOW).unwrap();
    assert_eq!(inviter.skipped_key_count(), 2);
    // Still there one millisecond before the deadline.
    assert_eq!(
        inviter
            .decrypt(&late, NOW + SKIPPED_KEY_TTL_MS - 1)
            .unwrap(),
        b"late"
    );
    let before = snapshot(&inviter);
    assert_eq!(
        inviter.decrypt(&later, NOW + SKIPPED_KEY_TTL_MS),
        Err(ChannelError::MessageKeyUnavailable)
    );
    assert_eq!(
        snapshot(&inviter),
        before,
        "a failed decryption commits no purge"
    );
    inviter.purge_expired(NOW + SKIPPED_KEY_TTL_MS);
    assert_eq!(inviter.skipped_key_count(), 0);
}

#[test]
fn tampering_fails_and_changes_nothing() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(12);
    // Once within a chain and once with a new ratchet key (a DH step on the copy).
    for new_chain in [false, true] {
        if new_chain {
            let turn = inviter.encrypt(b"turn", &mut rng).unwrap();
            invitee.decrypt(&turn, NOW).unwrap();
        }
        let m = invitee.encrypt(b"authentic message", &mut rng).unwrap();
        let before = snapshot(&inviter);
        for i in 0..m.len() {
            let mut bad = m.clone();
            bad[i] ^= 0x01;
            assert!(inviter.decrypt(&bad, NOW).is_err(), "byte {i}");
            assert_eq!(snapshot(&inviter), before, "byte {i}");
        }
        let mut truncated = m.clone();
        truncated.pop();
        assert_eq!(
            inviter.decrypt(&truncated, NOW),
            Err(ChannelError::Decryption)
        );
        let mut extended = m.clone();
        extended.push(0);
        assert_eq!(
            inviter.decrypt(&extended, NOW),
            Err(ChannelError::Decryption)
        );
        assert_eq!(snapshot(&inviter), before);
        assert_eq!(inviter.decrypt(&m, NOW).unwrap(), b"authentic message");
    }
}

#[test]
fn associated_data_binds_direction_and_identities() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(13);
    let m = invitee.encrypt(b"x", &mut rng).unwrap();
    // Reflected back to its sender, it does not decrypt (the AD names sender and recipient).
    let before = snapshot(&invitee);
    assert!(invitee.decrypt(&m, NOW).is_err());
    assert_eq!(snapshot(&invitee), before);
    // A session with the same keys but another peer identity does not accept it either.
    let stranger = Identity::generate(&mut TestRng::new(99)).id();
    let mut other = crate::test_support::copy_with(&inviter, stranger, inviter.attestation_id);
    assert_eq!(other.decrypt(&m, NOW), Err(ChannelError::Decryption));
    let mut other = crate::test_support::copy_with(
        &inviter,
        inviter.peer,
        accord_handshake::AttestationId([7; 32]),
    );
    // (Another attestation id also means another session id; keep ours so that the AD is what
    // is tested.)
    other.session_id = inviter.session_id;
    assert_eq!(other.decrypt(&m, NOW), Err(ChannelError::Decryption));
    assert_eq!(inviter.decrypt(&m, NOW).unwrap(), b"x");
}

#[test]
fn wrong_session_is_refused() {
    let (mut inviter, _, _) = connected_pair(14);
    let (_, mut other_invitee, mut rng) = connected_pair(15);
    let m = other_invitee.encrypt(b"x", &mut rng).unwrap();
    let before = snapshot(&inviter);
    assert!(matches!(
        inviter.decrypt(&m, NOW),
        Err(ChannelError::WrongSession { .. })
    ));
    // Even with our session id pasted in, it does not authenticate.
    let mut pasted = Envelope::decode(&m).unwrap();
    pasted.session_id = inviter.session_id();
    assert!(inviter.decrypt(&pasted.encode(), NOW).is_err());
    assert_eq!(snapshot(&inviter), before);
}

#[test]
fn low_order_ratchet_key_in_header_is_refused() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(16);
    let m = invitee.encrypt(b"x", &mut rng).unwrap();
    let before = snapshot(&inviter);
    for point in low_order_points() {
        let mut forged = Envelope::decode(&m).unwrap();
        forged.header.ratchet_key = PublicKey::from(point);
        assert_eq!(
            inviter.decrypt(&forged.encode(), NOW),
            Err(ChannelError::NonContributory)
        );
    }
    assert_eq!(snapshot(&inviter), before);
}

#[test]
fn low_order_keys_are_refused_at_set_up() {
    let mut rng = TestRng::new(17);
    let inviter = Identity::generate(&mut rng);
    let invitee = Identity::generate(&mut rng);
    let note = Note::new("hi", 300).unwrap();
    let (invite, one_time) =
        Invite::create(&inviter, invitee.id(), note, NOW, 86_400_000, &mut rng).unwrap();
    let (acceptance, ephemeral) =
        Acceptance::create(&invitee, &invite, Vec::new(), &mut rng).unwrap();
    let id = acceptance.verify(&invite).unwrap().id();
    for point in low_order_points() {
        let bad = PublicKey::from(point);
        assert!(matches!(
            Session::new_inviter(&inviter, &one_time, &invitee.id(), &bad, &id),
            Err(SessionError::NonContributory)
        ));
        assert!(matches!(
            Session::new_invitee(&invitee, &ephemeral, &inviter.id(), &bad, &id, &mut rng),
            Err(SessionError::NonContributory)
        ));
    }
    assert!(matches!(
        Session::new_inviter(
            &inviter,
            &one_time,
            &inviter.id(),
            &acceptance.ephemeral_key,
            &id
        ),
        Err(SessionError::SameIdentity)
    ));
    assert!(matches!(
        Session::new_invitee(
            &invitee,
            &ephemeral,
            &invitee.id(),
            &invite.one_time_key,
            &id,
            &mut rng
        ),
        Err(SessionError::SameIdentity)
    ));
}

#[test]
fn mismatched_set_up_does_not_communicate() {
    // The invitee uses another attestation id: both derive different root keys (and session
    // ids), so nothing decrypts.
    let (mut inviter, _, mut rng) = fresh_pair(18);
    let (_, mut stranger, _) = fresh_pair(19);
    let m = stranger.encrypt(b"x", &mut rng).unwrap();
    assert!(inviter.decrypt(&m, NOW).is_err());
}

#[test]
fn oversized_plaintext_is_refused() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(20);
    let before = snapshot(&invitee);
    let big = vec![0u8; crate::MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        invitee.encrypt(&big, &mut rng),
        Err(ChannelError::PlaintextTooLarge { .. })
    ));
    assert_eq!(snapshot(&invitee), before);
    let largest = vec![7u8; crate::MAX_PLAINTEXT_LEN];
    let m = invitee.encrypt(&largest, &mut rng).unwrap();
    assert_eq!(m.len(), crate::MAX_ENVELOPE_LEN);
    assert_eq!(inviter.decrypt(&m, NOW).unwrap(), largest);
}

#[test]
fn garbage_envelopes_are_refused() {
    let (mut inviter, _, _) = connected_pair(21);
    let before = snapshot(&inviter);
    assert!(matches!(
        inviter.decrypt(&[], NOW),
        Err(ChannelError::Envelope(_))
    ));
    assert!(matches!(
        inviter.decrypt(&[1; 50], NOW),
        Err(ChannelError::Envelope(_))
    ));
    assert!(matches!(
        inviter.decrypt(&vec![1; crate::MAX_ENVELOPE_LEN + 1], NOW),
        Err(ChannelError::Envelope(
            crate::EnvelopeError::TooLarge { .. }
        ))
    ));
    assert_eq!(snapshot(&inviter), before);
}
