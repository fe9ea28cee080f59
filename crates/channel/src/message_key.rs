//! Message keys: the one-time keys that encrypt one message each, and the AEAD around them.
//!
//! The cipher is **XChaCha20-Poly1305** with a **random 24-byte nonce** carried in the
//! envelope, under the key `HKDF-SHA256(salt = none, ikm = message key,
//! info = "accord/v1/channel/message")` (32 bytes).
//!
//! Why not ChaCha20-Poly1305 with a nonce derived from the message key, which the Double
//! Ratchet alone would allow (each message key encrypts one message)? Because that is only
//! safe while a message key is truly never used twice, and a node *can* reuse one: if it
//! crashes after sending but before its store committed the advanced ratchet state, or restores
//! a backup, the next message is encrypted under the same key again. With a derived nonce that
//! would be a nonce reuse (the XOR of the two plaintexts leaks and Poly1305 forgeries become
//! possible); with a fresh random 192-bit nonce the two messages stay confidential and
//! authentic. The cost is 24 bytes per message and one RNG call when encrypting.

use std::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::root_key::hkdf_sha256;

/// HKDF `info` turning a message key into the AEAD key.
pub(crate) const MESSAGE_INFO: &[u8] = crate::labels::MESSAGE.as_bytes();
/// The length of the Poly1305 tag appended to every ciphertext.
pub(crate) const TAG_LEN: usize = 16;
/// The length of the XChaCha20 nonce carried in every envelope.
pub(crate) const NONCE_LEN: usize = 24;

/// The AEAD failed: the ciphertext, the associated data or the key is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

/// A message key: 32 secret bytes, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey([u8; 32]);

impl MessageKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let okm = hkdf_sha256::<32>(&[], &self.0, MESSAGE_INFO);
        let mut key = Key::default();
        key.copy_from_slice(okm.as_slice());
        let cipher = XChaCha20Poly1305::new(&key);
        key.zeroize();
        cipher
    }

    /// Encrypts the plaintext at `buffer[start..]` in place under `nonce`, authenticating
    /// `aad`, and appends the tag.
    pub(crate) fn seal(
        &self,
        buffer: &mut Vec<u8>,
        start: usize,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
    ) -> Result<(), AeadFailure> {
        let cipher = self.cipher();
        let body = buffer.get_mut(start..).ok_or(AeadFailure)?;
        let tag = cipher
            .encrypt_inout_detached(&XNonce::from(*nonce), aad, body.into())
            .map_err(|_| AeadFailure)?;
        buffer.extend_from_slice(&tag);
        Ok(())
    }

    /// Decrypts `ciphertext ‖ tag`, authenticating `aad`. Nothing is returned unless the tag
    /// verifies.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
    ) -> Result<Vec<u8>, AeadFailure> {
        let split = sealed.len().checked_sub(TAG_LEN).ok_or(AeadFailure)?;
        let (ciphertext, tag) = sealed.split_at(split);
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let mut plaintext = ciphertext.to_vec();
        self.cipher()
            .decrypt_inout_detached(
                &XNonce::from(*nonce),
                aad,
                plaintext.as_mut_slice().into(),
                &Tag::from(tag_bytes),
            )
            .map_err(|_| AeadFailure)?;
        Ok(plaintext)
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = MessageKey([3u8; 32]);
        let mut buffer = b"prefix".to_vec();
        buffer.extend_from_slice(b"hello");
        let nonce = [8u8; NONCE_LEN];
        key.seal(&mut buffer, 6, &nonce, b"ad").unwrap();
        assert_eq!(buffer.len(), 6 + 5 + TAG_LEN);
        assert_eq!(key.open(&buffer[6..], &nonce, b"ad").unwrap(), b"hello");
        assert!(key.open(&buffer[6..], &nonce, b"ae").is_err());
        assert!(key.open(&buffer[6..], &[9u8; NONCE_LEN], b"ad").is_err());
        assert!(
            MessageKey([4u8; 32])
                .open(&buffer[6..], &nonce, b"ad")
                .is_err()
        );
        let mut bad = buffer[6..].to_vec();
        bad[0] ^= 1;
        assert!(key.open(&bad, &nonce, b"ad").is_err());
        assert!(key.open(&buffer[..TAG_LEN - 1], &nonce, b"ad").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", MessageKey([1; 32])),
            "MessageKey(<redacted>)"
        );
    }
}
