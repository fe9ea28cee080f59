//! The ratchet header sent (in clear, but authenticated) with every message.

use x25519_dalek::PublicKey;

/// Why bytes are not a valid [`Header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than a header has.
    #[error("truncated ratchet header")]
    Truncated,
    /// More bytes than a header has.
    #[error("trailing bytes after the ratchet header")]
    TrailingBytes,
    /// The version byte is not one this implementation understands.
    #[error("unsupported ratchet header version {0}")]
    UnsupportedVersion(u8),
}

/// A Double Ratchet header: the sender's current ratchet public key, the length of its previous
/// sending chain, and this message's number in the current chain.
///
/// Encoding ([`Header::LEN`] = 41 bytes, big-endian): `version (u8 = 1) ‖ ratchet key (32) ‖
/// previous chain length (u32) ‖ message number (u32)`. Exactly one encoding per header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sender's ratchet public key.
    pub ratchet_key: PublicKey,
    /// How many messages the sender sent in its previous sending chain (`PN`).
    pub previous_chain_length: u32,
    /// The number of this message in the sender's current chain, from 0 (`N`).
    pub message_number: u32,
}

impl Header {
    /// The header format version.
    pub const VERSION: u8 = 1;
    /// The encoded length.
    pub const LEN: usize = 1 + 32 + 4 + 4;

    /// The wire form.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = Self::VERSION;
        out[1..33].copy_from_slice(self.ratchet_key.as_bytes());
        out[33..37].copy_from_slice(&self.previous_chain_length.to_be_bytes());
        out[37..41].copy_from_slice(&self.message_number.to_be_bytes());
        out
    }

    /// Parses exactly one encoded header.
    ///
    /// # Errors
    ///
    /// [`HeaderError::Truncated`], [`HeaderError::TrailingBytes`],
    /// [`HeaderError::UnsupportedVersion`].
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        let (&version, _) = bytes.split_first().ok_or(HeaderError::Truncated)?;
        if version != Self::VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let bytes: &[u8; Self::LEN] = match bytes.len() {
            n if n < Self::LEN => return Err(HeaderError::Truncated),
            n if n > Self::LEN => return Err(HeaderError::TrailingBytes),
            _ => bytes.try_into().map_err(|_| HeaderError::Truncated)?,
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[1..33]);
        let mut pn = [0u8; 4];
        pn.copy_from_slice(&bytes[33..37]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&bytes[37..41]);
        Ok(Self {
            ratchet_key: PublicKey::from(key),
            previous_chain_length: u32::from_be_bytes(pn),
            message_number: u32::from_be_bytes(n),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(key: [u8; 32], pn: u32, n: u32) -> Header {
        Header {
            ratchet_key: PublicKey::from(key),
            previous_chain_length: pn,
            message_number: n,
        }
    }

    #[test]
    fn layout_is_fixed() {
        let bytes = header([7; 32], 0x0102_0304, 0x0A0B_0C0D).encode();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..33], &[7; 32]);
        assert_eq!(&bytes[33..], &[1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]);
    }

    #[test]
    fn refuses_bad_input() {
        let bytes = header([7; 32], 1, 2).encode();
        assert_eq!(Header::decode(&[]), Err(HeaderError::Truncated));
        assert_eq!(Header::decode(&bytes[..40]), Err(HeaderError::Truncated));
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(Header::decode(&long), Err(HeaderError::TrailingBytes));
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(Header::decode(&v2), Err(HeaderError::UnsupportedVersion(2)));
    }

    proptest! {
        #[test]
        fn round_trip(key in any::<[u8; 32]>(), pn in any::<u32>(), n in any::<u32>()) {
            let h = header(key, pn, n);
            prop_assert_eq!(Header::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn decode_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(h) = Header::decode(&bytes) {
                prop_assert_eq!(h.encode().to_vec(), bytes);
            }
        }
    }
}
