//! A tiny canonical binary codec: the only way bytes of this crate's messages are read or
//! written.
//!
//! Integers are big-endian and fixed-width; arrays are fixed-length; variable-length byte
//! strings carry a `u16` big-endian length prefix and a per-field cap. There are no optional
//! fields, no alternative encodings and no padding, so every value has exactly one encoding:
//! decoding and re-encoding gives back the very bytes that were decoded (the tests check
//! this), which is what lets signatures be checked against the bytes a peer sent.
//!
//! [`Reader`] refuses truncated input and [`Reader::finish`] refuses trailing bytes; no
//! method panics or allocates more than the input holds.

use accord_identity::x25519_dalek::PublicKey;
use accord_identity::{AccordId, Signature};

use crate::note::NoteError;

/// The length in bytes of an Accord ID on the wire: the canonical libp2p peer-ID bytes of an
/// ed25519 key ([`AccordId::to_bytes`]).
pub const ID_LEN: usize = 38;
/// The length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The length of an x25519 public key.
pub const X25519_LEN: usize = 32;
/// The length of an invite id.
pub const INVITE_ID_LEN: usize = 16;

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("truncated message")]
    Truncated,
    /// The message was complete but more bytes followed it.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// The version byte is not one this implementation understands.
    #[error("unsupported message version {0}")]
    UnsupportedVersion(u8),
    /// The kind byte of a payload is not a known message kind.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The input, or one length-prefixed field of it, is longer than allowed.
    #[error("too large: {len} bytes, at most {max} allowed")]
    TooLarge {
        /// The length found.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// An Accord ID field is not a valid, canonical ed25519 peer ID.
    #[error("invalid Accord ID")]
    InvalidId,
    /// The note is not a valid invite note.
    #[error("invalid note: {0}")]
    InvalidNote(NoteError),
    /// A field has a value that is never valid (named by the string).
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
}

/// Refuses `bytes` if it is longer than `max` (call before decoding anything).
///
/// # Errors
///
/// [`DecodeError::TooLarge`].
pub fn check_max_len(bytes: &[u8], max: usize) -> Result<(), DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// Reads fields from a byte slice, front to back.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Reads `n` bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] if fewer than `n` bytes are left.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads a fixed-length array.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a byte string with a `u16` big-endian length prefix, at most `max` bytes long.
    ///
    /// # Errors
    ///
    /// [`DecodeError::TooLarge`] if the prefix exceeds `max`, [`DecodeError::Truncated`] if
    /// the input is shorter than the prefix says.
    pub fn bytes16(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(DecodeError::TooLarge { len, max });
        }
        self.bytes(len)
    }

    /// Reads the version byte and refuses any but `expected`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] or [`DecodeError::UnsupportedVersion`].
    pub fn version(&mut self, expected: u8) -> Result<(), DecodeError> {
        match self.u8()? {
            v if v == expected => Ok(()),
            v => Err(DecodeError::UnsupportedVersion(v)),
        }
    }

    /// Reads an Accord ID ([`ID_LEN`] bytes, canonical form only).
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] or [`DecodeError::InvalidId`].
    pub fn id(&mut self) -> Result<AccordId, DecodeError> {
        AccordId::from_bytes(self.bytes(ID_LEN)?).map_err(|_| DecodeError::InvalidId)
    }

    /// Reads a 64-byte ed25519 signature (checked only when it is verified).
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn signature(&mut self) -> Result<Signature, DecodeError> {
        Ok(Signature::from_bytes(&self.array::<SIGNATURE_LEN>()?))
    }

    /// Reads a 32-byte x25519 public key.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`].
    pub fn x25519(&mut self) -> Result<PublicKey, DecodeError> {
        Ok(PublicKey::from(self.array::<X25519_LEN>()?))
    }

    /// Ends reading.
    ///
    /// # Errors
    ///
    /// [`DecodeError::TrailingBytes`] if any input is left.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Appends fields to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Starts an empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Appends raw bytes (a fixed-length field).
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.out.push(value);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a byte string with a `u16` big-endian length prefix.
    ///
    /// Callers pass only strings whose length their type already bounds far below
    /// `u16::MAX`; a longer one is cut at `u16::MAX` bytes (so the output stays
    /// self-consistent and the field cap refuses it on decoding) rather than panicking.
    pub fn bytes16(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.bytes(&bytes[..usize::from(len)])
    }

    /// Appends an Accord ID in its [`ID_LEN`]-byte form.
    pub fn id(&mut self, id: &AccordId) -> &mut Self {
        self.bytes(&id.to_bytes())
    }

    /// Appends a 64-byte signature.
    pub fn signature(&mut self, signature: &Signature) -> &mut Self {
        self.bytes(&signature.to_bytes())
    }

    /// Appends a 32-byte x25519 public key.
    pub fn x25519(&mut self, key: &PublicKey) -> &mut Self {
        self.bytes(key.as_bytes())
    }

    /// The finished bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The value of one hex digit (either case).
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses hex (either case) of even length; `None` on any other input.
pub(crate) fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut w = Writer::default();
        w.u8(1)
            .u16(0x0203)
            .u32(0x0405_0607)
            .u64(0x0809_0a0b_0c0d_0e0f);
        let bytes = w.into_bytes();
        assert_eq!(bytes, (1..=15).collect::<Vec<u8>>());
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u32().unwrap(), 0x0405_0607);
        assert_eq!(r.u64().unwrap(), 0x0809_0a0b_0c0d_0e0f);
        r.finish().unwrap();
    }

    #[test]
    fn truncation_and_trailing_bytes() {
        assert_eq!(Reader::new(&[1]).u16(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[1]).finish(), Err(DecodeError::TrailingBytes));
        assert_eq!(
            Reader::new(&[0, 3, 1]).bytes16(8),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0, 9]).bytes16(8),
            Err(DecodeError::TooLarge { len: 9, max: 8 })
        );
        assert_eq!(
            Reader::new(&[2]).version(1),
            Err(DecodeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn byte_strings_round_trip() {
        let mut w = Writer::default();
        w.bytes16(b"hello").bytes16(b"");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.bytes16(5).unwrap(), b"hello");
        assert_eq!(r.bytes16(0).unwrap(), b"");
        r.finish().unwrap();
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex(b"00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(unhex(b"0"), None);
        assert_eq!(unhex(b"0g"), None);
    }
}
