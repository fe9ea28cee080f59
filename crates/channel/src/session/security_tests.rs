//! Forward secrecy, post-compromise security, state serialisation and redaction, tested as
//! concrete properties.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

use super::*;
use crate::test_support::{NOW, connected_pair, contains, copy, hex, snapshot};
use proptest::prelude::*;

/// Every secret the session holds: root key, ratchet secret, chain keys, skipped keys.
fn secrets(session: &Session) -> Vec<[u8; 32]> {
    let r = &session.ratchet;
    let mut out = vec![*r.root_key.as_bytes(), r.ours.secret.to_bytes()];
    out.extend(r.sending.iter().map(|c| *c.key.as_bytes()));
    out.extend(r.receiving.iter().map(|c| *c.key.as_bytes()));
    out.extend(r.skipped.entries.iter().map(|e| *e.key.as_bytes()));
    out
}

/// The message key the receiver will use for `envelope` (computed on a copy).
fn receiving_key_of(session: &Session, envelope: &[u8]) -> [u8; 32] {
    let header = Envelope::decode(envelope).unwrap().header;
    *session
        .ratchet
        .clone()
        .receiving_key(&header, NOW, crate::SkipLimits::default())
        .unwrap()
        .as_bytes()
}

/// Forward secrecy, key by key: once a message is sent and decrypted, neither side's state
/// (what an attacker who seizes a device later would get) holds its message key, the chain
/// keys it came from, or — after a DH ratchet step — the root key from before the step.
/// (HMAC and HKDF are one-way, so the later keys that *are* there do not give these back.)
#[test]
fn state_never_holds_past_keys() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(30);
    let mut past: Vec<[u8; 32]> = Vec::new();
    for turn in 0..15u32 {
        let (from, to) = if turn % 3 == 2 {
            (&mut inviter, &mut invitee)
        } else {
            (&mut invitee, &mut inviter)
        };
        let sending_before = from.ratchet.sending.as_ref().map(|c| *c.key.as_bytes());
        let root_before = *from.ratchet.root_key.as_bytes();
        let m = from.encrypt(b"secret", &mut rng).unwrap();
        past.extend(sending_before);
        if from.ratchet.root_key.as_bytes() != &root_before {
            past.push(root_before);
        }
        past.push(receiving_key_of(to, &m));
        let receiving_before = to.ratchet.receiving.as_ref().map(|c| *c.key.as_bytes());
        let root_before = *to.ratchet.root_key.as_bytes();
        to.decrypt(&m, NOW).unwrap();
        past.extend(receiving_before);
        if to.ratchet.root_key.as_bytes() != &root_before {
            past.push(root_before);
        }
        for session in [&*from, &*to] {
            let state = session.to_bytes();
            for key in &past {
                assert!(
                    !contains(&state, key),
                    "turn {turn}: a past key is still stored"
                );
            }
        }
    }
    assert!(past.len() >= 40, "{}", past.len());
}

/// Forward secrecy, end to end: a copy of the receiver's state taken now cannot decrypt any
/// message that was sent and received before it, in order or out of order.
#[test]
fn a_snapshot_cannot_decrypt_earlier_messages() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(31);
    let mut delivered = Vec::new();
    for round in 0..3 {
        let batch: Vec<_> = (0..4)
            .map(|i| {
                invitee
                    .encrypt(format!("{round}/{i}").as_bytes(), &mut rng)
                    .unwrap()
            })
            .collect();
        for i in [2, 0, 3, 1] {
            inviter.decrypt(&batch[i], NOW).unwrap();
        }
        delivered.extend(batch);
        let reply = inviter.encrypt(b"ok", &mut rng).unwrap();
        invitee.decrypt(&reply, NOW).unwrap();
    }
    let mut seized = copy(&inviter);
    for m in &delivered {
        assert!(seized.decrypt(m, NOW).is_err());
    }
}

/// After a DH ratchet step, a snapshot from before it cannot decrypt the new chain: the
/// snapshot of B has B's old ratchet secret, but A's next chain comes from B's *new* one.
#[test]
fn an_old_snapshot_cannot_follow_a_dh_step() {
    let (mut a, mut b, mut rng) = connected_pair(32);
    let m = a.encrypt(b"a speaks", &mut rng).unwrap();
    b.decrypt(&m, NOW).unwrap();
    let old_b = copy(&b);
    let m = b
        .encrypt(b"b answers with a new ratchet key", &mut rng)
        .unwrap();
    a.decrypt(&m, NOW).unwrap();
    let m = a.encrypt(b"a answers on a new chain", &mut rng).unwrap();
    let mut old_b = old_b;
    assert_eq!(old_b.decrypt(&m, NOW), Err(ChannelError::Decryption));
    assert_eq!(b.decrypt(&m, NOW).unwrap(), b"a answers on a new chain");
}

/// Post-compromise security. An attacker copies the invitee's whole state (as stolen from
/// its store) and is handed every later message for the invitee. Messages on the current
/// chain still decrypt with the copy (the compromise is real); once the invitee has sent one
/// message with a fresh ratchet key and the inviter has replied (one round trip), the copy
/// decrypts nothing the inviter sends, and the copy fails where the real session succeeds.
#[test]
fn healing_after_one_round_trip() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(33);
    for _ in 0..3 {
        let m = inviter.encrypt(b"chat", &mut rng).unwrap();
        invitee.decrypt(&m, NOW).unwrap();
        let m = invitee.encrypt(b"chat", &mut rng).unwrap();
        inviter.decrypt(&m, NOW).unwrap();
    }
    let m = inviter.encrypt(b"last before the theft", &mut rng).unwrap();
    invitee.decrypt(&m, NOW).unwrap();

    let mut attacker = copy(&invitee);
    let leaked = inviter
        .encrypt(b"sent right after the theft", &mut rng)
        .unwrap();
    assert_eq!(
        attacker.decrypt(&leaked, NOW).unwrap(),
        b"sent right after the theft"
    );
    invitee.decrypt(&leaked, NOW).unwrap();

    // One round trip: the invitee sends (fresh ratchet key), the inviter replies.
    let heal = invitee.encrypt(b"round trip, out", &mut rng).unwrap();
    inviter.decrypt(&heal, NOW).unwrap();
    let back = inviter.encrypt(b"round trip, back", &mut rng).unwrap();
    assert_eq!(invitee.decrypt(&back, NOW).unwrap(), b"round trip, back");
    assert_eq!(attacker.decrypt(&back, NOW), Err(ChannelError::Decryption));

    for i in 0..5u32 {
        let m = inviter.encrypt(&i.to_be_bytes(), &mut rng).unwrap();
        assert_eq!(attacker.decrypt(&m, NOW), Err(ChannelError::Decryption));
        assert_eq!(invitee.decrypt(&m, NOW).unwrap(), i.to_be_bytes());
        let m = invitee.encrypt(&i.to_be_bytes(), &mut rng).unwrap();
        inviter.decrypt(&m, NOW).unwrap();
    }
    // None of the secrets the attacker holds is still in use on either side.
    let stolen = secrets(&attacker);
    for session in [&invitee, &inviter] {
        let state = session.to_bytes();
        assert!(stolen.iter().all(|k| !contains(&state, k)));
    }
}

#[test]
fn state_round_trip_mid_conversation() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(34);
    // Leave skipped keys from two chains and live chains on both sides.
    let held_a = invitee.encrypt(b"held a", &mut rng).unwrap();
    let m = invitee.encrypt(b"x", &mut rng).unwrap();
    inviter.decrypt(&m, NOW).unwrap();
    let m = inviter.encrypt(b"y", &mut rng).unwrap();
    invitee.decrypt(&m, NOW).unwrap();
    let held_b = invitee.encrypt(b"held b", &mut rng).unwrap();
    let m = invitee.encrypt(b"z", &mut rng).unwrap();
    inviter.decrypt(&m, NOW + 5).unwrap();
    assert_eq!(inviter.skipped_key_count(), 2);
    assert_eq!(inviter.ratchet.skipped.chains.len(), 2);

    for session in [&inviter, &invitee] {
        let bytes = session.to_bytes();
        let restored = Session::from_bytes(&bytes).unwrap();
        assert_eq!(*restored.to_bytes(), *bytes);
        assert_eq!(restored.session_id(), session.session_id());
        assert_eq!(restored.role(), session.role());
        assert_eq!(restored.our_id(), session.our_id());
        assert_eq!(restored.peer_id(), session.peer_id());
        assert_eq!(restored.attestation_id(), session.attestation_id());
        assert_eq!(
            restored.ratchet.ours.clone().public(),
            session.ratchet.ours.clone().public()
        );
    }
    let mut inviter = copy(&inviter);
    let mut invitee = copy(&invitee);
    assert_eq!(inviter.decrypt(&held_b, NOW).unwrap(), b"held b");
    assert_eq!(inviter.decrypt(&held_a, NOW).unwrap(), b"held a");
    let m = inviter.encrypt(b"after restore", &mut rng).unwrap();
    assert_eq!(invitee.decrypt(&m, NOW).unwrap(), b"after restore");
    let m = invitee.encrypt(b"and back", &mut rng).unwrap();
    assert_eq!(inviter.decrypt(&m, NOW).unwrap(), b"and back");
}

#[test]
fn state_decoding_refuses_bad_input() {
    let (inviter, _, _) = connected_pair(35);
    let good = snapshot(&inviter);
    assert!(Session::from_bytes(&good).is_ok());
    assert_eq!(
        Session::from_bytes(&[]).unwrap_err(),
        crate::StateError::Truncated
    );
    let mut v3 = good.clone();
    v3[0] = 3;
    assert_eq!(
        Session::from_bytes(&v3).unwrap_err(),
        crate::StateError::UnsupportedVersion(3)
    );
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        Session::from_bytes(&long).unwrap_err(),
        crate::StateError::TrailingBytes
    );
    assert_eq!(
        Session::from_bytes(&good[..good.len() - 1]).unwrap_err(),
        crate::StateError::Truncated
    );
    let mut role = good.clone();
    role[1] = 2;
    assert!(matches!(
        Session::from_bytes(&role),
        Err(crate::StateError::Invalid(_))
    ));
    // The same ID twice.
    let mut same = good.clone();
    let (us, peer) = (2 + 32, 2 + 32 + 38);
    let our_id = same[us..us + 38].to_vec();
    same[peer..peer + 38].copy_from_slice(&our_id);
    assert!(matches!(
        Session::from_bytes(&same),
        Err(crate::StateError::Invalid(_))
    ));
    assert_eq!(crate::MAX_STATE_LEN, 90_480);
    let huge = vec![1u8; crate::MAX_STATE_LEN + 1];
    assert!(matches!(
        Session::from_bytes(&huge),
        Err(crate::StateError::TooLarge { .. })
    ));
}

#[test]
fn debug_shows_no_secret() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(36);
    let _held = invitee.encrypt(b"held", &mut rng).unwrap();
    let m = invitee.encrypt(b"x", &mut rng).unwrap();
    inviter.decrypt(&m, NOW).unwrap();
    let m = inviter.encrypt(b"y", &mut rng).unwrap();
    invitee.decrypt(&m, NOW).unwrap();
    for session in [&inviter, &invitee] {
        let shown = format!("{session:?} {session:#?}");
        assert!(shown.contains(&session.session_id().to_string()), "{shown}");
        let keys = secrets(session);
        assert!(keys.len() >= 3);
        for key in keys {
            assert!(!shown.contains(&hex(&key)), "{shown}");
            assert!(!shown.contains(&hex(&key[..8])), "{shown}");
            assert!(!shown.contains(&format!("{:?}", &key[..4])), "{shown}");
            assert!(!shown.contains(&format!("{:#?}", &key[..2])), "{shown}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random conversations: batches of messages from either side, each batch delivered in a
    /// random order, some messages of the first batches held back and delivered at the end
    /// (after several DH steps). Everything decrypts exactly once, replays fail.
    #[test]
    fn random_conversations(
        seed in any::<u64>(),
        batches in proptest::collection::vec((any::<bool>(), 1usize..6, any::<u64>()), 1..10),
        hold_mask in any::<u16>(),
    ) {
        let (mut inviter, mut invitee, mut rng) = connected_pair(seed);
        let mut held: Vec<(bool, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut delivered: Vec<(bool, Vec<u8>)> = Vec::new();
        for (index, (from_invitee, count, order)) in batches.into_iter().enumerate() {
            let (from, to) = if from_invitee {
                (&mut invitee, &mut inviter)
            } else {
                (&mut inviter, &mut invitee)
            };
            let mut batch: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
                .map(|i| {
                    let text = format!("{index}/{i}").into_bytes();
                    (from.encrypt(&text, &mut rng).unwrap(), text)
                })
                .collect();
            // A deterministic shuffle from `order`.
            let mut state = order;
            for i in (1..batch.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                batch.swap(i, (state >> 33) as usize % (i + 1));
            }
            for (i, (m, text)) in batch.into_iter().enumerate() {
                if index < 3 && i == 0 && hold_mask & (1 << index) != 0 {
                    held.push((from_invitee, m, text));
                    continue;
                }
                prop_assert_eq!(to.decrypt(&m, NOW).unwrap(), text);
                delivered.push((from_invitee, m));
            }
        }
        for (from_invitee, m, text) in held {
            let to = if from_invitee { &mut inviter } else { &mut invitee };
            prop_assert_eq!(to.decrypt(&m, NOW).unwrap(), text);
        }
        prop_assert_eq!(inviter.skipped_key_count(), 0);
        prop_assert_eq!(invitee.skipped_key_count(), 0);
        for (from_invitee, m) in delivered.iter().rev().take(5) {
            let to = if *from_invitee { &mut inviter } else { &mut invitee };
            let before = snapshot(to);
            prop_assert!(to.decrypt(m, NOW).is_err());
            prop_assert_eq!(snapshot(to), before);
        }
    }

    #[test]
    fn state_decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        if let Ok(session) = Session::from_bytes(&bytes) {
            prop_assert_eq!(snapshot(&session), crate::state::tests::as_current(&bytes));
        }
    }

    /// Mutations of real states (with skipped keys): never a panic, and whatever is
    /// accepted re-encodes to exactly the input (the encoding is canonical).
    #[test]
    fn state_decoder_is_canonical_on_mutations(
        seed in 0u64..4,
        position in any::<usize>(),
        value in any::<u8>(),
        cut in any::<usize>(),
        kind in 0u8..3,
    ) {
        let (mut inviter, mut invitee, mut rng) = connected_pair(seed);
        let _held = invitee.encrypt(b"held", &mut rng).unwrap();
        let m = invitee.encrypt(b"x", &mut rng).unwrap();
        inviter.decrypt(&m, NOW).unwrap();
        let mut bytes = snapshot(&inviter);
        match kind {
            0 => {
                let i = position % bytes.len();
                bytes[i] = value;
            }
            1 => bytes.truncate(cut % bytes.len()),
            _ => bytes.push(value),
        }
        if let Ok(session) = Session::from_bytes(&bytes) {
            prop_assert_eq!(snapshot(&session), crate::state::tests::as_current(&bytes));
        }
    }
}

/// A restored old state (a backup put back, or a crash after sending but before the advanced
/// state was committed) makes the sender encrypt again under a message key it already used.
/// The fresh random nonce keeps the two ciphertexts from sharing a (key, nonce) pair, so
/// neither plaintext leaks and no forgery becomes possible; and the receiver, which already
/// consumed that key, refuses the repeat without changing its state.
#[test]
fn a_restored_sender_state_reuses_no_nonce_and_its_repeat_is_refused() {
    let (mut inviter, mut invitee, mut rng) = connected_pair(40);
    let backup = invitee.to_bytes();
    let first = invitee.encrypt(b"first", &mut rng).unwrap();
    inviter.decrypt(&first, NOW).unwrap();

    let mut restored = Session::from_bytes(&backup).unwrap();
    let repeat = restored.encrypt(b"other", &mut rng).unwrap();
    let (first_env, repeat_env) = (
        Envelope::decode(&first).unwrap(),
        Envelope::decode(&repeat).unwrap(),
    );
    // The same chain position, hence the same message key, but never the same nonce.
    assert_eq!(first_env.header, repeat_env.header);
    assert_ne!(first_env.nonce, repeat_env.nonce);

    let before = snapshot(&inviter);
    assert_eq!(
        inviter.decrypt(&repeat, NOW),
        Err(ChannelError::MessageKeyUnavailable)
    );
    assert_eq!(snapshot(&inviter), before);
}
