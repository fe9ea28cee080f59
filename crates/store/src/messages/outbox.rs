//! The outbox: the messages waiting for delivery, in enqueue order, and their completion.

use sled::Transactional;

use accord_identity::AccordId;

use super::{MessageId, MessageRecord, MessageState, OutboxEntry, exhausted};
use crate::invites::{TxResult, tx_error};
use crate::message_record::{self as codec};
use crate::{Store, StoreError, trees};

impl Store {
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
        // Each distinct peer is opened and parsed once (an AEAD and a key decompression), not
        // once per entry: entries are grouped by the plain slot that starts their value.
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut peers: Vec<AccordId> = Vec::new();
        for item in self.outbox.iter() {
            let (key, value) = item.map_err(StoreError::db)?;
            let slot = outbox_slot(&value);
            if seen.iter().any(|known| known.as_slice() == slot) {
                continue;
            }
            let peer = self
                .readable(trees::OUTBOX, &key, &value)
                .and_then(|opened| {
                    crate::lifecycle_record::peer_from(codec::outbox_peer_bytes(&opened)?)
                });
            match peer {
                Ok(peer) => {
                    peers.push(peer);
                    seen.push(slot.to_vec());
                }
                Err(e) => self.note_skipped(trees::OUTBOX, &key, &e),
            }
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
        self.outbox_page(peer, None, limit)
    }

    /// The first `limit` messages waiting for delivery to `peer` after outbox entry
    /// `after` (from the start with `None`), in the order they were sent: a page of the
    /// outbox, so that a walk over all of it holds at most `limit` entries at a time.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read fails.
    pub fn outbox_page(
        &self,
        peer: &AccordId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // Outbox keys are the entry's sequence, big-endian, so a range starts after `after`.
        let Some(start) = after.map_or(Some(0), |seq| seq.checked_add(1)) else {
            return Ok(Vec::new());
        };
        let mut head = Vec::new();
        let peer_bytes = peer.to_bytes();
        let slot = self.slot(peer);
        for item in self.outbox.range(start.to_be_bytes()..) {
            if head.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(StoreError::db)?;
            // Only this peer's entries are opened.
            if outbox_slot(&value) != slot.as_slice() {
                continue;
            }
            let decoded = self
                .readable(trees::OUTBOX, &key, &value)
                .and_then(|opened| codec::decode_outbox_of(peer, &peer_bytes, &key, &opened));
            match decoded {
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
        let slot = self.slot(peer);
        for item in self.outbox.iter() {
            if count >= up_to {
                break;
            }
            let (_, value) = item.map_err(StoreError::db)?;
            // The plain slot is enough to count; nothing is opened.
            if outbox_slot(&value) == slot.as_slice() {
                count += 1;
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
        let value = self.sealed_outbox(&stored)?;
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
        let message_key = codec::message_key(&self.slot(peer), record.local_seq);
        (&self.messages, &self.outbox)
            .transaction(|(messages, outbox)| -> TxResult<()> {
                outbox.remove(&outbox_seq.to_be_bytes()[..])?;
                messages.insert(&message_key[..], &message_value[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(Some(record))
    }

    /// The envelope frame of our message `message_id` to `peer` while it waits in the outbox
    /// (what a mailbox of the peer is handed when the peer cannot be reached).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn outbox_envelope(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((_, Some(seq))) = self.find_message(peer, message_id)? else {
            return Ok(None);
        };
        let peer_bytes = peer.to_bytes();
        let entry = self.decode_one(
            trees::OUTBOX,
            &self.outbox,
            &seq.to_be_bytes(),
            |key, value| codec::decode_outbox_of(peer, &peer_bytes, key, value),
        )?;
        Ok(entry
            .flatten()
            .filter(|e| e.message_id == *message_id)
            .map(|e| e.envelope))
    }

    /// Whether outbox entry `seq` exists and is the message (`peer`, `message_id`).
    pub(super) fn outbox_entry_is(
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
    pub(super) fn next_outbox_seq(&self) -> Result<u64, StoreError> {
        for entry in self.outbox.iter().rev() {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::decode_u64_exact(&key) {
                Ok(seq) => return seq.checked_add(1).ok_or_else(|| exhausted(trees::OUTBOX)),
                Err(e) => self.note_skipped(trees::OUTBOX, &key, &e),
            }
        }
        Ok(1)
    }
}

/// The peer slot that starts an `outbox` value (see [`Store::sealed_outbox`]); a value too
/// short to hold one gives the empty slot, which no peer has.
fn outbox_slot(value: &[u8]) -> &[u8] {
    value.get(..crate::peer_slot::SLOT_LEN).unwrap_or(&[])
}
