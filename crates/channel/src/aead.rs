//! XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03), from the RustCrypto `chacha20poly1305`
//! crate, behind the two in-place calls the channel needs.
//!
//! The crate's `poly1305` picks an AVX2 back end at run time on x86-64. For the short inputs of
//! a chat message its four-lane set-up and finalisation cost ~2.3 µs per tag, about a third of
//! a whole encrypt + decrypt of a 64-byte message, where the crate's portable back end takes
//! ~0.2 µs. The workspace therefore selects the portable back end with the crate's own switch,
//! `--cfg poly1305_backend="soft"`, in `.cargo/config.toml`. The result is the same function
//! either way; only the speed differs, so a build without the switch is correct, just slower.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};

/// The length of the Poly1305 tag appended to every ciphertext.
pub(crate) const TAG_LEN: usize = 16;
/// The length of the XChaCha20 nonce.
pub(crate) const NONCE_LEN: usize = 24;

/// The AEAD failed: the ciphertext, the associated data or the key is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

/// Encrypts `buffer` in place under `key` and `nonce`, authenticating `aad`; returns the tag.
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> [u8; TAG_LEN] {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key));
    // Encryption only fails for a plaintext beyond the cipher's 256 GiB limit; a channel
    // message is at most a few hundred KiB, so this cannot fail.
    #[allow(clippy::expect_used, reason = "see the comment above")]
    let tag = cipher
        .encrypt_inout_detached(&XNonce::from(*nonce), aad, buffer.into())
        .expect("a channel message is far below the AEAD's length limit");
    tag.into()
}

/// Checks `tag` over `aad` and the ciphertext in `buffer` and, only if it verifies, decrypts
/// `buffer` in place. On failure `buffer` is left as it was (still the ciphertext).
pub(crate) fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), AeadFailure> {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key));
    cipher
        .decrypt_inout_detached(&XNonce::from(*nonce), aad, buffer.into(), &Tag::from(*tag))
        .map_err(|_| AeadFailure)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn xchacha20poly1305_draft_vector() {
        // draft-irtf-cfrg-xchacha-03, appendix A.3.1.
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only \
one tip for the future, sunscreen would be it.";
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let key: [u8; 32] =
            unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .try_into()
                .unwrap();
        let nonce: [u8; 24] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let mut buffer = plaintext.to_vec();
        let tag = seal_in_place(&key, &nonce, &aad, &mut buffer);
        assert_eq!(
            buffer,
            unhex(
                "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
                 731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
                 2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
                 21f9664c97637da9768812f615c68b13b52e"
            )
        );
        assert_eq!(tag.to_vec(), unhex("c0875924c1c7987947deafd8780acf49"));
        open_in_place(&key, &nonce, &aad, &mut buffer, &tag).unwrap();
        assert_eq!(buffer, plaintext);
    }

    #[test]
    fn failure_leaves_the_ciphertext() {
        let key = [1u8; 32];
        let nonce = [2u8; NONCE_LEN];
        let mut buffer = b"secret".to_vec();
        let mut tag = seal_in_place(&key, &nonce, b"ad", &mut buffer);
        let sealed = buffer.clone();
        tag[0] ^= 1;
        assert_eq!(
            open_in_place(&key, &nonce, b"ad", &mut buffer, &tag),
            Err(AeadFailure)
        );
        assert_eq!(buffer, sealed);
    }

    proptest! {
        /// Sealing then opening gives the plaintext back.
        #[test]
        fn round_trips_and_refuses_any_flipped_bit(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 24]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300),
            plaintext in proptest::collection::vec(any::<u8>(), 0..600),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut ours = plaintext.clone();
            let tag = seal_in_place(&key, &nonce, &aad, &mut ours);
            if !plaintext.is_empty() {
                prop_assert_ne!(&ours, &plaintext);
            }

            let mut opened = ours.clone();
            prop_assert!(open_in_place(&key, &nonce, &aad, &mut opened, &tag).is_ok());
            prop_assert_eq!(&opened, &plaintext);

            // Any single flipped bit of ciphertext, tag or associated data is refused.
            let mut bad_tag = tag;
            bad_tag[flip.index(TAG_LEN)] ^= 0x80;
            let mut copy = ours.clone();
            prop_assert!(open_in_place(&key, &nonce, &aad, &mut copy, &bad_tag).is_err());
            if !ours.is_empty() {
                let mut bad = ours.clone();
                bad[flip.index(ours.len())] ^= 1;
                prop_assert!(open_in_place(&key, &nonce, &aad, &mut bad, &tag).is_err());
            }
            if !aad.is_empty() {
                let mut bad_aad = aad.clone();
                bad_aad[flip.index(aad.len())] ^= 1;
                let mut copy = ours.clone();
                prop_assert!(open_in_place(&key, &nonce, &bad_aad, &mut copy, &tag).is_err());
            }
        }
    }
}
