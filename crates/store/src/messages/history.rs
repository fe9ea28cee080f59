//! History: reading conversations, moving message states forward, and marking them read.

use std::ops::Bound;

use sled::Transactional;

use accord_identity::AccordId;

use super::{
    ConversationRecord, Direction, MessageId, MessageRecord, MessageState, conversation_range,
};
use crate::invites::{TxResult, tx_error};
use crate::lifecycle_record::CodecError;
use crate::message_record::{self as codec};
use crate::{Store, StoreError, trees};

impl Store {
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
        let peer_key = self.slot(peer);
        let message_key = codec::message_key(&peer_key, record.local_seq);
        let conversation_value = if record.direction == Direction::Incoming
            && was < MessageState::Read
            && state == MessageState::Read
        {
            self.conversation(peer)?
                .map(|mut c| {
                    c.unread = c.unread.saturating_sub(1);
                    self.sealed_conversation(&peer_key, &c)
                })
                .transpose()?
        } else {
            None
        };
        let outbox_key = match outbox_seq {
            Some(seq) if leaves_outbox && self.outbox_entry_is(seq, peer, message_id)? => {
                Some(seq.to_be_bytes())
            }
            _ => None,
        };
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
        let peer_bytes = self.slot(peer);
        for entry in self
            .messages
            .range(conversation_range(&peer_bytes, before_local_seq))
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

    /// The page of at most `limit` messages of the conversation with `peer` just older than
    /// the message `before`, oldest first: what scrolling back from `before` shows. `None`
    /// when no message of this conversation has that id. One index read and one range scan,
    /// whatever the depth.
    ///
    /// # Errors
    ///
    /// As [`Store::history`].
    pub fn history_before(
        &self,
        peer: &AccordId,
        limit: usize,
        before: &MessageId,
    ) -> Result<Option<Vec<MessageRecord>>, StoreError> {
        let Some((record, _)) = self.find_message(peer, before)? else {
            return Ok(None);
        };
        self.history(peer, limit, Some(record.local_seq)).map(Some)
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
            &self.slot(peer),
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
        let peer_bytes = self.slot(peer);
        let range = (
            Bound::Included(codec::message_key(&peer_bytes, start)),
            Bound::Included(codec::message_key(&peer_bytes, u64::MAX)),
        );
        let mut changed = Vec::new();
        let mut writes = Vec::new();
        let mut still_unread: u64 = 0;
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
        let conversation_value = self.sealed_conversation(&peer_bytes, &conversation)?;
        let peer_key = peer_bytes;
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
}
