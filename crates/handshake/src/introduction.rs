//! Introductions: "I, the introducer, am connected to both of you, and I think you should
//! meet." Signed by the introducer, so whoever holds one can check who vouches for it.

use accord_identity::{AccordId, Identity, Signature, verify};

use crate::codec::{self, DecodeError, ID_LEN, Reader, SIGNATURE_LEN, Writer};
use crate::domain;
use crate::note::Note;
use crate::profile::ProfileCard;

/// Why an introduction cannot be made or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IntroductionError {
    /// Two of the three parties (introducer and the two introduced) are the same identity.
    #[error("an introduction names three different people: the introducer and two others")]
    SameParty,
    /// The signature is not the introducer's over these exact bytes.
    #[error("the introduction's signature is invalid")]
    BadSignature,
    /// The profile card sent along is not the other party's, or does not verify.
    #[error("the profile sent with the introduction is not the other party's")]
    WrongCard,
}

/// An introduction of `first` and `second` by `introducer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduction {
    /// Who introduces; the signer, connected to both others.
    pub introducer: AccordId,
    /// One of the two introduced.
    pub first: AccordId,
    /// The other.
    pub second: AccordId,
    /// When it was made (Unix ms, the introducer's clock).
    pub created_at_ms: u64,
    /// The introducer's note to both (at most [`Note::MAX_CHARS`] characters).
    pub note: Note,
    /// The introducer's signature ([`domain::INTRODUCE`]) over every byte before it.
    pub signature: Signature,
}

impl Introduction {
    /// The format version.
    pub const VERSION: u8 = 1;
    /// The longest encoded introduction: 1,389 bytes.
    pub const MAX_LEN: usize = 1 + 3 * ID_LEN + 8 + 2 + Note::MAX_BYTES + SIGNATURE_LEN;

    /// `introducer` introduces `first` and `second` to each other at `now_ms`.
    ///
    /// # Errors
    ///
    /// [`IntroductionError::SameParty`].
    pub fn create(
        introducer: &Identity,
        first: AccordId,
        second: AccordId,
        note: Note,
        now_ms: u64,
    ) -> Result<Self, IntroductionError> {
        let mut introduction = Self {
            introducer: introducer.id(),
            first,
            second,
            created_at_ms: now_ms,
            note,
            signature: Signature::from_bytes(&[0; SIGNATURE_LEN]),
        };
        introduction.check_parties()?;
        introduction.signature =
            introducer.sign(domain::INTRODUCE, introduction.signed_part().as_bytes());
        Ok(introduction)
    }

    fn check_parties(&self) -> Result<(), IntroductionError> {
        if self.introducer == self.first
            || self.introducer == self.second
            || self.first == self.second
        {
            return Err(IntroductionError::SameParty);
        }
        Ok(())
    }

    /// Checks the parties and the introducer's signature. That the introducer is really
    /// connected to the one checking is the checker's own knowledge (its connections).
    ///
    /// # Errors
    ///
    /// [`IntroductionError::SameParty`], [`IntroductionError::BadSignature`].
    pub fn verify(&self) -> Result<(), IntroductionError> {
        self.check_parties()?;
        verify(
            &self.introducer,
            domain::INTRODUCE,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| IntroductionError::BadSignature)
    }

    /// Whether this introduces `x` and `y` to each other (in either order).
    pub fn introduces(&self, x: &AccordId, y: &AccordId) -> bool {
        (self.first == *x && self.second == *y) || (self.first == *y && self.second == *x)
    }

    /// The party other than `me`, if `me` is one of the two introduced.
    pub fn other_than(&self, me: &AccordId) -> Option<AccordId> {
        if self.first == *me {
            Some(self.second)
        } else if self.second == *me {
            Some(self.first)
        } else {
            None
        }
    }

    fn signed_part(&self) -> Writer {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .id(&self.introducer)
            .id(&self.first)
            .id(&self.second)
            .u64(self.created_at_ms)
            .bytes16(self.note.as_str().as_bytes());
        w
    }

    /// version ‖ introducer ‖ first ‖ second ‖ created at (u64) ‖ note (u16-prefixed) ‖
    /// signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`Introduction::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let introducer = r.id()?;
        let first = r.id()?;
        let second = r.id()?;
        let created_at_ms = r.u64()?;
        let note = std::str::from_utf8(r.bytes16(Note::MAX_BYTES)?)
            .map_err(|_| DecodeError::InvalidField("note is not UTF-8"))?;
        let note = Note::new(note, Note::MAX_CHARS).map_err(DecodeError::InvalidNote)?;
        let introduction = Self {
            introducer,
            first,
            second,
            created_at_ms,
            note,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(introduction)
    }
}

/// What an introducer sends each of the two introduced over the end-to-end channel: the
/// introduction and, if the introducer has it, the other party's signed profile card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntroductionNotice {
    /// The signed introduction.
    pub introduction: Introduction,
    /// The other party's card, as its owner signed it.
    pub other_card: Option<ProfileCard>,
}

impl IntroductionNotice {
    /// The format version.
    pub const VERSION: u8 = 1;
    /// The longest encoded notice.
    pub const MAX_LEN: usize = 1 + 2 + Introduction::MAX_LEN + 2 + ProfileCard::MAX_LEN;

    /// Checks the introduction, that `me` is one of the two introduced, and that the card
    /// (if any) is the other party's and verifies. Returns the other party.
    ///
    /// # Errors
    ///
    /// See [`IntroductionError`]; [`IntroductionError::SameParty`] if `me` is not introduced.
    pub fn verify(&self, me: &AccordId) -> Result<AccordId, IntroductionError> {
        self.introduction.verify()?;
        let other = self
            .introduction
            .other_than(me)
            .ok_or(IntroductionError::SameParty)?;
        if let Some(card) = &self.other_card
            && (card.id != other || card.verify().is_err())
        {
            return Err(IntroductionError::WrongCard);
        }
        Ok(other)
    }

    /// version ‖ introduction (u16-prefixed) ‖ card (u16-prefixed; empty = none).
    pub fn encode(&self) -> Vec<u8> {
        let card = self
            .other_card
            .as_ref()
            .map(ProfileCard::encode)
            .unwrap_or_default();
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .bytes16(&self.introduction.encode())
            .bytes16(&card);
        w.into_bytes()
    }

    /// Parses [`IntroductionNotice::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let introduction = Introduction::decode(r.bytes16(Introduction::MAX_LEN)?)?;
        let card = r.bytes16(ProfileCard::MAX_LEN)?;
        let other_card = if card.is_empty() {
            None
        } else {
            Some(ProfileCard::decode(card)?)
        };
        r.finish()?;
        Ok(Self {
            introduction,
            other_card,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::{NOW, parties};
    use proptest::prelude::*;

    #[test]
    fn create_encode_decode_verify() {
        let (a, b, c) = parties(1);
        let note = Note::new("You both climb", 300).unwrap();
        let intro = Introduction::create(&c, a.id(), b.id(), note, NOW).unwrap();
        intro.verify().unwrap();
        assert!(intro.introduces(&b.id(), &a.id()));
        assert!(!intro.introduces(&c.id(), &a.id()));
        assert_eq!(intro.other_than(&a.id()), Some(b.id()));
        let back = Introduction::decode(&intro.encode()).unwrap();
        assert_eq!(back, intro);
        let card = ProfileCard::create(&b, 1, "Bob", "", None).unwrap();
        let notice = IntroductionNotice {
            introduction: intro,
            other_card: Some(card),
        };
        let back = IntroductionNotice::decode(&notice.encode()).unwrap();
        assert_eq!(back, notice);
        assert_eq!(back.verify(&a.id()), Ok(b.id()));
        assert_eq!(back.verify(&c.id()), Err(IntroductionError::SameParty));
    }

    #[test]
    fn forgeries_are_refused() {
        let (a, b, c) = parties(2);
        let intro = Introduction::create(&c, a.id(), b.id(), Note::empty(), NOW).unwrap();
        // Someone else claims c introduced them.
        let mut forged = intro.clone();
        forged.second = a.id();
        forged.first = c.id();
        assert!(forged.verify().is_err());
        let (stranger, _, _) = parties(3);
        let mut forged = intro.clone();
        forged.introducer = stranger.id();
        assert_eq!(forged.verify(), Err(IntroductionError::BadSignature));
        // The card sent to a must be b's, not c's.
        let notice = IntroductionNotice {
            introduction: intro,
            other_card: Some(ProfileCard::create(&c, 1, "Not Bob", "", None).unwrap()),
        };
        assert_eq!(notice.verify(&a.id()), Err(IntroductionError::WrongCard));
        assert_eq!(
            Introduction::create(&a, a.id(), b.id(), Note::empty(), NOW),
            Err(IntroductionError::SameParty)
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            if let Ok(intro) = Introduction::decode(&bytes) {
                prop_assert_eq!(intro.encode(), bytes.clone());
            }
            if let Ok(notice) = IntroductionNotice::decode(&bytes) {
                prop_assert_eq!(notice.encode(), bytes);
            }
        }

        #[test]
        fn round_trip(seed in 0u64..16, at in any::<u64>(), note in "[a-z ]{0,300}") {
            let (a, b, c) = parties(seed);
            let intro = Introduction::create(&c, a.id(), b.id(), Note::new(note, 300).unwrap(), at).unwrap();
            let bytes = intro.encode();
            prop_assert_eq!(Introduction::decode(&bytes).unwrap().encode(), bytes);
        }
    }
}
