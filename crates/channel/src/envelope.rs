//! The envelope: what goes on the wire for every channel message.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::header::{Header, HeaderError};
use crate::message_key::{NONCE_LEN, TAG_LEN};

/// Domain separation of [`SessionId::derive`].
const SESSION_ID_DOMAIN: &[u8] = crate::labels::SESSION.as_bytes();

/// The largest plaintext one message may carry: a 64 KiB Markdown body plus 1 KiB for the
/// node's inner framing (message id, timestamp, sequence number, reply-to).
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024 + 1024;
/// The bytes an envelope adds to its plaintext: version, session id, header, nonce and tag.
pub const ENVELOPE_OVERHEAD: usize = Envelope::MIN_LEN;
/// The largest envelope [`Envelope::decode`] accepts; read at most this many bytes.
pub const MAX_ENVELOPE_LEN: usize = ENVELOPE_OVERHEAD + MAX_PLAINTEXT_LEN;

/// Why bytes are not a valid [`Envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Longer than [`MAX_ENVELOPE_LEN`].
    #[error("envelope too large: {len} bytes, at most {max} allowed")]
    TooLarge {
        /// The length found.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// Shorter than the smallest envelope (an empty message).
    #[error("truncated envelope")]
    Truncated,
    /// The version byte is not one this implementation understands.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The ratchet header inside is invalid.
    #[error("invalid ratchet header: {0}")]
    Header(#[from] HeaderError),
}

/// A session id: 16 public bytes naming a channel, the same on both sides, so a node can find
/// the session an envelope is for. It is
/// `SHA-256("accord/v1/channel/session" ‖ attestation id)[..16]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; SessionId::LEN]);

impl SessionId {
    /// The length in bytes.
    pub const LEN: usize = 16;

    /// The session id of the channel bound to the attestation with this id.
    pub fn derive(attestation_id: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(SESSION_ID_DOMAIN)
            .chain_update(attestation_id)
            .finalize();
        let mut id = [0u8; Self::LEN];
        id.copy_from_slice(&digest[..Self::LEN]);
        Self(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// A channel message on the wire.
///
/// Encoding: `version (u8 = 1) ‖ session id (16) ‖ header (41, [`Header`]) ‖ nonce (24) ‖
/// ciphertext`, where the ciphertext is the rest of the bytes: the encrypted plaintext, then the
/// 16-byte Poly1305 tag. The version, session id and header ([`Envelope::PREFIX_LEN`] bytes)
/// are part of the AEAD's associated data; the nonce is the XChaCha20-Poly1305 nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The session the message belongs to.
    pub session_id: SessionId,
    /// The ratchet header.
    pub header: Header,
    /// The random XChaCha20-Poly1305 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The ciphertext and tag (at least 16 bytes: the Poly1305 tag).
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// The envelope format version.
    pub const VERSION: u8 = 1;
    /// The length of the authenticated, unencrypted prefix: version, session id, header.
    pub const PREFIX_LEN: usize = 1 + SessionId::LEN + Header::LEN;
    /// The smallest envelope: an empty plaintext.
    pub const MIN_LEN: usize = Self::PREFIX_LEN + NONCE_LEN + TAG_LEN;

    /// The version, session id and header bytes (the AEAD associated data's tail).
    pub(crate) fn prefix(session_id: &SessionId, header: &Header) -> [u8; Self::PREFIX_LEN] {
        let mut out = [0u8; Self::PREFIX_LEN];
        out[0] = Self::VERSION;
        out[1..1 + SessionId::LEN].copy_from_slice(&session_id.0);
        out[1 + SessionId::LEN..].copy_from_slice(&header.encode());
        out
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::PREFIX_LEN + NONCE_LEN + self.ciphertext.len());
        out.extend_from_slice(&Self::prefix(&self.session_id, &self.header));
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses an envelope (it does not decrypt it).
    ///
    /// # Errors
    ///
    /// [`EnvelopeError::TooLarge`] (checked first), [`EnvelopeError::Truncated`],
    /// [`EnvelopeError::UnsupportedVersion`], [`EnvelopeError::Header`].
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let parsed = Parsed::parse(bytes)?;
        Ok(Self {
            session_id: parsed.session_id,
            header: parsed.header,
            nonce: *parsed.nonce,
            ciphertext: parsed.ciphertext.to_vec(),
        })
    }
}

/// An envelope parsed in place: [`Envelope::decode`] without copying the ciphertext.
pub(crate) struct Parsed<'a> {
    pub(crate) session_id: SessionId,
    pub(crate) header: Header,
    /// The version, session id and header bytes, as they arrived (the AEAD's associated data
    /// tail; the same as [`Envelope::prefix`] of the parsed values, since every envelope has
    /// exactly one encoding).
    pub(crate) prefix: &'a [u8; Envelope::PREFIX_LEN],
    pub(crate) nonce: &'a [u8; NONCE_LEN],
    pub(crate) ciphertext: &'a [u8],
}

impl<'a> Parsed<'a> {
    /// See [`Envelope::decode`]: the same checks in the same order.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLarge {
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        let (&version, _) = bytes.split_first().ok_or(EnvelopeError::Truncated)?;
        if version != Envelope::VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        if bytes.len() < Envelope::MIN_LEN {
            return Err(EnvelopeError::Truncated);
        }
        let (prefix, rest) = bytes.split_at(Envelope::PREFIX_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let prefix: &[u8; Envelope::PREFIX_LEN] =
            prefix.try_into().map_err(|_| EnvelopeError::Truncated)?;
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| EnvelopeError::Truncated)?;
        let mut session_id = [0u8; SessionId::LEN];
        session_id.copy_from_slice(&prefix[1..1 + SessionId::LEN]);
        Ok(Self {
            session_id: SessionId(session_id),
            header: Header::decode(&prefix[1 + SessionId::LEN..])?,
            prefix,
            nonce,
            ciphertext,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use proptest::prelude::*;
    use x25519_dalek::PublicKey;

    fn envelope(ciphertext: Vec<u8>) -> Envelope {
        Envelope {
            session_id: SessionId([5; 16]),
            header: Header {
                ratchet_key: PublicKey::from([9; 32]),
                previous_chain_length: 3,
                message_number: 4,
            },
            nonce: [6; NONCE_LEN],
            ciphertext,
        }
    }

    #[test]
    fn constants() {
        assert_eq!(Envelope::PREFIX_LEN, 58);
        assert_eq!(Envelope::MIN_LEN, 98);
        assert_eq!(ENVELOPE_OVERHEAD, 98);
        assert_eq!(MAX_ENVELOPE_LEN, 98 + 65536 + 1024);
    }

    #[test]
    fn session_id_is_derived_and_shown_as_hex() {
        let a = SessionId::derive(&[1; 32]);
        assert_eq!(a, SessionId::derive(&[1; 32]));
        assert_ne!(a, SessionId::derive(&[2; 32]));
        assert_eq!(a.to_string().len(), 32);
        assert!(format!("{a:?}").starts_with("SessionId("));
    }

    #[test]
    fn refuses_bad_input() {
        let good = envelope(vec![0; 16]).encode();
        assert_eq!(Envelope::decode(&good), Ok(envelope(vec![0; 16])));
        assert_eq!(Envelope::decode(&[]), Err(EnvelopeError::Truncated));
        assert_eq!(Envelope::decode(&good[..97]), Err(EnvelopeError::Truncated));
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(
            Envelope::decode(&v2),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        let mut bad_header = good.clone();
        bad_header[17] = 9;
        assert_eq!(
            Envelope::decode(&bad_header),
            Err(EnvelopeError::Header(HeaderError::UnsupportedVersion(9)))
        );
        let huge = vec![1u8; MAX_ENVELOPE_LEN + 1];
        assert!(matches!(
            Envelope::decode(&huge),
            Err(EnvelopeError::TooLarge { .. })
        ));
        let largest = envelope(vec![0; MAX_PLAINTEXT_LEN + TAG_LEN]).encode();
        assert_eq!(largest.len(), MAX_ENVELOPE_LEN);
        assert!(Envelope::decode(&largest).is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(ciphertext in proptest::collection::vec(any::<u8>(), 16..300)) {
            let e = envelope(ciphertext);
            prop_assert_eq!(Envelope::decode(&e.encode()), Ok(e));
        }

        #[test]
        fn decode_never_panics_and_is_canonical(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            fix_versions in any::<bool>(),
        ) {
            // Half the cases get valid version bytes, so the later checks are reached too.
            if fix_versions && bytes.len() > 17 {
                bytes[0] = Envelope::VERSION;
                bytes[17] = Header::VERSION;
            }
            if let Ok(e) = Envelope::decode(&bytes) {
                prop_assert_eq!(e.encode(), bytes);
            }
        }
    }
}
