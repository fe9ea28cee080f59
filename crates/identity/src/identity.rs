//! The secret identity: an ed25519 signing key and the forms derived from it.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::id::AccordId;
use crate::signature::{SignatureDomain, framed};

/// A secret identity: the ed25519 key pair behind an [`AccordId`].
///
/// The secret key is zeroized when the value is dropped (every clone too). `Debug` prints
/// only the public ID (`Identity { id: 12D3KooW… }`), never the key. To persist it, use
/// [`crate::keyfile::encode`].
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    id: AccordId,
    /// The x25519 form of the secret key, derived once (a SHA-512 of the seed); wiped on drop.
    x25519: x25519_dalek::StaticSecret,
    /// The x25519 form of the public key, converted once (a field inversion).
    x25519_public: x25519_dalek::PublicKey,
}

impl Identity {
    /// Creates a fresh identity from 32 bytes of the caller's cryptographically secure RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        Self::from_seed(seed)
    }

    /// Rebuilds an identity from its 32-byte ed25519 seed (the RFC 8032 secret key).
    ///
    /// The seed is taken as [`Zeroizing`] so that the caller's copy is wiped when this call
    /// consumes it; every seed value is a valid key, so this cannot fail.
    pub fn from_seed(seed: Zeroizing<[u8; 32]>) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let peer = libp2p_keypair_from_seed(&seed).public().to_peer_id();
        let id = AccordId::from_parts(peer, signing.verifying_key());
        let scalar = Zeroizing::new(signing.to_scalar_bytes());
        let x25519 = x25519_dalek::StaticSecret::from(*scalar);
        let x25519_public = id.x25519_public();
        Self {
            signing,
            id,
            x25519,
            x25519_public,
        }
    }

    /// The public Accord ID of this identity.
    pub fn id(&self) -> AccordId {
        self.id
    }

    /// The same key as a libp2p key pair, for the libp2p `Swarm`; its `PeerId` equals
    /// `self.id().peer_id()`.
    pub fn to_libp2p_keypair(&self) -> libp2p_identity::Keypair {
        libp2p_keypair_from_seed(&self.seed())
    }

    /// The x25519 secret matching [`AccordId::x25519_public`]: the first half of
    /// SHA-512(seed), as libsodium's `crypto_sign_ed25519_sk_to_curve25519` computes (X25519
    /// clamps it when it is used). [`x25519_dalek::StaticSecret`] zeroizes itself on drop.
    ///
    /// Reusing the signing key for Diffie-Hellman is sound as long as every use is
    /// domain-separated (see <https://eprint.iacr.org/2021/509>); callers must hash the
    /// shared secret with a purpose-specific label, never use it raw.
    ///
    /// It is derived once, when the identity is built, and copied out here.
    pub fn x25519_secret(&self) -> x25519_dalek::StaticSecret {
        self.x25519.clone()
    }

    /// [`AccordId::x25519_public`] of our own ID, converted once when the identity is built.
    pub fn x25519_public(&self) -> x25519_dalek::PublicKey {
        self.x25519_public
    }

    /// Signs `message` under `domain`; see [`SignatureDomain`] for the exact bytes signed.
    /// Check the result with [`crate::verify`].
    pub fn sign(&self, domain: SignatureDomain, message: &[u8]) -> Signature {
        self.signing.sign(&framed(domain, message))
    }

    /// The 32-byte seed, for the key file. Crate-private: nothing else needs the raw secret.
    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("id", &self.id).finish()
    }
}

/// Builds the libp2p form of a seed.
fn libp2p_keypair_from_seed(seed: &[u8; 32]) -> libp2p_identity::Keypair {
    // libp2p copies the bytes and zeroes the buffer it is given, so hand it a wiped copy.
    let mut copy = Zeroizing::new(*seed);
    // `ed25519_from_bytes` fails only when the input is not 32 bytes long, and this is a
    // `[u8; 32]`, so the error branch cannot be reached.
    #[allow(clippy::expect_used)]
    libp2p_identity::Keypair::ed25519_from_bytes(copy.as_mut_slice())
        .expect("a 32-byte seed is always a valid ed25519 secret key")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{TestRng, base58, hex};
    use crate::{SignatureDomain, verify};

    const TEST: SignatureDomain = SignatureDomain::new("accord/v1/test");

    #[test]
    fn id_matches_libp2p_peer_id() {
        for seed in 0..8 {
            let identity = Identity::generate(&mut TestRng::new(seed));
            let keypair = identity.to_libp2p_keypair();
            assert_eq!(keypair.public().to_peer_id(), identity.id().peer_id());
            assert_eq!(
                AccordId::from_peer_id(keypair.public().to_peer_id()),
                Ok(identity.id())
            );
        }
    }

    #[test]
    fn libp2p_signatures_verify_with_our_key() {
        // The libp2p key and ours must be the very same key, not merely the same ID.
        let identity = Identity::generate(&mut TestRng::new(9));
        let sig = identity.to_libp2p_keypair().sign(b"hello").unwrap();
        let sig = Signature::from_slice(&sig).unwrap();
        identity
            .id()
            .verifying_key()
            .verify_strict(b"hello", &sig)
            .unwrap();
    }

    #[test]
    fn x25519_secret_matches_public() {
        for seed in 0..8 {
            let identity = Identity::generate(&mut TestRng::new(seed));
            let public = x25519_dalek::PublicKey::from(&identity.x25519_secret());
            assert_eq!(public, identity.id().x25519_public());
            assert_eq!(public, identity.x25519_public());
            // The cached secret is the one the definition gives.
            let scalar = identity.signing.to_scalar_bytes();
            assert_eq!(identity.x25519_secret().to_bytes(), scalar);
        }
    }

    #[test]
    fn x25519_agreement_both_ways() {
        let a = Identity::generate(&mut TestRng::new(10));
        let b = Identity::generate(&mut TestRng::new(11));
        let ab = a.x25519_secret().diffie_hellman(&b.id().x25519_public());
        let ba = b.x25519_secret().diffie_hellman(&a.id().x25519_public());
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert!(ab.was_contributory());
    }

    #[test]
    fn rfc8032_test_vector() {
        // RFC 8032 §7.1, TEST 1: the seed and its public key.
        let seed: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let identity = Identity::from_seed(Zeroizing::new(seed));
        assert_eq!(
            hex(&identity.id().public_key_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn sign_and_verify() {
        let a = Identity::generate(&mut TestRng::new(12));
        let b = Identity::generate(&mut TestRng::new(13));
        let sig = a.sign(TEST, b"message");
        assert_eq!(verify(&a.id(), TEST, b"message", &sig), Ok(()));
        let other = SignatureDomain::new("accord/v1/other");
        assert!(verify(&a.id(), other, b"message", &sig).is_err());
        assert!(verify(&a.id(), TEST, b"messagf", &sig).is_err());
        assert!(verify(&b.id(), TEST, b"message", &sig).is_err());
    }

    #[test]
    fn debug_does_not_leak_the_seed() {
        let identity = Identity::generate(&mut TestRng::new(14));
        let seed = identity.seed();
        let shown = format!("{identity:?} {identity:#?}");
        assert!(shown.contains(&identity.id().to_string()), "{shown}");
        assert!(shown.starts_with("Identity { id: 12D3KooW"), "{shown}");
        assert!(!shown.contains(&hex(seed.as_slice())));
        assert!(!shown.contains(&hex(&seed[..8])));
        assert!(!shown.contains(&base58(seed.as_slice())));
        assert!(!shown.contains(&format!("{:?}", &seed[..4])));
    }

    #[test]
    fn seed_round_trip() {
        let identity = Identity::generate(&mut TestRng::new(15));
        let again = Identity::from_seed(identity.seed());
        assert_eq!(again.id(), identity.id());
    }
}
