//! Profiles: who someone says they are (a name, a headline, an avatar), signed by their
//! identity and versioned, so that an older profile never replaces a newer one.
//!
//! A profile has two parts. The [`ProfileCard`] holds the name, the headline, the version
//! and the avatar's SHA-256 digest and length, and the owner's signature over all of that
//! (domain [`crate::domain::PROFILE`]). It is small (at most [`ProfileCard::MAX_LEN`]
//! bytes), so it rides sealed inside every invite and inside introductions. The full
//! [`Profile`] is the card and the avatar's bytes; it goes to connections over the
//! end-to-end channel. Because the card signs the avatar's digest, the avatar is checked by
//! the same signature, and a card alone still says which avatar goes with it.

mod avatar;
mod text;

use accord_identity::{AccordId, Identity, Signature, verify};
use sha2::{Digest, Sha256};

use crate::codec::{self, DecodeError, ID_LEN, Reader, SIGNATURE_LEN, Writer};
use crate::domain;

pub use avatar::{AVATAR_MAX_BYTES, AVATAR_MAX_SIDE, AvatarError, reencode_avatar};
pub use text::{
    HEADLINE_MAX_BYTES, HEADLINE_MAX_CHARS, NAME_MAX_BYTES, NAME_MAX_CHARS, ProfileField,
    ProfileTextError, check_headline, check_name,
};

/// Why a profile cannot be made or is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The name or headline is not acceptable.
    #[error(transparent)]
    Text(#[from] ProfileTextError),
    /// The avatar is not acceptable.
    #[error(transparent)]
    Avatar(#[from] AvatarError),
    /// Version 0 is reserved for "no profile": versions start at 1.
    #[error("a profile version must be at least 1")]
    ZeroVersion,
    /// The signature is not the owner's over these exact bytes.
    #[error("the profile's signature is invalid")]
    BadSignature,
    /// The avatar's bytes are not the ones the card signs (by length or digest).
    #[error("the avatar does not match the one the profile signs")]
    AvatarMismatch,
}

/// The avatar a card refers to: its length and SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvatarRef {
    /// Its length in bytes, 1 to [`AVATAR_MAX_BYTES`].
    pub len: u32,
    /// SHA-256 of its bytes.
    pub digest: [u8; 32],
}

impl AvatarRef {
    /// The reference to `bytes`.
    fn of(bytes: &[u8]) -> Self {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&Sha256::digest(bytes));
        Self {
            // An avatar is at most 64 KiB (checked by every caller), so this cannot saturate.
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            digest,
        }
    }
}

/// The signed, small part of a profile (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileCard {
    /// Whose profile this is; the signer.
    pub id: AccordId,
    /// The version: a newer (greater) one replaces an older one, never the reverse.
    pub version: u64,
    /// The display name, 1 to [`NAME_MAX_CHARS`] characters of plain text.
    pub name: String,
    /// The headline, 0 to [`HEADLINE_MAX_CHARS`] characters of plain text.
    pub headline: String,
    /// The avatar, if there is one.
    pub avatar: Option<AvatarRef>,
    /// The owner's signature ([`domain::PROFILE`]) over every encoded byte before it.
    pub signature: Signature,
}

impl ProfileCard {
    /// The card format version.
    pub const VERSION: u8 = 1;
    /// The longest encoded card: 887 bytes.
    pub const MAX_LEN: usize =
        1 + ID_LEN + 8 + 2 + NAME_MAX_BYTES + 2 + HEADLINE_MAX_BYTES + 4 + 32 + SIGNATURE_LEN;

    /// Makes and signs the card of `identity`'s profile.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Text`] for a bad name or headline, [`ProfileError::ZeroVersion`].
    pub fn create(
        identity: &Identity,
        version: u64,
        name: &str,
        headline: &str,
        avatar: Option<&[u8]>,
    ) -> Result<Self, ProfileError> {
        check_name(name)?;
        check_headline(headline)?;
        if version == 0 {
            return Err(ProfileError::ZeroVersion);
        }
        let mut card = Self {
            id: identity.id(),
            version,
            name: name.to_owned(),
            headline: headline.to_owned(),
            avatar: avatar.map(AvatarRef::of),
            signature: Signature::from_bytes(&[0; SIGNATURE_LEN]),
        };
        card.signature = identity.sign(domain::PROFILE, card.signed_part().as_bytes());
        Ok(card)
    }

    /// Checks the text fields, the version and the owner's signature.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Text`], [`ProfileError::ZeroVersion`], [`ProfileError::BadSignature`].
    pub fn verify(&self) -> Result<(), ProfileError> {
        check_name(&self.name)?;
        check_headline(&self.headline)?;
        if self.version == 0 {
            return Err(ProfileError::ZeroVersion);
        }
        verify(
            &self.id,
            domain::PROFILE,
            self.signed_part().as_bytes(),
            &self.signature,
        )
        .map_err(|_| ProfileError::BadSignature)
    }

    /// Whether this card should replace `stored`: the same owner and a greater version.
    /// An equal or older version never replaces what is stored.
    pub fn supersedes(&self, stored: &ProfileCard) -> bool {
        self.id == stored.id && self.version > stored.version
    }

    fn signed_part(&self) -> Writer {
        let mut w = Writer::with_capacity(Self::MAX_LEN);
        w.u8(Self::VERSION)
            .id(&self.id)
            .u64(self.version)
            .bytes16(self.name.as_bytes())
            .bytes16(self.headline.as_bytes());
        match &self.avatar {
            Some(avatar) => w.u32(avatar.len).bytes(&avatar.digest),
            None => w.u32(0).bytes(&[0; 32]),
        };
        w
    }

    /// version ‖ id ‖ profile version (u64) ‖ name (u16-prefixed) ‖ headline (u16-prefixed)
    /// ‖ avatar length (u32; 0 = none) ‖ avatar SHA-256 (32; zeros when none) ‖ signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.signed_part();
        w.signature(&self.signature);
        w.into_bytes()
    }

    /// Parses [`ProfileCard::encode`], checking the text fields (not the signature).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let id = r.id()?;
        let version = r.u64()?;
        let name = utf8(r.bytes16(NAME_MAX_BYTES)?, "profile name is not UTF-8")?;
        check_name(&name).map_err(|_| DecodeError::InvalidField("profile name"))?;
        let headline = utf8(r.bytes16(HEADLINE_MAX_BYTES)?, "headline is not UTF-8")?;
        check_headline(&headline).map_err(|_| DecodeError::InvalidField("profile headline"))?;
        let len = r.u32()?;
        let digest: [u8; 32] = r.array()?;
        let avatar = match len {
            0 if digest == [0; 32] => None,
            0 => return Err(DecodeError::InvalidField("digest without an avatar")),
            len if len as usize > AVATAR_MAX_BYTES => {
                return Err(DecodeError::InvalidField("avatar length"));
            }
            len => Some(AvatarRef { len, digest }),
        };
        let card = Self {
            id,
            version,
            name,
            headline,
            avatar,
            signature: r.signature()?,
        };
        r.finish()?;
        Ok(card)
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidField(what))
}

/// A whole profile: the signed card and the avatar's bytes (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The signed card.
    pub card: ProfileCard,
    /// The avatar, exactly the bytes the card signs; present if and only if the card names one.
    pub avatar: Option<Vec<u8>>,
}

impl Profile {
    /// The profile format version.
    pub const VERSION: u8 = 1;
    /// The longest encoded profile.
    pub const MAX_LEN: usize = 1 + 2 + ProfileCard::MAX_LEN + 4 + AVATAR_MAX_BYTES;

    /// Makes `identity`'s profile. The avatar file is decoded and encoded again
    /// ([`reencode_avatar`]), and it is our encoding that is signed and sent.
    ///
    /// # Errors
    ///
    /// See [`ProfileError`].
    pub fn create(
        identity: &Identity,
        version: u64,
        name: &str,
        headline: &str,
        avatar_file: Option<&[u8]>,
    ) -> Result<Self, ProfileError> {
        let avatar = avatar_file.map(reencode_avatar).transpose()?;
        let card = ProfileCard::create(identity, version, name, headline, avatar.as_deref())?;
        Ok(Self { card, avatar })
    }

    /// Checks the card ([`ProfileCard::verify`]) and that the avatar is the one it signs.
    /// The avatar's pixels are not decoded here: a receiver that keeps the avatar decodes and
    /// encodes it again first ([`reencode_avatar`]).
    ///
    /// # Errors
    ///
    /// See [`ProfileCard::verify`]; [`ProfileError::AvatarMismatch`].
    pub fn verify(&self) -> Result<(), ProfileError> {
        self.card.verify()?;
        let matches = match (&self.card.avatar, &self.avatar) {
            (None, None) => true,
            (Some(reference), Some(bytes)) => *reference == AvatarRef::of(bytes),
            _ => false,
        };
        if !matches {
            return Err(ProfileError::AvatarMismatch);
        }
        Ok(())
    }

    /// version ‖ card (u16-prefixed) ‖ avatar length (u32; 0 = none) ‖ avatar.
    pub fn encode(&self) -> Vec<u8> {
        let card = self.card.encode();
        let avatar = self.avatar.as_deref().unwrap_or_default();
        let mut w = Writer::with_capacity(1 + 2 + card.len() + 4 + avatar.len());
        // An avatar is at most 64 KiB, so its length fits a u32.
        let len = u32::try_from(avatar.len()).unwrap_or(u32::MAX);
        w.u8(Self::VERSION).bytes16(&card).u32(len).bytes(avatar);
        w.into_bytes()
    }

    /// Parses [`Profile::encode`] (checks neither signature nor digest: see
    /// [`Profile::verify`]).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let card = ProfileCard::decode(r.bytes16(ProfileCard::MAX_LEN)?)?;
        let len = r.u32()? as usize;
        if len > AVATAR_MAX_BYTES {
            return Err(DecodeError::TooLarge {
                len,
                max: AVATAR_MAX_BYTES,
            });
        }
        let avatar = r.bytes(len)?;
        r.finish()?;
        let avatar = (len > 0).then(|| avatar.to_vec());
        if avatar.is_some() != card.avatar.is_some() {
            return Err(DecodeError::InvalidField("avatar presence"));
        }
        Ok(Self { card, avatar })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
