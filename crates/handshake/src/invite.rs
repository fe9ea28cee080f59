//! The invite: "I, the inviter, would like to connect with you, the invitee."

use accord_identity::x25519_dalek::PublicKey;
use accord_identity::{AccordId, Identity, Signature, verify};
use rand_core::CryptoRng;

use crate::attestation::{OfferTerms, Statement};
use crate::codec::{
    self, DecodeError, ID_LEN, INVITE_ID_LEN, Reader, SIGNATURE_LEN, Writer, X25519_LEN,
};
use crate::introduction::Introduction;
use crate::note::Note;
use crate::profile::ProfileCard;
use crate::secret::OneTimeSecret;
use crate::{MAX_LIFETIME_MS, MIN_LIFETIME_MS, domain};

/// Why an invite cannot be made or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// The inviter and the invitee are the same identity.
    #[error("you cannot invite yourself")]
    SelfInvite,
    /// The invite is addressed to someone else.
    #[error("the invite is addressed to another identity")]
    NotForMe,
    /// The invite's signature or its statement signature does not verify.
    #[error("the invite's signature is invalid")]
    BadSignature,
    /// The invite has expired.
    #[error("the invite expired at {expires_at_ms} (Unix ms)")]
    Expired {
        /// When it expired.
        expires_at_ms: u64,
    },
    /// The invite claims to be created further in the future than clock skew explains.
    #[error("the invite claims to be created in the future, at {created_at_ms} (Unix ms)")]
    FromTheFuture {
        /// The claimed creation time.
        created_at_ms: u64,
    },
    /// The lifetime (expires at − created at) is under 1 day or above 90 days.
    #[error("an invite must live at least 1 day and at most 90 days")]
    BadLifetime,
    /// The profile card in the invite is not the inviter's, or does not verify.
    #[error("the invite's profile is not the inviter's or does not verify")]
    BadProfile,
    /// The introduction in the invite does not verify or does not introduce these two.
    #[error("the invite's introduction does not verify or names other people")]
    BadIntroduction,
    /// The invite proposes a version-1 statement, which binds neither the invite's expiry nor
    /// its one-time key: an acceptance of it could complete an attestation after the offer
    /// ended. Such invites are no longer accepted from the network.
    #[error("the invite proposes a version-1 statement, which no longer binds its expiry")]
    LegacyStatement,
}

/// What an invite says about its inviter beyond the ID (invite format version 2): the
/// inviter's signed profile card (name and headline) and an introduction by someone who knows
/// both sides. Each part is signed by its own author and checked by [`Invite::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presentation {
    /// The inviter's profile card.
    pub card: Option<ProfileCard>,
    /// An introduction of the inviter and the invitee.
    pub introduction: Option<Introduction>,
}

impl Presentation {
    /// Whether there is nothing to present (the invite is then version 1).
    pub fn is_empty(&self) -> bool {
        self.card.is_none() && self.introduction.is_none()
    }
}

/// An invite, sent sealed from the inviter to the invitee.
///
/// It carries the attestation [`Statement`] the inviter proposes, already signed
/// ([`Invite::statement_signature`]), and a fresh one-time x25519 key for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// 16 random bytes naming this invite.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// Who invites.
    pub inviter: AccordId,
    /// Who is invited.
    pub invitee: AccordId,
    /// The public half of the one-time x25519 key minted for this invite.
    pub one_time_key: PublicKey,
    /// The inviter's note.
    pub note: Note,
    /// When the invite was made (Unix ms, inviter's clock); the statement's `issued_at_ms`.
    pub created_at_ms: u64,
    /// The first instant at which the invite is no longer valid (Unix ms).
    pub expires_at_ms: u64,
    /// The inviter's signature over [`Invite::statement`] (domain [`domain::ATTEST`]).
    pub statement_signature: Signature,
    /// The inviter's profile card and an introduction, if any (version 2 only). Boxed: it
    /// is large and most invites in memory are version 1.
    pub presentation: Box<Presentation>,
    /// The inviter's signature (domain [`domain::INVITE`]) over every encoded byte of the
    /// invite before this field.
    pub signature: Signature,
    /// Whether the invite proposes a version-1 [`Statement`] (invite versions 1 and 2, made
    /// before the statement bound the offer's terms). Kept so that such invites stored before
    /// still decode and their attestations still verify; [`Invite::verify`] refuses them.
    pub legacy_statement: bool,
}

impl Invite {
    /// The invite format version without a presentation: its statement is version 2.
    pub const VERSION: u8 = 3;
    /// The invite format version with a presentation (a profile card, an introduction): its
    /// statement is version 2.
    pub const VERSION_PRESENTED: u8 = 4;
    /// The first invite format without a presentation (a version-1 statement).
    pub const VERSION_LEGACY: u8 = 1;
    /// The first invite format with a presentation (a version-1 statement).
    pub const VERSION_LEGACY_PRESENTED: u8 = 2;
    /// The longest version-1 invite (with a note of [`Note::MAX_BYTES`] bytes).
    pub const MAX_LEN_V1: usize = 1
        + INVITE_ID_LEN
        + 2 * ID_LEN
        + X25519_LEN
        + 2
        + Note::MAX_BYTES
        + 8
        + 8
        + 2 * SIGNATURE_LEN;
    /// The longest invite: version 2 with the longest note, card and introduction (3,751
    /// bytes, which still fits the largest sealed-box bucket).
    pub const MAX_LEN: usize =
        Self::MAX_LEN_V1 + 2 + ProfileCard::MAX_LEN + 2 + Introduction::MAX_LEN;

    /// Creates an invite from `identity` to `invitee`, valid for `ttl_ms` from `now_ms`,
    /// and the one-time secret the inviter must keep (see [`OneTimeSecret`]).
    ///
    /// # Errors
    ///
    /// [`InviteError::SelfInvite`] if `invitee` is `identity` itself;
    /// [`InviteError::BadLifetime`] if `ttl_ms` is 0 or above 90 days.
    pub fn create<R: CryptoRng + ?Sized>(
        identity: &Identity,
        invitee: AccordId,
        note: Note,
        now_ms: u64,
        ttl_ms: u64,
        rng: &mut R,
    ) -> Result<(Self, OneTimeSecret), InviteError> {
        if invitee == identity.id() {
            return Err(InviteError::SelfInvite);
        }
        if !(MIN_LIFETIME_MS..=MAX_LIFETIME_MS).contains(&ttl_ms) {
            return Err(InviteError::BadLifetime);
        }
        let expires_at_ms = now_ms.checked_add(ttl_ms).ok_or(InviteError::BadLifetime)?;
        let mut invite_id = [0u8; INVITE_ID_LEN];
        rng.fill_bytes(&mut invite_id);
        let secret = OneTimeSecret::generate(rng);
        let placeholder = Signature::from_bytes(&[0; SIGNATURE_LEN]);
        let mut invite = Self {
            invite_id,
            inviter: identity.id(),
            invitee,
            one_time_key: secret.public_key(),
            note,
            created_at_ms: now_ms,
            expires_at_ms,
            statement_signature: placeholder,
            presentation: Box::default(),
            signature: placeholder,
            legacy_statement: false,
        };
        invite.statement_signature = identity.sign(domain::ATTEST, &invite.statement().to_bytes());
        invite.signature = identity.sign(domain::INVITE, invite.signed_part().as_bytes());
        Ok((invite, secret))
    }

    /// Adds `presentation` to an invite `identity` made, and signs it again: the inviter's
    /// card and an introduction then ride, sealed, inside the invite.
    ///
    /// # Errors
    ///
    /// [`InviteError::BadProfile`] if the card is not `identity`'s,
    /// [`InviteError::BadIntroduction`] if the introduction does not name both parties.
    pub fn present(
        mut self,
        identity: &Identity,
        presentation: Presentation,
    ) -> Result<Self, InviteError> {
        self.presentation = Box::new(presentation);
        self.check_presentation()?;
        self.signature = identity.sign(domain::INVITE, self.signed_part().as_bytes());
        Ok(self)
    }

    /// The presentation's own checks: the card is the inviter's and verifies; the
    /// introduction verifies and introduces the inviter and the invitee.
    fn check_presentation(&self) -> Result<(), InviteError> {
        if let Some(card) = &self.presentation.card
            && (card.id != self.inviter || card.verify().is_err())
        {
            return Err(InviteError::BadProfile);
        }
        if let Some(introduction) = &self.presentation.introduction
            && (introduction.verify().is_err()
                || !introduction.introduces(&self.inviter, &self.invitee))
        {
            return Err(InviteError::BadIntroduction);
        }
        Ok(())
    }

    /// The attestation statement this invite proposes: version 2, binding the invite's expiry
    /// and one-time key, unless the invite is a legacy one.
    pub fn statement(&self) -> Statement {
        Statement {
            inviter: self.inviter,
            invitee: self.invitee,
            invite_id: self.invite_id,
            issued_at_ms: self.created_at_ms,
            terms: (!self.legacy_statement).then(|| OfferTerms {
                expires_at_ms: self.expires_at_ms,
                one_time_key: self.one_time_key.to_bytes(),
            }),
        }
    }

    /// Checks the invite as its recipient `me` at `now_ms`, allowing the inviter's clock to
    /// be up to `max_clock_skew_ms` ahead of ours. The checks run in this order, so a time
    /// error means the invite itself is authentic.
    ///
    /// # Errors
    ///
    /// [`InviteError::NotForMe`], [`InviteError::SelfInvite`], [`InviteError::BadLifetime`],
    /// [`InviteError::BadSignature`], [`InviteError::LegacyStatement`],
    /// [`InviteError::FromTheFuture`], [`InviteError::Expired`].
    pub fn verify(
        &self,
        me: &AccordId,
        now_ms: u64,
        max_clock_skew_ms: u64,
    ) -> Result<(), InviteError> {
        if self.invitee != *me {
            return Err(InviteError::NotForMe);
        }
        self.verify_signatures()?;
        if self.legacy_statement {
            return Err(InviteError::LegacyStatement);
        }
        if self.created_at_ms > now_ms.saturating_add(max_clock_skew_ms) {
            return Err(InviteError::FromTheFuture {
                created_at_ms: self.created_at_ms,
            });
        }
        if now_ms >= self.expires_at_ms {
            return Err(InviteError::Expired {
                expires_at_ms: self.expires_at_ms,
            });
        }
        Ok(())
    }

    /// The checks of [`Invite::verify`] that do not depend on the recipient or the time:
    /// distinct parties, a sane lifetime and both signatures.
    ///
    /// # Errors
    ///
    /// [`InviteError::SelfInvite`], [`InviteError::BadLifetime`], [`InviteError::BadSignature`],
    /// [`InviteError::BadProfile`], [`InviteError::BadIntroduction`].
    pub fn verify_signatures(&self) -> Result<(), InviteError> {
        if self.inviter == self.invitee {
            return Err(InviteError::SelfInvite);
        }
        match self.expires_at_ms.checked_sub(self.created_at_ms) {
            Some(lifetime) if (MIN_LIFETIME_MS..=MAX_LIFETIME_MS).contains(&lifetime) => {}
            _ => return Err(InviteError::BadLifetime),
        }
        let statement = self.statement().to_bytes();
        verify(
            &self.inviter,
            domain::ATTEST,
            &statement,
            &self.statement_signature,
        )
        .map_err(|_| InviteError::BadSignature)?;
        verify(
            &self.inviter,
            domain::INVITE,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| InviteError::BadSignature)?;
        self.check_presentation()
    }

    /// Every field but the final signature, encoded.
    fn signed_part(&self) -> Writer {
        let version = match (self.legacy_statement, self.presentation.is_empty()) {
            (false, true) => Self::VERSION,
            (false, false) => Self::VERSION_PRESENTED,
            (true, true) => Self::VERSION_LEGACY,
            (true, false) => Self::VERSION_LEGACY_PRESENTED,
        };
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(version)
            .bytes(&self.invite_id)
            .id(&self.inviter)
            .id(&self.invitee)
            .x25519(&self.one_time_key)
            .bytes16(self.note.as_str().as_bytes())
            .u64(self.created_at_ms)
            .u64(self.expires_at_ms)
            .signature(&self.statement_signature);
        if !self.presentation.is_empty() {
            let card = self.presentation.card.as_ref().map(ProfileCard::encode);
            let introduction = self
                .presentation
                .introduction
                .as_ref()
                .map(Introduction::encode);
            w.bytes16(&card.unwrap_or_default())
                .bytes16(&introduction.unwrap_or_default());
        }
        w
    }

    /// The wire form (see PROTOCOL.md): version 3 without a presentation; version 4 adds,
    /// after the statement signature, the card and the introduction, each u16-prefixed
    /// (length 0: absent; at least one is present). Versions 1 and 2 are the same layouts
    /// with a version-1 statement.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`Invite::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        let (legacy_statement, presented) = match version {
            Self::VERSION => (false, false),
            Self::VERSION_PRESENTED => (false, true),
            Self::VERSION_LEGACY => (true, false),
            Self::VERSION_LEGACY_PRESENTED => (true, true),
            other => return Err(DecodeError::UnsupportedVersion(other)),
        };
        if !presented {
            codec::check_max_len(bytes, Self::MAX_LEN_V1)?;
        }
        let invite_id = r.array()?;
        let inviter = r.id()?;
        let invitee = r.id()?;
        let one_time_key = r.x25519()?;
        let note = std::str::from_utf8(r.bytes16(Note::MAX_BYTES)?)
            .map_err(|_| DecodeError::InvalidField("note is not UTF-8"))?;
        let note = Note::new(note, Note::MAX_CHARS).map_err(DecodeError::InvalidNote)?;
        let invite = Self {
            invite_id,
            inviter,
            invitee,
            one_time_key,
            note,
            created_at_ms: r.u64()?,
            expires_at_ms: r.u64()?,
            statement_signature: r.signature()?,
            presentation: Box::new(if presented {
                decode_presentation(&mut r)?
            } else {
                Presentation::default()
            }),
            signature: r.signature()?,
            legacy_statement,
        };
        r.finish()?;
        Ok(invite)
    }
}

/// Reads a presented invite's presentation: two u16-prefixed fields, not both empty (an
/// empty presentation is encoded without one, so that every invite has one encoding).
fn decode_presentation(r: &mut Reader<'_>) -> Result<Presentation, DecodeError> {
    let card = r.bytes16(ProfileCard::MAX_LEN)?;
    let card = (!card.is_empty())
        .then(|| ProfileCard::decode(card))
        .transpose()?;
    let introduction = r.bytes16(Introduction::MAX_LEN)?;
    let introduction = (!introduction.is_empty())
        .then(|| Introduction::decode(introduction))
        .transpose()?;
    let presentation = Presentation { card, introduction };
    if presentation.is_empty() {
        return Err(DecodeError::InvalidField(
            "empty presentation in a presented invite",
        ));
    }
    Ok(presentation)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
