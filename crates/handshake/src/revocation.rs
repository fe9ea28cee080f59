//! The revocation: either party withdraws an attestation, ending the connection.

use accord_identity::{AccordId, Identity, Signature, verify};

use crate::attestation::{Attestation, AttestationId};
use crate::codec::{self, DecodeError, ID_LEN, Reader, SIGNATURE_LEN, Writer};
use crate::domain;

/// Why a revocation cannot be made or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// Only the two parties of an attestation can revoke it.
    #[error("only a party to the connection can revoke it")]
    NotAParty,
    /// The revocation names another attestation.
    #[error("the revocation is for another attestation")]
    WrongAttestation,
    /// The signature does not verify.
    #[error("the revocation's signature is invalid")]
    BadSignature,
}

/// A signed "this attestation is withdrawn", sent over the channel by either party; both
/// sides then refuse messages for that attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The attestation revoked.
    pub attestation_id: AttestationId,
    /// Who revokes it (one of its two parties; the signer).
    pub by: AccordId,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The signature of `by` (domain [`domain::REVOKE`]) over every preceding byte.
    pub signature: Signature,
}

impl Revocation {
    /// The revocation format version.
    pub const VERSION: u8 = 1;
    /// The length of an encoded revocation (it has no variable field).
    pub const MAX_LEN: usize = 1 + 32 + ID_LEN + 8 + SIGNATURE_LEN;

    /// Revokes `attestation` as `identity` at `at_ms`.
    ///
    /// # Errors
    ///
    /// [`RevocationError::NotAParty`].
    pub fn create(
        identity: &Identity,
        attestation: &Attestation,
        at_ms: u64,
    ) -> Result<Self, RevocationError> {
        if !is_party(&identity.id(), attestation) {
            return Err(RevocationError::NotAParty);
        }
        let mut revocation = Self {
            attestation_id: attestation.id(),
            by: identity.id(),
            at_ms,
            signature: Signature::from_bytes(&[0; SIGNATURE_LEN]),
        };
        revocation.signature = identity.sign(domain::REVOKE, revocation.signed_part().as_bytes());
        Ok(revocation)
    }

    /// Checks the revocation against the attestation it revokes.
    ///
    /// # Errors
    ///
    /// [`RevocationError::WrongAttestation`], [`RevocationError::NotAParty`],
    /// [`RevocationError::BadSignature`].
    pub fn verify(&self, attestation: &Attestation) -> Result<(), RevocationError> {
        if self.attestation_id != attestation.id() {
            return Err(RevocationError::WrongAttestation);
        }
        if !is_party(&self.by, attestation) {
            return Err(RevocationError::NotAParty);
        }
        verify(
            &self.by,
            domain::REVOKE,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| RevocationError::BadSignature)
    }

    fn signed_part(&self) -> Writer {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .bytes(self.attestation_id.as_bytes())
            .id(&self.by)
            .u64(self.at_ms);
        w
    }

    /// The wire form (see PROTOCOL.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`Revocation::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let revocation = Self {
            attestation_id: AttestationId(r.array()?),
            by: r.id()?,
            at_ms: r.u64()?,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(revocation)
    }
}

fn is_party(id: &AccordId, attestation: &Attestation) -> bool {
    *id == attestation.statement.inviter || *id == attestation.statement.invitee
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::Acceptance;
    use crate::test_rng::{NOW, TestRng, invite, parties};
    use proptest::prelude::*;

    fn attestation(seed: u64) -> (Attestation, Identity, Identity, Identity) {
        let (a, b, c) = parties(seed);
        let (inv, _) = invite(&a, &b, seed);
        let (acc, _) = Acceptance::create(&b, &inv, vec![], &mut TestRng::new(seed)).unwrap();
        (acc.verify(&inv).unwrap(), a, b, c)
    }

    #[test]
    fn either_party_revokes() {
        let (att, a, b, _) = attestation(1);
        for who in [&a, &b] {
            let r = Revocation::create(who, &att, NOW).unwrap();
            let bytes = r.encode();
            assert_eq!(bytes.len(), Revocation::MAX_LEN);
            let back = Revocation::decode(&bytes).unwrap();
            assert_eq!(back, r);
            back.verify(&att).unwrap();
        }
    }

    #[test]
    fn revocation_by_a_stranger() {
        let (att, a, _, c) = attestation(2);
        assert_eq!(
            Revocation::create(&c, &att, NOW).err(),
            Some(RevocationError::NotAParty)
        );
        let mut forged = Revocation::create(&a, &att, NOW).unwrap();
        forged.by = c.id();
        forged.signature = c.sign(domain::REVOKE, forged.signed_part().as_bytes());
        assert_eq!(forged.verify(&att), Err(RevocationError::NotAParty));
        let mut forged = Revocation::create(&a, &att, NOW).unwrap();
        forged.signature = c.sign(domain::REVOKE, forged.signed_part().as_bytes());
        assert_eq!(forged.verify(&att), Err(RevocationError::BadSignature));
    }

    #[test]
    fn other_attestation_and_bit_flips() {
        let (att, a, _, _) = attestation(3);
        let (other, _, _, _) = attestation(4);
        let r = Revocation::create(&a, &att, NOW).unwrap();
        assert_eq!(r.verify(&other), Err(RevocationError::WrongAttestation));
        let bytes = r.encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut changed = bytes.clone();
                changed[i] ^= 1 << bit;
                let accepted = Revocation::decode(&changed).is_ok_and(|r| r.verify(&att).is_ok());
                assert!(!accepted, "flipping bit {bit} of byte {i} went unnoticed");
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip_any_fields(seed in 0u64..64, id in any::<[u8; 32]>(), at in any::<u64>(), sig in any::<[u8; 64]>()) {
            let (a, _, _) = parties(seed);
            let r = Revocation { attestation_id: AttestationId(id), by: a.id(), at_ms: at, signature: Signature::from_bytes(&sig) };
            prop_assert_eq!(Revocation::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(r) = Revocation::decode(&bytes) {
                prop_assert_eq!(r.encode(), bytes);
            }
        }
    }
}
