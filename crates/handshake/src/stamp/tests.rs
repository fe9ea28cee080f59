use super::*;
use proptest::prelude::*;

fn digest(seed: u8) -> [u8; DIGEST_LEN] {
    frame_digest(&[2, seed], &[seed; 100])
}

#[test]
fn leading_zero_bits_count_from_the_first_byte() {
    assert_eq!(leading_zero_bits(&[0x80, 0]), 0);
    assert_eq!(leading_zero_bits(&[0x01, 0xff]), 7);
    assert_eq!(leading_zero_bits(&[0, 0x40]), 9);
    assert_eq!(leading_zero_bits(&[0, 0, 0]), 24);
    assert_eq!(leading_zero_bits(&[]), 0);
}

#[test]
fn a_minted_stamp_has_the_work_and_is_the_first_that_does() {
    for bits in [0, 1, 4, 10, 14] {
        let d = digest(bits as u8);
        let nonce = mint(&d, bits).unwrap();
        assert!(work_bits(&d, nonce) >= bits);
        assert_eq!(verify(&d, nonce, bits), Ok(()));
        assert!((0..nonce).all(|earlier| work_bits(&d, earlier) < bits));
    }
}

#[test]
fn fewer_bits_than_required_are_refused() {
    let d = digest(1);
    let nonce = mint(&d, 12).unwrap();
    let have = work_bits(&d, nonce);
    assert_eq!(
        verify(&d, nonce, have + 1),
        Err(StampError::Insufficient {
            bits: have,
            required: have + 1
        })
    );
}

#[test]
fn too_hard_is_refused_before_any_work() {
    assert_eq!(
        mint(&digest(2), MAX_STAMP_BITS + 1),
        Err(StampError::TooHard {
            bits: MAX_STAMP_BITS + 1,
            max: MAX_STAMP_BITS
        })
    );
}

#[test]
fn the_work_hash_is_the_documented_one() {
    // SHA-256("accord/v1/stamp" ‖ digest ‖ nonce BE), written out without the prefix reuse.
    let d = digest(3);
    for nonce in [0u64, 1, 0x0102_0304_0506_0708, u64::MAX] {
        let mut input = b"accord/v1/stamp".to_vec();
        input.extend_from_slice(&d);
        input.extend_from_slice(&nonce.to_be_bytes());
        let hash: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(work_hash(&d, nonce), hash);
        assert_eq!(work_bits(&d, nonce), leading_zero_bits(&hash));
    }
}

proptest! {
    #[test]
    fn minted_stamps_verify_and_other_digests_do_not_share_them(
        header in proptest::collection::vec(any::<u8>(), 1..17),
        sealed in proptest::collection::vec(any::<u8>(), 0..300),
        bits in 6u32..11,
        flip in any::<prop::sample::Index>(),
    ) {
        let d = frame_digest(&header, &sealed);
        let nonce = mint(&d, bits).unwrap();
        prop_assert_eq!(verify(&d, nonce, bits), Ok(()));
        // Changing any bit of the frame changes the digest and so the work hash of the same
        // nonce: the stamp then has the work only by chance (2^-bits; the frame-level test
        // counts this over every byte of a real frame).
        let mut bytes = header.clone();
        bytes.extend_from_slice(&sealed);
        let at = flip.index(bytes.len());
        bytes[at] ^= 1;
        let (h, s) = bytes.split_at(header.len());
        let other = frame_digest(h, s);
        prop_assert_ne!(other, d);
        prop_assert_ne!(work_hash(&other, nonce), work_hash(&d, nonce));
    }

    #[test]
    fn verify_agrees_with_work_bits(seed in any::<u8>(), nonce in any::<u64>(), required in 0u32..12) {
        let d = digest(seed);
        prop_assert_eq!(verify(&d, nonce, required).is_ok(), work_bits(&d, nonce) >= required);
    }
}
