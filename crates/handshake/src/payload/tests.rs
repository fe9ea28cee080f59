use super::*;
use crate::test_rng::{DAY, NOW, TestRng, base58, invite, parties};
use proptest::prelude::*;

/// The hour of [`NOW`], as a minting epoch.
const HOUR: u32 = (NOW / HOUR_MS) as u32;

fn all_payloads(seed: u64) -> (Vec<Payload>, Identity, Identity) {
    let (a, b, _) = parties(seed);
    let (inv, _) = invite(&a, &b, seed);
    let (acc, _) = Acceptance::create(&b, &inv, vec![9; 100], &mut TestRng::new(seed)).unwrap();
    let w = Withdrawal::create(&a, b.id(), inv.invite_id, NOW);
    let att = acc.verify(&inv).unwrap();
    let r = crate::Revocation::create(&b, &att, NOW).unwrap();
    let s = crate::Settlement::create(&a, &inv, crate::Outcome::Confirmed, NOW);
    let payloads = vec![
        Payload::Invite(inv),
        Payload::Acceptance(acc),
        Payload::Withdrawal(w),
        Payload::Revocation(r),
        Payload::Settlement(s),
    ];
    (payloads, a, b)
}

/// The difficulty payload tests stamp with: cheap, but not zero, so a missing stamp fails.
const BITS: u32 = 8;

/// [`seal_payload`] with the tests' cheap difficulty.
fn seal_light(to: &AccordId, payload: &Payload, now: u64, rng: &mut TestRng) -> Vec<u8> {
    let mut frame = GossipFrame::seal(to, payload, now, rng).unwrap();
    frame.mint(BITS).unwrap();
    frame.encode()
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
        unknown[0] = 6;
        assert_eq!(Payload::decode(&unknown), Err(DecodeError::UnknownKind(6)));
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
    let expires = NOW;
    for payload in &payloads {
        // Invites and withdrawals go to the invitee, acceptances to the inviter, and this
        // revocation (by the invitee) to the inviter.
        let (to, other) = match payload {
            Payload::Acceptance(_) | Payload::Revocation(_) => (&a, &b),
            _ => (&b, &a),
        };
        let frame = seal_light(&to.id(), payload, expires, rng);
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
    let frame = seal_light(&b.id(), &payloads[0], NOW, &mut TestRng::new(3));
    let minted = GossipFrame::decode(&frame).unwrap().minted_hour;
    // A relay moves the minting epoch (to extend the frame's life, or to make it look
    // fresh): the stamp no longer holds, and even with no work required the box no longer
    // opens.
    for new_epoch in [minted + 24, minted - 1] {
        let mut changed = frame.clone();
        changed[1..5].copy_from_slice(&u32::to_be_bytes(new_epoch));
        let later = NOW + 25 * HOUR_MS;
        assert!(matches!(
            GossipFrame::check(&changed, later, BITS),
            Err(FrameError::Work(_))
        ));
        assert_eq!(open_payload(&b, &changed, later), Err(OpenError::NotForMe));
    }
}

#[test]
fn the_epoch_is_coarse_randomised_and_recent() {
    let rng = &mut TestRng::new(11);
    let hour = u32::try_from(NOW / HOUR_MS).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let epoch = mint_hour(NOW, rng);
        assert!(epoch <= hour && u64::from(hour - epoch) <= MINT_JITTER_HOURS);
        seen.insert(epoch);
    }
    // Every allowed epoch is drawn: two frames minted in the same hour often name different
    // epochs, so the epoch cannot pair them.
    assert_eq!(seen.len(), usize::try_from(MINT_JITTER_HOURS).unwrap() + 1);
}

#[test]
fn relay_checks() {
    let (payloads, _, b) = all_payloads(4);
    let rng = &mut TestRng::new(4);
    let hour = u32::try_from(NOW / HOUR_MS).unwrap();
    let seal_at = |hour: u32, rng: &mut TestRng| {
        let mut frame = GossipFrame::seal_at_hour(&b.id(), &payloads[1], hour, rng).unwrap();
        frame.mint(BITS).unwrap();
        frame.encode()
    };
    let frame = seal_at(hour, rng);
    assert!(GossipFrame::validate(&frame, NOW, BITS).is_ok());
    assert_eq!(GossipFrame::check(&frame, NOW, BITS), Ok(()));
    assert!(GossipFrame::check(&frame[1..], NOW, BITS).is_err());
    // A frame lives FRAME_LIFETIME_HOURS after its epoch, never longer: a stamp minted more
    // than a week ago is refused, whatever the sealed item's own expiry.
    let expires = (u64::from(hour) + FRAME_LIFETIME_HOURS) * HOUR_MS;
    let expired = Err(FrameError::Expired {
        expires_at_ms: expires,
    });
    assert!(GossipFrame::validate(&frame, expires - 1, BITS).is_ok());
    assert_eq!(GossipFrame::validate(&frame, expires, BITS), expired);
    assert_eq!(
        open_payload(&b, &frame, expires),
        Err(OpenError::Frame(FrameError::Expired {
            expires_at_ms: expires
        }))
    );
    // An epoch ahead of the relay's clock (beyond the skew allowed) is refused.
    let ahead = hour + 1;
    let frame = seal_at(ahead, rng);
    let start = u64::from(ahead) * HOUR_MS;
    let far = (u64::from(ahead) + FRAME_LIFETIME_HOURS) * HOUR_MS;
    assert_eq!(
        GossipFrame::validate(&frame, start - MAX_CLOCK_SKEW_MS - 1, BITS),
        Err(FrameError::BadStamp { expires_at_ms: far })
    );
    assert!(GossipFrame::validate(&frame, start - MAX_CLOCK_SKEW_MS, BITS).is_ok());
    // Structure.
    assert!(matches!(
        GossipFrame::decode(&frame[..frame.len() - 1]),
        Err(DecodeError::InvalidField(_))
    ));
    // Version 1 (no stamp) and unknown versions are refused.
    for version in [1, 2, 4] {
        let mut other = frame.clone();
        other[0] = version;
        assert_eq!(
            GossipFrame::decode(&other),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
    let mut sv2 = frame.clone();
    sv2[GossipFrame::HEADER_LEN] = 2;
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
        let frame = seal_light(&a.id(), &payload, NOW, &mut TestRng::new(6));
        assert_eq!(open_payload(&a, &frame, NOW), Ok(payload));
    }
    assert_eq!(GossipFrame::MAX_LEN, 4030);
}

#[test]
fn a_valid_box_with_junk_inside() {
    let (_, b, _) = parties(6);
    let ad = GossipFrame::associated_data(HOUR);
    let sealed = seal::seal(&b.id(), b"\x07junk", &ad, &mut TestRng::new(7)).unwrap();
    let mut frame = GossipFrame {
        minted_hour: HOUR,
        stamp: 0,
        sealed,
    };
    frame.mint(BITS).unwrap();
    assert_eq!(
        open_payload(&b, &frame.encode(), NOW),
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
        let _ = GossipFrame::validate(&bytes, now, BITS);
        prop_assert_eq!(GossipFrame::check(&bytes, now, BITS).is_ok(), GossipFrame::validate(&bytes, now, BITS).is_ok());
        let (_, b, _) = parties(1);
        let _ = open_payload(&b, &bytes, now);
    }

    #[test]
    fn well_framed_junk_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), kind in 0u8..6) {
        // A correctly sealed box around arbitrary payload bytes.
        let (_, b, _) = parties(2);
        let mut plaintext = vec![kind];
        plaintext.extend_from_slice(&body);
        let ad = GossipFrame::associated_data(HOUR);
        let sealed = seal::seal(&b.id(), &plaintext, &ad, &mut TestRng::new(1)).unwrap();
        let frame = GossipFrame { minted_hour: HOUR, stamp: 0, sealed }.encode();
        let _ = open_payload(&b, &frame, NOW);
    }
}

#[test]
fn the_stamp_is_bound_to_every_byte_of_the_frame() {
    let (payloads, _, b) = all_payloads(8);
    let frame = seal_light(&b.id(), &payloads[0], NOW, &mut TestRng::new(8));
    assert_eq!(GossipFrame::check(&frame, NOW, BITS), Ok(()));
    assert!(GossipFrame::decode(&frame).unwrap().work_bits() >= BITS);
    // Flipping any one bit after the version byte (expiry, nonce, sealed box) leaves a frame
    // that still decodes but whose stamp no longer has the work (2^-8 chance each, so a few
    // may pass by luck; a stamp that ignored some bytes would pass them all).
    let mut still_valid = 0;
    let mut tried = 0;
    for at in 1..frame.len() {
        let mut changed = frame.clone();
        changed[at] ^= 1 << (at % 8);
        let Ok(decoded) = GossipFrame::decode(&changed) else {
            continue;
        };
        tried += 1;
        if decoded.check_work(BITS).is_ok() {
            still_valid += 1;
        }
    }
    // Every byte but the seal version (which no longer decodes) was tried.
    assert_eq!(tried, frame.len() - 2);
    assert!(
        still_valid * 64 < tried,
        "{still_valid} of {tried} changes kept the stamp"
    );
}

#[test]
fn a_stamp_cannot_be_moved_to_another_frame_and_more_work_is_refused() {
    let (payloads, _, b) = all_payloads(9);
    let rng = &mut TestRng::new(9);
    let first = GossipFrame::decode(&seal_light(&b.id(), &payloads[0], NOW, rng)).unwrap();
    let mut second = GossipFrame::seal(&b.id(), &payloads[0], NOW, rng).unwrap();
    // The same payload sealed again is other bytes, so the first frame's nonce means nothing.
    second.stamp = first.stamp;
    let bits = second.work_bits();
    assert!(
        bits < BITS,
        "seed 9 happens to give the moved stamp {bits} bits"
    );
    assert_eq!(
        second.check_work(BITS),
        Err(FrameError::Work(StampError::Insufficient {
            bits,
            required: BITS
        }))
    );
    // A relay asking for more than the sender paid for refuses the frame.
    let have = first.work_bits();
    assert!(first.check_work(have).is_ok());
    assert!(matches!(
        first.check_work(have + 1),
        Err(FrameError::Work(StampError::Insufficient { .. }))
    ));
    // An unstamped frame has, for any real difficulty, too little work.
    let mut unstamped = GossipFrame::seal(&b.id(), &payloads[0], NOW, rng).unwrap();
    unstamped.stamp = 0;
    assert!(unstamped.work_bits() < 24);
    assert!(unstamped.check_work(24).is_err());
}

#[test]
fn seal_payload_stamps_with_the_default_difficulty() {
    let (payloads, _, b) = all_payloads(10);
    let frame = seal_payload(&b.id(), &payloads[2], NOW, &mut TestRng::new(10)).unwrap();
    assert_eq!(
        GossipFrame::check(&frame, NOW, crate::DEFAULT_STAMP_BITS),
        Ok(())
    );
    assert!(open_payload(&b, &frame, NOW).is_ok());
}
