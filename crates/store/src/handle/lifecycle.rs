//! Invites, connections, the quota ledger and the block list, through the handle.

use accord_identity::AccordId;
use zeroize::Zeroizing;

use crate::{Connection, IncomingInvite, InviteId, OutgoingInvite, StoreError, StoreHandle};

impl StoreHandle {
    /// See [`Store::put_outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_outgoing`], plus [`StoreError::Closed`].
    pub async fn put_outgoing(&self, invite: &OutgoingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.put_outgoing(&invite)).await
    }

    /// See [`Store::outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::outgoing`], plus [`StoreError::Closed`].
    pub async fn outgoing(&self, id: &InviteId) -> Result<Option<OutgoingInvite>, StoreError> {
        let id = *id;
        self.call(move |s| s.outgoing(&id)).await
    }

    /// See [`Store::outgoing_invites`].
    ///
    /// # Errors
    ///
    /// As [`Store::outgoing_invites`], plus [`StoreError::Closed`].
    pub async fn outgoing_invites(&self) -> Result<Vec<OutgoingInvite>, StoreError> {
        self.call(|s| s.outgoing_invites()).await
    }

    /// See [`Store::record_sent_invite`].
    ///
    /// # Errors
    ///
    /// As [`Store::record_sent_invite`], plus [`StoreError::Closed`].
    pub async fn record_sent_invite(
        &self,
        invite: &OutgoingInvite,
        high_water_ms: u64,
    ) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.record_sent_invite(&invite, high_water_ms))
            .await
    }

    /// See [`Store::complete_outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::complete_outgoing`], plus [`StoreError::Closed`].
    pub async fn complete_outgoing(
        &self,
        invite_id: &InviteId,
        connection: &Connection,
        closed_at_ms: u64,
        session_state: &[u8],
    ) -> Result<bool, StoreError> {
        let (invite_id, connection) = (*invite_id, connection.clone());
        let state = Zeroizing::new(session_state.to_vec());
        self.call(move |s| s.complete_outgoing(&invite_id, &connection, closed_at_ms, &state))
            .await
    }

    /// See [`Store::quota_sent_at`].
    ///
    /// # Errors
    ///
    /// As [`Store::quota_sent_at`], plus [`StoreError::Closed`].
    pub async fn quota_sent_at(&self) -> Result<Vec<u64>, StoreError> {
        self.call(|s| s.quota_sent_at()).await
    }

    /// See [`Store::clock_high_water_ms`].
    ///
    /// # Errors
    ///
    /// As [`Store::clock_high_water_ms`], plus [`StoreError::Closed`].
    pub async fn clock_high_water_ms(&self) -> Result<u64, StoreError> {
        self.call(|s| s.clock_high_water_ms()).await
    }

    /// See [`Store::note_clock`].
    ///
    /// # Errors
    ///
    /// As [`Store::note_clock`], plus [`StoreError::Closed`].
    pub async fn note_clock(&self, now_ms: u64) -> Result<(), StoreError> {
        self.call(move |s| s.note_clock(now_ms)).await
    }

    /// See [`Store::put_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_incoming`], plus [`StoreError::Closed`].
    pub async fn put_incoming(&self, invite: &IncomingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.put_incoming(&invite)).await
    }

    /// See [`Store::incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming`], plus [`StoreError::Closed`].
    pub async fn incoming(&self, id: &InviteId) -> Result<Option<IncomingInvite>, StoreError> {
        let id = *id;
        self.call(move |s| s.incoming(&id)).await
    }

    /// See [`Store::incoming_invites`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming_invites`], plus [`StoreError::Closed`].
    pub async fn incoming_invites(&self) -> Result<Vec<IncomingInvite>, StoreError> {
        self.call(|s| s.incoming_invites()).await
    }

    /// See [`Store::remove_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::remove_incoming`], plus [`StoreError::Closed`].
    pub async fn remove_incoming(&self, id: &InviteId) -> Result<bool, StoreError> {
        let id = *id;
        self.call(move |s| s.remove_incoming(&id)).await
    }

    /// See [`Store::accept_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::accept_incoming`], plus [`StoreError::Closed`].
    pub async fn accept_incoming(
        &self,
        updated: &IncomingInvite,
        connection: &Connection,
        session_state: &[u8],
    ) -> Result<(), StoreError> {
        let (updated, connection) = (updated.clone(), connection.clone());
        let state = Zeroizing::new(session_state.to_vec());
        self.call(move |s| s.accept_incoming(&updated, &connection, &state))
            .await
    }

    /// See [`Store::put_connection`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_connection`], plus [`StoreError::Closed`].
    pub async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let connection = connection.clone();
        self.call(move |s| s.put_connection(&connection)).await
    }

    /// See [`Store::connection`].
    ///
    /// # Errors
    ///
    /// As [`Store::connection`], plus [`StoreError::Closed`].
    pub async fn connection(&self, peer: &AccordId) -> Result<Option<Connection>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.connection(&peer)).await
    }

    /// See [`Store::connections`].
    ///
    /// # Errors
    ///
    /// As [`Store::connections`], plus [`StoreError::Closed`].
    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.call(|s| s.connections()).await
    }

    /// See [`Store::block`].
    ///
    /// # Errors
    ///
    /// As [`Store::block`], plus [`StoreError::Closed`].
    pub async fn block(&self, peer: &AccordId, at_ms: u64) -> Result<(), StoreError> {
        let peer = *peer;
        self.call(move |s| s.block(&peer, at_ms)).await
    }

    /// See [`Store::unblock`].
    ///
    /// # Errors
    ///
    /// As [`Store::unblock`], plus [`StoreError::Closed`].
    pub async fn unblock(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call(move |s| s.unblock(&peer)).await
    }

    /// See [`Store::is_blocked`].
    ///
    /// # Errors
    ///
    /// As [`Store::is_blocked`], plus [`StoreError::Closed`].
    pub async fn is_blocked(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call(move |s| s.is_blocked(&peer)).await
    }

    /// See [`Store::blocked`].
    ///
    /// # Errors
    ///
    /// As [`Store::blocked`], plus [`StoreError::Closed`].
    pub async fn blocked(&self) -> Result<Vec<(AccordId, u64)>, StoreError> {
        self.call(|s| s.blocked()).await
    }
}
