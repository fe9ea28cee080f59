use super::*;
use crate::test_rng::{TestRng, base58, hex};
use proptest::prelude::*;

/// Cheap parameters so tests run fast; never use these for real keys.
const CHEAP: KdfParams = KdfParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

fn identity(seed: u64) -> Identity {
    Identity::generate(&mut TestRng::new(seed))
}

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_owned()).unwrap()
}

fn encrypted(identity: &Identity, passphrase: &Passphrase) -> Zeroizing<Vec<u8>> {
    encode(identity, Some((passphrase, CHEAP)), &mut TestRng::new(99)).unwrap()
}

#[test]
fn plain_round_trip() {
    let id = identity(1);
    let bytes = encode(&id, None, &mut TestRng::new(0)).unwrap();
    assert_eq!(bytes.len(), PLAIN_LEN);
    assert_eq!(is_encrypted(&bytes), Ok(false));
    assert_eq!(decode(&bytes, None).unwrap().id(), id.id());
}

#[test]
fn plain_file_opens_with_a_passphrase_too() {
    let id = identity(2);
    let bytes = encode(&id, None, &mut TestRng::new(0)).unwrap();
    assert_eq!(decode(&bytes, Some(&pass("x"))).unwrap().id(), id.id());
}

#[test]
fn encrypted_round_trip() {
    let id = identity(3);
    let p = pass("correct horse battery staple");
    let bytes = encrypted(&id, &p);
    assert_eq!(bytes.len(), ENCRYPTED_LEN);
    assert_eq!(is_encrypted(&bytes), Ok(true));
    assert_eq!(decode(&bytes, Some(&p)).unwrap().id(), id.id());
    // The seed must not appear in the clear.
    let seed = id.seed();
    assert!(!bytes.windows(8).any(|w| w == &seed[..8]));
}

#[test]
fn kdf_params_reads_the_header_without_deriving_a_key() {
    let id = identity(5);
    let plain = encode(&id, None, &mut TestRng::new(0)).unwrap();
    assert_eq!(kdf_params(&plain), Ok(None));
    let bytes = encrypted(&id, &pass("pw"));
    assert_eq!(kdf_params(&bytes), Ok(Some(CHEAP)));
    // Out-of-range parameters are refused before anything is allocated for them.
    let mut huge = bytes.to_vec();
    huge[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        kdf_params(&huge),
        Err(KeyFileError::KdfParamsOutOfRange { .. })
    ));
    assert_eq!(kdf_params(&bytes[..40]), Err(KeyFileError::Truncated));
}

#[test]
fn default_params_round_trip() {
    let id = identity(4);
    let p = pass("pw");
    let bytes = encode(&id, Some((&p, KdfParams::default())), &mut TestRng::new(1)).unwrap();
    assert_eq!(decode(&bytes, Some(&p)).unwrap().id(), id.id());
}

#[test]
fn salt_and_nonce_are_fresh() {
    let id = identity(5);
    let p = pass("pw");
    let a = encode(&id, Some((&p, CHEAP)), &mut TestRng::new(1)).unwrap();
    let b = encode(&id, Some((&p, CHEAP)), &mut TestRng::new(2)).unwrap();
    assert_ne!(a[23..63], b[23..63]);
    assert_ne!(a[63..], b[63..]);
}

#[test]
fn wrong_or_missing_passphrase() {
    let id = identity(6);
    let bytes = encrypted(&id, &pass("right"));
    assert_eq!(
        decode(&bytes, Some(&pass("wrong"))).unwrap_err(),
        KeyFileError::WrongPassphraseOrCorrupt
    );
    assert_eq!(
        decode(&bytes, None).unwrap_err(),
        KeyFileError::PassphraseRequired
    );
    assert!(
        KeyFileError::PassphraseRequired
            .to_string()
            .contains("ACCORD_PASSPHRASE")
    );
}

#[test]
fn empty_passphrase_is_refused() {
    assert_eq!(
        Passphrase::new(String::new()).unwrap_err(),
        KeyFileError::EmptyPassphrase
    );
    let empty = Passphrase::from(String::new());
    assert_eq!(
        encode(&identity(7), Some((&empty, CHEAP)), &mut TestRng::new(0)).unwrap_err(),
        KeyFileError::EmptyPassphrase
    );
}

#[test]
fn out_of_range_params_are_refused_on_encode() {
    let p = pass("pw");
    for params in [
        KdfParams {
            memory_kib: 7,
            ..CHEAP
        },
        KdfParams {
            memory_kib: KdfParams::MAX_MEMORY_KIB + 1,
            ..CHEAP
        },
        KdfParams {
            iterations: 0,
            ..CHEAP
        },
        KdfParams {
            iterations: 65,
            ..CHEAP
        },
        KdfParams {
            parallelism: 0,
            ..CHEAP
        },
        KdfParams {
            parallelism: 17,
            ..CHEAP
        },
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 9,
        },
    ] {
        assert!(
            matches!(
                encode(&identity(8), Some((&p, params)), &mut TestRng::new(0)),
                Err(KeyFileError::KdfParamsOutOfRange { .. })
            ),
            "{params:?}"
        );
    }
    assert_eq!(KdfParams::default().validate(), Ok(()));
}

#[test]
fn out_of_range_params_are_refused_on_decode() {
    let p = pass("pw");
    let mut bytes = encrypted(&identity(9), &p);
    // Ask for 4 GiB of memory: refused before any allocation.
    bytes[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode(&bytes, Some(&p)),
        Err(KeyFileError::KdfParamsOutOfRange { .. })
    ));
    assert!(is_encrypted(&bytes).is_err());
}

#[test]
fn every_byte_flip_of_an_encrypted_file_is_an_error() {
    let p = pass("pw");
    let bytes = encrypted(&identity(10), &p);
    for i in 0..bytes.len() {
        for mask in [0x01, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= mask;
            assert!(decode(&changed, Some(&p)).is_err(), "byte {i} ^ {mask:#x}");
        }
    }
}

#[test]
fn every_byte_flip_of_a_plain_file_is_an_error() {
    let bytes = encode(&identity(11), None, &mut TestRng::new(0)).unwrap();
    for i in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= mask;
            assert!(decode(&changed, None).is_err(), "byte {i} ^ {mask:#x}");
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let p = pass("pw");
    for bytes in [
        encode(&identity(12), None, &mut TestRng::new(0)).unwrap(),
        encrypted(&identity(12), &p),
    ] {
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len], Some(&p)).is_err(), "length {len}");
            assert!(is_encrypted(&bytes[..len]).is_err(), "length {len}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(
            decode(&longer, Some(&p)).unwrap_err(),
            KeyFileError::TrailingBytes
        );
    }
}

#[test]
fn specific_refusals() {
    assert_eq!(decode(b"", None).unwrap_err(), KeyFileError::Truncated);
    assert_eq!(
        decode(b"ACCORD", None).unwrap_err(),
        KeyFileError::Truncated
    );
    assert_eq!(decode(b"hello", None).unwrap_err(), KeyFileError::BadMagic);
    assert_eq!(
        decode(b"-----BEGIN PRIVATE KEY-----", None).unwrap_err(),
        KeyFileError::BadMagic
    );
    assert_eq!(
        decode(b"ACCORDKEY\x02\x00", None).unwrap_err(),
        KeyFileError::UnsupportedVersion(2)
    );
    assert_eq!(
        decode(b"ACCORDKEY\x01\x07", None).unwrap_err(),
        KeyFileError::UnknownKind(7)
    );
    let huge = vec![0u8; MAX_KEY_FILE_LEN + 1];
    assert_eq!(
        decode(&huge, None).unwrap_err(),
        KeyFileError::TooLarge(MAX_KEY_FILE_LEN + 1)
    );
}

#[test]
fn layout_matches_the_documentation() {
    let id = identity(13);
    let plain = encode(&id, None, &mut TestRng::new(0)).unwrap();
    assert_eq!(&plain[..11], b"ACCORDKEY\x01\x00");
    assert_eq!(plain[11..43], *id.seed());
    assert_eq!(plain[43..75], id.id().public_key_bytes());

    let enc = encrypted(&id, &pass("pw"));
    assert_eq!(&enc[..11], b"ACCORDKEY\x01\x01");
    assert_eq!(enc[11..15], 64u32.to_le_bytes());
    assert_eq!(enc[15..19], 1u32.to_le_bytes());
    assert_eq!(enc[19..23], 1u32.to_le_bytes());
}

#[test]
fn passphrase_debug_is_redacted() {
    let p = pass("hunter2-very-secret");
    let shown = format!("{p:?} {p:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains(&hex(b"hunter2")));
    assert!(!shown.contains(&base58(b"hunter2-very-secret")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(decode(&bytes, None).is_err() || bytes.len() == PLAIN_LEN);
        let _ = decode(&bytes, Some(&pass("pw")));
        let _ = is_encrypted(&bytes);
    }

    #[test]
    fn decoding_arbitrary_well_framed_bytes_never_panics(
        kind in 0u8..3,
        memory_kib in prop_oneof![Just(64u32), 0u32..300, any::<u32>()],
        iterations in prop_oneof![Just(1u32), 0u32..3, any::<u32>()],
        parallelism in prop_oneof![Just(1u32), 0u32..3, any::<u32>()],
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = b"ACCORDKEY\x01".to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&memory_kib.to_le_bytes());
        bytes.extend_from_slice(&iterations.to_le_bytes());
        bytes.extend_from_slice(&parallelism.to_le_bytes());
        bytes.extend_from_slice(&rest);
        // Only cheap parameters reach Argon2 with a passphrase; the bounds check is what
        // stops expensive ones, and it is exercised without one.
        let cheap = memory_kib <= 300 && iterations <= 2;
        let passphrase = pass("pw");
        let result = decode(&bytes, cheap.then_some(&passphrase));
        prop_assert!(result.is_err());
        let _ = is_encrypted(&bytes);
    }

    #[test]
    fn round_trips_for_any_identity_and_passphrase(seed in any::<u64>(), p in ".{1,40}") {
        let id = identity(seed);
        let p = Passphrase::new(p).unwrap();
        let bytes = encode(&id, Some((&p, CHEAP)), &mut TestRng::new(seed)).unwrap();
        prop_assert_eq!(decode(&bytes, Some(&p)).unwrap().id(), id.id());
        let plain = encode(&id, None, &mut TestRng::new(seed)).unwrap();
        prop_assert_eq!(decode(&plain, None).unwrap().id(), id.id());
    }
}
