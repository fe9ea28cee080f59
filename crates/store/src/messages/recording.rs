//! Recording messages: each sent or received message, with its ratchet state, index entry
//! and conversation, in one transaction; and the conversation record they build on.

use sled::Transactional;

use accord_identity::AccordId;

use super::{
    ConversationRecord, Direction, Incoming, MessageId, MessageRecord, MessageState, OutboxEntry,
    conversation_range, exhausted,
};
use crate::at_rest::split_peer_record;
use crate::invites::{TxResult, bad_record, tx_error};
use crate::lifecycle_record::CodecError;
use crate::message_record::{self as codec};
use crate::{Store, StoreError, trees};

impl Store {
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
        let slot = self.slot(peer);
        let index_key = codec::index_key(&slot, &message_id);
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
        let outbox_value = self.sealed_outbox(&entry)?;
        let conversation_value = self.sealed_conversation(&slot, &conversation)?;
        let seen_value = self.seal(trees::SEEN, &index_key, &local_seq.to_be_bytes())?;
        let peer_key = slot;
        let message_key = codec::message_key(&peer_key, local_seq);
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
                    seen.insert(&index_key[..], &seen_value[..])?;
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
        let peer_key = self.slot(peer);
        let conversation_value = self.sealed_conversation(&peer_key, &conversation)?;
        let message_key = codec::message_key(&peer_key, local_seq);
        let index_key = codec::index_key(&peer_key, &message_id);
        let seen_value = self.seal(trees::SEEN, &index_key, &local_seq.to_be_bytes())?;
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
                    seen.insert(&index_key[..], &seen_value[..])?;
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

    /// Encodes and seals a message for its key (peer slot ‖ local sequence).
    pub(super) fn sealed_message(
        &self,
        record: &MessageRecord,
        outbox_seq: Option<u64>,
    ) -> Result<Vec<u8>, StoreError> {
        let plain =
            codec::encode_message(record, outbox_seq).map_err(bad_record(trees::MESSAGES))?;
        let key = codec::message_key(&self.slot(&record.peer), record.local_seq);
        self.seal(trees::MESSAGES, &key, &plain)
    }

    /// Looks a message up through the index, with the outbox entry it still waits in.
    pub(super) fn find_message(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<(MessageRecord, Option<u64>)>, StoreError> {
        let slot = self.slot(peer);
        let index_key = codec::index_key(&slot, message_id);
        let Some(raw) = self.seen.get(&index_key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        let opened = self.open_sealed(trees::SEEN, &index_key, &raw);
        let local_seq = match opened.and_then(|seq| codec::decode_u64_exact(&seq)) {
            Ok(seq) => seq,
            Err(e) => {
                self.note_skipped(trees::SEEN, &index_key, &e);
                return Ok(None);
            }
        };
        let key = codec::message_key(&slot, local_seq);
        let Some(value) = self.messages.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.decode_message_at(peer, &slot, &key, &value) {
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

    /// The conversation record to build the next message on: the stored one, or one rebuilt
    /// from the conversation's messages when it is missing or damaged. Its next local sequence
    /// is always past every stored message, so no message is ever overwritten.
    pub(super) fn load_conversation(
        &self,
        peer: &AccordId,
    ) -> Result<ConversationRecord, StoreError> {
        let key = self.slot(peer);
        let stored = match self.conversations.get(&key).map_err(StoreError::db)? {
            None => None,
            Some(raw) => match self.open_conversation(&key, peer, &raw) {
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
    pub(super) fn last_local_seq(&self, peer: &AccordId) -> Result<Option<u64>, StoreError> {
        let peer_bytes = self.slot(peer);
        for entry in self
            .messages
            .range(conversation_range(&peer_bytes, None))
            .rev()
        {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::message_key_seq_of(&peer_bytes, &key) {
                Ok(seq) => return Ok(Some(seq)),
                Err(e) => self.note_skipped(trees::MESSAGES, &key, &e),
            }
        }
        Ok(None)
    }

    /// Recomputes a conversation record from its messages (one range scan). Damaged messages
    /// are skipped; the next local sequence is fixed up by [`Store::load_conversation`].
    pub(super) fn rebuild_conversation(
        &self,
        peer: &AccordId,
    ) -> Result<ConversationRecord, StoreError> {
        let mut conversation = ConversationRecord::empty(*peer);
        let mut first_unread: Option<u64> = None;
        let peer_bytes = self.slot(peer);
        for entry in self.messages.range(conversation_range(&peer_bytes, None)) {
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

    /// The sealed `conversations` value of `conversation`, stored under `slot` (its peer's).
    pub(crate) fn sealed_conversation(
        &self,
        slot: &[u8],
        conversation: &ConversationRecord,
    ) -> Result<Vec<u8>, StoreError> {
        let plain =
            codec::encode_conversation(conversation).map_err(bad_record(trees::CONVERSATIONS))?;
        self.seal_peer_record(trees::CONVERSATIONS, slot, &conversation.peer, &plain)
    }

    /// Opens and decodes the conversation with `peer` read from `slot` (`peer`'s).
    pub(super) fn open_conversation(
        &self,
        slot: &[u8],
        peer: &AccordId,
        raw: &[u8],
    ) -> Result<ConversationRecord, CodecError> {
        let opened = self.open_sealed(trees::CONVERSATIONS, slot, raw)?;
        let (_, record) = split_peer_record(&opened)?;
        codec::decode_conversation_of(*peer, record)
    }

    /// The `outbox` value of `entry`, stored under its outbox sequence: the recipient's slot
    /// in plain, then the sealed entry. The slot lets the per-peer walks of the outbox
    /// ([`Store::outbox_head`], [`Store::outbox_count`]) skip other peers' entries without
    /// opening them; it says no more than the `messages` keys, which group by slot too.
    pub(super) fn sealed_outbox(&self, entry: &OutboxEntry) -> Result<Vec<u8>, StoreError> {
        let plain = codec::encode_outbox(entry).map_err(bad_record(trees::OUTBOX))?;
        let mut value = self.slot(&entry.peer);
        value.extend(self.seal(trees::OUTBOX, &entry.outbox_seq.to_be_bytes(), &plain)?);
        Ok(value)
    }
}
