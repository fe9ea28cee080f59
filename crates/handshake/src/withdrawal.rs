//! The withdrawal: the inviter takes a pending invite back.

use accord_identity::{AccordId, Identity, Signature, verify};

use crate::codec::{self, DecodeError, ID_LEN, INVITE_ID_LEN, Reader, SIGNATURE_LEN, Writer};
use crate::domain;
use crate::invite::Invite;

/// Why a withdrawal cannot be made or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawalError {
    /// The withdrawal names another invite.
    #[error("the withdrawal is for another invite")]
    WrongInvite,
    /// The withdrawal names other parties than the invite.
    #[error("the withdrawal names other parties than the invite")]
    WrongParties,
    /// The inviter's signature does not verify.
    #[error("the withdrawal's signature is invalid")]
    BadSignature,
}

/// A signed withdrawal of a pending invite, sent sealed to the invitee, whose node then
/// drops the invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// The invite withdrawn.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// The inviter (the signer).
    pub inviter: AccordId,
    /// The invitee (the recipient).
    pub invitee: AccordId,
    /// When the inviter withdrew it (Unix ms).
    pub at_ms: u64,
    /// The inviter's signature (domain [`domain::WITHDRAW`]) over every preceding byte.
    pub signature: Signature,
}

impl Withdrawal {
    /// The withdrawal format version.
    pub const VERSION: u8 = 1;
    /// The length of an encoded withdrawal (it has no variable field).
    pub const MAX_LEN: usize = 1 + INVITE_ID_LEN + 2 * ID_LEN + 8 + SIGNATURE_LEN;

    /// Withdraws, as `identity` (the inviter) at `at_ms`, the invite `invite_id` it sent to
    /// `invitee`. (Made by anyone else, it does not verify: see [`Withdrawal::verify`].)
    pub fn create(
        identity: &Identity,
        invitee: AccordId,
        invite_id: [u8; INVITE_ID_LEN],
        at_ms: u64,
    ) -> Self {
        let mut withdrawal = Self {
            invite_id,
            inviter: identity.id(),
            invitee,
            at_ms,
            signature: Signature::from_bytes(&[0; SIGNATURE_LEN]),
        };
        withdrawal.signature = identity.sign(domain::WITHDRAW, withdrawal.signed_part().as_bytes());
        withdrawal
    }

    /// Checks the withdrawal against the invite it withdraws.
    ///
    /// # Errors
    ///
    /// See [`Withdrawal::verify_parts`].
    pub fn verify(&self, invite: &Invite) -> Result<(), WithdrawalError> {
        self.verify_parts(&invite.inviter, &invite.invitee, &invite.invite_id)
    }

    /// Checks the withdrawal against what the node stored of the invite.
    ///
    /// # Errors
    ///
    /// [`WithdrawalError::WrongInvite`], [`WithdrawalError::WrongParties`],
    /// [`WithdrawalError::BadSignature`].
    pub fn verify_parts(
        &self,
        inviter: &AccordId,
        invitee: &AccordId,
        invite_id: &[u8; INVITE_ID_LEN],
    ) -> Result<(), WithdrawalError> {
        if self.invite_id != *invite_id {
            return Err(WithdrawalError::WrongInvite);
        }
        if self.inviter != *inviter || self.invitee != *invitee {
            return Err(WithdrawalError::WrongParties);
        }
        verify(
            &self.inviter,
            domain::WITHDRAW,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| WithdrawalError::BadSignature)
    }

    fn signed_part(&self) -> Writer {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .bytes(&self.invite_id)
            .id(&self.inviter)
            .id(&self.invitee)
            .u64(self.at_ms);
        w
    }

    /// The wire form (see PROTOCOL.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`Withdrawal::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let withdrawal = Self {
            invite_id: r.array()?,
            inviter: r.id()?,
            invitee: r.id()?,
            at_ms: r.u64()?,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(withdrawal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{NOW, invite, parties};
    use proptest::prelude::*;

    #[test]
    fn create_encode_decode_verify() {
        let (a, b, _) = parties(1);
        let (inv, _) = invite(&a, &b, 1);
        let w = Withdrawal::create(&a, b.id(), inv.invite_id, NOW + 5);
        let bytes = w.encode();
        assert_eq!(bytes.len(), Withdrawal::MAX_LEN);
        let back = Withdrawal::decode(&bytes).unwrap();
        assert_eq!(back, w);
        back.verify(&inv).unwrap();
        back.verify_parts(&a.id(), &b.id(), &inv.invite_id).unwrap();
    }

    #[test]
    fn withdrawal_by_the_invitee_or_a_stranger() {
        let (a, b, c) = parties(2);
        let (inv, _) = invite(&a, &b, 1);
        for wrong in [&b, &c] {
            // Forged: the right fields, signed by the wrong key.
            let mut forged = Withdrawal::create(&a, b.id(), inv.invite_id, NOW);
            forged.signature = wrong.sign(domain::WITHDRAW, forged.signed_part().as_bytes());
            assert_eq!(forged.verify(&inv), Err(WithdrawalError::BadSignature));
            // Or naming the signer as inviter.
            let forged = Withdrawal::create(wrong, b.id(), inv.invite_id, NOW);
            assert_eq!(forged.verify(&inv), Err(WithdrawalError::WrongParties));
        }
    }

    #[test]
    fn other_invite_and_bit_flips() {
        let (a, b, _) = parties(3);
        let (inv, _) = invite(&a, &b, 1);
        let (other, _) = invite(&a, &b, 2);
        let w = Withdrawal::create(&a, b.id(), inv.invite_id, NOW);
        assert_eq!(w.verify(&other), Err(WithdrawalError::WrongInvite));
        let bytes = w.encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut changed = bytes.clone();
                changed[i] ^= 1 << bit;
                let accepted = Withdrawal::decode(&changed).is_ok_and(|w| w.verify(&inv).is_ok());
                assert!(!accepted, "flipping bit {bit} of byte {i} went unnoticed");
            }
        }
        let mut v9 = bytes.clone();
        v9[0] = 9;
        assert_eq!(
            Withdrawal::decode(&v9),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            Withdrawal::decode(&bytes[..10]),
            Err(DecodeError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Withdrawal::decode(&long),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip_any_fields(seed in 0u64..64, id in any::<[u8; 16]>(), at in any::<u64>(), sig in any::<[u8; 64]>()) {
            let (a, b, _) = parties(seed);
            let w = Withdrawal { invite_id: id, inviter: a.id(), invitee: b.id(), at_ms: at, signature: Signature::from_bytes(&sig) };
            prop_assert_eq!(Withdrawal::decode(&w.encode()), Ok(w));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(w) = Withdrawal::decode(&bytes) {
                prop_assert_eq!(w.encode(), bytes);
            }
        }
    }
}
