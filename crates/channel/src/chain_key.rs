//! Chain keys and the Double Ratchet's symmetric step (Signal's `KDF_CK`).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::message_key::MessageKey;

/// The HMAC input that derives a message key from a chain key.
const MESSAGE_KEY_SEED: u8 = 0x01;
/// The HMAC input that derives the next chain key.
const CHAIN_KEY_SEED: u8 = 0x02;

/// A sending or receiving chain key: 32 secret bytes, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey([u8; 32]);

impl ChainKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `KDF_CK`: the message key `HMAC-SHA256(ck, 0x01)`, and this chain key replaced by
    /// `HMAC-SHA256(ck, 0x02)` (the old one is overwritten, so it cannot be recovered).
    pub(crate) fn advance(&mut self) -> MessageKey {
        let (message_key, next) = self.step();
        *self = next;
        message_key
    }

    /// `KDF_CK` without changing this chain key: `(message key, next chain key)`. Both HMACs
    /// share one key schedule (the padded key's inner and outer hash states are computed once
    /// and cloned), so a step costs six SHA-256 compressions instead of eight.
    pub(crate) fn step(&self) -> (MessageKey, ChainKey) {
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(&self.0);
        let keyed = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
        let message_key = MessageKey::from_bytes(*finish(keyed.clone(), MESSAGE_KEY_SEED));
        let next = ChainKey(*finish(keyed, CHAIN_KEY_SEED));
        (message_key, next)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// Finishes an HMAC-SHA256 already keyed with a 32-byte key, over one byte.
///
/// HMAC pads a key shorter than the hash's block (64 bytes) with zeros (RFC 2104, step 1), so
/// the 32-byte key zero-padded to 64 bytes *is* the HMAC key; building it that way uses the
/// infallible [`KeyInit::new`] instead of `new_from_slice`, whose error cannot happen but would
/// still need handling. A test checks the two agree.
fn finish(mut mac: Hmac<Sha256>, input: u8) -> Zeroizing<[u8; 32]> {
    mac.update(&[input]);
    let mut tag = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&tag);
    tag.zeroize();
    out
}

/// HMAC-SHA256 of one byte under a 32-byte key.
#[cfg(test)]
fn hmac_sha256(key: &[u8; 32], input: u8) -> Zeroizing<[u8; 32]> {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    finish(<Hmac<Sha256> as KeyInit>::new(&(*block).into()), input)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn padded_key_hmac_equals_slice_key_hmac() {
        let key = [0x5Au8; 32];
        let mut reference = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        reference.update(&[0x01]);
        let reference = reference.finalize().into_bytes();
        assert_eq!(hmac_sha256(&key, 0x01).as_slice(), reference.as_slice());
    }

    #[test]
    fn advance_derives_0x01_and_0x02() {
        // The message key and the next chain key are the HMACs of 0x01 and 0x02.
        let mut chain = ChainKey([7u8; 32]);
        let original = chain.clone();
        let mk = chain.advance();
        assert_eq!(mk.as_bytes(), &*hmac_sha256(original.as_bytes(), 0x01));
        assert_eq!(chain.as_bytes(), &*hmac_sha256(original.as_bytes(), 0x02));
        assert_ne!(mk.as_bytes(), chain.as_bytes());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", ChainKey([1; 32])), "ChainKey(<redacted>)");
    }
}
