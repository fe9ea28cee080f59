//! The key that encrypts the local store at rest, derived from the identity.
//!
//! The store key is HKDF-SHA256 of the identity's 32-byte ed25519 seed, with no salt and the
//! info label [`STORE_KEY_LABEL`]. Deriving it (rather than keeping a second random key in
//! another file) ties the store to the key file: whoever holds the key file (after its
//! passphrase, if it has one) can read the store, and a copy of the database without the key
//! file reveals nothing the store encrypts. The label separates this use of the seed from
//! every other (signatures, the x25519 form), so the store key says nothing about them and
//! they say nothing about it.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::identity::Identity;

/// The HKDF info label of the store key. Part of the on-disk format: changing it makes every
/// existing store unreadable.
pub const STORE_KEY_LABEL: &[u8] = b"accord/v1/store-key";

/// A 32-byte symmetric key for the local store, wiped when dropped.
///
/// `Debug` prints `StoreKey(..)`, never the key.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl StoreKey {
    /// Wraps a key obtained some other way (a test fixture, a benchmark). Production code
    /// derives it with [`Identity::store_key`].
    pub fn from_bytes(key: Zeroizing<[u8; 32]>) -> Self {
        StoreKey(key)
    }

    /// The key bytes, for the cipher that uses them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl Identity {
    /// The key that encrypts this identity's local store at rest: HKDF-SHA256 of the seed
    /// with the label [`STORE_KEY_LABEL`]. The same identity always gives the same key.
    pub fn store_key(&self) -> StoreKey {
        let seed = self.seed();
        let mut key = Zeroizing::new([0u8; 32]);
        // `expand` fails only when asked for more than 255 hash lengths; 32 bytes is one, so
        // the error branch cannot be reached.
        #[allow(clippy::expect_used, reason = "see the comment above")]
        Hkdf::<Sha256>::new(None, seed.as_slice())
            .expand(STORE_KEY_LABEL, key.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        StoreKey(key)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    #[test]
    fn same_identity_same_key_other_identity_other_key() {
        let a = Identity::generate(&mut TestRng::new(1));
        let b = Identity::generate(&mut TestRng::new(2));
        assert_eq!(a.store_key().as_bytes(), a.clone().store_key().as_bytes());
        assert_ne!(a.store_key().as_bytes(), b.store_key().as_bytes());
        // The key is not the seed itself.
        assert_ne!(a.store_key().as_bytes(), &*a.seed());
    }

    #[test]
    fn matches_hkdf_of_the_seed_with_the_label() {
        // An independent computation of the documented derivation, from the HMAC steps of
        // RFC 5869 (salt absent = 32 zero bytes; one block of output).
        use hmac::{KeyInit, Mac};
        let identity = Identity::from_seed(Zeroizing::new([7u8; 32]));
        let mut extract = hmac::Hmac::<Sha256>::new_from_slice(&[0u8; 32]).unwrap();
        extract.update(&[7u8; 32]);
        let prk = extract.finalize().into_bytes();
        let mut expand = hmac::Hmac::<Sha256>::new_from_slice(&prk).unwrap();
        expand.update(STORE_KEY_LABEL);
        expand.update(&[1]);
        let okm = expand.finalize().into_bytes();
        assert_eq!(identity.store_key().as_bytes().as_slice(), okm.as_slice());
    }

    #[test]
    fn debug_hides_the_key() {
        let key = StoreKey::from_bytes(Zeroizing::new([0xab; 32]));
        let shown = format!("{key:?}");
        assert_eq!(shown, "StoreKey(..)");
        assert!(!shown.to_lowercase().contains("ab, "));
    }
}
