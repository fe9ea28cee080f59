//! Message keys: the one-time keys that encrypt one message each, and the AEAD around them.
//!
//! The cipher is **XChaCha20-Poly1305** ([`crate::aead`]) with a **random 24-byte nonce**
//! carried in the envelope, keyed directly with the 32-byte message key
//! `HMAC-SHA256(chain key, 0x01)`. Signal's specification runs the message key through HKDF
//! because its AES-256-CBC + HMAC needs 80 bytes (two keys and an IV); an AEAD with a 32-byte
//! key needs nothing more, and the message key is already a pseudorandom key separated by its
//! HMAC input (`0x01`) from the next chain key (`0x02`) and used for nothing but this one AEAD
//! operation, so a further HKDF would add cost and no separation.
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

use zeroize::{Zeroize, ZeroizeOnDrop};

pub(crate) use crate::aead::{AeadFailure, NONCE_LEN, TAG_LEN};

/// A message key: 32 secret bytes, wiped on drop, never printed. It is the AEAD key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey([u8; 32]);

impl MessageKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
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
        let body = buffer.get_mut(start..).ok_or(AeadFailure)?;
        let tag = crate::aead::seal_in_place(&self.0, nonce, aad, body);
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
        crate::aead::open_in_place(&self.0, nonce, aad, &mut plaintext, &tag_bytes)?;
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
