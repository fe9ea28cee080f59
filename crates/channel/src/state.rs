//! The serialised session state, for the store. **It is secret**: it holds every key of the
//! session (see [`crate::Session::to_bytes`]).
//!
//! # Format (version 2)
//!
//! Integers are big-endian. An *option* is one byte, `0` (absent, nothing follows) or `1`
//! (present, the value follows).
//!
//! | field | encoding |
//! |---|---|
//! | version | `u8` = 2 |
//! | role | `u8`: 0 inviter, 1 invitee |
//! | attestation id | 32 bytes |
//! | our Accord ID | 38 bytes |
//! | peer's Accord ID | 38 bytes |
//! | root key | 32 bytes |
//! | our ratchet secret (`DHs`) | 32 bytes |
//! | our ratchet public key | 32 bytes (new in version 2) |
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
//! every accepted version-2 input re-encodes to the same bytes.
//!
//! # Why the public key is stored, and when it is checked
//!
//! The node reloads a session from the store for every message, and each message sent puts
//! our ratchet public key in its header. Version 1 kept only the secret, so every send
//! recomputed the public key (an X25519 base-point multiplication). Version 2 stores it.
//!
//! A stored public key that does not belong to the secret would silently break the channel:
//! the peer would derive its keys from a public key whose secret nobody has. Checking the pair
//! costs exactly the multiplication the stored key saves, so there are two decoders:
//! [`Session::from_bytes`] checks it ([`StateError::RatchetKeyMismatch`]) and is what any
//! bytes of unknown origin go through; [`Session::from_own_bytes`] skips that one check (and
//! only that one) for a state the caller wrote itself with [`Session::to_bytes`] and kept
//! sealed with an authenticated cipher, as the node's store does, so that the bytes cannot
//! have changed since they were encoded from a consistent key pair.
//!
//! # Version 1
//!
//! The same fields without the public key (version byte 1). It is still decoded; the public
//! key is then computed once from the secret, and the next encoding is version 2.

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

/// The state format version written.
pub const STATE_VERSION: u8 = 2;

/// The previous format version, still decoded (see the module docs).
pub const STATE_VERSION_1: u8 = 1;

const ID_LEN: usize = 38;
const CHAIN_LEN: usize = 1 + 32 + 4;
const ENTRY_LEN: usize = 1 + 4 + 32 + 8;
/// Everything but the optional values and the skipped keys.
const FIXED_LEN: usize = 1 + 1 + 32 + 2 * ID_LEN + 32 + 32 + 32 + 1 + 1 + 1 + 4 + 1 + 2;

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
    /// The stored ratchet public key is not the public half of the stored ratchet secret.
    #[error("invalid session state: the ratchet public key does not match its secret")]
    RatchetKeyMismatch,
}

/// Whether [`decode`] checks that a stored ratchet public key belongs to its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// Check it: the bytes may come from anywhere.
    Verify,
    /// Trust it: the caller encoded these bytes itself and kept them sealed (see the module
    /// docs).
    Trust,
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
    out.extend_from_slice(r.ours.public_uncached().as_bytes());
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

/// Decodes and validates a state of version 2 or 1 (see the module docs).
pub(crate) fn decode(bytes: &[u8], check: KeyCheck) -> Result<Session, StateError> {
    if bytes.len() > MAX_STATE_LEN {
        return Err(StateError::TooLarge {
            len: bytes.len(),
            max: MAX_STATE_LEN,
        });
    }
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != STATE_VERSION && version != STATE_VERSION_1 {
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
    let secret = StaticSecret::from(*r.secret()?);
    let ours = if version == STATE_VERSION_1 {
        // Computed once here; the next encoding stores it.
        let public = PublicKey::from(&secret);
        RatchetKeyPair::from_parts(secret, public)
    } else {
        let public = PublicKey::from(r.array::<32>()?);
        if check == KeyCheck::Verify && PublicKey::from(&secret) != public {
            return Err(StateError::RatchetKeyMismatch);
        }
        RatchetKeyPair::from_parts(secret, public)
    };
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.

    use proptest::prelude::*;

    use super::*;
    use crate::test_support::{NOW, connected_pair, snapshot};

    /// Where our ratchet secret starts: after version, role, attestation id, both IDs and the
    /// root key.
    const SECRET_AT: usize = 1 + 1 + 32 + 2 * ID_LEN + 32;
    /// Where the version-2 public key starts.
    const PUBLIC_AT: usize = SECRET_AT + 32;

    /// The version-1 form of a version-2 state: the public key left out.
    fn as_version_1(state: &[u8]) -> Vec<u8> {
        let mut old = state.to_vec();
        old[0] = STATE_VERSION_1;
        old.drain(PUBLIC_AT..PUBLIC_AT + 32);
        old
    }

    /// What an accepted state of either version re-encodes to: a version-1 state gains the
    /// public key of its secret and the current version byte; a version-2 state is unchanged.
    pub(crate) fn as_current(state: &[u8]) -> Vec<u8> {
        if state.first() != Some(&STATE_VERSION_1) || state.len() < PUBLIC_AT {
            return state.to_vec();
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&state[SECRET_AT..PUBLIC_AT]);
        let public = PublicKey::from(&StaticSecret::from(secret));
        let mut current = state.to_vec();
        current[0] = STATE_VERSION;
        current.splice(PUBLIC_AT..PUBLIC_AT, public.to_bytes());
        current
    }

    /// A state mid-conversation, with a sending chain, a receiving chain and skipped keys.
    fn busy_state(seed: u64) -> Session {
        let (mut inviter, mut invitee, mut rng) = connected_pair(seed);
        let _held = invitee.encrypt(b"held", &mut rng).unwrap();
        let m = invitee.encrypt(b"x", &mut rng).unwrap();
        inviter.decrypt(&m, NOW).unwrap();
        let reply = inviter.encrypt(b"y", &mut rng).unwrap();
        invitee.decrypt(&reply, NOW).unwrap();
        inviter
    }

    #[test]
    fn the_public_key_is_stored_and_restored_without_recomputing() {
        let mut session = busy_state(50);
        let public = session.ratchet.ours.public();
        let bytes = session.to_bytes();
        assert_eq!(bytes[0], STATE_VERSION);
        assert_eq!(&bytes[PUBLIC_AT..PUBLIC_AT + 32], public.as_bytes());
        for restored in [
            Session::from_bytes(&bytes).unwrap(),
            Session::from_own_bytes(&bytes).unwrap(),
        ] {
            // Restored into the cache: the next header needs no multiplication.
            assert_eq!(restored.ratchet.ours.public_if_cached(), Some(public));
            assert_eq!(*restored.to_bytes(), *bytes);
        }
    }

    #[test]
    fn a_version_1_state_is_read_and_upgraded() {
        let mut session = busy_state(51);
        let current = snapshot(&session);
        let old = as_version_1(&current);
        assert_eq!(old.len() + 32, current.len());
        for restored in [
            Session::from_bytes(&old).unwrap(),
            Session::from_own_bytes(&old).unwrap(),
        ] {
            // Computed once on decoding, and written from then on.
            assert_eq!(
                restored.ratchet.ours.public_if_cached(),
                Some(session.ratchet.ours.public())
            );
            assert_eq!(snapshot(&restored), current);
        }
        // A live pair whose sender is restored from a version-1 state still talks.
        let (mut inviter, invitee, mut rng) = connected_pair(51);
        let mut upgraded = Session::from_bytes(&as_version_1(&snapshot(&invitee))).unwrap();
        let m = upgraded.encrypt(b"after upgrade", &mut rng).unwrap();
        assert_eq!(inviter.decrypt(&m, NOW).unwrap(), b"after upgrade");
        let back = inviter.encrypt(b"back", &mut rng).unwrap();
        assert_eq!(upgraded.decrypt(&back, NOW).unwrap(), b"back");
    }

    #[test]
    fn a_public_key_that_is_not_the_secrets_is_refused() {
        let session = busy_state(52);
        let mut bytes = snapshot(&session);
        bytes[PUBLIC_AT + 5] ^= 0x40;
        assert_eq!(
            Session::from_bytes(&bytes).unwrap_err(),
            StateError::RatchetKeyMismatch
        );
        // Another valid key's public half is refused the same way.
        let other = snapshot(&busy_state(53));
        bytes[PUBLIC_AT..PUBLIC_AT + 32].copy_from_slice(&other[PUBLIC_AT..PUBLIC_AT + 32]);
        assert_eq!(
            Session::from_bytes(&bytes).unwrap_err(),
            StateError::RatchetKeyMismatch
        );
        // The trusting decoder skips exactly this check (see the module docs); everything
        // else is still checked.
        assert!(Session::from_own_bytes(&bytes).is_ok());
        let mut truncated = bytes.clone();
        truncated.truncate(PUBLIC_AT + 10);
        assert_eq!(
            Session::from_own_bytes(&truncated).unwrap_err(),
            StateError::Truncated
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Any state round-trips through either decoder, and its version-1 form decodes to
        /// the same session.
        #[test]
        fn round_trip_in_both_versions(seed in any::<u64>(), sends in 0usize..4, replies in 0usize..4) {
            let (mut inviter, mut invitee, mut rng) = connected_pair(seed);
            for i in 0..sends {
                let m = invitee.encrypt(format!("{i}").as_bytes(), &mut rng).unwrap();
                if i % 2 == 0 {
                    inviter.decrypt(&m, NOW).unwrap();
                }
            }
            for i in 0..replies {
                let m = inviter.encrypt(format!("r{i}").as_bytes(), &mut rng).unwrap();
                invitee.decrypt(&m, NOW).unwrap();
            }
            for session in [&inviter, &invitee] {
                let bytes = snapshot(session);
                prop_assert_eq!(snapshot(&Session::from_bytes(&bytes).unwrap()), bytes.clone());
                prop_assert_eq!(snapshot(&Session::from_own_bytes(&bytes).unwrap()), bytes.clone());
                let old = as_version_1(&bytes);
                prop_assert_eq!(snapshot(&Session::from_bytes(&old).unwrap()), bytes);
            }
        }
    }
}
