//! The Message actor's hot steps, each answered by one call.
//!
//! Every call to the store thread is a round trip between threads, and under load those round
//! trips, not the work, bounded how fast a node could take messages in. These methods gather
//! the reads one step needs into a single call; they add no new state and write nothing.

use accord_identity::AccordId;
use zeroize::Zeroizing;

use crate::{MessageId, OutboxEntry, Store, StoreError};

/// What the recipient of a message must know before it decrypts anything.
#[derive(Clone, PartialEq, Eq)]
pub struct IncomingContext {
    /// The sender is blocked (`accord block`). When `true`, the fields below are empty.
    pub blocked: bool,
    /// The sender is an unrevoked connection. When `false`, the other fields are empty.
    pub active: bool,
    /// A message with this id is already stored in the conversation. When `true`, `session`
    /// is not read.
    pub seen: bool,
    /// The conversation's ratchet state.
    pub session: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for IncomingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingContext")
            .field("blocked", &self.blocked)
            .field("active", &self.active)
            .field("seen", &self.seen)
            .field("session", &self.session.as_ref().map(|s| s.len()))
            .finish()
    }
}

/// What the sender of a message needs: the ratchet state and the next sender sequence.
#[derive(Clone, PartialEq, Eq)]
pub struct SendingContext {
    /// The conversation's ratchet state, if the channel is set up.
    pub session: Option<Zeroizing<Vec<u8>>>,
    /// The sender sequence our next message gets (1 for a conversation with no messages).
    pub next_sender_seq: u64,
    /// Messages waiting in the outbox for the peer, counted up to the `count_up_to` asked for
    /// (so that checking a bound never walks more of the outbox than the bound).
    pub queued: usize,
    /// The peer is blocked (`accord block`): nothing may be sent to it.
    pub blocked: bool,
}

impl std::fmt::Debug for SendingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendingContext")
            .field("session", &self.session.as_ref().map(|s| s.len()))
            .field("next_sender_seq", &self.next_sender_seq)
            .field("queued", &self.queued)
            .field("blocked", &self.blocked)
            .finish()
    }
}

impl Store {
    /// Whether `peer` is an unrevoked connection, whether `message_id` is already stored in
    /// the conversation, and the ratchet state, in the order a recipient checks them (a later
    /// one is read only if the earlier ones allow it).
    ///
    /// # Errors
    ///
    /// As [`Store::connection`], [`Store::is_seen`] and [`Store::session`].
    pub fn incoming_context(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<IncomingContext, StoreError> {
        // The block list is read here, in the same store call, so that checking it costs the
        // hot path no extra hop to the store thread.
        let blocked = self.is_blocked(peer)?;
        let active =
            !blocked && matches!(self.connection(peer)?, Some(c) if c.revoked_at_ms.is_none());
        if !active {
            return Ok(IncomingContext {
                blocked,
                active,
                seen: false,
                session: None,
            });
        }
        let seen = self.is_seen(peer, message_id)?.is_some();
        let session = if seen { None } else { self.session(peer)? };
        Ok(IncomingContext {
            blocked,
            active,
            seen,
            session,
        })
    }

    /// The ratchet state of the conversation with `peer`, the sender sequence our next
    /// message gets (1 for a conversation with no messages yet) and how many messages wait in
    /// its outbox, counted up to `count_up_to`.
    ///
    /// # Errors
    ///
    /// As [`Store::session`], [`Store::conversation`] and [`Store::outbox_count`].
    pub fn sending_context(
        &self,
        peer: &AccordId,
        count_up_to: usize,
    ) -> Result<SendingContext, StoreError> {
        let session = self.session(peer)?;
        let next_sender_seq = self.conversation(peer)?.map_or(1, |c| c.next_sender_seq);
        let queued = self.outbox_count(peer, count_up_to)?;
        let blocked = self.is_blocked(peer)?;
        Ok(SendingContext {
            session,
            next_sender_seq,
            queued,
            blocked,
        })
    }

    /// The first `limit` outbox entries for `peer` ([`Store::outbox_head`]), or `None` when
    /// `peer` is not an unrevoked connection (nothing is sent to someone who is not) or is
    /// blocked (its entries are kept and go out once it is unblocked).
    ///
    /// # Errors
    ///
    /// As [`Store::connection`] and [`Store::outbox_head`].
    pub fn active_outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Option<Vec<OutboxEntry>>, StoreError> {
        let head = self.outbox_head(peer, limit)?;
        if head.is_empty() {
            return Ok(Some(head));
        }
        // A connection that awaits the inviter's confirmation keeps its messages queued: the
        // inviter may never complete it, and would refuse them as a stranger's.
        let active = matches!(
            self.connection(peer)?,
            Some(c) if c.revoked_at_ms.is_none() && !c.awaiting_confirmation
        );
        Ok((active && !self.is_blocked(peer)?).then_some(head))
    }
}
