//! The mutual attestation: one canonical statement signed by both identities.

use std::fmt;
use std::str::FromStr;

use accord_identity::{AccordId, Signature, verify};
use sha2::{Digest, Sha256};

use crate::codec::{
    self, DecodeError, ID_LEN, INVITE_ID_LEN, Reader, SIGNATURE_LEN, Writer, X25519_LEN,
};
use crate::domain;

/// Domain separation for [`AttestationId`].
const ATTESTATION_ID_LABEL: &[u8] = b"accord/v1/attestation-id";
/// The first line of the portable text form.
pub const TEXT_BEGIN: &str = "-----BEGIN ACCORD ATTESTATION-----";
/// The last line of the portable text form.
pub const TEXT_END: &str = "-----END ACCORD ATTESTATION-----";
/// Hex characters per line of the portable text form.
const TEXT_LINE_CHARS: usize = 64;

/// What a version-2 statement adds: the terms of the invite's offer, so that the attestation
/// itself says until when the inviter's signature was an open offer and which one-time key the
/// channel was set up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfferTerms {
    /// The invite's expiry (Unix ms, the inviter's clock): the first instant at which the
    /// inviter's signature no longer offers a connection.
    pub expires_at_ms: u64,
    /// The public half of the invite's one-time x25519 key.
    pub one_time_key: [u8; X25519_LEN],
}

/// The statement both parties sign: "`inviter` and `invitee` are connected, by invite
/// `invite_id`, since `issued_at_ms`" and, from version 2 on, "on the terms of an offer that
/// expired at `expires_at_ms` and carried the one-time key `one_time_key`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Statement {
    /// Who sent the invite.
    pub inviter: AccordId,
    /// Who accepted it.
    pub invitee: AccordId,
    /// The invite this attestation came from.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// When the invite was created (Unix milliseconds, the inviter's clock).
    pub issued_at_ms: u64,
    /// The offer's terms (version 2); `None` for a version-1 statement, which bound neither
    /// the expiry nor the one-time key and is kept only so that attestations made before
    /// still verify.
    pub terms: Option<OfferTerms>,
}

impl Statement {
    /// The statement format version every new statement has: it binds the offer's terms.
    pub const VERSION: u8 = 2;
    /// The first statement format, without the offer's terms; still verified, never made.
    pub const VERSION_LEGACY: u8 = 1;
    /// The exact length of an encoded version-2 statement.
    pub const LEN: usize = Self::LEN_LEGACY + 8 + X25519_LEN;
    /// The exact length of an encoded version-1 statement.
    pub const LEN_LEGACY: usize = 1 + ID_LEN + ID_LEN + INVITE_ID_LEN + 8;

    /// The statement's format version: 2 with the offer's terms, 1 without.
    pub fn version(&self) -> u8 {
        if self.terms.is_some() {
            Self::VERSION
        } else {
            Self::VERSION_LEGACY
        }
    }

    /// The encoded length of a statement of `version`, if it is one this build knows.
    fn len_of_version(version: u8) -> Option<usize> {
        match version {
            Self::VERSION => Some(Self::LEN),
            Self::VERSION_LEGACY => Some(Self::LEN_LEGACY),
            _ => None,
        }
    }

    /// The canonical bytes: version ‖ inviter ‖ invitee ‖ invite id ‖ issued at, and in
    /// version 2 ‖ expires at ‖ one-time key. Both signatures are over [`domain::ATTEST`] ‖
    /// these bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(self.version())
            .id(&self.inviter)
            .id(&self.invitee)
            .bytes(&self.invite_id)
            .u64(self.issued_at_ms);
        if let Some(terms) = &self.terms {
            w.u64(terms.expires_at_ms).bytes(&terms.one_time_key);
        }
        w.into_bytes()
    }

    /// Parses [`Statement::to_bytes`], either version.
    ///
    /// # Errors
    ///
    /// Any [`DecodeError`] but the kind and note ones.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::LEN)?;
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if Self::len_of_version(version).is_none() {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let mut statement = Self {
            inviter: r.id()?,
            invitee: r.id()?,
            invite_id: r.array()?,
            issued_at_ms: r.u64()?,
            terms: None,
        };
        if version == Self::VERSION {
            statement.terms = Some(OfferTerms {
                expires_at_ms: r.u64()?,
                one_time_key: r.array()?,
            });
        }
        r.finish()?;
        Ok(statement)
    }

    /// The id of the attestation of this statement.
    pub fn id(&self) -> AttestationId {
        let digest = Sha256::new()
            .chain_update(ATTESTATION_ID_LABEL)
            .chain_update(self.to_bytes())
            .finalize();
        let mut id = [0u8; 32];
        id.copy_from_slice(&digest);
        AttestationId(id)
    }
}

/// Why a string is not an attestation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttestationIdError {
    /// The string is not 64 characters long.
    #[error("an attestation id is 64 hex digits, not {0} characters")]
    WrongLength(usize),
    /// The string has a character that is not a hex digit.
    #[error("an attestation id is made of hex digits only")]
    InvalidHex,
}

/// The id of an attestation: SHA-256(`"accord/v1/attestation-id"` ‖ statement bytes).
/// Displays as 64 lowercase hex digits; parses either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttestationId(pub [u8; 32]);

impl AttestationId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The raw bytes, by value.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Display for AttestationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&codec::hex(&self.0))
    }
}

impl fmt::Debug for AttestationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttestationId({self})")
    }
}

impl FromStr for AttestationId {
    type Err = AttestationIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(AttestationIdError::WrongLength(s.chars().count()));
        }
        let bytes = codec::unhex(s.as_bytes()).ok_or(AttestationIdError::InvalidHex)?;
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes);
        Ok(Self(id))
    }
}

/// Why an attestation does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// Inviter and invitee are the same identity.
    #[error("an identity cannot attest a connection with itself")]
    SelfAttestation,
    /// The inviter's signature over the statement does not verify.
    #[error("the inviter's signature is invalid")]
    BadInviterSignature,
    /// The invitee's signature over the statement does not verify.
    #[error("the invitee's signature is invalid")]
    BadInviteeSignature,
}

/// Why a text is not a portable attestation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// No `-----BEGIN ACCORD ATTESTATION-----` line.
    #[error("no \"{TEXT_BEGIN}\" line")]
    MissingBegin,
    /// No `-----END ACCORD ATTESTATION-----` line after the BEGIN line.
    #[error("no \"{TEXT_END}\" line")]
    MissingEnd,
    /// Something other than whitespace follows the END line.
    #[error("unexpected text after the END line")]
    TrailingText,
    /// The body is not hex (or has an odd number of digits).
    #[error("the attestation body is not hex")]
    InvalidHex,
    /// The body is hex but not an attestation.
    #[error("the attestation body is malformed: {0}")]
    Decode(#[from] DecodeError),
}

/// A complete attestation: the statement and both signatures over it
/// ([`domain::ATTEST`] ‖ [`Statement::to_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// What both parties signed.
    pub statement: Statement,
    /// The inviter's signature.
    pub inviter_signature: Signature,
    /// The invitee's signature.
    pub invitee_signature: Signature,
}

impl Attestation {
    /// The attestation format version of every new attestation: its statement is version 2.
    /// An attestation's version is always its statement's.
    pub const VERSION: u8 = Statement::VERSION;
    /// The first attestation format, whose statement is version 1: still verified.
    pub const VERSION_LEGACY: u8 = Statement::VERSION_LEGACY;
    /// The length of an encoded version-2 attestation, the longest (270 bytes).
    pub const MAX_LEN: usize = 1 + Statement::LEN + 2 * SIGNATURE_LEN;
    /// The length of an encoded version-1 attestation (230 bytes).
    pub const LEN_LEGACY: usize = 1 + Statement::LEN_LEGACY + 2 * SIGNATURE_LEN;

    /// The encoded length of an attestation whose first byte (its version) is `version`, if
    /// this build knows that version: attestations have no length prefix, so a list of them
    /// is read by this.
    pub fn len_of_version(version: u8) -> Option<usize> {
        Statement::len_of_version(version).map(|len| 1 + len + 2 * SIGNATURE_LEN)
    }

    /// Checks both signatures and that the parties differ. Needs nothing but the
    /// attestation itself: anyone can check it offline.
    ///
    /// # Errors
    ///
    /// See [`AttestationError`].
    pub fn verify(&self) -> Result<(), AttestationError> {
        let s = &self.statement;
        if s.inviter == s.invitee {
            return Err(AttestationError::SelfAttestation);
        }
        let bytes = s.to_bytes();
        verify(&s.inviter, domain::ATTEST, &bytes, &self.inviter_signature)
            .map_err(|_| AttestationError::BadInviterSignature)?;
        verify(&s.invitee, domain::ATTEST, &bytes, &self.invitee_signature)
            .map_err(|_| AttestationError::BadInviteeSignature)
    }

    /// [`Attestation::verify`] for a caller that has itself just verified the invitee's
    /// signature over this very statement ([`crate::Acceptance::verify`]): the same checks but
    /// that one, so no signature is verified twice.
    pub(crate) fn verify_with_invitee_signature_checked(&self) -> Result<(), AttestationError> {
        let s = &self.statement;
        if s.inviter == s.invitee {
            return Err(AttestationError::SelfAttestation);
        }
        verify(
            &s.inviter,
            domain::ATTEST,
            &s.to_bytes(),
            &self.inviter_signature,
        )
        .map_err(|_| AttestationError::BadInviterSignature)
    }

    /// The attestation's id (that of its statement).
    pub fn id(&self) -> AttestationId {
        self.statement.id()
    }

    /// version ‖ statement ‖ inviter signature ‖ invitee signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(self.statement.version())
            .bytes(&self.statement.to_bytes())
            .signature(&self.inviter_signature)
            .signature(&self.invitee_signature);
        w.into_bytes()
    }

    /// Parses [`Attestation::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        let len =
            Statement::len_of_version(version).ok_or(DecodeError::UnsupportedVersion(version))?;
        let statement = Statement::decode(r.bytes(len)?)?;
        if statement.version() != version {
            return Err(DecodeError::InvalidField(
                "the attestation's version is not its statement's",
            ));
        }
        let attestation = Self {
            statement,
            inviter_signature: r.signature()?,
            invitee_signature: r.signature()?,
        };
        r.finish()?;
        Ok(attestation)
    }

    /// The portable text form: a BEGIN line, the encoded bytes as lowercase hex in lines of
    /// 64 characters, an END line; every line ends with `\n`.
    pub fn to_text(&self) -> String {
        let hex = codec::hex(&self.encode());
        let mut out = String::with_capacity(hex.len() + hex.len() / TEXT_LINE_CHARS + 80);
        out.push_str(TEXT_BEGIN);
        out.push('\n');
        for line in hex.as_bytes().chunks(TEXT_LINE_CHARS) {
            out.extend(line.iter().map(|&b| char::from(b)));
            out.push('\n');
        }
        out.push_str(TEXT_END);
        out.push('\n');
        out
    }

    /// Parses the text form (does not verify). Text before the BEGIN line and whitespace
    /// after the END line are ignored, as are line endings (`\n` or `\r\n`) and whitespace
    /// around the hex; anything else is refused.
    ///
    /// # Errors
    ///
    /// See [`TextError`].
    pub fn from_text(text: &str) -> Result<Self, TextError> {
        let start = text.find(TEXT_BEGIN).ok_or(TextError::MissingBegin)?;
        let after_begin = &text[start + TEXT_BEGIN.len()..];
        let end = after_begin.find(TEXT_END).ok_or(TextError::MissingEnd)?;
        if !after_begin[end + TEXT_END.len()..].trim().is_empty() {
            return Err(TextError::TrailingText);
        }
        let body = &after_begin[..end];
        let mut digits = Vec::with_capacity(2 * Self::MAX_LEN);
        for c in body.bytes().filter(|c| !c.is_ascii_whitespace()) {
            if digits.len() == 2 * Self::MAX_LEN + 2 {
                // Longer than any attestation: stop collecting, the decoder refuses it.
                break;
            }
            digits.push(c);
        }
        let bytes = codec::unhex(&digits).ok_or(TextError::InvalidHex)?;
        Ok(Self::decode(&bytes)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
