use super::*;
use crate::test_rng::{DAY, NOW, TestRng, base58, invite, parties};
use proptest::prelude::*;

fn all_payloads(seed: u64) -> (Vec<Payload>, Identity, Identity) {
    let (a, b, _) = parties(seed);
    let (inv, _) = invite(&a, &b, seed);
    let (acc, _) = Acceptance::create(&b, &inv, vec![9; 100], &mut TestRng::new(seed)).unwrap();
    let w = Withdrawal::create(&a, b.id(), inv.invite_id, NOW);
    let att = acc.verify(&inv).unwrap();
    let r = crate::Revocation::create(&b, &att, NOW).unwrap();
    let payloads = vec![
        Payload::Invite(inv),
        Payload::Acceptance(acc),
        Payload::Withdrawal(w),
        Payload::Revocation(r),
    ];
    (payloads, a, b)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn payload_round_trip_and_kinds() {
    let (payloads, _, _) = all_payloads(1);
    for (payload, kind) in payloads.iter().zip(1u8..) {
        let bytes = payload.encode();
        assert_eq!(bytes[0], kind);
        assert_eq!(Payload::decode(&bytes).as_ref(), Ok(payload));
        let mut unknown = bytes.clone();
        unknown[0] = 5;
        assert_eq!(Payload::decode(&unknown), Err(DecodeError::UnknownKind(5)));
        let mut trailing = bytes;
        trailing.push(0);
        assert!(Payload::decode(&trailing).is_err());
    }
    assert_eq!(Payload::decode(&[]), Err(DecodeError::Truncated));
    assert_eq!(Payload::decode(&[0]), Err(DecodeError::UnknownKind(0)));
}

#[test]
fn seal_and_open_every_payload() {
    let (payloads, a, b) = all_payloads(2);
    let rng = &mut TestRng::new(2);
    let expires = NOW + 14 * DAY;
    for payload in &payloads {
        // Invites and withdrawals go to the invitee, acceptances to the inviter, and this
        // revocation (by the invitee) to the inviter.
        let (to, other) = match payload {
            Payload::Acceptance(_) | Payload::Revocation(_) => (&a, &b),
            _ => (&b, &a),
        };
        let frame = seal_payload(&to.id(), payload, expires, rng).unwrap();
        assert!(frame.len() <= GossipFrame::MAX_LEN && frame.len() <= 4096);
        assert_eq!(open_payload(to, &frame, NOW).as_ref(), Ok(payload));
        assert_eq!(open_payload(other, &frame, NOW), Err(OpenError::NotForMe));
        // Neither party can be recognised in the frame.
        for id in [a.id(), b.id()] {
            assert!(!contains(&frame, &id.to_bytes()));
            assert!(!contains(&frame, &id.public_key_bytes()));
            assert!(!contains(&frame, id.x25519_public().as_bytes()));
            assert!(!contains(&frame, id.to_string().as_bytes()));
            assert_eq!(base58(&id.to_bytes()), id.to_string());
        }
    }
}

#[test]
fn the_stamp_is_authenticated() {
    let (payloads, _, b) = all_payloads(3);
    let expires = NOW + DAY;
    let frame = seal_payload(&b.id(), &payloads[0], expires, &mut TestRng::new(3)).unwrap();
    // A relay extends (or shortens) the expiry: the box no longer opens.
    for new_expiry in [expires + DAY, expires - 1] {
        let mut changed = frame.clone();
        changed[1..9].copy_from_slice(&u64::to_be_bytes(new_expiry));
        assert_eq!(open_payload(&b, &changed, NOW), Err(OpenError::NotForMe));
    }
}

#[test]
fn relay_checks() {
    let (payloads, _, b) = all_payloads(4);
    let expires = NOW + DAY;
    let frame = seal_payload(&b.id(), &payloads[1], expires, &mut TestRng::new(4)).unwrap();
    assert!(GossipFrame::validate(&frame, NOW).is_ok());
    assert_eq!(GossipFrame::check(&frame, NOW), Ok(()));
    assert!(GossipFrame::check(&frame[1..], NOW).is_err());
    let expired = Err(FrameError::Expired {
        expires_at_ms: expires,
    });
    assert_eq!(GossipFrame::validate(&frame, expires), expired);
    assert_eq!(
        open_payload(&b, &frame, expires),
        Err(OpenError::Frame(FrameError::Expired {
            expires_at_ms: expires
        }))
    );
    // Stamped further ahead than any message lives.
    let far = NOW + MAX_LIFETIME_MS + MAX_CLOCK_SKEW_MS + 1;
    let frame = seal_payload(&b.id(), &payloads[1], far, &mut TestRng::new(4)).unwrap();
    assert_eq!(
        GossipFrame::validate(&frame, NOW),
        Err(FrameError::BadStamp { expires_at_ms: far })
    );
    assert!(GossipFrame::validate(&frame, NOW + 1).is_ok());
    // Structure.
    assert!(matches!(
        GossipFrame::decode(&frame[..frame.len() - 1]),
        Err(DecodeError::InvalidField(_))
    ));
    let mut v2 = frame.clone();
    v2[0] = 2;
    assert_eq!(
        GossipFrame::decode(&v2),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let mut sv2 = frame.clone();
    sv2[9] = 2;
    assert_eq!(
        GossipFrame::decode(&sv2),
        Err(DecodeError::UnsupportedVersion(2))
    );
    assert!(matches!(
        GossipFrame::decode(&vec![1; GossipFrame::MAX_LEN + 1]),
        Err(DecodeError::TooLarge { .. })
    ));
    let back = GossipFrame::decode(&frame).unwrap();
    assert_eq!(back.encode(), frame);
}

#[test]
fn largest_payloads_fit() {
    let (a, b, _) = parties(5);
    let note = crate::Note::new("🦀".repeat(300), 300).unwrap();
    let (inv, _) = Invite::create(&a, b.id(), note, NOW, DAY, &mut TestRng::new(5)).unwrap();
    let big = vec![1; Acceptance::MAX_FIRST_MESSAGE];
    let (acc, _) = Acceptance::create(&b, &inv, big, &mut TestRng::new(5)).unwrap();
    for payload in [Payload::Invite(inv), Payload::Acceptance(acc)] {
        let frame = seal_payload(&a.id(), &payload, NOW + DAY, &mut TestRng::new(6)).unwrap();
        assert_eq!(open_payload(&a, &frame, NOW), Ok(payload));
    }
    assert_eq!(GossipFrame::MAX_LEN, 4026);
}

#[test]
fn a_valid_box_with_junk_inside() {
    let (_, b, _) = parties(6);
    let header = GossipFrame::header(NOW + DAY);
    let sealed = seal::seal(&b.id(), b"\x07junk", &header, &mut TestRng::new(7)).unwrap();
    let frame = GossipFrame {
        expires_at_ms: NOW + DAY,
        sealed,
    }
    .encode();
    assert_eq!(
        open_payload(&b, &frame, NOW),
        Err(OpenError::Payload(DecodeError::UnknownKind(7)))
    );
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700), now in any::<u64>()) {
        if let Ok(p) = Payload::decode(&bytes) {
            prop_assert_eq!(p.encode(), bytes.clone());
        }
        if let Ok(f) = GossipFrame::decode(&bytes) {
            prop_assert_eq!(f.encode(), bytes.clone());
        }
        let _ = GossipFrame::validate(&bytes, now);
        prop_assert_eq!(GossipFrame::check(&bytes, now).is_ok(), GossipFrame::validate(&bytes, now).is_ok());
        let (_, b, _) = parties(1);
        let _ = open_payload(&b, &bytes, now);
    }

    #[test]
    fn well_framed_junk_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), kind in 0u8..6) {
        // A correctly sealed box around arbitrary payload bytes.
        let (_, b, _) = parties(2);
        let mut plaintext = vec![kind];
        plaintext.extend_from_slice(&body);
        let header = GossipFrame::header(NOW + DAY);
        let sealed = seal::seal(&b.id(), &plaintext, &header, &mut TestRng::new(1)).unwrap();
        let frame = GossipFrame { expires_at_ms: NOW + DAY, sealed }.encode();
        let _ = open_payload(&b, &frame, NOW);
    }
}
