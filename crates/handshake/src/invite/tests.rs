use super::*;
use crate::introduction::Introduction;
use crate::profile::ProfileCard;
use crate::test_rng::{DAY, NOW, TestRng, invite, parties};
use proptest::prelude::*;

const SKEW: u64 = 5 * 60 * 1000;

#[test]
fn create_encode_decode_verify() {
    let (a, b, _) = parties(1);
    let (inv, secret) = invite(&a, &b, 1);
    assert_eq!(inv.one_time_key, secret.public_key());
    assert_eq!(inv.expires_at_ms, NOW + 14 * DAY);
    let bytes = inv.encode();
    assert!(bytes.len() <= Invite::MAX_LEN);
    let back = Invite::decode(&bytes).unwrap();
    assert_eq!(back, inv);
    back.verify(&b.id(), NOW, SKEW).unwrap();
    // The statement signature is a valid half of the attestation.
    verify(
        &a.id(),
        domain::ATTEST,
        &back.statement().to_bytes(),
        &back.statement_signature,
    )
    .unwrap();
}

#[test]
fn fresh_ids_and_keys() {
    let (a, b, _) = parties(2);
    let (one, _) = invite(&a, &b, 1);
    let (two, _) = invite(&a, &b, 2);
    assert_ne!(one.invite_id, two.invite_id);
    assert_ne!(one.one_time_key, two.one_time_key);
}

#[test]
fn create_refusals() {
    let (a, b, _) = parties(3);
    let rng = &mut TestRng::new(1);
    let note = Note::empty();
    assert_eq!(
        Invite::create(&a, a.id(), note.clone(), NOW, DAY, rng).err(),
        Some(InviteError::SelfInvite)
    );
    for ttl in [0, 1_000, MIN_LIFETIME_MS - 1, MAX_LIFETIME_MS + 1] {
        assert_eq!(
            Invite::create(&a, b.id(), note.clone(), NOW, ttl, rng).err(),
            Some(InviteError::BadLifetime)
        );
    }
    assert_eq!(
        Invite::create(&a, b.id(), note.clone(), u64::MAX, DAY, rng).err(),
        Some(InviteError::BadLifetime)
    );
    assert!(Invite::create(&a, b.id(), note.clone(), NOW, MIN_LIFETIME_MS, rng).is_ok());
    assert!(Invite::create(&a, b.id(), note, NOW, MAX_LIFETIME_MS, rng).is_ok());
}

#[test]
fn wrong_recipient() {
    let (a, b, c) = parties(4);
    let (inv, _) = invite(&a, &b, 1);
    assert_eq!(inv.verify(&c.id(), NOW, SKEW), Err(InviteError::NotForMe));
    assert_eq!(inv.verify(&a.id(), NOW, SKEW), Err(InviteError::NotForMe));
}

#[test]
fn time_checks() {
    let (a, b, _) = parties(5);
    let (inv, _) = invite(&a, &b, 1);
    let me = b.id();
    let expired = Err(InviteError::Expired {
        expires_at_ms: inv.expires_at_ms,
    });
    assert_eq!(inv.verify(&me, inv.expires_at_ms, SKEW), expired);
    assert_eq!(inv.verify(&me, u64::MAX, SKEW), expired);
    assert_eq!(inv.verify(&me, inv.expires_at_ms - 1, SKEW), Ok(()));
    // Within the skew: fine. Beyond it: from the future.
    assert_eq!(inv.verify(&me, NOW - SKEW, SKEW), Ok(()));
    assert_eq!(
        inv.verify(&me, NOW - SKEW - 1, SKEW),
        Err(InviteError::FromTheFuture { created_at_ms: NOW })
    );
}

/// Re-signs an invite after a field was changed, as a malicious inviter could.
fn resign(inv: &mut Invite, signer: &Identity) {
    inv.statement_signature = signer.sign(domain::ATTEST, &inv.statement().to_bytes());
    inv.signature = signer.sign(domain::INVITE, inv.signed_part().as_bytes());
}

#[test]
fn lifetime_is_checked_even_if_signed() {
    let (a, b, _) = parties(6);
    let (mut inv, _) = invite(&a, &b, 1);
    inv.expires_at_ms = inv.created_at_ms + MAX_LIFETIME_MS + 1;
    resign(&mut inv, &a);
    assert_eq!(
        inv.verify(&b.id(), NOW, SKEW),
        Err(InviteError::BadLifetime)
    );
    inv.expires_at_ms = inv.created_at_ms;
    resign(&mut inv, &a);
    assert_eq!(
        inv.verify(&b.id(), NOW, SKEW),
        Err(InviteError::BadLifetime)
    );
    // A signed invite living seconds is refused: it would expire before the bound on
    // pending invites could ever evict it, so each stamp would buy a record.
    inv.expires_at_ms = inv.created_at_ms + MIN_LIFETIME_MS - 1;
    resign(&mut inv, &a);
    assert_eq!(
        inv.verify(&b.id(), NOW, SKEW),
        Err(InviteError::BadLifetime)
    );
    inv.expires_at_ms = inv.created_at_ms + MIN_LIFETIME_MS;
    resign(&mut inv, &a);
    assert_eq!(inv.verify(&b.id(), NOW, SKEW), Ok(()));
    inv.expires_at_ms = inv.created_at_ms + MAX_LIFETIME_MS;
    resign(&mut inv, &a);
    assert_eq!(inv.verify(&b.id(), NOW, SKEW), Ok(()));
}

#[test]
fn signed_by_someone_else() {
    let (a, b, c) = parties(7);
    let (mut inv, _) = invite(&a, &b, 1);
    resign(&mut inv, &c);
    assert_eq!(
        inv.verify(&b.id(), NOW, SKEW),
        Err(InviteError::BadSignature)
    );
    // A valid outer signature does not excuse a bad statement signature.
    let (mut inv, _) = invite(&a, &b, 1);
    inv.statement_signature = c.sign(domain::ATTEST, &inv.statement().to_bytes());
    inv.signature = a.sign(domain::INVITE, inv.signed_part().as_bytes());
    assert_eq!(
        inv.verify(&b.id(), NOW, SKEW),
        Err(InviteError::BadSignature)
    );
}

#[test]
fn every_bit_of_the_invite_is_covered() {
    let (a, b, _) = parties(8);
    let (inv, _) = invite(&a, &b, 1);
    let bytes = inv.encode();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut changed = bytes.clone();
            changed[i] ^= 1 << bit;
            let accepted =
                Invite::decode(&changed).is_ok_and(|inv| inv.verify(&b.id(), NOW, SKEW).is_ok());
            assert!(!accepted, "flipping bit {bit} of byte {i} went unnoticed");
        }
    }
}

#[test]
fn decode_refusals() {
    let (a, b, _) = parties(9);
    let (inv, _) = invite(&a, &b, 1);
    let bytes = inv.encode();
    assert_eq!(
        Invite::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated)
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(Invite::decode(&long), Err(DecodeError::TrailingBytes));
    let mut v5 = bytes.clone();
    v5[0] = 5;
    assert_eq!(Invite::decode(&v5), Err(DecodeError::UnsupportedVersion(5)));
    // A body without a presentation labelled presented lacks it: refused, never misread.
    let mut v2 = bytes.clone();
    v2[0] = Invite::VERSION_PRESENTED;
    assert!(Invite::decode(&v2).is_err());
    assert!(matches!(
        Invite::decode(&vec![1; Invite::MAX_LEN + 1]),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(Invite::decode(&[]), Err(DecodeError::Truncated));
}

#[test]
fn note_is_validated_on_decode() {
    let (a, b, _) = parties(10);
    let (inv, _) = invite(&a, &b, 1);
    let bytes = inv.encode();
    let note_at = 1 + 16 + 2 * ID_LEN + X25519_LEN + 2;
    let mut bad = bytes.clone();
    bad[note_at] = b'\n';
    assert!(matches!(
        Invite::decode(&bad),
        Err(DecodeError::InvalidNote(_))
    ));
    bad[note_at] = 0xff;
    assert_eq!(
        Invite::decode(&bad),
        Err(DecodeError::InvalidField("note is not UTF-8"))
    );
}

#[test]
fn longest_invite_fits() {
    let (a, b, _) = parties(11);
    let note = Note::new("🦀".repeat(Note::MAX_CHARS as usize), Note::MAX_CHARS).unwrap();
    let (inv, _) = Invite::create(&a, b.id(), note, NOW, DAY, &mut TestRng::new(1)).unwrap();
    let bytes = inv.encode();
    assert_eq!(bytes.len(), Invite::MAX_LEN_V1);
    assert_eq!(Invite::decode(&bytes), Ok(inv));
}

proptest! {
    #[test]
    fn round_trip_any_fields(
        seed in 0u64..64, id in any::<[u8; 16]>(), otk in any::<[u8; 32]>(),
        note in "[^\\p{Cc}\\u{061C}\\u{200E}\\u{200F}\\u{202A}-\\u{202E}\\u{2066}-\\u{2069}]{0,300}", created in any::<u64>(), expires in any::<u64>(),
        s1 in any::<[u8; 64]>(), s2 in any::<[u8; 64]>(),
    ) {
        // Notes refuse bidirectional formatting characters, which the pattern can produce.
        prop_assume!(!note.chars().any(crate::is_directional_formatting));
        let (a, b, _) = parties(seed);
        let inv = Invite {
            invite_id: id,
            inviter: a.id(),
            invitee: b.id(),
            one_time_key: PublicKey::from(otk),
            note: Note::new(note, Note::MAX_CHARS).unwrap(),
            created_at_ms: created,
            expires_at_ms: expires,
            statement_signature: Signature::from_bytes(&s1),
            presentation: Box::default(),
            signature: Signature::from_bytes(&s2),
            legacy_statement: seed % 2 == 0,
        };
        prop_assert_eq!(Invite::decode(&inv.encode()), Ok(inv));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        if let Ok(inv) = Invite::decode(&bytes) {
            prop_assert_eq!(inv.encode(), bytes);
        }
    }

    #[test]
    fn decode_of_mutated_invites_never_panics(i in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let (a, b, _) = parties(1);
        let (inv, _) = invite(&a, &b, 1);
        let mut bytes = inv.encode();
        let i = i % bytes.len();
        bytes[i] = byte;
        bytes.truncate(bytes.len() - cut.min(bytes.len()) / 8);
        if let Ok(inv) = Invite::decode(&bytes) {
            prop_assert_eq!(inv.encode(), bytes);
        }
    }
}

#[test]
fn presented_invites_carry_a_verified_card_and_introduction() {
    let (a, b, c) = parties(40);
    let (inv, _) = invite(&a, &b, 40);
    let card = ProfileCard::create(&a, 9, "Ada", "Engineer", None).unwrap();
    let intro = Introduction::create(&c, b.id(), a.id(), Note::empty(), NOW).unwrap();
    let presented = inv
        .clone()
        .present(
            &a,
            Presentation {
                card: Some(card.clone()),
                introduction: Some(intro.clone()),
            },
        )
        .unwrap();
    let bytes = presented.encode();
    assert_eq!(bytes[0], Invite::VERSION_PRESENTED);
    assert!(bytes.len() <= Invite::MAX_LEN);
    let back = Invite::decode(&bytes).unwrap();
    assert_eq!(back, presented);
    back.verify(&b.id(), NOW, SKEW).unwrap();
    assert_eq!(back.presentation.card, Some(card));
    // Without a presentation the invite stays unpresented, byte for byte.
    assert_eq!(inv.encode()[0], Invite::VERSION);

    // Someone else's card, or an introduction of other people, is refused.
    let stranger_card = ProfileCard::create(&c, 1, "Ada", "", None).unwrap();
    let wrong = Presentation {
        card: Some(stranger_card),
        introduction: None,
    };
    assert_eq!(
        inv.clone().present(&a, wrong).map(drop),
        Err(InviteError::BadProfile)
    );
    let other_intro = Introduction::create(&b, a.id(), c.id(), Note::empty(), NOW).unwrap();
    let wrong = Presentation {
        card: None,
        introduction: Some(other_intro),
    };
    assert_eq!(
        inv.clone().present(&a, wrong).map(drop),
        Err(InviteError::BadIntroduction)
    );
    // A card swapped in transit breaks the inviter's signature.
    let mut swapped = presented;
    swapped.presentation.card = Some(ProfileCard::create(&a, 10, "Eve", "", None).unwrap());
    assert_eq!(swapped.verify_signatures(), Err(InviteError::BadSignature));
}

#[test]
fn the_longest_presented_invite_fits_the_largest_bucket() {
    let (a, b, c) = parties(41);
    let note = Note::new("🦀".repeat(300), 300).unwrap();
    let (inv, _) = Invite::create(
        &a,
        b.id(),
        note.clone(),
        NOW,
        14 * DAY,
        &mut TestRng::new(1),
    )
    .unwrap();
    let card = ProfileCard::create(&a, 1, &"🦀".repeat(64), &"🦀".repeat(120), Some(&[1])).unwrap();
    let intro = Introduction::create(&c, a.id(), b.id(), note, NOW).unwrap();
    let presented = inv
        .present(
            &a,
            Presentation {
                card: Some(card),
                introduction: Some(intro),
            },
        )
        .unwrap();
    assert_eq!(presented.encode().len(), Invite::MAX_LEN);
    assert_eq!(Invite::MAX_LEN, 3751);
    let payload = crate::Payload::Invite(presented);
    assert!(payload.encode().len() <= crate::seal::MAX_PLAINTEXT_LEN);
    let frame = crate::seal_payload(&b.id(), &payload, NOW + DAY, &mut TestRng::new(2)).unwrap();
    assert!(frame.len() <= crate::GossipFrame::MAX_LEN);
}

#[test]
fn the_statement_binds_the_expiry_and_the_one_time_key() {
    let (a, b, _) = parties(50);
    let (inv, _) = invite(&a, &b, 50);
    let statement = inv.statement();
    let terms = statement
        .terms
        .expect("a new invite proposes a version-2 statement");
    assert_eq!(terms.expires_at_ms, inv.expires_at_ms);
    assert_eq!(terms.one_time_key, inv.one_time_key.to_bytes());
    assert_eq!(statement.to_bytes()[0], crate::Statement::VERSION);
    inv.verify(&b.id(), NOW, SKEW).unwrap();

    // A legacy invite (version 1: a version-1 statement) still decodes and its signatures
    // still verify, but it is refused as an invite to accept.
    let mut legacy = inv.clone();
    legacy.legacy_statement = true;
    legacy.statement_signature = a.sign(crate::domain::ATTEST, &legacy.statement().to_bytes());
    let legacy = legacy.present(&a, Presentation::default()).unwrap();
    let bytes = legacy.encode();
    assert_eq!(bytes[0], Invite::VERSION_LEGACY);
    let back = Invite::decode(&bytes).unwrap();
    assert!(back.legacy_statement);
    assert_eq!(back.statement().terms, None);
    back.verify_signatures().unwrap();
    assert_eq!(
        back.verify(&b.id(), NOW, SKEW),
        Err(InviteError::LegacyStatement)
    );
}
