//! The on-disk encoding of sessions, messages, outbox entries, conversations and the
//! message-id index.
//!
//! Messages, outbox entries and conversations are stored like invites: the version byte `0x01`
//! followed by the [postcard](https://docs.rs/postcard) encoding of a private mirror struct
//! defined here, whose field order is the format (see [`crate::lifecycle_record`]). What the key
//! already says (peer, sequence numbers) is not repeated in the value, except the peer of an
//! outbox entry, whose key is only the enqueue sequence.
//!
//! A session value is the version byte `0x01` followed by the ratchet state exactly as the
//! node gave it; the store does not interpret it. Index values are a bare `u64` BE.
//!
//! Decoders are strict: they reject empty or oversize input, unknown versions, trailing bytes,
//! unknown direction and state codes, malformed keys and peer ids that are not Accord IDs, with
//! a [`CodecError`]. The store logs, counts and skips what fails to decode.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use accord_identity::AccordId;

use crate::lifecycle_record::{
    CodecError, RECORD_V1, decode_versioned, encode_versioned, peer_from,
};
use crate::messages::{
    ConversationRecord, Direction, MessageId, MessageRecord, MessageState, OutboxEntry,
};

/// The largest message or outbox record, in bytes, the store writes or reads. Message bodies
/// are at most 64 KiB and an envelope adds a few hundred bytes, so this leaves ample room
/// while still bounding what a damaged record can make the decoder do.
pub(crate) const MAX_MESSAGE_RECORD_LEN: usize = 256 * 1024;

/// The largest session value, in bytes (version byte included). A ratchet state with its
/// bounded store of skipped message keys is well below this.
pub(crate) const MAX_SESSION_LEN: usize = 1024 * 1024;

/// The largest conversation record. The record is a handful of varints.
const MAX_CONVERSATION_LEN: usize = 128;

/// The length of the peer's part of a key: its slot (`peer_slot.rs`).
pub(crate) const PEER_LEN: usize = crate::peer_slot::SLOT_LEN;

/// The length of a `messages` key: peer slot ‖ `u64` BE local sequence.
pub(crate) const MESSAGE_KEY_LEN: usize = PEER_LEN + 8;

/// Maps a direction to its stored code. The codes are part of the on-disk format.
fn direction_code(direction: Direction) -> u8 {
    match direction {
        Direction::Outgoing => 0,
        Direction::Incoming => 1,
    }
}

/// The inverse of [`direction_code`].
fn direction_from_code(code: u8) -> Result<Direction, CodecError> {
    match code {
        0 => Ok(Direction::Outgoing),
        1 => Ok(Direction::Incoming),
        code => Err(CodecError::BadCode {
            field: "direction",
            code,
        }),
    }
}

/// Maps a message state to its stored code. The codes are part of the on-disk format: they
/// follow the states' order, except `stored` (4), which came later and sits between `sent`
/// and `delivered` in the order.
fn state_code(state: MessageState) -> u8 {
    match state {
        MessageState::Queued => 0,
        MessageState::Sent => 1,
        MessageState::Delivered => 2,
        MessageState::Read => 3,
        MessageState::Stored => 4,
    }
}

/// The inverse of [`state_code`].
fn state_from_code(code: u8) -> Result<MessageState, CodecError> {
    match code {
        0 => Ok(MessageState::Queued),
        1 => Ok(MessageState::Sent),
        2 => Ok(MessageState::Delivered),
        3 => Ok(MessageState::Read),
        4 => Ok(MessageState::Stored),
        code => Err(CodecError::BadCode {
            field: "message state",
            code,
        }),
    }
}

/// Version 1 of a stored message (tree `messages`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct MessageV1 {
    direction: u8,
    message_id: [u8; 16],
    sender_seq: u64,
    body: String,
    reply_to: Option<[u8; 16]>,
    sent_at_ms: u64,
    received_at_ms: Option<u64>,
    state: u8,
    /// The outbox entry of an outgoing message still waiting for delivery, so that completing
    /// it needs no scan of the outbox. Not part of the public record.
    outbox_seq: Option<u64>,
}

/// Version 1 of an outbox entry (tree `outbox`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct OutboxV1 {
    peer: Vec<u8>,
    message_id: [u8; 16],
    local_seq: u64,
    envelope: Vec<u8>,
    attempts: u32,
    next_attempt_at_ms: u64,
}

/// Version 1 of a conversation (tree `conversations`). Field order is the format.
#[derive(Serialize, Deserialize)]
struct ConversationV1 {
    next_local_seq: u64,
    next_sender_seq: u64,
    unread: u64,
    last_message_at_ms: u64,
    last_read_local_seq: u64,
}

/// Version 1 of a conversation with the field added later: the highest sender sequence
/// received. A record written before the field existed decodes as [`ConversationV1`]; the two
/// cannot be confused, because the older record ends where this one's last field begins.
#[derive(Serialize, Deserialize)]
struct ConversationV1Extended {
    next_local_seq: u64,
    next_sender_seq: u64,
    unread: u64,
    last_message_at_ms: u64,
    last_read_local_seq: u64,
    last_received_sender_seq: Option<u64>,
}

/// Version 1 of a conversation with both fields added later: the highest sender sequence
/// received and the local sequence up to which read receipts were acknowledged. An older
/// record ends where this one's last field begins, so it decodes as one of the older mirrors.
#[derive(Serialize, Deserialize)]
struct ConversationV1Receipts {
    next_local_seq: u64,
    next_sender_seq: u64,
    unread: u64,
    last_message_at_ms: u64,
    last_read_local_seq: u64,
    last_received_sender_seq: Option<u64>,
    receipts_acked_local_seq: Option<u64>,
}

/// A `messages` key: the peer's slot ‖ `u64` BE local sequence.
pub(crate) fn message_key(slot: &[u8], local_seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(MESSAGE_KEY_LEN);
    key.extend_from_slice(slot);
    key.extend_from_slice(&local_seq.to_be_bytes());
    key
}

/// The local sequence of a `messages` key known to belong to the conversation whose peer
/// slot is `peer_bytes`: the prefix is compared, so a key of another conversation is refused.
pub(crate) fn message_key_seq_of(peer_bytes: &[u8], key: &[u8]) -> Result<u64, CodecError> {
    if key.len() != MESSAGE_KEY_LEN {
        return Err(CodecError::BadKey);
    }
    let (prefix, seq) = key.split_at(PEER_LEN);
    if prefix != peer_bytes {
        return Err(CodecError::BadKey);
    }
    decode_u64_exact(seq)
}

/// A `seen` (message-id index) key: the peer's slot ‖ message id.
pub(crate) fn index_key(slot: &[u8], message_id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(PEER_LEN + message_id.len());
    key.extend_from_slice(slot);
    key.extend_from_slice(message_id);
    key
}

/// Reads an 8-byte big-endian integer (an index value or an outbox key).
pub(crate) fn decode_u64_exact(bytes: &[u8]) -> Result<u64, CodecError> {
    let raw: [u8; 8] = match bytes.len() {
        8 => bytes.try_into().map_err(|_| CodecError::Malformed)?,
        n if n < 8 => return Err(CodecError::Malformed),
        n => return Err(CodecError::TrailingBytes(n - 8)),
    };
    Ok(u64::from_be_bytes(raw))
}

/// Encodes a message's value (its key is peer ‖ local sequence). `outbox_seq` names the
/// message's outbox entry while it waits for delivery.
pub(crate) fn encode_message(
    m: &MessageRecord,
    outbox_seq: Option<u64>,
) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let mirror = MessageV1 {
        direction: direction_code(m.direction),
        message_id: m.message_id,
        sender_seq: m.sender_seq,
        body: m.body.clone(),
        reply_to: m.reply_to,
        sent_at_ms: m.sent_at_ms,
        received_at_ms: m.received_at_ms,
        state: state_code(m.state),
        outbox_seq,
    };
    // The body is private text: the encoded record stays in a buffer wiped when dropped
    // until it is sealed.
    encode_versioned(&mirror, m.body.len(), MAX_MESSAGE_RECORD_LEN)
}

/// Decodes a message of the conversation with `peer`, whose slot is `peer_bytes`, from its
/// key and value, with the outbox entry it still waits in, if any. The key's prefix must be
/// that slot.
pub(crate) fn decode_message_of(
    peer: &AccordId,
    peer_bytes: &[u8],
    key: &[u8],
    value: &[u8],
) -> Result<(MessageRecord, Option<u64>), CodecError> {
    if key.len() != MESSAGE_KEY_LEN {
        return Err(CodecError::BadKey);
    }
    let (prefix, seq) = key.split_at(PEER_LEN);
    if prefix != peer_bytes {
        return Err(CodecError::BadKey);
    }
    decode_message_value(*peer, decode_u64_exact(seq)?, value)
}

fn decode_message_value(
    peer: AccordId,
    local_seq: u64,
    value: &[u8],
) -> Result<(MessageRecord, Option<u64>), CodecError> {
    let m: MessageV1 = decode_versioned(value, MAX_MESSAGE_RECORD_LEN)?;
    let record = MessageRecord {
        peer,
        local_seq,
        message_id: m.message_id,
        direction: direction_from_code(m.direction)?,
        sender_seq: m.sender_seq,
        body: m.body,
        reply_to: m.reply_to,
        sent_at_ms: m.sent_at_ms,
        received_at_ms: m.received_at_ms,
        state: state_from_code(m.state)?,
    };
    Ok((record, m.outbox_seq))
}

/// Encodes an outbox entry's value (its key is the `u64` BE enqueue sequence).
pub(crate) fn encode_outbox(e: &OutboxEntry) -> Result<Vec<u8>, CodecError> {
    let mirror = OutboxV1 {
        peer: e.peer.to_bytes(),
        message_id: e.message_id,
        local_seq: e.local_seq,
        envelope: e.envelope.clone(),
        attempts: e.attempts,
        next_attempt_at_ms: e.next_attempt_at_ms,
    };
    let out = encode_versioned(&mirror, e.envelope.len(), MAX_MESSAGE_RECORD_LEN)?;
    Ok(out.to_vec())
}

/// Decodes an outbox entry from its key and value.
pub(crate) fn decode_outbox(key: &[u8], value: &[u8]) -> Result<OutboxEntry, CodecError> {
    let outbox_seq = decode_u64_exact(key).map_err(|_| CodecError::BadKey)?;
    let m: OutboxV1 = decode_versioned(value, MAX_MESSAGE_RECORD_LEN)?;
    Ok(OutboxEntry {
        outbox_seq,
        peer: peer_from(&m.peer)?,
        message_id: m.message_id,
        local_seq: m.local_seq,
        envelope: m.envelope,
        attempts: m.attempts,
        next_attempt_at_ms: m.next_attempt_at_ms,
    })
}

/// [`decode_outbox`] for the entries of one peer, whose ID bytes are `peer_bytes`: the stored
/// peer is compared with them, and an entry of another peer is `None`, without parsing either
/// as an Accord ID (which decompresses a public key and would dominate a walk of the outbox).
pub(crate) fn decode_outbox_of(
    peer: &AccordId,
    peer_bytes: &[u8],
    key: &[u8],
    value: &[u8],
) -> Result<Option<OutboxEntry>, CodecError> {
    let outbox_seq = decode_u64_exact(key).map_err(|_| CodecError::BadKey)?;
    if outbox_peer_bytes(value)? != peer_bytes {
        return Ok(None);
    }
    let m: OutboxV1 = decode_versioned(value, MAX_MESSAGE_RECORD_LEN)?;
    Ok(Some(OutboxEntry {
        outbox_seq,
        peer: *peer,
        message_id: m.message_id,
        local_seq: m.local_seq,
        envelope: m.envelope,
        attempts: m.attempts,
        next_attempt_at_ms: m.next_attempt_at_ms,
    }))
}

/// The ID bytes of the peer an outbox entry is for, borrowed from the value: neither parsed
/// as an Accord ID nor the rest of the entry (its envelope) decoded, so that counting a peer's
/// entries costs a comparison each. The peer is the entry's first field.
pub(crate) fn outbox_peer_bytes(value: &[u8]) -> Result<&[u8], CodecError> {
    let (&version, body) = value.split_first().ok_or(CodecError::Empty)?;
    if version != RECORD_V1 {
        return Err(CodecError::UnknownVersion(version));
    }
    let (peer, _rest): (&[u8], &[u8]) =
        postcard::take_from_bytes(body).map_err(|_| CodecError::Malformed)?;
    Ok(peer)
}

/// Encodes a conversation's value (its key is the peer's Accord ID bytes).
pub(crate) fn encode_conversation(c: &ConversationRecord) -> Result<Vec<u8>, CodecError> {
    let mirror = ConversationV1Receipts {
        next_local_seq: c.next_local_seq,
        next_sender_seq: c.next_sender_seq,
        unread: c.unread,
        last_message_at_ms: c.last_message_at_ms,
        last_read_local_seq: c.last_read_local_seq,
        last_received_sender_seq: c.last_received_sender_seq,
        receipts_acked_local_seq: c.receipts_acked_local_seq,
    };
    let out = encode_versioned(&mirror, 0, MAX_CONVERSATION_LEN)?;
    Ok(out.to_vec())
}

/// Decodes a conversation from its key (the peer's Accord ID bytes) and value.
pub(crate) fn decode_conversation(
    key: &[u8],
    value: &[u8],
) -> Result<ConversationRecord, CodecError> {
    let peer = AccordId::from_bytes(key).map_err(|_| CodecError::BadKey)?;
    decode_conversation_of(peer, value)
}

/// [`decode_conversation`] for a record read under `peer`'s key: the key is not parsed as an
/// Accord ID again (which decompresses a public key).
pub(crate) fn decode_conversation_of(
    peer: AccordId,
    value: &[u8],
) -> Result<ConversationRecord, CodecError> {
    let m = match decode_versioned::<ConversationV1Receipts>(value, MAX_CONVERSATION_LEN) {
        Ok(m) => m,
        // A record from before the receipts field existed.
        Err(CodecError::Malformed) => {
            let m = decode_conversation_extended(value)?;
            ConversationV1Receipts {
                next_local_seq: m.next_local_seq,
                next_sender_seq: m.next_sender_seq,
                unread: m.unread,
                last_message_at_ms: m.last_message_at_ms,
                last_read_local_seq: m.last_read_local_seq,
                last_received_sender_seq: m.last_received_sender_seq,
                receipts_acked_local_seq: None,
            }
        }
        Err(err) => return Err(err),
    };
    Ok(ConversationRecord {
        peer,
        next_local_seq: m.next_local_seq,
        next_sender_seq: m.next_sender_seq,
        unread: m.unread,
        last_message_at_ms: m.last_message_at_ms,
        last_read_local_seq: m.last_read_local_seq,
        last_received_sender_seq: m.last_received_sender_seq,
        receipts_acked_local_seq: m.receipts_acked_local_seq,
    })
}

/// Decodes a conversation written before the receipts field existed (either older mirror).
fn decode_conversation_extended(value: &[u8]) -> Result<ConversationV1Extended, CodecError> {
    match decode_versioned::<ConversationV1Extended>(value, MAX_CONVERSATION_LEN) {
        Ok(m) => Ok(m),
        // A record from before the received sequence existed.
        Err(CodecError::Malformed) => {
            let m: ConversationV1 = decode_versioned(value, MAX_CONVERSATION_LEN)?;
            Ok(ConversationV1Extended {
                next_local_seq: m.next_local_seq,
                next_sender_seq: m.next_sender_seq,
                unread: m.unread,
                last_message_at_ms: m.last_message_at_ms,
                last_read_local_seq: m.last_read_local_seq,
                last_received_sender_seq: None,
            })
        }
        Err(err) => Err(err),
    }
}

/// Encodes a session value: `0x01` ‖ the state. The buffer is wiped when dropped.
pub(crate) fn encode_session(state: &[u8]) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    let len = 1 + state.len();
    if len > MAX_SESSION_LEN {
        return Err(CodecError::TooLarge(len));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.push(RECORD_V1);
    out.extend_from_slice(state);
    Ok(out)
}

/// Decodes a session value into the state, in a buffer that is wiped when dropped.
pub(crate) fn decode_session(value: &[u8]) -> Result<Zeroizing<Vec<u8>>, CodecError> {
    if value.len() > MAX_SESSION_LEN {
        return Err(CodecError::TooLarge(value.len()));
    }
    let (&version, state) = value.split_first().ok_or(CodecError::Empty)?;
    if version != RECORD_V1 {
        return Err(CodecError::UnknownVersion(version));
    }
    Ok(Zeroizing::new(state.to_vec()))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests;
