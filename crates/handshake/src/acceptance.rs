//! The acceptance: the invitee's half of the attestation and its ephemeral channel key.

use accord_identity::x25519_dalek::PublicKey;
use accord_identity::{AccordId, Identity, Signature, verify};
use rand_core::CryptoRng;

use crate::attestation::{Attestation, AttestationError};
use crate::codec::{
    self, DecodeError, ID_LEN, INVITE_ID_LEN, Reader, SIGNATURE_LEN, Writer, X25519_LEN,
};
use crate::domain;
use crate::invite::Invite;
use crate::secret::EphemeralSecret;

/// Why an acceptance cannot be made or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcceptanceError {
    /// Only the invitee of an invite can accept it.
    #[error("only the invitee can accept an invite")]
    NotTheInvitee,
    /// The first message is longer than [`Acceptance::MAX_FIRST_MESSAGE`].
    #[error("the first message is {len} bytes; at most {max} are allowed")]
    FirstMessageTooLarge {
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The acceptance names another invite id than the invite it is checked against.
    #[error("the acceptance is for another invite")]
    WrongInvite,
    /// The acceptance names other parties than the invite.
    #[error("the acceptance names other parties than the invite")]
    WrongParties,
    /// The invitee's signature over the statement does not verify.
    #[error("the invitee's statement signature is invalid")]
    BadStatementSignature,
    /// The signature binding the ephemeral key to the invite does not verify.
    #[error("the invitee's binding signature is invalid")]
    BadBindingSignature,
    /// The resulting attestation does not verify (the invite's own signature is bad).
    #[error("the resulting attestation is invalid: {0}")]
    BadAttestation(AttestationError),
}

/// An acceptance, sent sealed from the invitee back to the inviter. With the invite, it
/// completes the [`Attestation`] and starts the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// The invite accepted.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// The inviter (the recipient of this acceptance).
    pub inviter: AccordId,
    /// The invitee (who accepts).
    pub invitee: AccordId,
    /// The invitee's signature over the invite's statement (domain [`domain::ATTEST`]).
    pub invitee_statement_signature: Signature,
    /// The invitee's fresh ephemeral x25519 key for the channel.
    pub ephemeral_key: PublicKey,
    /// The invitee's signature (domain [`domain::ACCEPT`]) binding the ephemeral key to the
    /// invite: over invite id ‖ inviter ‖ invitee ‖ one-time key ‖ ephemeral key.
    pub binding_signature: Signature,
    /// Opaque bytes for the channel (the first Double Ratchet message), at most
    /// [`Acceptance::MAX_FIRST_MESSAGE`]; private so that bound always holds.
    first_message: Vec<u8>,
}

impl Acceptance {
    /// The acceptance format version.
    pub const VERSION: u8 = 1;
    /// The longest first message.
    pub const MAX_FIRST_MESSAGE: usize = 2048;
    /// The longest encoded acceptance.
    pub const MAX_LEN: usize = 1
        + INVITE_ID_LEN
        + 2 * ID_LEN
        + SIGNATURE_LEN
        + X25519_LEN
        + SIGNATURE_LEN
        + 2
        + Self::MAX_FIRST_MESSAGE;

    /// Accepts `invite` as `identity` (its invitee), with `first_message` for the channel.
    /// Returns the acceptance and the ephemeral secret the invitee keeps for the channel.
    ///
    /// This does not check the invite: verify it with [`Invite::verify`] first.
    ///
    /// # Errors
    ///
    /// [`AcceptanceError::NotTheInvitee`], [`AcceptanceError::FirstMessageTooLarge`].
    pub fn create<R: CryptoRng + ?Sized>(
        identity: &Identity,
        invite: &Invite,
        first_message: Vec<u8>,
        rng: &mut R,
    ) -> Result<(Self, EphemeralSecret), AcceptanceError> {
        if identity.id() != invite.invitee {
            return Err(AcceptanceError::NotTheInvitee);
        }
        check_first_message(&first_message)?;
        let secret = EphemeralSecret::generate(rng);
        let ephemeral_key = secret.public_key();
        let binding = binding_bytes(invite, &ephemeral_key);
        let acceptance = Self {
            invite_id: invite.invite_id,
            inviter: invite.inviter,
            invitee: invite.invitee,
            invitee_statement_signature: identity
                .sign(domain::ATTEST, &invite.statement().to_bytes()),
            ephemeral_key,
            binding_signature: identity.sign(domain::ACCEPT, &binding),
            first_message,
        };
        Ok((acceptance, secret))
    }

    /// The first channel message (possibly empty).
    pub fn first_message(&self) -> &[u8] {
        &self.first_message
    }

    /// Sets the first channel message. The channel's first message can only be encrypted once
    /// the ephemeral key exists, that is after [`Acceptance::create`]; the binding signature
    /// does not cover it (the channel's own keys authenticate it), so setting it afterwards
    /// leaves every signature valid.
    ///
    /// # Errors
    ///
    /// [`AcceptanceError::FirstMessageTooLarge`].
    pub fn set_first_message(&mut self, first_message: Vec<u8>) -> Result<(), AcceptanceError> {
        check_first_message(&first_message)?;
        self.first_message = first_message;
        Ok(())
    }

    /// Checks the acceptance against the invite it answers (as the inviter) and returns the
    /// complete attestation: the invite's statement with both signatures.
    ///
    /// # Errors
    ///
    /// [`AcceptanceError::WrongInvite`], [`AcceptanceError::WrongParties`],
    /// [`AcceptanceError::BadStatementSignature`], [`AcceptanceError::BadBindingSignature`],
    /// [`AcceptanceError::BadAttestation`].
    pub fn verify(&self, invite: &Invite) -> Result<Attestation, AcceptanceError> {
        if self.invite_id != invite.invite_id {
            return Err(AcceptanceError::WrongInvite);
        }
        if self.inviter != invite.inviter || self.invitee != invite.invitee {
            return Err(AcceptanceError::WrongParties);
        }
        let statement = invite.statement();
        verify(
            &self.invitee,
            domain::ATTEST,
            &statement.to_bytes(),
            &self.invitee_statement_signature,
        )
        .map_err(|_| AcceptanceError::BadStatementSignature)?;
        let binding = binding_bytes(invite, &self.ephemeral_key);
        verify(
            &self.invitee,
            domain::ACCEPT,
            &binding,
            &self.binding_signature,
        )
        .map_err(|_| AcceptanceError::BadBindingSignature)?;
        let attestation = Attestation {
            statement,
            inviter_signature: invite.statement_signature,
            invitee_signature: self.invitee_statement_signature,
        };
        // The attestation must verify; its invitee signature is the one just verified above
        // (same key, same statement bytes, same signature), so only the rest is checked here.
        attestation
            .verify_with_invitee_signature_checked()
            .map_err(AcceptanceError::BadAttestation)?;
        Ok(attestation)
    }

    /// The wire form (see PROTOCOL.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .bytes(&self.invite_id)
            .id(&self.inviter)
            .id(&self.invitee)
            .signature(&self.invitee_statement_signature)
            .x25519(&self.ephemeral_key)
            .signature(&self.binding_signature)
            .bytes16(&self.first_message);
        w.into_bytes()
    }

    /// Parses [`Acceptance::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let acceptance = Self {
            invite_id: r.array()?,
            inviter: r.id()?,
            invitee: r.id()?,
            invitee_statement_signature: r.signature()?,
            ephemeral_key: r.x25519()?,
            binding_signature: r.signature()?,
            first_message: r.bytes16(Self::MAX_FIRST_MESSAGE)?.to_vec(),
        };
        r.finish()?;
        Ok(acceptance)
    }
}

fn check_first_message(first_message: &[u8]) -> Result<(), AcceptanceError> {
    if first_message.len() > Acceptance::MAX_FIRST_MESSAGE {
        return Err(AcceptanceError::FirstMessageTooLarge {
            len: first_message.len(),
            max: Acceptance::MAX_FIRST_MESSAGE,
        });
    }
    Ok(())
}

/// What the binding signature covers: invite id ‖ inviter ‖ invitee ‖ one-time key ‖
/// ephemeral key.
fn binding_bytes(invite: &Invite, ephemeral_key: &PublicKey) -> Vec<u8> {
    let mut w = Writer::with_capacity(INVITE_ID_LEN + 2 * ID_LEN + 2 * X25519_LEN);
    w.bytes(&invite.invite_id)
        .id(&invite.inviter)
        .id(&invite.invitee)
        .x25519(&invite.one_time_key)
        .x25519(ephemeral_key);
    w.into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{NOW, TestRng, invite, parties};
    use proptest::prelude::*;

    #[test]
    fn create_encode_decode_verify() {
        let (a, b, _) = parties(1);
        let (inv, _) = invite(&a, &b, 1);
        let (acc, secret) =
            Acceptance::create(&b, &inv, b"hi".to_vec(), &mut TestRng::new(2)).unwrap();
        assert_eq!(acc.ephemeral_key, secret.public_key());
        let back = Acceptance::decode(&acc.encode()).unwrap();
        assert_eq!(back, acc);
        assert_eq!(back.first_message(), b"hi");
        let att = back.verify(&inv).unwrap();
        assert_eq!(att.statement, inv.statement());
        assert_eq!(att.statement.issued_at_ms, NOW);
        att.verify().unwrap();
    }

    #[test]
    fn the_first_message_can_be_set_after_creation_and_is_bounded() {
        let (a, b, _) = parties(3);
        let (inv, _) = invite(&a, &b, 3);
        let (mut acc, _) = Acceptance::create(&b, &inv, Vec::new(), &mut TestRng::new(4)).unwrap();
        acc.set_first_message(b"ratchet".to_vec()).unwrap();
        let back = Acceptance::decode(&acc.encode()).unwrap();
        assert_eq!(back.first_message(), b"ratchet");
        back.verify(&inv).unwrap();
        let too_big = vec![0; Acceptance::MAX_FIRST_MESSAGE + 1];
        assert!(acc.set_first_message(too_big).is_err());
        assert_eq!(acc.first_message(), b"ratchet");
    }

    #[test]
    fn only_the_invitee_accepts() {
        let (a, b, c) = parties(2);
        let (inv, _) = invite(&a, &b, 1);
        let rng = &mut TestRng::new(3);
        for wrong in [&a, &c] {
            assert_eq!(
                Acceptance::create(wrong, &inv, vec![], rng).err(),
                Some(AcceptanceError::NotTheInvitee)
            );
        }
        let too_big = vec![0; Acceptance::MAX_FIRST_MESSAGE + 1];
        assert!(matches!(
            Acceptance::create(&b, &inv, too_big, rng),
            Err(AcceptanceError::FirstMessageTooLarge { .. })
        ));
        let biggest = vec![7; Acceptance::MAX_FIRST_MESSAGE];
        let (acc, _) = Acceptance::create(&b, &inv, biggest, rng).unwrap();
        assert_eq!(acc.encode().len(), Acceptance::MAX_LEN);
    }

    #[test]
    fn acceptance_by_a_third_party() {
        // C builds an acceptance for A's invite to B, naming itself or B as invitee.
        let (a, b, c) = parties(3);
        let (inv, _) = invite(&a, &b, 1);
        let mut as_c = inv.clone();
        as_c.invitee = c.id();
        let (forged, _) = Acceptance::create(&c, &as_c, vec![], &mut TestRng::new(4)).unwrap();
        assert_eq!(forged.verify(&inv), Err(AcceptanceError::WrongParties));
        let mut claiming_b = forged.clone();
        claiming_b.invitee = b.id();
        assert_eq!(
            claiming_b.verify(&inv),
            Err(AcceptanceError::BadStatementSignature)
        );
    }

    #[test]
    fn replayed_against_another_invite() {
        let (a, b, _) = parties(4);
        let (first, _) = invite(&a, &b, 1);
        let (second, _) = invite(&a, &b, 2);
        let (acc, _) = Acceptance::create(&b, &first, vec![], &mut TestRng::new(5)).unwrap();
        assert_eq!(acc.verify(&second), Err(AcceptanceError::WrongInvite));
        // Even relabelled, the signatures are bound to the first invite.
        let mut relabelled = acc.clone();
        relabelled.invite_id = second.invite_id;
        assert_eq!(
            relabelled.verify(&second),
            Err(AcceptanceError::BadStatementSignature)
        );
    }

    #[test]
    fn ephemeral_key_is_bound() {
        // Someone holding the inviter's keys (KCI) swaps in their own ephemeral key.
        let (a, b, _) = parties(5);
        let (inv, _) = invite(&a, &b, 1);
        let (mut acc, _) = Acceptance::create(&b, &inv, vec![], &mut TestRng::new(6)).unwrap();
        acc.ephemeral_key = EphemeralSecret::generate(&mut TestRng::new(7)).public_key();
        assert_eq!(acc.verify(&inv), Err(AcceptanceError::BadBindingSignature));
        // Or a different one-time key in the invite: the version-2 statement binds it, so
        // even the statement signature no longer holds, before the binding is looked at.
        let (mut acc, _) = Acceptance::create(&b, &inv, vec![], &mut TestRng::new(6)).unwrap();
        let mut other_key = inv.clone();
        other_key.one_time_key = acc.ephemeral_key;
        assert_eq!(
            acc.verify(&other_key),
            Err(AcceptanceError::BadStatementSignature)
        );
        // With the statement's terms left as signed, the binding signature still catches it.
        let mut relabelled = other_key.clone();
        relabelled.legacy_statement = true;
        let mut legacy_inv = inv.clone();
        legacy_inv.legacy_statement = true;
        let (mut legacy_acc, _) =
            Acceptance::create(&b, &legacy_inv, vec![], &mut TestRng::new(6)).unwrap();
        legacy_acc.ephemeral_key = acc.ephemeral_key;
        assert!(matches!(
            legacy_acc.verify(&relabelled),
            Err(AcceptanceError::BadBindingSignature)
        ));
        // A binding signature by the inviter does not count.
        acc.binding_signature = a.sign(domain::ACCEPT, &binding_bytes(&inv, &acc.ephemeral_key));
        assert_eq!(acc.verify(&inv), Err(AcceptanceError::BadBindingSignature));
    }

    #[test]
    fn the_inviters_statement_signature_is_checked_too() {
        // Acceptance::verify checks the invitee's statement signature once and the inviter's
        // as part of the attestation: a bad inviter signature is refused.
        let (a, b, _) = parties(8);
        let (inv, _) = invite(&a, &b, 1);
        let (acc, _) = Acceptance::create(&b, &inv, vec![], &mut TestRng::new(9)).unwrap();
        let mut tampered = inv.clone();
        tampered.statement_signature = b.sign(domain::ATTEST, &inv.statement().to_bytes());
        assert_eq!(
            acc.verify(&tampered),
            Err(AcceptanceError::BadAttestation(
                crate::AttestationError::BadInviterSignature
            ))
        );
        let att = acc.verify(&inv).unwrap();
        assert_eq!(att.verify(), Ok(()));
    }

    #[test]
    fn every_bit_of_the_acceptance_is_covered() {
        let (a, b, _) = parties(6);
        let (inv, _) = invite(&a, &b, 1);
        let (acc, _) = Acceptance::create(&b, &inv, vec![], &mut TestRng::new(8)).unwrap();
        let bytes = acc.encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut changed = bytes.clone();
                changed[i] ^= 1 << bit;
                let accepted =
                    Acceptance::decode(&changed).is_ok_and(|acc| acc.verify(&inv).is_ok());
                assert!(!accepted, "flipping bit {bit} of byte {i} went unnoticed");
            }
        }
    }

    #[test]
    fn decode_refusals() {
        let (a, b, _) = parties(7);
        let (inv, _) = invite(&a, &b, 1);
        let (acc, _) = Acceptance::create(&b, &inv, vec![1, 2], &mut TestRng::new(9)).unwrap();
        let bytes = acc.encode();
        assert_eq!(
            Acceptance::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Acceptance::decode(&long), Err(DecodeError::TrailingBytes));
        let mut v0 = bytes;
        v0[0] = 0;
        assert_eq!(
            Acceptance::decode(&v0),
            Err(DecodeError::UnsupportedVersion(0))
        );
    }

    proptest! {
        #[test]
        fn round_trip_any_fields(
            seed in 0u64..64, id in any::<[u8; 16]>(), eph in any::<[u8; 32]>(),
            s1 in any::<[u8; 64]>(), s2 in any::<[u8; 64]>(),
            first in proptest::collection::vec(any::<u8>(), 0..=Acceptance::MAX_FIRST_MESSAGE),
        ) {
            let (a, b, _) = parties(seed);
            let acc = Acceptance {
                invite_id: id,
                inviter: a.id(),
                invitee: b.id(),
                invitee_statement_signature: Signature::from_bytes(&s1),
                ephemeral_key: PublicKey::from(eph),
                binding_signature: Signature::from_bytes(&s2),
                first_message: first,
            };
            prop_assert_eq!(Acceptance::decode(&acc.encode()), Ok(acc));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2400)) {
            if let Ok(acc) = Acceptance::decode(&bytes) {
                prop_assert_eq!(acc.encode(), bytes);
            }
        }
    }
}
