//! The persistence of end-to-end encrypted messaging: ratchet sessions, message history, the
//! outbox, the message-id index and per-conversation bookkeeping.
//!
//! Records are encoded by [`crate::message_record`]; the layout is in [`crate::trees`]. Every
//! operation that touches several trees runs in one sled transaction, so a crash leaves all of
//! its writes or none. Reads done to prepare a transaction (the conversation record, the index)
//! happen just before it; that is safe because the [`Store`] has exactly one owner, so nothing
//! can change in between.
//!
//! # Sequence numbers
//!
//! - The *local sequence* (`local_seq`) numbers the messages of one conversation in the order
//!   this store recorded them, starting at 1, shared by both directions. The `messages` key is
//!   peer ‖ local sequence, so a conversation's history is one range scan in display order.
//! - The *sender sequence* (`sender_seq`) is the per-conversation number the sender put in the
//!   message. For outgoing messages the store assigns it (from 1); for incoming ones it keeps
//!   what the peer sent.
//! - The *outbox sequence* (`outbox_seq`) orders the outbox across conversations. When the
//!   outbox empties, numbering may start again, so an entry is identified by its peer and
//!   message id as well ([`Store::update_outbox`] checks both).
//!
//! # The message-id index (`seen`)
//!
//! The `seen` tree maps peer ‖ message id to the local sequence, for messages in **both**
//! directions. It de-duplicates incoming messages ([`Store::record_incoming`],
//! [`Store::is_seen`]) and finds outgoing ones for acknowledgements and receipts
//! ([`Store::complete_outbox`], [`Store::set_message_state`]) without a scan. A message id is
//! therefore unique within a conversation: an incoming message reusing the id of any stored
//! message of that conversation (which only a misbehaving peer would send) is reported as a
//! duplicate of it.
//!
//! # Message states
//!
//! Outgoing messages start [`MessageState::Queued`] and move to `sent`, `delivered` (the peer
//! acknowledged after storing it) and `read` (the peer's read receipt). Incoming messages are
//! stored as [`MessageState::Delivered`] — from the receiver's point of view they have been
//! delivered — and become [`MessageState::Read`] when the user reads them
//! ([`Store::mark_read`]). States only move forward; a request to move one backwards changes
//! nothing.
//!
//! # Durability
//!
//! The methods here do **not** flush. Through a [`StoreHandle`](crate::StoreHandle), every
//! method that writes answers only after a flush (a node acknowledging a duplicate found by
//! [`Store::is_seen`] flushes first), and the flush is shared by every request that was queued at the
//! same time (group commit), so durability does not cost one fsync per message under load.
//! [`StoreHandle::update_outbox`](crate::StoreHandle::update_outbox) is the exception: a lost
//! retry schedule only means an earlier retry. Direct users of the synchronous API must call
//! [`Store::flush`] themselves before they acknowledge a message or send the envelope of a
//! recorded one.
//!
//! # Damaged records
//!
//! A value that cannot be decoded is logged, counted ([`Store::skipped_records`]) and skipped:
//! lookups report it as absent, listings leave it out. Nothing is deleted because of damage. A
//! damaged conversation record is rebuilt from the conversation's messages the next time a
//! message is recorded in it.

use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use sled::Transactional;
use zeroize::Zeroizing;

use accord_identity::AccordId;

use crate::invites::{TxResult, bad_record, tx_error};
use crate::lifecycle_record::CodecError;
use crate::message_record::{self as codec};
use crate::{Store, StoreError, trees};

/// The 16 random bytes that name a message (chosen by its sender).
pub type MessageId = [u8; 16];

/// Which way a message went.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Direction {
    /// We sent it.
    Outgoing,
    /// The peer sent it.
    Incoming,
}

/// Where a message is in its life. States are ordered and only ever move forward.
///
/// Outgoing messages go `queued` → `sent` → `delivered` → `read`. Incoming messages are stored
/// as `delivered` and become `read` when the user reads them.
///
/// `Display` and `FromStr` use the lowercase names (`"queued"`, `"sent"`, `"delivered"`,
/// `"read"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum MessageState {
    /// Recorded and waiting in the outbox.
    Queued,
    /// Handed to the network, not yet acknowledged.
    Sent,
    /// Stored by the recipient (for incoming messages: stored by us).
    Delivered,
    /// Read by the recipient (for incoming messages: read by our user).
    Read,
}

impl MessageState {
    /// The lowercase name, as shown to users and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Sent => "sent",
            MessageState::Delivered => "delivered",
            MessageState::Read => "read",
        }
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`MessageState`] from a string that is not one of its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown message state (expected queued, sent, delivered or read)")]
pub struct ParseMessageStateError;

impl FromStr for MessageState {
    type Err = ParseMessageStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(MessageState::Queued),
            "sent" => Ok(MessageState::Sent),
            "delivered" => Ok(MessageState::Delivered),
            "read" => Ok(MessageState::Read),
            _ => Err(ParseMessageStateError),
        }
    }
}

/// One stored message (tree `messages`, keyed by peer ‖ local sequence).
///
/// `Debug` prints the body's length, not the body.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The other side of the conversation.
    pub peer: AccordId,
    /// The message's place in the conversation as this store recorded it, from 1, shared by
    /// both directions.
    pub local_seq: u64,
    /// The message's id.
    pub message_id: MessageId,
    /// Whether we sent or received it.
    pub direction: Direction,
    /// The sender's per-conversation sequence number.
    pub sender_seq: u64,
    /// The text (Markdown).
    pub body: String,
    /// The message this one answers.
    pub reply_to: Option<MessageId>,
    /// When the sender sent it, by the sender's clock, in unix milliseconds.
    pub sent_at_ms: u64,
    /// When we received it, in unix milliseconds; `None` for outgoing messages.
    pub received_at_ms: Option<u64>,
    /// Where the message is in its life.
    pub state: MessageState,
}

/// A message waiting for delivery (tree `outbox`, keyed by the outbox sequence).
///
/// `Debug` prints the envelope's length only.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry's place in the outbox (enqueue order across conversations).
    pub outbox_seq: u64,
    /// The recipient.
    pub peer: AccordId,
    /// The message's id.
    pub message_id: MessageId,
    /// The message's local sequence in the conversation.
    pub local_seq: u64,
    /// The encrypted bytes to send, and to send again until acknowledged.
    pub envelope: Vec<u8>,
    /// How many delivery attempts were made.
    pub attempts: u32,
    /// When to try next, in unix milliseconds.
    pub next_attempt_at_ms: u64,
}

/// The bookkeeping of one conversation (tree `conversations`, keyed by the peer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ConversationRecord {
    /// The other side.
    pub peer: AccordId,
    /// The local sequence the next message (either direction) gets.
    pub next_local_seq: u64,
    /// The sender sequence our next outgoing message gets.
    pub next_sender_seq: u64,
    /// Incoming messages not read yet.
    pub unread: u64,
    /// When the latest message was sent (outgoing) or received (incoming), in unix
    /// milliseconds, by our clock; never moves backwards.
    pub last_message_at_ms: u64,
    /// The highest local sequence the user has read up to.
    pub last_read_local_seq: u64,
    /// The highest sender sequence received from the peer. `None` for a conversation stored
    /// before Accord kept it: the next incoming message is then accepted whatever its number.
    pub last_received_sender_seq: Option<u64>,
    /// The local sequence up to which the peer acknowledged our read receipts: the receipts
    /// of the read incoming messages after it are owed (see [`Store::owed_receipts`]).
    /// `None` for a conversation stored before Accord kept it, which counts as
    /// `last_read_local_seq` (its receipts were sent, best effort, when it was read).
    pub receipts_acked_local_seq: Option<u64>,
}

impl ConversationRecord {
    /// The local sequence up to which no read receipt is owed.
    pub fn receipts_acked(&self) -> u64 {
        self.receipts_acked_local_seq
            .unwrap_or(self.last_read_local_seq)
    }

    /// The record of a conversation with no messages yet.
    fn empty(peer: AccordId) -> Self {
        ConversationRecord {
            peer,
            next_local_seq: 1,
            next_sender_seq: 1,
            unread: 0,
            last_message_at_ms: 0,
            last_read_local_seq: 0,
            last_received_sender_seq: Some(0),
            receipts_acked_local_seq: Some(0),
        }
    }
}

/// What [`Store::record_incoming`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Incoming {
    /// The message was new and is now stored.
    New(MessageRecord),
    /// A message with this id was already stored in the conversation; nothing was written.
    /// This is the stored message.
    Duplicate(MessageRecord),
    /// The message's sender sequence is beyond the next one expected: an earlier message of
    /// the conversation has not arrived yet. Nothing was written; the sender sends it again
    /// after the earlier ones, so that the user sees messages in the order they were sent.
    Early {
        /// The sender sequence the conversation expects next.
        expected: u64,
    },
}

impl Incoming {
    /// The stored message, new or not; `None` for a message that came too early.
    pub fn record(&self) -> Option<&MessageRecord> {
        match self {
            Incoming::New(record) | Incoming::Duplicate(record) => Some(record),
            Incoming::Early { .. } => None,
        }
    }
}

/// Renders an id as hex in `Debug` output.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex(self.0))
    }
}

/// Prints a length instead of contents.
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRecord")
            .field("peer", &self.peer)
            .field("local_seq", &self.local_seq)
            .field("message_id", &Hex(&self.message_id))
            .field("direction", &self.direction)
            .field("sender_seq", &self.sender_seq)
            .field("body", &Len(self.body.len()))
            .field("reply_to", &self.reply_to.as_ref().map(|id| Hex(id)))
            .field("sent_at_ms", &self.sent_at_ms)
            .field("received_at_ms", &self.received_at_ms)
            .field("state", &self.state)
            .finish()
    }
}

impl fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("outbox_seq", &self.outbox_seq)
            .field("peer", &self.peer)
            .field("message_id", &Hex(&self.message_id))
            .field("local_seq", &self.local_seq)
            .field("envelope", &Len(self.envelope.len()))
            .field("attempts", &self.attempts)
            .field("next_attempt_at_ms", &self.next_attempt_at_ms)
            .finish()
    }
}

/// The error for a sequence number that would overflow (never expected in practice).
fn exhausted(tree: &'static str) -> StoreError {
    StoreError::BadRecord {
        tree,
        reason: "sequence numbers exhausted".into(),
    }
}

/// The range of `messages` keys of one conversation, optionally only below `before`.
fn conversation_range(peer: &AccordId, before: Option<u64>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let start = Bound::Included(codec::message_key(peer, 0));
    let end = match before {
        Some(before) => Bound::Excluded(codec::message_key(peer, before)),
        None => Bound::Included(codec::message_key(peer, u64::MAX)),
    };
    (start, end)
}

impl Store {
    // ----- sessions -----

    /// The ratchet session state with `peer`, if there is one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged value is reported as absent (and
    /// logged and counted).
    pub fn session(&self, peer: &AccordId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = peer.to_bytes();
        let Some(raw) = self.sessions.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self
            .open_sealed(trees::SESSIONS, &key, &raw)
            .and_then(|plain| codec::decode_session(&plain))
        {
            Ok(state) => Ok(Some(state)),
            Err(e) => {
                self.note_skipped(trees::SESSIONS, &key, &e);
                Ok(None)
            }
        }
    }

    /// Stores the ratchet session state with `peer`, replacing any earlier one. Does not flush
    /// (see the module docs).
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the state is larger than 1 MiB; [`StoreError::Db`] when
    /// the write fails.
    pub fn put_session(&self, peer: &AccordId, state: &[u8]) -> Result<(), StoreError> {
        let value = self.sealed_session(peer, state)?;
        self.sessions
            .insert(peer.to_bytes(), value)
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Deletes the ratchet session with `peer`. Returns whether there was one. Does not flush.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn remove_session(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let removed = self
            .sessions
            .remove(peer.to_bytes())
            .map_err(StoreError::db)?;
        Ok(removed.is_some())
    }

    // ----- recording messages -----

    /// Records a message we are sending, in one transaction: the new ratchet `session_state`,
    /// the message (state [`MessageState::Queued`], with the next local and sender sequence
    /// of the conversation, which is created if missing), its outbox entry (with
    /// `attempts` 0 and `next_attempt_at_ms` = `first_attempt_at_ms`), its index entry and the
    /// updated conversation. Does not flush (see the module docs).
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when a record is too large or `message_id` is already used in
    /// this conversation; [`StoreError::Db`] when the transaction fails. Nothing was written
    /// in either case.
    #[allow(
        clippy::too_many_arguments,
        reason = "one atomic step takes everything that must be stored together"
    )]
    pub fn record_outgoing(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        envelope: &[u8],
        first_attempt_at_ms: u64,
    ) -> Result<(MessageRecord, OutboxEntry), StoreError> {
        let index_key = codec::index_key(peer, &message_id);
        if self.seen.contains_key(&index_key).map_err(StoreError::db)? {
            return Err(StoreError::BadRecord {
                tree: trees::MESSAGES,
                reason: "the message id is already used in this conversation".into(),
            });
        }
        let mut conversation = self.load_conversation(peer)?;
        let local_seq = conversation.next_local_seq;
        let sender_seq = conversation.next_sender_seq;
        let outbox_seq = self.next_outbox_seq()?;
        conversation.next_local_seq = local_seq
            .checked_add(1)
            .ok_or_else(|| exhausted(trees::MESSAGES))?;
        conversation.next_sender_seq = sender_seq
            .checked_add(1)
            .ok_or_else(|| exhausted(trees::MESSAGES))?;
        conversation.last_message_at_ms = conversation.last_message_at_ms.max(sent_at_ms);

        let record = MessageRecord {
            peer: *peer,
            local_seq,
            message_id,
            direction: Direction::Outgoing,
            sender_seq,
            body: body.to_owned(),
            reply_to,
            sent_at_ms,
            received_at_ms: None,
            state: MessageState::Queued,
        };
        let entry = OutboxEntry {
            outbox_seq,
            peer: *peer,
            message_id,
            local_seq,
            envelope: envelope.to_vec(),
            attempts: 0,
            next_attempt_at_ms: first_attempt_at_ms,
        };
        let session_value = self.sealed_session(peer, session_state)?;
        let message_value = self.sealed_message(&record, Some(outbox_seq))?;
        let outbox_value = codec::encode_outbox(&entry).map_err(bad_record(trees::OUTBOX))?;
        let conversation_value =
            codec::encode_conversation(&conversation).map_err(bad_record(trees::CONVERSATIONS))?;
        let peer_key = peer.to_bytes();
        let message_key = codec::message_key(peer, local_seq);
        (
            &self.sessions,
            &self.messages,
            &self.outbox,
            &self.seen,
            &self.conversations,
        )
            .transaction(
                |(sessions, messages, outbox, seen, conversations)| -> TxResult<()> {
                    sessions.insert(&peer_key[..], &session_value[..])?;
                    messages.insert(&message_key[..], &message_value[..])?;
                    outbox.insert(&outbox_seq.to_be_bytes()[..], &outbox_value[..])?;
                    seen.insert(&index_key[..], &local_seq.to_be_bytes()[..])?;
                    conversations.insert(&peer_key[..], &conversation_value[..])?;
                    Ok(())
                },
            )
            .map_err(tx_error)?;
        Ok((record, entry))
    }

    /// Records a message we received, in one transaction — unless a message with this id is
    /// already stored in the conversation, in which case nothing at all is written (not even
    /// the session state) and the stored message is returned as [`Incoming::Duplicate`], or
    /// unless `sender_seq` skips past the next sequence the conversation expects, in which case
    /// nothing is written either and [`Incoming::Early`] says which sequence is expected.
    /// Sequences at or below the last one received (a message the sender numbered before one
    /// we already have, which only a sender restored from an old state produces) are stored:
    /// losing them would be worse than showing them late.
    ///
    /// Otherwise the transaction writes the new ratchet `session_state`, the message (state
    /// [`MessageState::Delivered`], `received_at_ms` set, the conversation's next local
    /// sequence), its index entry and the conversation (created if missing) with one more
    /// unread message. Does not flush: acknowledge the message only after a flush, which
    /// [`StoreHandle::record_incoming`](crate::StoreHandle::record_incoming) does.
    ///
    /// If the index names a stored message that cannot be decoded, the message is stored
    /// again under a new local sequence (the damaged copy is left alone), so it is not lost.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when a record is too large; [`StoreError::Db`] when the
    /// transaction fails. Nothing was written in either case.
    #[allow(
        clippy::too_many_arguments,
        reason = "one atomic step takes everything that must be stored together"
    )]
    pub fn record_incoming(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        sender_seq: u64,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        received_at_ms: u64,
    ) -> Result<Incoming, StoreError> {
        if let Some(stored) = self.is_seen(peer, &message_id)? {
            return Ok(Incoming::Duplicate(stored));
        }
        let mut conversation = self.load_conversation(peer)?;
        if let Some(last) = conversation.last_received_sender_seq {
            let expected = last.saturating_add(1);
            if sender_seq > expected {
                return Ok(Incoming::Early { expected });
            }
        }
        conversation.last_received_sender_seq = Some(
            conversation
                .last_received_sender_seq
                .map_or(sender_seq, |last| last.max(sender_seq)),
        );
        let local_seq = conversation.next_local_seq;
        conversation.next_local_seq = local_seq
            .checked_add(1)
            .ok_or_else(|| exhausted(trees::MESSAGES))?;
        conversation.unread = conversation.unread.saturating_add(1);
        conversation.last_message_at_ms = conversation.last_message_at_ms.max(received_at_ms);

        let record = MessageRecord {
            peer: *peer,
            local_seq,
            message_id,
            direction: Direction::Incoming,
            sender_seq,
            body: body.to_owned(),
            reply_to,
            sent_at_ms,
            received_at_ms: Some(received_at_ms),
            state: MessageState::Delivered,
        };
        let session_value = self.sealed_session(peer, session_state)?;
        let message_value = self.sealed_message(&record, None)?;
        let conversation_value =
            codec::encode_conversation(&conversation).map_err(bad_record(trees::CONVERSATIONS))?;
        let peer_key = peer.to_bytes();
        let message_key = codec::message_key(peer, local_seq);
        let index_key = codec::index_key(peer, &message_id);
        (
            &self.sessions,
            &self.messages,
            &self.seen,
            &self.conversations,
        )
            .transaction(
                |(sessions, messages, seen, conversations)| -> TxResult<()> {
                    sessions.insert(&peer_key[..], &session_value[..])?;
                    messages.insert(&message_key[..], &message_value[..])?;
                    seen.insert(&index_key[..], &local_seq.to_be_bytes()[..])?;
                    conversations.insert(&peer_key[..], &conversation_value[..])?;
                    Ok(())
                },
            )
            .map_err(tx_error)?;
        Ok(Incoming::New(record))
    }

    /// The stored message of the conversation with `peer` that has `message_id` (either
    /// direction), if any. An incoming message for which this returns `Some` is a duplicate.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read fails. A damaged index entry or message is reported as
    /// absent (and logged and counted).
    pub fn is_seen(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        Ok(self
            .find_message(peer, message_id)?
            .map(|(record, _)| record))
    }

    // ----- the outbox -----

    /// Every message waiting for delivery, in enqueue order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.decode_all(trees::OUTBOX, &self.outbox, codec::decode_outbox)
    }

    /// The messages waiting for delivery to `peer`, in enqueue order. This walks the whole
    /// outbox.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped.
    pub fn outbox_for(&self, peer: &AccordId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_head(peer, usize::MAX)
    }

    /// The oldest message waiting for delivery to `peer`: the one to send next. The walk
    /// stops at the first match, so with one busy conversation this costs one entry, not the
    /// whole outbox.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped.
    pub fn next_outbox_for(&self, peer: &AccordId) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self.outbox_head(peer, 1)?.into_iter().next())
    }

    /// The peers with messages waiting for delivery, each once, in the order of their oldest
    /// entry. Only the peers leave the store thread, not the envelopes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped.
    pub fn outbox_peers(&self) -> Result<Vec<AccordId>, StoreError> {
        // Each distinct peer is parsed once (a key decompression), not once per entry.
        let mut seen: Vec<sled::IVec> = Vec::new();
        let mut peers: Vec<AccordId> = Vec::new();
        for item in self.outbox.iter() {
            let (key, value) = item.map_err(StoreError::db)?;
            let bytes = match codec::outbox_peer_bytes(&value) {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.note_skipped(trees::OUTBOX, &key, &e);
                    continue;
                }
            };
            if seen.iter().any(|known| known.as_ref() == bytes) {
                continue;
            }
            match crate::lifecycle_record::peer_from(bytes) {
                Ok(peer) => peers.push(peer),
                Err(e) => self.note_skipped(trees::OUTBOX, &key, &e),
            }
            seen.push(sled::IVec::from(bytes));
        }
        Ok(peers)
    }

    /// The first `limit` messages waiting for delivery to `peer`, in the order they were sent.
    ///
    /// This walks the outbox from its start and stops after `limit` entries for `peer`, so
    /// its cost grows with the entries queued for other peers ahead of them, not with the
    /// whole outbox. Entries that cannot be decoded are skipped (and logged and counted).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read fails.
    pub fn outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut head = Vec::new();
        let peer_bytes = peer.to_bytes();
        for item in self.outbox.iter() {
            if head.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(StoreError::db)?;
            match codec::decode_outbox_of(peer, &peer_bytes, &key, &value) {
                Ok(Some(entry)) => head.push(entry),
                Ok(None) => {}
                Err(err) => self.note_skipped(trees::OUTBOX, &key, &err),
            }
        }
        Ok(head)
    }

    /// How many messages wait in the outbox for `peer`, counted up to `up_to`: the walk stops
    /// there, and keeps no entry (an envelope may be 64 KiB).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped.
    pub fn outbox_count(&self, peer: &AccordId, up_to: usize) -> Result<usize, StoreError> {
        let mut count = 0;
        let peer_bytes = peer.to_bytes();
        for item in self.outbox.iter() {
            if count >= up_to {
                break;
            }
            let (key, value) = item.map_err(StoreError::db)?;
            match codec::outbox_peer_bytes(&value) {
                Ok(bytes) if bytes == peer_bytes.as_slice() => count += 1,
                Ok(_) => {}
                Err(err) => self.note_skipped(trees::OUTBOX, &key, &err),
            }
        }
        Ok(count)
    }

    /// Updates the delivery schedule (`attempts` and `next_attempt_at_ms`) of the outbox
    /// entry `entry.outbox_seq`; the other fields are kept as stored. Returns `false`, writing
    /// nothing, when that entry is gone (completed) or is now a different message (same peer
    /// and message id are required), so a stale entry is never brought back. Does not flush.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read or write fails. A damaged stored entry is left alone
    /// and reported as gone.
    pub fn update_outbox(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let key = entry.outbox_seq.to_be_bytes();
        let peer_bytes = entry.peer.to_bytes();
        let Some(Some(mut stored)) =
            self.decode_one(trees::OUTBOX, &self.outbox, &key, |key, value| {
                codec::decode_outbox_of(&entry.peer, &peer_bytes, key, value)
            })?
        else {
            return Ok(false);
        };
        if stored.message_id != entry.message_id {
            return Ok(false);
        }
        stored.attempts = entry.attempts;
        stored.next_attempt_at_ms = entry.next_attempt_at_ms;
        let value = codec::encode_outbox(&stored).map_err(bad_record(trees::OUTBOX))?;
        self.outbox.insert(key, value).map_err(StoreError::db)?;
        Ok(true)
    }

    /// Takes a message out of the outbox and moves its state forward to `new_state`, in one
    /// transaction. The state never moves backwards: if the message is already further along
    /// (say a read receipt came before the acknowledgement), it keeps its state.
    ///
    /// Returns the updated message, or `None`, writing nothing, when no outbox entry for it
    /// exists (unknown message, or already completed: a repeated acknowledgement). Does not
    /// flush.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the transaction fails, in which case nothing was written.
    pub fn complete_outbox(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        new_state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let found = self.find_message(peer, message_id)?;
        let outbox_seq = match &found {
            Some((_, Some(seq))) => self
                .outbox_entry_is(*seq, peer, message_id)?
                .then_some(*seq),
            _ => None,
        };
        // A message without an outbox reference may still be queued (its record is damaged);
        // the outbox is then searched, which is the rare path.
        let outbox_seq = match (outbox_seq, &found) {
            (Some(seq), _) => Some(seq),
            (None, Some((_, None))) => None,
            (None, _) => self
                .outbox()?
                .into_iter()
                .find(|e| e.peer == *peer && e.message_id == *message_id)
                .map(|e| e.outbox_seq),
        };
        let Some(outbox_seq) = outbox_seq else {
            return Ok(None);
        };
        let Some((mut record, _)) = found else {
            // The message itself is damaged; completing delivery still clears its entry.
            self.outbox
                .remove(outbox_seq.to_be_bytes())
                .map_err(StoreError::db)?;
            return Ok(None);
        };
        record.state = record.state.max(new_state);
        let message_value = self.sealed_message(&record, None)?;
        let message_key = codec::message_key(peer, record.local_seq);
        (&self.messages, &self.outbox)
            .transaction(|(messages, outbox)| -> TxResult<()> {
                outbox.remove(&outbox_seq.to_be_bytes()[..])?;
                messages.insert(&message_key[..], &message_value[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(Some(record))
    }

    /// Moves the state of the message `message_id` in the conversation with `peer` (either
    /// direction) forward to `state`, in one transaction with its side effects:
    ///
    /// - an incoming message becoming [`MessageState::Read`] counts one unread message less;
    /// - an outgoing message reaching [`MessageState::Delivered`] or later (a receipt can
    ///   arrive before the acknowledgement) leaves the outbox.
    ///
    /// Returns the updated message, or `None`, writing nothing, when the message is unknown or
    /// already at `state` or beyond.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the transaction fails, in which case nothing was written.
    pub fn set_message_state(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let Some((mut record, outbox_seq)) = self.find_message(peer, message_id)? else {
            return Ok(None);
        };
        if state <= record.state {
            return Ok(None);
        }
        let was = record.state;
        record.state = state;
        let leaves_outbox = record.direction == Direction::Outgoing
            && state >= MessageState::Delivered
            && outbox_seq.is_some();
        let keep_seq = if leaves_outbox { None } else { outbox_seq };
        let message_value = self.sealed_message(&record, keep_seq)?;
        let message_key = codec::message_key(peer, record.local_seq);
        let conversation_value = if record.direction == Direction::Incoming
            && was < MessageState::Read
            && state == MessageState::Read
        {
            self.conversation(peer)?
                .map(|mut c| {
                    c.unread = c.unread.saturating_sub(1);
                    codec::encode_conversation(&c)
                })
                .transpose()
                .map_err(bad_record(trees::CONVERSATIONS))?
        } else {
            None
        };
        let outbox_key = match outbox_seq {
            Some(seq) if leaves_outbox && self.outbox_entry_is(seq, peer, message_id)? => {
                Some(seq.to_be_bytes())
            }
            _ => None,
        };
        let peer_key = peer.to_bytes();
        (&self.messages, &self.outbox, &self.conversations)
            .transaction(|(messages, outbox, conversations)| -> TxResult<()> {
                messages.insert(&message_key[..], &message_value[..])?;
                if let Some(key) = &outbox_key {
                    outbox.remove(&key[..])?;
                }
                if let Some(value) = &conversation_value {
                    conversations.insert(&peer_key[..], &value[..])?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(Some(record))
    }

    // ----- reading -----

    /// The newest `limit` messages of the conversation with `peer` — only those with a local
    /// sequence below `before_local_seq`, if given — oldest first. Page backwards by passing
    /// the first returned message's `local_seq` as the next `before_local_seq`. One range scan.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the scan fails. Damaged messages are skipped (and do not count
    /// towards `limit`).
    pub fn history(
        &self,
        peer: &AccordId,
        limit: usize,
        before_local_seq: Option<u64>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(out);
        }
        let peer_bytes = peer.to_bytes();
        for entry in self
            .messages
            .range(conversation_range(peer, before_local_seq))
            .rev()
        {
            let (key, value) = entry.map_err(StoreError::db)?;
            match self.decode_message_at(peer, &peer_bytes, &key, &value) {
                Ok((record, _)) => {
                    out.push(record);
                    if out.len() == limit {
                        break;
                    }
                }
                Err(e) => self.note_skipped(trees::MESSAGES, &key, &e),
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Every conversation, the one with the most recent message first (ties broken by peer).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged records are skipped.
    pub fn conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        let mut out = self.decode_all(
            trees::CONVERSATIONS,
            &self.conversations,
            codec::decode_conversation,
        )?;
        out.sort_by(|a, b| {
            b.last_message_at_ms
                .cmp(&a.last_message_at_ms)
                .then_with(|| a.peer.cmp(&b.peer))
        });
        Ok(out)
    }

    /// The conversation with `peer`, if any message was recorded in it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged record is reported as absent.
    pub fn conversation(&self, peer: &AccordId) -> Result<Option<ConversationRecord>, StoreError> {
        self.decode_one(
            trees::CONVERSATIONS,
            &self.conversations,
            &peer.to_bytes(),
            |_, value| codec::decode_conversation_of(*peer, value),
        )
    }

    /// Marks the incoming messages of the conversation with `peer` up to and including local
    /// sequence `up_to_local_seq` as [`MessageState::Read`], in one transaction with the
    /// conversation, whose `last_read_local_seq` moves up to `up_to_local_seq` (capped at the
    /// latest message) and whose `unread` becomes the number of incoming messages after it
    /// that are still unread (0 when everything was read). Returns the messages that changed,
    /// oldest first: the ones to send read receipts for. Does not flush.
    ///
    /// Messages at or below the previous `last_read_local_seq` are already read, so only the
    /// messages after it are scanned.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read or the transaction fails, in which case nothing was
    /// written.
    pub fn mark_read(
        &self,
        peer: &AccordId,
        up_to_local_seq: u64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let Some(mut conversation) = self.conversation(peer)? else {
            return Ok(Vec::new());
        };
        let start = conversation.last_read_local_seq.saturating_add(1);
        let range = (
            Bound::Included(codec::message_key(peer, start)),
            Bound::Included(codec::message_key(peer, u64::MAX)),
        );
        let mut changed = Vec::new();
        let mut writes = Vec::new();
        let mut still_unread: u64 = 0;
        let peer_bytes = peer.to_bytes();
        for entry in self.messages.range(range) {
            let (key, value) = entry.map_err(StoreError::db)?;
            let (mut record, outbox_seq) =
                match self.decode_message_at(peer, &peer_bytes, &key, &value) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        self.note_skipped(trees::MESSAGES, &key, &e);
                        continue;
                    }
                };
            if record.direction != Direction::Incoming || record.state >= MessageState::Read {
                continue;
            }
            if record.local_seq > up_to_local_seq {
                still_unread = still_unread.saturating_add(1);
                continue;
            }
            record.state = MessageState::Read;
            let value = self.sealed_message(&record, outbox_seq)?;
            writes.push((key, value));
            changed.push(record);
        }
        let latest = conversation.next_local_seq.saturating_sub(1);
        let read_up_to = up_to_local_seq.min(latest);
        if changed.is_empty()
            && conversation.unread == still_unread
            && conversation.last_read_local_seq >= read_up_to
        {
            return Ok(changed);
        }
        conversation.unread = still_unread;
        conversation.last_read_local_seq = conversation.last_read_local_seq.max(read_up_to);
        let conversation_value =
            codec::encode_conversation(&conversation).map_err(bad_record(trees::CONVERSATIONS))?;
        let peer_key = peer.to_bytes();
        (&self.messages, &self.conversations)
            .transaction(|(messages, conversations)| -> TxResult<()> {
                for (key, value) in &writes {
                    messages.insert(key, &value[..])?;
                }
                conversations.insert(&peer_key[..], &conversation_value[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(changed)
    }

    // ----- helpers -----

    /// Encodes and seals a message for its slot (peer ‖ local sequence).
    fn sealed_message(
        &self,
        record: &MessageRecord,
        outbox_seq: Option<u64>,
    ) -> Result<Vec<u8>, StoreError> {
        let plain =
            codec::encode_message(record, outbox_seq).map_err(bad_record(trees::MESSAGES))?;
        let key = codec::message_key(&record.peer, record.local_seq);
        self.seal(trees::MESSAGES, &key, &plain)
    }

    /// Encodes and seals a ratchet session state for its slot (the peer's Accord ID).
    pub(crate) fn sealed_session(
        &self,
        peer: &AccordId,
        state: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let plain = codec::encode_session(state).map_err(bad_record(trees::SESSIONS))?;
        self.seal(trees::SESSIONS, &peer.to_bytes(), &plain)
    }

    /// Opens and decodes a message read from `key` in the conversation with `peer` (see
    /// [`codec::decode_message_of`]).
    pub(crate) fn decode_message_at(
        &self,
        peer: &AccordId,
        peer_bytes: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<(MessageRecord, Option<u64>), CodecError> {
        let plain = self.open_sealed(trees::MESSAGES, key, value)?;
        codec::decode_message_of(peer, peer_bytes, key, &plain)
    }

    /// Looks a message up through the index, with the outbox entry it still waits in.
    fn find_message(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<(MessageRecord, Option<u64>)>, StoreError> {
        let index_key = codec::index_key(peer, message_id);
        let Some(raw) = self.seen.get(&index_key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        let local_seq = match codec::decode_u64_exact(&raw) {
            Ok(seq) => seq,
            Err(e) => {
                self.note_skipped(trees::SEEN, &index_key, &e);
                return Ok(None);
            }
        };
        let key = codec::message_key(peer, local_seq);
        let Some(value) = self.messages.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.decode_message_at(peer, &peer.to_bytes(), &key, &value) {
            Ok((record, outbox_seq)) if record.message_id == *message_id => {
                Ok(Some((record, outbox_seq)))
            }
            Ok(_) => {
                self.note_skipped(trees::SEEN, &index_key, &CodecError::Malformed);
                Ok(None)
            }
            Err(e) => {
                self.note_skipped(trees::MESSAGES, &key, &e);
                Ok(None)
            }
        }
    }

    /// Whether outbox entry `seq` exists and is the message (`peer`, `message_id`).
    fn outbox_entry_is(
        &self,
        seq: u64,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<bool, StoreError> {
        let peer_bytes = peer.to_bytes();
        let entry = self.decode_one(
            trees::OUTBOX,
            &self.outbox,
            &seq.to_be_bytes(),
            |key, value| codec::decode_outbox_of(peer, &peer_bytes, key, value),
        )?;
        Ok(entry.flatten().is_some_and(|e| e.message_id == *message_id))
    }

    /// The next outbox sequence: one more than the highest in use, or 1 for an empty outbox.
    fn next_outbox_seq(&self) -> Result<u64, StoreError> {
        for entry in self.outbox.iter().rev() {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::decode_u64_exact(&key) {
                Ok(seq) => return seq.checked_add(1).ok_or_else(|| exhausted(trees::OUTBOX)),
                Err(e) => self.note_skipped(trees::OUTBOX, &key, &e),
            }
        }
        Ok(1)
    }

    /// The conversation record to build the next message on: the stored one, or one rebuilt
    /// from the conversation's messages when it is missing or damaged. Its next local sequence
    /// is always past every stored message, so no message is ever overwritten.
    fn load_conversation(&self, peer: &AccordId) -> Result<ConversationRecord, StoreError> {
        let key = peer.to_bytes();
        let stored = match self.conversations.get(&key).map_err(StoreError::db)? {
            None => None,
            Some(raw) => match codec::decode_conversation_of(*peer, &raw) {
                Ok(conversation) => Some(conversation),
                Err(e) => {
                    self.note_skipped(trees::CONVERSATIONS, &key, &e);
                    None
                }
            },
        };
        let mut conversation = match stored {
            Some(conversation) => conversation,
            None => self.rebuild_conversation(peer)?,
        };
        if let Some(last) = self.last_local_seq(peer)? {
            let next = last
                .checked_add(1)
                .ok_or_else(|| exhausted(trees::MESSAGES))?;
            conversation.next_local_seq = conversation.next_local_seq.max(next);
        }
        Ok(conversation)
    }

    /// The highest local sequence stored in the conversation with `peer`.
    fn last_local_seq(&self, peer: &AccordId) -> Result<Option<u64>, StoreError> {
        for entry in self.messages.range(conversation_range(peer, None)).rev() {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::split_message_key(&key) {
                Ok((_, seq)) => return Ok(Some(seq)),
                Err(e) => self.note_skipped(trees::MESSAGES, &key, &e),
            }
        }
        Ok(None)
    }

    /// Recomputes a conversation record from its messages (one range scan). Damaged messages
    /// are skipped; the next local sequence is fixed up by [`Store::load_conversation`].
    fn rebuild_conversation(&self, peer: &AccordId) -> Result<ConversationRecord, StoreError> {
        let mut conversation = ConversationRecord::empty(*peer);
        let mut first_unread: Option<u64> = None;
        let peer_bytes = peer.to_bytes();
        for entry in self.messages.range(conversation_range(peer, None)) {
            let (key, value) = entry.map_err(StoreError::db)?;
            let record = match self.decode_message_at(peer, &peer_bytes, &key, &value) {
                Ok((record, _)) => record,
                Err(e) => {
                    self.note_skipped(trees::MESSAGES, &key, &e);
                    continue;
                }
            };
            conversation.next_local_seq = conversation
                .next_local_seq
                .max(record.local_seq.saturating_add(1));
            let at = match record.direction {
                Direction::Outgoing => {
                    conversation.next_sender_seq = conversation
                        .next_sender_seq
                        .max(record.sender_seq.saturating_add(1));
                    record.sent_at_ms
                }
                Direction::Incoming => {
                    if record.state >= MessageState::Read {
                        conversation.last_read_local_seq = record.local_seq;
                    } else {
                        conversation.unread = conversation.unread.saturating_add(1);
                        first_unread.get_or_insert(record.local_seq);
                    }
                    record.received_at_ms.unwrap_or(record.sent_at_ms)
                }
            };
            conversation.last_message_at_ms = conversation.last_message_at_ms.max(at);
        }
        // `mark_read` scans from just after `last_read_local_seq`, so it must not pass an
        // unread message.
        if let Some(first) = first_unread {
            conversation.last_read_local_seq = conversation
                .last_read_local_seq
                .min(first.saturating_sub(1));
        }
        // Which receipts were acknowledged is not in the messages: count those of the messages
        // read so far as sent (a rebuilt record owes nothing rather than everything). For a
        // new conversation this is 0.
        conversation.receipts_acked_local_seq = Some(conversation.last_read_local_seq);
        Ok(conversation)
    }
}
