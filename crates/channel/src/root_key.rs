//! The root key and the two HKDF steps that produce root keys: the X3DH-style set-up
//! ([`x3dh`]) and the Double Ratchet's root step ([`RootKey::step`], Signal's `KDF_RK`).

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::chain_key::ChainKey;

/// HKDF `info` of the session set-up (the X3DH-style secret).
pub(crate) const X3DH_INFO: &[u8] = crate::labels::X3DH.as_bytes();
/// HKDF `info` of the root step (`KDF_RK`).
pub(crate) const ROOT_INFO: &[u8] = crate::labels::ROOT.as_bytes();
/// The 32 `0xFF` bytes put before the DH outputs of the set-up, as X3DH does for X25519, so
/// the input key material can never be mistaken for that of another protocol.
const X3DH_PREFIX: [u8; 32] = [0xFF; 32];

/// A Diffie-Hellman result was of low order (the peer's public key is one of the small-order
/// points), so it carries no secret; the caller turns this into its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonContributory;

/// The Double Ratchet's root key: 32 secret bytes, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `KDF_RK`: one DH ratchet step. Returns the next root key and a fresh chain key:
    /// `HKDF-SHA256(salt = root key, ikm = DH(ours, theirs), info = "accord/v1/channel/root")`,
    /// 64 bytes: the new root key, then the chain key.
    pub(crate) fn step(
        &self,
        ours: &StaticSecret,
        theirs: &PublicKey,
    ) -> Result<(RootKey, ChainKey), NonContributory> {
        let shared = dh(ours, theirs)?;
        let okm = hkdf_sha256::<64>(&self.0, shared.as_slice(), ROOT_INFO);
        let mut root = [0u8; 32];
        let mut chain = [0u8; 32];
        root.copy_from_slice(&okm[..32]);
        chain.copy_from_slice(&okm[32..]);
        let out = (RootKey(root), ChainKey::from_bytes(chain));
        root.zeroize();
        chain.zeroize();
        Ok(out)
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// The three DH outputs of the set-up, in protocol order (DH1, DH2, DH3).
pub(crate) struct X3dhInputs(pub(crate) [Zeroizing<[u8; 32]>; 3]);

/// The set-up's shared secret, the first root key:
/// `HKDF-SHA256(salt = attestation id, ikm = 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3,
/// info = "accord/v1/channel/x3dh")`, 32 bytes.
pub(crate) fn x3dh(attestation_id: &[u8; 32], inputs: &X3dhInputs) -> RootKey {
    let mut ikm = Zeroizing::new([0u8; 128]);
    ikm[..32].copy_from_slice(&X3DH_PREFIX);
    for (slot, dh) in ikm[32..].chunks_mut(32).zip(inputs.0.iter()) {
        slot.copy_from_slice(dh.as_slice());
    }
    let okm = hkdf_sha256::<32>(attestation_id, ikm.as_slice(), X3DH_INFO);
    RootKey(*okm)
}

/// X25519, refusing a non-contributory (all-zero, low-order) result.
pub(crate) fn dh(
    ours: &StaticSecret,
    theirs: &PublicKey,
) -> Result<Zeroizing<[u8; 32]>, NonContributory> {
    let shared = ours.diffie_hellman(theirs);
    if !shared.was_contributory() {
        return Err(NonContributory);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// HKDF-SHA256 with an output length fixed at compile time.
pub(crate) fn hkdf_sha256<const N: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32, "HKDF-SHA256 output is at most 8160 bytes") };
    let mut okm = Zeroizing::new([0u8; N]);
    // `expand` fails only when the output is longer than 255 hash lengths, which the
    // compile-time assertion above rules out, so the error branch cannot be reached.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm.as_mut_slice())
        .expect("HKDF-SHA256 output length is checked at compile time");
    okm
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn step_is_deterministic_and_depends_on_every_input() {
        let a = StaticSecret::from([1u8; 32]);
        let b = StaticSecret::from([2u8; 32]);
        let b_pub = PublicKey::from(&b);
        let a_pub = PublicKey::from(&a);
        let root = RootKey([9u8; 32]);
        let (r1, c1) = root.step(&a, &b_pub).unwrap();
        let (r2, c2) = root.step(&b, &a_pub).unwrap();
        assert_eq!(r1.as_bytes(), r2.as_bytes());
        assert_eq!(c1.as_bytes(), c2.as_bytes());
        assert_ne!(r1.as_bytes(), c1.as_bytes());
        assert_ne!(r1.as_bytes(), root.as_bytes());
        let (r3, _) = RootKey([8u8; 32]).step(&a, &b_pub).unwrap();
        assert_ne!(r1.as_bytes(), r3.as_bytes());
    }

    #[test]
    fn low_order_points_are_refused() {
        let a = StaticSecret::from([1u8; 32]);
        let root = RootKey([9u8; 32]);
        // 0 and 1 are small-order u-coordinates: the DH output is all zeros.
        for point in [[0u8; 32], {
            let mut p = [0u8; 32];
            p[0] = 1;
            p
        }] {
            assert!(root.step(&a, &PublicKey::from(point)).is_err());
            assert!(dh(&a, &PublicKey::from(point)).is_err());
        }
    }

    #[test]
    fn debug_is_redacted() {
        let shown = format!("{:?}", RootKey([0xAB; 32]));
        assert_eq!(shown, "RootKey(<redacted>)");
    }
}
