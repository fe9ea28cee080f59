//! The serialised session state, for the store. **It is secret**: it holds every key of the
//! session (see [`crate::Session::to_bytes`]).
//!
//! # Format (version 1)
//!
//! Integers are big-endian. An *option* is one byte, `0` (absent, nothing follows) or `1`
//! (present, the value follows).
//!
//! | field | encoding |
//! |---|---|
//! | version | `u8` = 1 |
//! | role | `u8`: 0 inviter, 1 invitee |
//! | attestation id | 32 bytes |
//! | our Accord ID | 38 bytes |
//! | peer's Accord ID | 38 bytes |
//! | root key | 32 bytes |
//! | our ratchet secret (`DHs`) | 32 bytes (the public key is recomputed) |
//! | peer's ratchet key (`DHr`) | option of 32 bytes |
//! | sending chain (`CKs`, `Ns`) | option of 32 bytes ‖ `u32` |
//! | receiving chain (`CKr`, `Nr`) | option of 32 bytes ‖ `u32` |
//! | previous sending chain length (`PN`) | `u32` |
//! | skipped chains | `u8` count (≤ 5), then each peer ratchet key (32 bytes), oldest first |
//! | skipped keys | `u16` count (≤ 2000), then each: chain index `u8` ‖ message number `u32` ‖ message key (32) ‖ created at `u64` ms, oldest first |
//!
//! A decoder refuses input longer than [`MAX_STATE_LEN`] (checked first), truncated input,
//! trailing bytes, an unknown version, and any state the session could never be in: an
//! invalid or non-canonical Accord ID, the same ID twice, an option byte other than 0 or 1,
//! a sending or receiving chain without a peer ratchet key, a repeated chain, a chain without
//! keys, a key of an unknown chain, a repeated (chain, number), counts above the bounds. So
//! every accepted input re-encodes to the same bytes.

use std::collections::VecDeque;

use accord_handshake::AttestationId;
use accord_identity::AccordId;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::chain_key::ChainKey;
use crate::message_key::MessageKey;
use crate::ratchet::{Chain, RatchetKeyPair, RatchetState};
use crate::root_key::RootKey;
use crate::session::{Role, Session};
use crate::skipped::{MAX_SKIPPED_CHAINS, MAX_SKIPPED_KEYS, SkippedKey, SkippedKeys};

/// The state format version.
pub const STATE_VERSION: u8 = 1;

const ID_LEN: usize = 38;
const CHAIN_LEN: usize = 1 + 32 + 4;
const ENTRY_LEN: usize = 1 + 4 + 32 + 8;
/// Everything but the optional values and the skipped keys.
const FIXED_LEN: usize = 1 + 1 + 32 + 2 * ID_LEN + 32 + 32 + 1 + 1 + 1 + 4 + 1 + 2;

/// The longest encoded session state.
pub const MAX_STATE_LEN: usize =
    FIXED_LEN + 32 + 2 * (CHAIN_LEN - 1) + MAX_SKIPPED_CHAINS * 32 + MAX_SKIPPED_KEYS * ENTRY_LEN;

/// Why bytes are not a valid session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Longer than [`MAX_STATE_LEN`].
    #[error("session state too large: {len} bytes, at most {max} allowed")]
    TooLarge {
        /// The length found.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// The input ended in the middle of a field.
    #[error("truncated session state")]
    Truncated,
    /// More bytes followed the state.
    #[error("trailing bytes after the session state")]
    TrailingBytes,
    /// The version byte is not one this implementation understands.
    #[error("unsupported session state version {0}")]
    UnsupportedVersion(u8),
    /// A field holds a value no session can have (named by the string).
    #[error("invalid session state: {0}")]
    Invalid(&'static str),
}

/// Encodes the session; the buffer is allocated once at its final size, so no copy of a
/// secret is left behind by a reallocation, and it is wiped when dropped.
pub(crate) fn encode(session: &Session) -> Zeroizing<Vec<u8>> {
    let r = &session.ratchet;
    let len = FIXED_LEN
        + r.theirs.map_or(0, |_| 32)
        + r.sending.as_ref().map_or(0, |_| CHAIN_LEN - 1)
        + r.receiving.as_ref().map_or(0, |_| CHAIN_LEN - 1)
        + r.skipped.chains.len() * 32
        + r.skipped.entries.len() * ENTRY_LEN;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.push(STATE_VERSION);
    out.push(match session.role {
        Role::Inviter => 0,
        Role::Invitee => 1,
    });
    out.extend_from_slice(session.attestation_id.as_bytes());
    out.extend_from_slice(&session.us.to_bytes());
    out.extend_from_slice(&session.peer.to_bytes());
    out.extend_from_slice(r.root_key.as_bytes());
    out.extend_from_slice(r.ours.secret.as_bytes());
    match &r.theirs {
        Some(key) => {
            out.push(1);
            out.extend_from_slice(key.as_bytes());
        }
        None => out.push(0),
    }
    for chain in [&r.sending, &r.receiving] {
        match chain {
            Some(chain) => {
                out.push(1);
                out.extend_from_slice(chain.key.as_bytes());
                out.extend_from_slice(&chain.next.to_be_bytes());
            }
            None => out.push(0),
        }
    }
    out.extend_from_slice(&r.previous_sending_length.to_be_bytes());
    encode_skipped(&r.skipped, &mut out);
    debug_assert_eq!(out.len(), len);
    out
}

fn encode_skipped(skipped: &SkippedKeys, out: &mut Vec<u8>) {
    // Both counts are bounded far below u8/u16 by the store's invariants.
    out.push(u8::try_from(skipped.chains.len()).unwrap_or(u8::MAX));
    for chain in &skipped.chains {
        out.extend_from_slice(chain);
    }
    out.extend_from_slice(
        &u16::try_from(skipped.entries.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    for entry in &skipped.entries {
        let index = skipped
            .chains
            .iter()
            .position(|c| c == &entry.chain)
            .unwrap_or(usize::from(u8::MAX));
        out.push(u8::try_from(index).unwrap_or(u8::MAX));
        out.extend_from_slice(&entry.number.to_be_bytes());
        out.extend_from_slice(entry.key.as_bytes());
        out.extend_from_slice(&entry.created_ms.to_be_bytes());
    }
}

/// Decodes and validates a state (see the module docs).
pub(crate) fn decode(bytes: &[u8]) -> Result<Session, StateError> {
    if bytes.len() > MAX_STATE_LEN {
        return Err(StateError::TooLarge {
            len: bytes.len(),
            max: MAX_STATE_LEN,
        });
    }
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != STATE_VERSION {
        return Err(StateError::UnsupportedVersion(version));
    }
    let role = match r.u8()? {
        0 => Role::Inviter,
        1 => Role::Invitee,
        _ => return Err(StateError::Invalid("role")),
    };
    let attestation_id = AttestationId(r.array()?);
    let us = r.id()?;
    let peer = r.id()?;
    if us == peer {
        return Err(StateError::Invalid("our ID and the peer's are the same"));
    }
    let root_key = RootKey::from_bytes(*r.secret()?);
    let ours = RatchetKeyPair::from_secret(StaticSecret::from(*r.secret()?));
    let theirs = r.option(|r| r.array().map(PublicKey::from))?;
    let sending = r.option(Reader::chain)?;
    let receiving = r.option(Reader::chain)?;
    if theirs.is_none() && (sending.is_some() || receiving.is_some()) {
        return Err(StateError::Invalid(
            "a chain without the peer's ratchet key",
        ));
    }
    let previous_sending_length = r.u32()?;
    let skipped = decode_skipped(&mut r)?;
    if !r.0.is_empty() {
        return Err(StateError::TrailingBytes);
    }
    let ratchet = RatchetState {
        root_key,
        ours,
        theirs,
        sending,
        receiving,
        previous_sending_length,
        skipped,
    };
    Ok(Session::assemble(role, &attestation_id, us, peer, ratchet))
}

fn decode_skipped(r: &mut Reader<'_>) -> Result<SkippedKeys, StateError> {
    let chain_count = usize::from(r.u8()?);
    if chain_count > MAX_SKIPPED_CHAINS {
        return Err(StateError::Invalid("too many skipped chains"));
    }
    let mut chains = VecDeque::with_capacity(chain_count);
    for _ in 0..chain_count {
        let chain: [u8; 32] = r.array()?;
        if chains.contains(&chain) {
            return Err(StateError::Invalid("a repeated skipped chain"));
        }
        chains.push_back(chain);
    }
    let key_count = usize::from(r.u16()?);
    if key_count > MAX_SKIPPED_KEYS {
        return Err(StateError::Invalid("too many skipped keys"));
    }
    let mut entries: VecDeque<SkippedKey> = VecDeque::with_capacity(key_count);
    for _ in 0..key_count {
        let index = usize::from(r.u8()?);
        let chain = *chains
            .get(index)
            .ok_or(StateError::Invalid("a skipped key of an unknown chain"))?;
        let number = r.u32()?;
        let key = Box::new(MessageKey::from_bytes(*r.secret()?));
        let created_ms = r.u64()?;
        if entries
            .iter()
            .any(|e| e.chain == chain && e.number == number)
        {
            return Err(StateError::Invalid("a repeated skipped key"));
        }
        entries.push_back(SkippedKey {
            chain,
            number,
            key,
            created_ms,
        });
    }
    if chains
        .iter()
        .any(|c| !entries.iter().any(|e| &e.chain == c))
    {
        return Err(StateError::Invalid("a skipped chain without keys"));
    }
    Ok(SkippedKeys { chains, entries })
}

/// Reads fields from the front of a byte string, refusing to read past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StateError> {
        if self.0.len() < n {
            return Err(StateError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn secret(&mut self) -> Result<Zeroizing<[u8; 32]>, StateError> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, StateError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn id(&mut self) -> Result<AccordId, StateError> {
        AccordId::from_bytes(self.take(ID_LEN)?).map_err(|_| StateError::Invalid("Accord ID"))
    }

    fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, StateError>,
    ) -> Result<Option<T>, StateError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(StateError::Invalid("option byte")),
        }
    }

    fn chain(&mut self) -> Result<Chain, StateError> {
        let key = ChainKey::from_bytes(*self.secret()?);
        let next = self.u32()?;
        Ok(Chain { key, next })
    }
}
