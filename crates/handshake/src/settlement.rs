//! The settlement: the inviter's signed word on an acceptance, which ends the invitee's wait.
//!
//! An invitee's signature completes an attestation on its own side at once, but the inviter
//! may have withdrawn the invite, or seen it expire, before the acceptance reached it; the two
//! sides would then disagree about being connected. So the invitee holds its new connection
//! as *awaiting confirmation* until the inviter settles it: [`Outcome::Confirmed`] once the
//! inviter stored the same attestation, or a refusal saying why it never will.

use accord_identity::{AccordId, Identity, Signature, verify};

use crate::attestation::AttestationId;
use crate::codec::{self, DecodeError, ID_LEN, INVITE_ID_LEN, Reader, SIGNATURE_LEN, Writer};
use crate::domain;
use crate::invite::Invite;

/// What the inviter says of an acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The inviter stored the attestation: the pair is connected on both sides.
    Confirmed,
    /// The inviter had withdrawn the invite before the acceptance reached it.
    Withdrawn,
    /// The invite had expired when the acceptance reached the inviter.
    Expired,
}

impl Outcome {
    /// Every outcome, in code order.
    pub const ALL: [Self; 3] = [Self::Confirmed, Self::Withdrawn, Self::Expired];

    /// The byte that encodes it.
    pub fn code(self) -> u8 {
        match self {
            Self::Confirmed => 1,
            Self::Withdrawn => 2,
            Self::Expired => 3,
        }
    }

    /// The outcome a byte encodes, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.code() == code)
    }

    /// The lowercase name shown to users (`confirmed`, `withdrawn`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }
}

/// Why a settlement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// The settlement names another invite.
    #[error("the settlement is for another invite")]
    WrongInvite,
    /// The settlement names other parties than the invite.
    #[error("the settlement names other parties than the invite")]
    WrongParties,
    /// The settlement names another attestation than the invite's statement.
    #[error("the settlement is for another attestation")]
    WrongAttestation,
    /// The inviter's signature does not verify.
    #[error("the settlement's signature is invalid")]
    BadSignature,
}

/// The inviter's signed answer to an acceptance, sent sealed to the invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The invite the acceptance answered.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// The inviter (the signer).
    pub inviter: AccordId,
    /// The invitee (the recipient).
    pub invitee: AccordId,
    /// The id of the attestation the invite proposed.
    pub attestation_id: AttestationId,
    /// Confirmed, or refused and why.
    pub outcome: Outcome,
    /// When the inviter decided (Unix ms, its clock).
    pub at_ms: u64,
    /// The inviter's signature (domain [`domain::SETTLE`]) over every preceding byte.
    pub signature: Signature,
}

impl Settlement {
    /// The settlement format version.
    pub const VERSION: u8 = 1;
    /// The length of an encoded settlement (198 bytes; it has no variable field).
    pub const MAX_LEN: usize = 1 + INVITE_ID_LEN + 2 * ID_LEN + 32 + 1 + 8 + SIGNATURE_LEN;

    /// Settles, as `identity` (the inviter) at `at_ms`, an acceptance of `invite`.
    pub fn create(identity: &Identity, invite: &Invite, outcome: Outcome, at_ms: u64) -> Self {
        let mut settlement = Self {
            invite_id: invite.invite_id,
            inviter: identity.id(),
            invitee: invite.invitee,
            attestation_id: invite.statement().id(),
            outcome,
            at_ms,
            signature: Signature::from_bytes(&[0; SIGNATURE_LEN]),
        };
        settlement.signature = identity.sign(domain::SETTLE, settlement.signed_part().as_bytes());
        settlement
    }

    /// Checks the settlement against the invite it settles (as the invitee, who stored it).
    ///
    /// # Errors
    ///
    /// [`SettlementError::WrongInvite`], [`SettlementError::WrongParties`],
    /// [`SettlementError::WrongAttestation`], [`SettlementError::BadSignature`].
    pub fn verify(&self, invite: &Invite) -> Result<(), SettlementError> {
        if self.invite_id != invite.invite_id {
            return Err(SettlementError::WrongInvite);
        }
        if self.inviter != invite.inviter || self.invitee != invite.invitee {
            return Err(SettlementError::WrongParties);
        }
        if self.attestation_id != invite.statement().id() {
            return Err(SettlementError::WrongAttestation);
        }
        verify(
            &self.inviter,
            domain::SETTLE,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| SettlementError::BadSignature)
    }

    fn signed_part(&self) -> Writer {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .bytes(&self.invite_id)
            .id(&self.inviter)
            .id(&self.invitee)
            .bytes(self.attestation_id.as_bytes())
            .u8(self.outcome.code())
            .u64(self.at_ms);
        w
    }

    /// The wire form (see PROTOCOL.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`Settlement::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`]; an unknown outcome code is [`DecodeError::InvalidField`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let settlement = Self {
            invite_id: r.array()?,
            inviter: r.id()?,
            invitee: r.id()?,
            attestation_id: AttestationId(r.array()?),
            outcome: Outcome::from_code(r.u8()?)
                .ok_or(DecodeError::InvalidField("unknown settlement outcome"))?,
            at_ms: r.u64()?,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(settlement)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{invite, parties};
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_verify_every_outcome() {
        let (a, b, _) = parties(60);
        let (inv, _) = invite(&a, &b, 60);
        for outcome in Outcome::ALL {
            let settlement = Settlement::create(&a, &inv, outcome, 1_700_000_000_000);
            let bytes = settlement.encode();
            assert_eq!(bytes.len(), Settlement::MAX_LEN);
            let back = Settlement::decode(&bytes).unwrap();
            assert_eq!(back, settlement);
            back.verify(&inv).unwrap();
            assert_eq!(back.attestation_id, inv.statement().id());
        }
    }

    #[test]
    fn forgeries_are_refused() {
        let (a, b, c) = parties(61);
        let (inv, _) = invite(&a, &b, 61);
        let (other, _) = invite(&a, &b, 62);
        // Only the inviter can settle: the invitee (or anyone) signing one fails.
        let by_invitee = Settlement {
            signature: b.sign(
                domain::SETTLE,
                Settlement::create(&a, &inv, Outcome::Withdrawn, 1)
                    .signed_part()
                    .as_bytes(),
            ),
            ..Settlement::create(&a, &inv, Outcome::Withdrawn, 1)
        };
        assert_eq!(by_invitee.verify(&inv), Err(SettlementError::BadSignature));
        let by_stranger = Settlement::create(&c, &inv, Outcome::Confirmed, 1);
        assert_eq!(by_stranger.verify(&inv), Err(SettlementError::WrongParties));
        // A settlement of another invite does not settle this one.
        let of_other = Settlement::create(&a, &other, Outcome::Confirmed, 1);
        assert_eq!(of_other.verify(&inv), Err(SettlementError::WrongInvite));
        // A refusal cannot be turned into a confirmation, nor moved to another attestation.
        let mut flipped = Settlement::create(&a, &inv, Outcome::Expired, 1);
        flipped.outcome = Outcome::Confirmed;
        assert_eq!(flipped.verify(&inv), Err(SettlementError::BadSignature));
        let mut moved = Settlement::create(&a, &inv, Outcome::Confirmed, 1);
        moved.attestation_id = AttestationId([9; 32]);
        assert_eq!(moved.verify(&inv), Err(SettlementError::WrongAttestation));
    }

    #[test]
    fn decode_refusals() {
        let (a, b, _) = parties(63);
        let (inv, _) = invite(&a, &b, 63);
        let bytes = Settlement::create(&a, &inv, Outcome::Expired, 5).encode();
        assert_eq!(
            Settlement::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert!(Settlement::decode(&long).is_err());
        let mut unknown = bytes.clone();
        unknown[1 + INVITE_ID_LEN + 2 * ID_LEN + 32] = 9;
        assert_eq!(
            Settlement::decode(&unknown),
            Err(DecodeError::InvalidField("unknown settlement outcome"))
        );
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(
            Settlement::decode(&v2),
            Err(DecodeError::UnsupportedVersion(2))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
            if let Ok(settlement) = Settlement::decode(&bytes) {
                prop_assert_eq!(settlement.encode(), bytes);
            }
        }
    }
}
