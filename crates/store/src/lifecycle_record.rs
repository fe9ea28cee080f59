//! The on-disk encoding of invites, connections, block entries and the quota ledger.
//!
//! Invites and connections are stored as one version byte (`0x01`) followed by the
//! [postcard](https://docs.rs/postcard) encoding of a private mirror struct defined here. The
//! mirror structs are the format: they are private so that changing a public record type can
//! never silently change what is on disk, and every change to them needs a new version byte.
//! The key of each entry (invite id or peer Accord ID) is not repeated in the value.
//!
//! Block entries and the clock high-water mark are fixed-width and hand-written; quota ledger
//! keys are `created_at_ms` `u64` BE ‖ invite id with an empty value.
//!
//! Decoders are strict: they reject empty or oversize input, unknown versions, trailing bytes,
//! unknown invite states, malformed keys and peer ids that are not Accord IDs, with a
//! [`CodecError`]. The store logs, counts and skips what fails to decode.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use accord_identity::AccordId;

use crate::InviteState;
use crate::invites::{Connection, IncomingInvite, InviteId, OutgoingInvite};

/// The version byte of the current invite record formats (and of the first connection format).
pub(crate) const RECORD_V1: u8 = 1;

/// The version byte of the current connection record format: version 1 and whether the
/// connection still awaits the inviter's confirmation.
pub(crate) const CONNECTION_V2: u8 = 2;

/// The version byte of the current block entry format.
pub(crate) const BLOCKED_V1: u8 = 1;

/// The largest invite or connection record, in bytes, the store writes or reads. Gossiped
/// messages are at most 4 KiB, so real records are far smaller; the bound keeps a damaged
/// record from making the decoder work on arbitrary amounts of data.
pub(crate) const MAX_RECORD_LEN: usize = 64 * 1024;

/// The length of a block entry: version byte ‖ `u64` BE.
const BLOCKED_LEN: usize = 1 + 8;

/// The length of a quota ledger key: `u64` BE ‖ invite id.
pub(crate) const QUOTA_KEY_LEN: usize = 8 + 16;

/// Why a stored invite, connection, block entry or ledger key could not be decoded (or, for
/// [`CodecError::TooLarge`] and [`CodecError::Encode`], encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    /// Not even the version byte was present.
    #[error("empty record")]
    Empty,
    /// The record is larger than any record the store writes.
    #[error("record of {0} bytes exceeds the size limit")]
    TooLarge(usize),
    /// The version byte names a format this build does not know.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// The body is not a valid encoding of the record.
    #[error("malformed record body")]
    Malformed,
    /// Bytes remained after the record body.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// The stored invite state code is not one this build knows.
    #[error("unknown invite state code {0}")]
    BadState(u8),
    /// A stored code (message direction or state) is not one this build knows.
    #[error("unknown {field} code {code}")]
    BadCode {
        /// Which field held the code.
        field: &'static str,
        /// The code found.
        code: u8,
    },
    /// A peer id in the record is not a valid Accord ID.
    #[error("the record names a peer that is not a valid Accord ID")]
    BadPeer,
    /// The entry's key does not have the expected form.
    #[error("the entry's key is malformed")]
    BadKey,
    /// The sealed value does not open with this store's key: it was damaged, or copied from
    /// another slot or tree (see [`crate::at_rest`]).
    #[error("the record cannot be decrypted (damaged, or moved from another slot)")]
    Unsealable,
    /// The record could not be serialized.
    #[error("the record cannot be encoded")]
    Encode,
}

/// Maps an invite state to its stored code. The codes are part of the on-disk format.
pub(crate) fn state_code(state: InviteState) -> u8 {
    match state {
        InviteState::Pending => 0,
        InviteState::Accepted => 1,
        InviteState::Declined => 2,
        InviteState::Withdrawn => 3,
        InviteState::Expired => 4,
    }
}

/// The inverse of [`state_code`].
pub(crate) fn state_from_code(code: u8) -> Result<InviteState, CodecError> {
    Ok(match code {
        0 => InviteState::Pending,
        1 => InviteState::Accepted,
        2 => InviteState::Declined,
        3 => InviteState::Withdrawn,
        4 => InviteState::Expired,
        other => return Err(CodecError::BadState(other)),
    })
}

/// Version 1 of an outgoing invite (tree `invites_out`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct OutgoingV1 {
    peer: Vec<u8>,
    invite: Vec<u8>,
    one_time_secret: Option<Zeroizing<[u8; 32]>>,
    state: u8,
    note: String,
    created_at_ms: u64,
    expires_at_ms: u64,
    closed_at_ms: Option<u64>,
    next_publish_at_ms: Option<u64>,
    publish_count: u32,
}

/// Version 1 of an incoming invite (tree `invites_in`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct IncomingV1 {
    peer: Vec<u8>,
    invite: Vec<u8>,
    note: String,
    state: u8,
    created_at_ms: u64,
    expires_at_ms: u64,
    received_at_ms: u64,
    closed_at_ms: Option<u64>,
    acceptance: Option<Vec<u8>>,
    ephemeral_secret: Option<Zeroizing<[u8; 32]>>,
    next_publish_at_ms: Option<u64>,
    publish_count: u32,
}

/// Version 1 of a connection (tree `attestations`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct ConnectionV1 {
    attestation: Vec<u8>,
    attestation_id: [u8; 32],
    since_ms: u64,
    alias: Option<String>,
    revoked_at_ms: Option<u64>,
    revocation: Option<Vec<u8>>,
    next_publish_at_ms: Option<u64>,
    publish_count: u32,
}

/// Version 2 of a connection (tree `attestations`): version 1 and, last, whether we accepted
/// the invite and still wait for the inviter's settlement. Field order is the format.
#[derive(Serialize, Deserialize)]
struct ConnectionV2 {
    v1: ConnectionV1,
    awaiting_confirmation: bool,
}

/// Writes the version byte and the postcard body. The buffer is wiped when dropped because
/// invite records may carry secret keys.
fn encode_v1<T: Serialize>(mirror: &T, size_hint: usize) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    encode_versioned(mirror, size_hint, MAX_RECORD_LEN)
}

/// Checks the envelope and decodes the postcard body, refusing trailing bytes.
fn decode_v1<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_versioned(bytes, MAX_RECORD_LEN)
}

/// Writes the version byte `0x01` and the postcard body of `mirror`, refusing a result longer
/// than `max_len`. The buffer is wiped when dropped.
pub(crate) fn encode_versioned<T: Serialize>(
    mirror: &T,
    size_hint: usize,
    max_len: usize,
) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    encode_with_version(RECORD_V1, mirror, size_hint, max_len)
}

/// Writes the version byte `version` and the postcard body of `mirror`, refusing a result
/// longer than `max_len`. The buffer is wiped when dropped.
fn encode_with_version<T: Serialize>(
    version: u8,
    mirror: &T,
    size_hint: usize,
    max_len: usize,
) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    // Reserving up front avoids reallocations, which would leave unwiped copies behind.
    let mut buf = Vec::with_capacity(size_hint.min(max_len) + 128);
    buf.push(version);
    let out = Zeroizing::new(postcard::to_extend(mirror, buf).map_err(|_| CodecError::Encode)?);
    if out.len() > max_len {
        return Err(CodecError::TooLarge(out.len()));
    }
    Ok(out)
}

/// Checks the envelope (at most `max_len` bytes, version `0x01`) and decodes the postcard
/// body, refusing trailing bytes.
pub(crate) fn decode_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T, CodecError> {
    if bytes.len() > max_len {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != RECORD_V1 {
        return Err(CodecError::UnknownVersion(version));
    }
    decode_body(body)
}

/// Decodes a postcard body, refusing trailing bytes.
fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(|_| CodecError::Malformed)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Reads a peer id stored inside a record.
pub(crate) fn peer_from(bytes: &[u8]) -> Result<AccordId, CodecError> {
    AccordId::from_bytes(bytes).map_err(|_| CodecError::BadPeer)
}

fn invite_id_from(key: &[u8]) -> Result<InviteId, CodecError> {
    key.try_into().map_err(|_| CodecError::BadKey)
}

/// Encodes an outgoing invite's value (its key is the invite id).
pub(crate) fn encode_outgoing(i: &OutgoingInvite) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let mirror = OutgoingV1 {
        peer: i.peer.to_bytes(),
        invite: i.invite.clone(),
        one_time_secret: i.one_time_secret.clone(),
        state: state_code(i.state),
        note: i.note.clone(),
        created_at_ms: i.created_at_ms,
        expires_at_ms: i.expires_at_ms,
        closed_at_ms: i.closed_at_ms,
        next_publish_at_ms: i.next_publish_at_ms,
        publish_count: i.publish_count,
    };
    encode_v1(&mirror, i.invite.len() + i.note.len())
}

/// Decodes an outgoing invite from its key and value.
pub(crate) fn decode_outgoing(key: &[u8], value: &[u8]) -> Result<OutgoingInvite, CodecError> {
    let invite_id = invite_id_from(key)?;
    let m: OutgoingV1 = decode_v1(value)?;
    Ok(OutgoingInvite {
        invite_id,
        peer: peer_from(&m.peer)?,
        invite: m.invite,
        one_time_secret: m.one_time_secret,
        state: state_from_code(m.state)?,
        note: m.note,
        created_at_ms: m.created_at_ms,
        expires_at_ms: m.expires_at_ms,
        closed_at_ms: m.closed_at_ms,
        next_publish_at_ms: m.next_publish_at_ms,
        publish_count: m.publish_count,
    })
}

/// Encodes an incoming invite's value (its key is the invite id).
pub(crate) fn encode_incoming(i: &IncomingInvite) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let mirror = IncomingV1 {
        peer: i.peer.to_bytes(),
        invite: i.invite.clone(),
        note: i.note.clone(),
        state: state_code(i.state),
        created_at_ms: i.created_at_ms,
        expires_at_ms: i.expires_at_ms,
        received_at_ms: i.received_at_ms,
        closed_at_ms: i.closed_at_ms,
        acceptance: i.acceptance.clone(),
        ephemeral_secret: i.ephemeral_secret.clone(),
        next_publish_at_ms: i.next_publish_at_ms,
        publish_count: i.publish_count,
    };
    let hint = i.invite.len() + i.note.len() + i.acceptance.as_ref().map_or(0, Vec::len);
    encode_v1(&mirror, hint)
}

/// Decodes an incoming invite from its key and value.
pub(crate) fn decode_incoming(key: &[u8], value: &[u8]) -> Result<IncomingInvite, CodecError> {
    let invite_id = invite_id_from(key)?;
    let m: IncomingV1 = decode_v1(value)?;
    Ok(IncomingInvite {
        invite_id,
        peer: peer_from(&m.peer)?,
        invite: m.invite,
        note: m.note,
        state: state_from_code(m.state)?,
        created_at_ms: m.created_at_ms,
        expires_at_ms: m.expires_at_ms,
        received_at_ms: m.received_at_ms,
        closed_at_ms: m.closed_at_ms,
        acceptance: m.acceptance,
        ephemeral_secret: m.ephemeral_secret,
        next_publish_at_ms: m.next_publish_at_ms,
        publish_count: m.publish_count,
    })
}

/// Encodes a connection's value (its key is the peer's Accord ID bytes), in version 2.
pub(crate) fn encode_connection(c: &Connection) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let v1 = ConnectionV1 {
        attestation: c.attestation.clone(),
        attestation_id: c.attestation_id,
        since_ms: c.since_ms,
        alias: c.alias.clone(),
        revoked_at_ms: c.revoked_at_ms,
        revocation: c.revocation.clone(),
        next_publish_at_ms: c.next_publish_at_ms,
        publish_count: c.publish_count,
    };
    let mirror = ConnectionV2 {
        v1,
        awaiting_confirmation: c.awaiting_confirmation,
    };
    let hint = c.attestation.len()
        + c.alias.as_ref().map_or(0, String::len)
        + c.revocation.as_ref().map_or(0, Vec::len);
    encode_with_version(CONNECTION_V2, &mirror, hint, MAX_RECORD_LEN)
}

/// Decodes a connection from its key (the peer's Accord ID bytes) and value.
pub(crate) fn decode_connection(key: &[u8], value: &[u8]) -> Result<Connection, CodecError> {
    let peer = AccordId::from_bytes(key).map_err(|_| CodecError::BadKey)?;
    decode_connection_of(peer, value)
}

/// Decodes the connection with a peer the caller already knows, from its value.
///
/// This is the path of a lookup by peer ([`crate::Store::connection`]), which runs once per
/// sent and per received message: the key was made from `peer`, so parsing it again would only
/// repeat an ed25519 point decompression, which profiling found to be the store thread's
/// costliest frame under message load.
///
/// Version 1 records (written before connections could await confirmation) decode as
/// confirmed: each was complete on its own side when it was written, and nothing recorded
/// whether the inviter had completed it too.
pub(crate) fn decode_connection_of(peer: AccordId, value: &[u8]) -> Result<Connection, CodecError> {
    if value.len() > MAX_RECORD_LEN {
        return Err(CodecError::TooLarge(value.len()));
    }
    let (m, awaiting_confirmation) = match value.split_first() {
        None => return Err(CodecError::Empty),
        Some((&RECORD_V1, body)) => (decode_body::<ConnectionV1>(body)?, false),
        Some((&CONNECTION_V2, body)) => {
            let v2: ConnectionV2 = decode_body(body)?;
            (v2.v1, v2.awaiting_confirmation)
        }
        Some((&version, _)) => return Err(CodecError::UnknownVersion(version)),
    };
    Ok(Connection {
        peer,
        attestation: m.attestation,
        attestation_id: m.attestation_id,
        since_ms: m.since_ms,
        alias: m.alias,
        revoked_at_ms: m.revoked_at_ms,
        revocation: m.revocation,
        next_publish_at_ms: m.next_publish_at_ms,
        publish_count: m.publish_count,
        awaiting_confirmation,
    })
}

/// Encodes a block entry: `0x01` ‖ blocked_at_ms `u64` BE.
pub(crate) fn encode_blocked(at_ms: u64) -> [u8; BLOCKED_LEN] {
    let mut out = [0; BLOCKED_LEN];
    out[0] = BLOCKED_V1;
    out[1..].copy_from_slice(&at_ms.to_be_bytes());
    out
}

/// Decodes a block entry's value into the time the peer was blocked.
pub(crate) fn decode_blocked(value: &[u8]) -> Result<u64, CodecError> {
    let (&version, body) = value.split_first().ok_or(CodecError::Empty)?;
    if version != BLOCKED_V1 {
        return Err(CodecError::UnknownVersion(version));
    }
    let at: [u8; 8] = match body.len() {
        8 => body.try_into().map_err(|_| CodecError::Malformed)?,
        n if n < 8 => return Err(CodecError::Malformed),
        n => return Err(CodecError::TrailingBytes(n - 8)),
    };
    Ok(u64::from_be_bytes(at))
}

/// The quota ledger key of an invite: `created_at_ms` `u64` BE ‖ invite id.
pub(crate) fn quota_key(created_at_ms: u64, invite_id: &InviteId) -> [u8; QUOTA_KEY_LEN] {
    let mut key = [0; QUOTA_KEY_LEN];
    key[..8].copy_from_slice(&created_at_ms.to_be_bytes());
    key[8..].copy_from_slice(invite_id);
    key
}

/// The send time in a quota ledger key.
pub(crate) fn quota_key_time(key: &[u8]) -> Result<u64, CodecError> {
    if key.len() != QUOTA_KEY_LEN {
        return Err(CodecError::BadKey);
    }
    let mut time = [0; 8];
    time.copy_from_slice(&key[..8]);
    Ok(u64::from_be_bytes(time))
}

/// Decodes a `u64` BE stored on its own (the clock high-water mark).
pub(crate) fn decode_u64(value: &[u8]) -> Result<u64, CodecError> {
    let raw: [u8; 8] = value.try_into().map_err(|_| CodecError::Malformed)?;
    Ok(u64::from_be_bytes(raw))
}

#[cfg(test)]
#[path = "lifecycle_record_tests.rs"]
mod tests;
