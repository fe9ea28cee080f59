//! Domain-separated ed25519 signatures.

use ed25519_dalek::Signature;

use crate::id::AccordId;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature does not verify: it was made by another key, under another domain,
    /// over other bytes, or it is not a canonical (strict) ed25519 signature.
    #[error("invalid signature: it was not made by this identity over these exact bytes")]
    Invalid,
    /// The bytes are not an ed25519 signature (which is exactly 64 bytes long).
    #[error("malformed signature: expected 64 bytes, got {0}")]
    WrongLength(usize),
}

/// A domain-separation label for signatures, such as `"accord/v1/attest"`.
///
/// Every signature in Accord is over a purpose label and the exact bytes, never over a
/// re-serialised structure, so a signature made for one purpose can never be replayed as
/// another. The signed bytes are:
///
/// ```text
/// len(domain) as one byte ‖ domain (UTF-8) ‖ message
/// ```
///
/// The length prefix makes the framing unambiguous: no choice of domain and message can
/// produce the same signed bytes as a different domain and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureDomain(&'static str);

impl SignatureDomain {
    /// Creates a domain label. Meant for constants:
    /// `const ATTEST: SignatureDomain = SignatureDomain::new("accord/v1/attest");`
    ///
    /// # Panics
    ///
    /// If `domain` is empty or longer than 255 bytes. Domains are program constants, so in a
    /// `const` item this is a compile-time error rather than a run-time panic.
    pub const fn new(domain: &'static str) -> Self {
        assert!(
            !domain.is_empty() && domain.len() <= u8::MAX as usize,
            "a signature domain must be 1 to 255 bytes long"
        );
        Self(domain)
    }

    /// The label as a string.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The exact bytes that are signed for `message` under `domain` (see [`SignatureDomain`]).
pub(crate) fn framed(domain: SignatureDomain, message: &[u8]) -> Vec<u8> {
    let label = domain.0.as_bytes();
    let mut bytes = Vec::with_capacity(1 + label.len() + message.len());
    // `SignatureDomain::new` guarantees the length fits in one byte; the fallback only keeps
    // this line free of a panic path.
    bytes.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(label);
    bytes.extend_from_slice(message);
    bytes
}

/// Checks that `signer` signed `message` under `domain` (with [`crate::Identity::sign`]).
///
/// Uses ed25519 strict verification, which refuses non-canonical signatures and weak keys,
/// so a valid signature cannot be altered into a second valid one (no malleability).
///
/// # Errors
///
/// [`SignatureError::Invalid`] if the signature does not verify.
pub fn verify(
    signer: &AccordId,
    domain: SignatureDomain,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    signer
        .verifying_key()
        .verify_strict(&framed(domain, message), signature)
        .map_err(|_| SignatureError::Invalid)
}

/// Parses a 64-byte ed25519 signature from wire bytes.
///
/// # Errors
///
/// [`SignatureError::WrongLength`] if `bytes` is not 64 bytes long.
pub fn signature_from_bytes(bytes: &[u8]) -> Result<Signature, SignatureError> {
    let array: &[u8; Signature::BYTE_SIZE] = bytes
        .try_into()
        .map_err(|_| SignatureError::WrongLength(bytes.len()))?;
    Ok(Signature::from_bytes(array))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::Identity;
    use crate::test_rng::TestRng;
    use proptest::prelude::*;

    const A: SignatureDomain = SignatureDomain::new("accord/v1/a");

    #[test]
    fn framing_is_length_prefixed() {
        assert_eq!(framed(A, b"xy"), b"\x0baccord/v1/axy".to_vec());
        // Moving bytes between domain and message changes what is signed.
        let ab = SignatureDomain::new("ab");
        let a = SignatureDomain::new("a");
        assert_ne!(framed(ab, b"c"), framed(a, b"bc"));
    }

    #[test]
    fn signature_bytes_round_trip() {
        let identity = Identity::generate(&mut TestRng::new(1));
        let sig = identity.sign(A, b"m");
        let parsed = signature_from_bytes(&sig.to_bytes()).unwrap();
        assert_eq!(parsed, sig);
        assert_eq!(
            signature_from_bytes(&[0; 63]),
            Err(SignatureError::WrongLength(63))
        );
    }

    #[test]
    fn empty_message_signs() {
        let identity = Identity::generate(&mut TestRng::new(2));
        let sig = identity.sign(A, b"");
        assert_eq!(verify(&identity.id(), A, b"", &sig), Ok(()));
    }

    #[test]
    fn non_canonical_signature_is_refused() {
        let identity = Identity::generate(&mut TestRng::new(3));
        let mut bytes = identity.sign(A, b"m").to_bytes();
        // Adding the group order L to s gives the same point equation but a non-canonical
        // scalar; strict verification must refuse it. Setting the top bit is the same class.
        bytes[63] |= 0x80;
        let sig = Signature::from_bytes(&bytes);
        assert_eq!(
            verify(&identity.id(), A, b"m", &sig),
            Err(SignatureError::Invalid)
        );
    }

    proptest! {
        #[test]
        fn any_bit_flip_breaks_the_signature(seed in any::<u64>(), msg in proptest::collection::vec(any::<u8>(), 0..64), bit in 0usize..512) {
            let identity = Identity::generate(&mut TestRng::new(seed));
            let mut bytes = identity.sign(A, &msg).to_bytes();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let sig = Signature::from_bytes(&bytes);
            prop_assert!(verify(&identity.id(), A, &msg, &sig).is_err());
        }
    }
}
