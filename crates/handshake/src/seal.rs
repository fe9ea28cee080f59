//! Sealed boxes: anonymous public-key encryption to an Accord ID, padded to size buckets.
//!
//! Scheme (version 1):
//!
//! 1. a fresh ephemeral x25519 key `e`; `shared = X25519(e, recipient_x25519)`, refused if
//!    it is not contributory (a low-order recipient key);
//! 2. `key = HKDF-SHA256(salt = e_pub ‖ recipient_x25519, ikm = shared,
//!    info = "accord/v1/seal/key")`, 32 bytes;
//! 3. the plaintext is framed as `u16 BE length ‖ plaintext ‖ zero padding` up to the smallest
//!    of [`BUCKETS`] that holds it;
//! 4. ChaCha20-Poly1305 with an all-zero nonce (the key is used once, because `e` is fresh)
//!    and associated data `version ‖ e_pub ‖ caller's associated data`;
//! 5. the box is `version ‖ e_pub ‖ ciphertext ‖ tag`.
//!
//! A box names neither sender nor recipient, so the recipient finds its boxes by trial
//! decryption ([`SealError::NotForMe`] is the normal outcome for someone else's). A relay
//! learns only the bucket, that is, roughly how long the content is.

use accord_identity::x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use accord_identity::{AccordId, Identity};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::codec::X25519_LEN;

/// The sealed-box format version.
pub const SEAL_VERSION: u8 = 1;
/// The sizes the framed plaintext (length prefix, plaintext, padding) is padded to.
pub const BUCKETS: [usize; 5] = [256, 512, 1024, 2048, 3968];
/// The length of the Poly1305 tag.
const TAG_LEN: usize = 16;
/// What a box adds to its bucket: version, ephemeral key, tag (49 bytes).
pub const SEAL_OVERHEAD: usize = 1 + X25519_LEN + TAG_LEN;
/// The longest plaintext that can be sealed (3966 bytes).
pub const MAX_PLAINTEXT_LEN: usize = BUCKETS[BUCKETS.len() - 1] - 2;
/// The longest sealed box (4017 bytes).
pub const MAX_SEALED_LEN: usize = BUCKETS[BUCKETS.len() - 1] + SEAL_OVERHEAD;
/// The HKDF info label.
const KEY_INFO: &[u8] = b"accord/v1/seal/key";

/// Why a box cannot be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("too large to seal: {len} bytes, at most {max}")]
    TooLarge {
        /// The plaintext's length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The Diffie-Hellman result is not contributory: one key is of low order.
    #[error("refused a low-order x25519 key")]
    NonContributory,
    /// The box's version byte is unknown.
    #[error("unsupported sealed-box version {0}")]
    UnsupportedVersion(u8),
    /// The box is not well-formed (wrong length, bad padding); the string says what.
    #[error("malformed sealed box: {0}")]
    Malformed(&'static str),
    /// The box does not decrypt with this key: it is for someone else (or was altered).
    #[error("the sealed box is not for this identity")]
    NotForMe,
    /// Encryption failed; cannot happen for lengths within the buckets.
    #[error("encryption failed")]
    Encryption,
}

/// The bucket a plaintext of `len` bytes is padded to, if it fits any.
pub fn bucket_for(len: usize) -> Option<usize> {
    BUCKETS.iter().copied().find(|&b| len + 2 <= b)
}

/// Whether `len` is the length of a possible sealed box (a bucket plus
/// [`SEAL_OVERHEAD`]); relays use this to drop junk.
pub fn is_sealed_len(len: usize) -> bool {
    len.checked_sub(SEAL_OVERHEAD)
        .is_some_and(|b| BUCKETS.contains(&b))
}

/// Seals `plaintext` to `recipient`, binding `associated_data` (which is not sent: the
/// recipient must pass the same bytes to [`open`]).
///
/// # Errors
///
/// [`SealError::TooLarge`]; [`SealError::NonContributory`] cannot happen for an
/// [`AccordId`] (whose key is checked not to be weak) but is checked all the same.
pub fn seal<R: CryptoRng + ?Sized>(
    recipient: &AccordId,
    plaintext: &[u8],
    associated_data: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    seal_to(&recipient.x25519_public(), plaintext, associated_data, rng)
}

/// Opens a box sealed to `identity` with the same `associated_data`.
///
/// # Errors
///
/// [`SealError::UnsupportedVersion`], [`SealError::Malformed`],
/// [`SealError::NonContributory`], [`SealError::NotForMe`].
pub fn open(
    identity: &Identity,
    sealed: &[u8],
    associated_data: &[u8],
) -> Result<Vec<u8>, SealError> {
    open_with(
        &identity.x25519_secret(),
        &identity.x25519_public(),
        sealed,
        associated_data,
    )
}

/// [`seal`] to a raw x25519 key.
pub(crate) fn seal_to<R: CryptoRng + ?Sized>(
    recipient: &PublicKey,
    plaintext: &[u8],
    associated_data: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    let too_large = SealError::TooLarge {
        len: plaintext.len(),
        max: MAX_PLAINTEXT_LEN,
    };
    let bucket = bucket_for(plaintext.len()).ok_or(too_large)?;
    let len = u16::try_from(plaintext.len()).map_err(|_| too_large)?;

    let ephemeral = EphemeralSecret::random_from_rng(rng);
    let e_pub = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err(SealError::NonContributory);
    }
    let cipher = cipher(&e_pub, recipient, shared.as_bytes())?;

    // Reserve the whole box so the buffer holding the plaintext never reallocates.
    let mut out = Zeroizing::new(Vec::with_capacity(bucket + SEAL_OVERHEAD));
    out.push(SEAL_VERSION);
    out.extend_from_slice(e_pub.as_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(1 + X25519_LEN + bucket, 0);
    let aad = aad(&e_pub, associated_data);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::default(), &aad, (&mut out[1 + X25519_LEN..]).into())
        .map_err(|_| SealError::Encryption)?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

/// [`open`] with a raw x25519 key pair.
pub(crate) fn open_with(
    secret: &StaticSecret,
    public: &PublicKey,
    sealed: &[u8],
    associated_data: &[u8],
) -> Result<Vec<u8>, SealError> {
    let (&version, rest) = sealed.split_first().ok_or(SealError::Malformed("empty"))?;
    if version != SEAL_VERSION {
        return Err(SealError::UnsupportedVersion(version));
    }
    if !is_sealed_len(sealed.len()) {
        return Err(SealError::Malformed("length is not a bucket size"));
    }
    let (e_pub, rest) = rest.split_at(X25519_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut e_bytes = [0u8; X25519_LEN];
    e_bytes.copy_from_slice(e_pub);
    let e_pub = PublicKey::from(e_bytes);
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);

    let shared = secret.diffie_hellman(&e_pub);
    if !shared.was_contributory() {
        return Err(SealError::NonContributory);
    }
    let cipher = cipher(&e_pub, public, shared.as_bytes())?;
    let mut framed = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_inout_detached(
            &Nonce::default(),
            &aad(&e_pub, associated_data),
            framed.as_mut_slice().into(),
            &Tag::from(tag_bytes),
        )
        .map_err(|_| SealError::NotForMe)?;
    unpad(&framed)
}

/// Checks the framing `u16 BE length ‖ plaintext ‖ zeros` and returns the plaintext.
fn unpad(framed: &[u8]) -> Result<Vec<u8>, SealError> {
    let (len, body) = framed.split_at(2);
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if len > body.len() {
        return Err(SealError::Malformed("length exceeds the bucket"));
    }
    if bucket_for(len) != Some(framed.len()) {
        return Err(SealError::Malformed("not the smallest bucket"));
    }
    let (plaintext, padding) = body.split_at(len);
    if padding.iter().any(|&b| b != 0) {
        return Err(SealError::Malformed("non-zero padding"));
    }
    Ok(plaintext.to_vec())
}

fn aad(e_pub: &PublicKey, associated_data: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + X25519_LEN + associated_data.len());
    aad.push(SEAL_VERSION);
    aad.extend_from_slice(e_pub.as_bytes());
    aad.extend_from_slice(associated_data);
    aad
}

fn cipher(
    e_pub: &PublicKey,
    recipient: &PublicKey,
    shared: &[u8; 32],
) -> Result<ChaCha20Poly1305, SealError> {
    let mut salt = [0u8; 2 * X25519_LEN];
    salt[..X25519_LEN].copy_from_slice(e_pub.as_bytes());
    salt[X25519_LEN..].copy_from_slice(recipient.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(KEY_INFO, key.as_mut_slice())
        .map_err(|_| SealError::Encryption)?;
    let key: &chacha20poly1305::Key = (&*key).into();
    Ok(ChaCha20Poly1305::new(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{TestRng, parties};
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_buckets() {
        let (a, b, _) = parties(1);
        let rng = &mut TestRng::new(1);
        assert_eq!(MAX_SEALED_LEN, 4017);
        for (len, bucket) in [(0, 256), (254, 256), (255, 512), (1022, 1024), (3966, 3968)] {
            let msg = vec![0xa5; len];
            let sealed = seal(&b.id(), &msg, b"ad", rng).unwrap();
            assert_eq!(sealed.len(), bucket + SEAL_OVERHEAD, "len {len}");
            assert!(is_sealed_len(sealed.len()));
            assert_eq!(open(&b, &sealed, b"ad").unwrap(), msg);
            assert_eq!(open(&a, &sealed, b"ad"), Err(SealError::NotForMe));
        }
        assert_eq!(
            seal(&b.id(), &[0; MAX_PLAINTEXT_LEN + 1], b"", rng),
            Err(SealError::TooLarge {
                len: MAX_PLAINTEXT_LEN + 1,
                max: MAX_PLAINTEXT_LEN
            })
        );
    }

    #[test]
    fn fresh_every_time() {
        let (_, b, _) = parties(2);
        let rng = &mut TestRng::new(2);
        let one = seal(&b.id(), b"same", b"", rng).unwrap();
        let two = seal(&b.id(), b"same", b"", rng).unwrap();
        assert_ne!(one, two);
    }

    #[test]
    fn tampering_is_detected() {
        let (_, b, _) = parties(3);
        let sealed = seal(&b.id(), b"hello", b"ad", &mut TestRng::new(3)).unwrap();
        assert_eq!(open(&b, &sealed, b"ae"), Err(SealError::NotForMe));
        assert_eq!(open(&b, &sealed, b""), Err(SealError::NotForMe));
        for i in 1..sealed.len() {
            let mut changed = sealed.clone();
            changed[i] ^= 0x10;
            assert!(open(&b, &changed, b"ad").is_err(), "byte {i}");
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(open(&b, &v2, b"ad"), Err(SealError::UnsupportedVersion(2)));
        assert!(matches!(
            open(&b, &sealed[..sealed.len() - 1], b"ad"),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(open(&b, &[], b"ad"), Err(SealError::Malformed(_))));
    }

    #[test]
    fn low_order_keys_are_refused() {
        let (_, b, _) = parties(4);
        let zero = PublicKey::from([0u8; 32]);
        assert_eq!(
            seal_to(&zero, b"x", b"", &mut TestRng::new(4)),
            Err(SealError::NonContributory)
        );
        // The order-8 point of RFC 7748's "must reject" list, too.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            seal_to(&PublicKey::from(one), b"x", b"", &mut TestRng::new(4)),
            Err(SealError::NonContributory)
        );
        let mut sealed = vec![SEAL_VERSION];
        sealed.extend_from_slice(&[0; 32]);
        sealed.extend_from_slice(&[0; 256 + 16]);
        assert_eq!(open(&b, &sealed, b""), Err(SealError::NonContributory));
    }

    /// Seals a correctly encrypted box with arbitrary framing inside, to test [`unpad`].
    fn seal_framed(recipient: &AccordId, framed: &[u8]) -> Vec<u8> {
        let ephemeral = EphemeralSecret::random_from_rng(&mut TestRng::new(5));
        let e_pub = PublicKey::from(&ephemeral);
        let shared = ephemeral.diffie_hellman(&recipient.x25519_public());
        let cipher = cipher(&e_pub, &recipient.x25519_public(), shared.as_bytes()).unwrap();
        let mut body = framed.to_vec();
        let tag = cipher
            .encrypt_inout_detached(
                &Nonce::default(),
                &aad(&e_pub, b""),
                body.as_mut_slice().into(),
            )
            .unwrap();
        [&[SEAL_VERSION][..], e_pub.as_bytes(), &body, &tag].concat()
    }

    #[test]
    fn bad_framing_inside_is_malformed() {
        let (_, b, _) = parties(5);
        let mut framed = vec![0u8; 512];
        framed[1] = 3;
        framed[2..5].copy_from_slice(b"abc");
        // Fits 256, so 512 is not the smallest bucket.
        assert_eq!(
            open(&b, &seal_framed(&b.id(), &framed), b""),
            Err(SealError::Malformed("not the smallest bucket"))
        );
        let mut framed = vec![0u8; 256];
        framed[1] = 3;
        framed[200] = 1;
        assert_eq!(
            open(&b, &seal_framed(&b.id(), &framed), b""),
            Err(SealError::Malformed("non-zero padding"))
        );
        framed[200] = 0;
        framed[0] = 1;
        assert_eq!(
            open(&b, &seal_framed(&b.id(), &framed), b""),
            Err(SealError::Malformed("length exceeds the bucket"))
        );
        framed[0] = 0;
        assert_eq!(
            open(&b, &seal_framed(&b.id(), &framed), b"").unwrap(),
            vec![0; 3]
        );
    }

    proptest! {
        #[test]
        fn round_trip(msg in proptest::collection::vec(any::<u8>(), 0..=MAX_PLAINTEXT_LEN), ad in proptest::collection::vec(any::<u8>(), 0..16), seed in any::<u64>()) {
            let (_, b, _) = parties(7);
            let sealed = seal(&b.id(), &msg, &ad, &mut TestRng::new(seed)).unwrap();
            prop_assert!(sealed.len() <= MAX_SEALED_LEN);
            prop_assert_eq!(open(&b, &sealed, &ad).unwrap(), msg);
        }

        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), len_byte in any::<u8>()) {
            let (_, b, _) = parties(8);
            let _ = open(&b, &bytes, b"");
            // Also boxes of a valid length, so that decryption is attempted.
            let mut sized = bytes.clone();
            sized.resize(256 + SEAL_OVERHEAD, len_byte);
            sized[0] = SEAL_VERSION;
            let _ = open(&b, &sized, b"");
        }
    }
}
