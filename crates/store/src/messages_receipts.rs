//! Read receipts owed to a peer. A receipt is owed for every incoming message the user has
//! read until the peer acknowledges a receipt naming it; the conversation record keeps the
//! local sequence up to which that happened (`receipts_acked_local_seq`), so what is owed
//! survives a restart and is bounded by the conversation itself.

use std::ops::Bound;

use accord_identity::AccordId;

use crate::message_record as codec;
use crate::{Direction, MessageId, MessageState, Store, StoreError};

impl Store {
    /// The read receipts owed to `peer`, oldest first: the ids of the incoming messages read
    /// after the acknowledged mark, at most `max` of them, and the local sequence they cover
    /// up to (acknowledge it with [`Store::receipts_acknowledged`] once the peer answered).
    /// Nothing is owed when the list is empty; the sequence may then still move the mark past
    /// outgoing messages.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read fails.
    pub fn owed_receipts(
        &self,
        peer: &AccordId,
        max: usize,
    ) -> Result<(Vec<MessageId>, u64), StoreError> {
        let Some(conversation) = self.conversation(peer)? else {
            return Ok((Vec::new(), 0));
        };
        let acked = conversation.receipts_acked();
        let read = conversation.last_read_local_seq;
        if read <= acked {
            return Ok((Vec::new(), acked));
        }
        let peer_bytes = self.slot(peer);
        let range = (
            Bound::Included(codec::message_key(&peer_bytes, acked.saturating_add(1))),
            Bound::Included(codec::message_key(&peer_bytes, read)),
        );
        let mut ids = Vec::new();
        for entry in self.messages.range(range) {
            let (key, value) = entry.map_err(StoreError::db)?;
            let Ok((record, _)) = self.decode_message_at(peer, &peer_bytes, &key, &value) else {
                // Counted and logged by the history reads; a damaged record owes nothing.
                continue;
            };
            if record.direction != Direction::Incoming || record.state != MessageState::Read {
                continue;
            }
            ids.push(record.message_id);
            if ids.len() >= max {
                return Ok((ids, record.local_seq));
            }
        }
        Ok((ids, read))
    }

    /// Moves the acknowledged-receipts mark of the conversation with `peer` up to
    /// `up_to_local_seq` (never down). Not flushed on its own: if it is lost in a crash, the
    /// receipts are sent again, and a repeated receipt changes nothing at the peer.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read or the write fails.
    pub fn receipts_acknowledged(
        &self,
        peer: &AccordId,
        up_to_local_seq: u64,
    ) -> Result<(), StoreError> {
        let Some(mut conversation) = self.conversation(peer)? else {
            return Ok(());
        };
        if up_to_local_seq <= conversation.receipts_acked() {
            return Ok(());
        }
        conversation.receipts_acked_local_seq = Some(up_to_local_seq);
        let slot = self.slot(peer);
        let value = self.sealed_conversation(&slot, &conversation)?;
        self.conversations
            .insert(slot, value)
            .map_err(StoreError::db)?;
        Ok(())
    }
}
