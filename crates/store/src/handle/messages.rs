//! Sessions, the outbox and history, through the handle: the few typed calls the node makes
//! one at a time. The Message actor's hot steps go to the store as whole batches through
//! [`StoreHandle::run`] and [`StoreHandle::run_with_ticket`] instead.

use accord_identity::AccordId;

use crate::{MessageId, MessageRecord, OutboxEntry, StoreError, StoreHandle};

impl StoreHandle {
    /// See [`Store::remove_session`]. Answers once the removal is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::remove_session`], plus [`StoreError::Closed`].
    pub async fn remove_session(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call_durable(move |s| s.remove_session(&peer)).await
    }

    /// See [`Store::outbox_peers`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_peers`], plus [`StoreError::Closed`].
    pub async fn outbox_peers(&self) -> Result<Vec<AccordId>, StoreError> {
        self.call(|s| s.outbox_peers()).await
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

    /// See [`Store::history_before`].
    ///
    /// # Errors
    ///
    /// As [`Store::history_before`], plus [`StoreError::Closed`].
    pub async fn history_before(
        &self,
        peer: &AccordId,
        limit: usize,
        before: MessageId,
    ) -> Result<Option<Vec<MessageRecord>>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.history_before(&peer, limit, &before))
            .await
    }
}
