//! Sessions, messages, the outbox and read receipts, through the handle.

use accord_identity::AccordId;
use zeroize::Zeroizing;

use crate::{
    ConversationRecord, FlushTicket, Incoming, IncomingContext, MessageId, MessageRecord,
    MessageState, OutboxEntry, SendingContext, StoreError, StoreHandle,
};

impl StoreHandle {
    /// See [`Store::owed_receipts`].
    ///
    /// # Errors
    ///
    /// As [`Store::owed_receipts`], plus [`StoreError::Closed`].
    pub async fn owed_receipts(
        &self,
        peer: &AccordId,
        max: usize,
    ) -> Result<(Vec<MessageId>, u64), StoreError> {
        let peer = *peer;
        self.call(move |s| s.owed_receipts(&peer, max)).await
    }

    /// See [`Store::receipts_acknowledged`].
    ///
    /// # Errors
    ///
    /// As [`Store::receipts_acknowledged`], plus [`StoreError::Closed`].
    pub async fn receipts_acknowledged(
        &self,
        peer: &AccordId,
        up_to: u64,
    ) -> Result<(), StoreError> {
        let peer = *peer;
        self.call(move |s| s.receipts_acknowledged(&peer, up_to))
            .await
    }

    /// See [`Store::session`].
    ///
    /// # Errors
    ///
    /// As [`Store::session`], plus [`StoreError::Closed`].
    pub async fn session(&self, peer: &AccordId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.session(&peer)).await
    }

    /// See [`Store::put_session`]. Answers once the state is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::put_session`], plus [`StoreError::Closed`].
    pub async fn put_session(&self, peer: &AccordId, state: &[u8]) -> Result<(), StoreError> {
        let (peer, state) = (*peer, Zeroizing::new(state.to_vec()));
        self.call_durable(move |s| s.put_session(&peer, &state))
            .await
    }

    /// See [`Store::remove_session`]. Answers once the removal is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::remove_session`], plus [`StoreError::Closed`].
    pub async fn remove_session(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call_durable(move |s| s.remove_session(&peer)).await
    }

    /// See [`Store::record_outgoing`]. Answers as soon as the transaction ran, with a
    /// [`FlushTicket`]: send the envelope only once the ticket resolves, so that a crash can
    /// never lose the ratchet state an envelope on the wire was made with.
    ///
    /// # Errors
    ///
    /// As [`Store::record_outgoing`], plus [`StoreError::Closed`].
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors Store::record_outgoing, one atomic step"
    )]
    pub async fn record_outgoing(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        envelope: &[u8],
        first_attempt_at_ms: u64,
    ) -> Result<((MessageRecord, OutboxEntry), FlushTicket), StoreError> {
        let peer = *peer;
        let session_state = Zeroizing::new(session_state.to_vec());
        let (body, envelope) = (body.to_owned(), envelope.to_vec());
        self.call_with_ticket(move |s| {
            s.record_outgoing(
                &peer,
                &session_state,
                message_id,
                &body,
                reply_to,
                sent_at_ms,
                &envelope,
                first_attempt_at_ms,
            )
        })
        .await
    }

    /// See [`Store::record_incoming`]. Answers as soon as the transaction ran, with a
    /// [`FlushTicket`]: acknowledge the message only once the ticket resolves. For a duplicate
    /// the ticket resolves after a flush too, so a duplicate is never acknowledged before the
    /// original is durable.
    ///
    /// # Errors
    ///
    /// As [`Store::record_incoming`], plus [`StoreError::Closed`].
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors Store::record_incoming, one atomic step"
    )]
    pub async fn record_incoming(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        sender_seq: u64,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        received_at_ms: u64,
    ) -> Result<(Incoming, FlushTicket), StoreError> {
        let peer = *peer;
        let session_state = Zeroizing::new(session_state.to_vec());
        let body = body.to_owned();
        // An early message wrote nothing: no flush for it.
        self.call_with_ticket_if(
            move |s| {
                s.record_incoming(
                    &peer,
                    &session_state,
                    message_id,
                    sender_seq,
                    &body,
                    reply_to,
                    sent_at_ms,
                    received_at_ms,
                )
            },
            |incoming: &Incoming| !matches!(incoming, Incoming::Early { .. }),
        )
        .await
    }

    /// See [`Store::is_seen`]. Answers without a flush: most lookups find nothing, and a new
    /// message is made durable by [`StoreHandle::record_incoming`]. A caller that acknowledges
    /// a duplicate found here must [`StoreHandle::flush`] first, so that the original is on
    /// disk before the sender stops retrying.
    ///
    /// # Errors
    ///
    /// As [`Store::is_seen`], plus [`StoreError::Closed`].
    pub async fn is_seen(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.is_seen(&peer, &message_id)).await
    }

    /// See [`Store::outbox`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox`], plus [`StoreError::Closed`].
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.call(|s| s.outbox()).await
    }

    /// See [`Store::outbox_for`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_for`], plus [`StoreError::Closed`].
    pub async fn outbox_for(&self, peer: &AccordId) -> Result<Vec<OutboxEntry>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.outbox_for(&peer)).await
    }

    /// See [`Store::outbox_peers`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_peers`], plus [`StoreError::Closed`].
    pub async fn outbox_peers(&self) -> Result<Vec<AccordId>, StoreError> {
        self.call(|s| s.outbox_peers()).await
    }

    /// See [`Store::incoming_context`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming_context`], plus [`StoreError::Closed`].
    pub async fn incoming_context(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<IncomingContext, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.incoming_context(&peer, &message_id))
            .await
    }

    /// See [`Store::sending_context`].
    ///
    /// # Errors
    ///
    /// As [`Store::sending_context`], plus [`StoreError::Closed`].
    pub async fn sending_context(
        &self,
        peer: &AccordId,
        count_up_to: usize,
    ) -> Result<SendingContext, StoreError> {
        let peer = *peer;
        self.call(move |s| s.sending_context(&peer, count_up_to))
            .await
    }

    /// See [`Store::active_outbox_head`].
    ///
    /// # Errors
    ///
    /// As [`Store::active_outbox_head`], plus [`StoreError::Closed`].
    pub async fn active_outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Option<Vec<OutboxEntry>>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.active_outbox_head(&peer, limit)).await
    }

    /// See [`Store::outbox_head`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_head`], plus [`StoreError::Closed`].
    pub async fn outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.outbox_head(&peer, limit)).await
    }

    /// See [`Store::update_outbox`]. Not durable on its own: a lost update only means an
    /// earlier retry; the next flush (any durable request) makes it durable.
    ///
    /// # Errors
    ///
    /// As [`Store::update_outbox`], plus [`StoreError::Closed`].
    pub async fn update_outbox(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let entry = entry.clone();
        self.call(move |s| s.update_outbox(&entry)).await
    }

    /// See [`Store::complete_outbox`]. Answers at once, without waiting for a flush: a
    /// completion lost in a crash only sends the message again, and the recipient answers
    /// that it has it already, so waiting for the disk would only slow delivery down.
    ///
    /// # Errors
    ///
    /// As [`Store::complete_outbox`], plus [`StoreError::Closed`].
    pub async fn complete_outbox(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        new_state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.complete_outbox(&peer, &message_id, new_state))
            .await
    }

    /// See [`Store::set_message_state`]. Answers once the change is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::set_message_state`], plus [`StoreError::Closed`].
    pub async fn set_message_state(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call_durable(move |s| s.set_message_state(&peer, &message_id, state))
            .await
    }

    /// See [`Store::history`].
    ///
    /// # Errors
    ///
    /// As [`Store::history`], plus [`StoreError::Closed`].
    pub async fn history(
        &self,
        peer: &AccordId,
        limit: usize,
        before_local_seq: Option<u64>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.history(&peer, limit, before_local_seq))
            .await
    }

    /// See [`Store::conversations`].
    ///
    /// # Errors
    ///
    /// As [`Store::conversations`], plus [`StoreError::Closed`].
    pub async fn conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        self.call(|s| s.conversations()).await
    }

    /// See [`Store::conversation`].
    ///
    /// # Errors
    ///
    /// As [`Store::conversation`], plus [`StoreError::Closed`].
    pub async fn conversation(
        &self,
        peer: &AccordId,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.conversation(&peer)).await
    }

    /// See [`Store::mark_read`]. When messages changed, answers once the change is on disk
    /// (group commit), so read receipts may be sent for them; when none did, answers at once.
    ///
    /// # Errors
    ///
    /// As [`Store::mark_read`], plus [`StoreError::Closed`].
    pub async fn mark_read(
        &self,
        peer: &AccordId,
        up_to_local_seq: u64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let peer = *peer;
        // Opening a conversation that is already read changes nothing worth an fsync.
        self.call_durable_if(
            move |s| s.mark_read(&peer, up_to_local_seq),
            |changed: &Vec<MessageRecord>| !changed.is_empty(),
        )
        .await
    }
}
