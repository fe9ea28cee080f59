//! Invites, connections, the quota ledger, the block list and the Connect index, through the
//! handle.
//!
//! Every method that changes state answers only after the group commit that holds its write
//! (`call_durable`): what the user or a peer was told survives a crash, and the fsync is
//! shared with every other write queued at the same time instead of paid on the store thread
//! for each one.

use accord_identity::AccordId;
use zeroize::Zeroizing;

use crate::{
    Connection, CoolDown, IncomingInvite, InviteId, LiveEntry, OutgoingInvite, StoreError,
    StoreHandle,
};

impl StoreHandle {
    /// See [`Store::put_outgoing`]; durable when it returns.
    ///
    /// # Errors
    ///
    /// As [`Store::put_outgoing`], plus [`StoreError::Closed`].
    pub async fn put_outgoing(&self, invite: &OutgoingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call_durable(move |s| s.put_outgoing(&invite)).await
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

    /// See [`Store::outgoing_invites`] (a listing: it reads the whole tree).
    ///
    /// # Errors
    ///
    /// As [`Store::outgoing_invites`], plus [`StoreError::Closed`].
    pub async fn outgoing_invites(&self) -> Result<Vec<OutgoingInvite>, StoreError> {
        self.call(|s| s.outgoing_invites()).await
    }

    /// See [`Store::record_sent_invite`]; durable when it returns.
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
        self.call_durable(move |s| s.record_sent_invite(&invite, high_water_ms))
            .await
    }

    /// See [`Store::complete_outgoing`]; durable when it returns `true`.
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
        self.call_durable_if(
            move |s| s.complete_outgoing(&invite_id, &connection, closed_at_ms, &state),
            |done| *done,
        )
        .await
    }

    /// See [`Store::quota_sent_at`].
    ///
    /// # Errors
    ///
    /// As [`Store::quota_sent_at`], plus [`StoreError::Closed`].
    pub async fn quota_sent_at(&self, since_ms: u64) -> Result<Vec<u64>, StoreError> {
        self.call(move |s| s.quota_sent_at(since_ms)).await
    }

    /// See [`Store::clock_high_water_ms`].
    ///
    /// # Errors
    ///
    /// As [`Store::clock_high_water_ms`], plus [`StoreError::Closed`].
    pub async fn clock_high_water_ms(&self) -> Result<u64, StoreError> {
        self.call(|s| s.clock_high_water_ms()).await
    }

    /// See [`Store::note_clock`]. Not waited on for durability (see there).
    ///
    /// # Errors
    ///
    /// As [`Store::note_clock`], plus [`StoreError::Closed`].
    pub async fn note_clock(&self, now_ms: u64) -> Result<(), StoreError> {
        self.call(move |s| s.note_clock(now_ms)).await
    }

    /// See [`Store::put_incoming`]; durable when it returns.
    ///
    /// # Errors
    ///
    /// As [`Store::put_incoming`], plus [`StoreError::Closed`].
    pub async fn put_incoming(&self, invite: &IncomingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call_durable(move |s| s.put_incoming(&invite)).await
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

    /// See [`Store::incoming_invites`] (a listing: it reads the whole tree).
    ///
    /// # Errors
    ///
    /// As [`Store::incoming_invites`], plus [`StoreError::Closed`].
    pub async fn incoming_invites(&self) -> Result<Vec<IncomingInvite>, StoreError> {
        self.call(|s| s.incoming_invites()).await
    }

    /// See [`Store::remove_incoming`]; durable when it returns `true`.
    ///
    /// # Errors
    ///
    /// As [`Store::remove_incoming`], plus [`StoreError::Closed`].
    pub async fn remove_incoming(&self, id: &InviteId) -> Result<bool, StoreError> {
        let id = *id;
        self.call_durable_if(move |s| s.remove_incoming(&id), |removed| *removed)
            .await
    }

    /// See [`Store::accept_incoming`]; durable when it returns.
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
        self.call_durable(move |s| s.accept_incoming(&updated, &connection, &state))
            .await
    }

    /// See [`Store::put_connection`]; durable when it returns.
    ///
    /// # Errors
    ///
    /// As [`Store::put_connection`], plus [`StoreError::Closed`].
    pub async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let connection = connection.clone();
        self.call_durable(move |s| s.put_connection(&connection))
            .await
    }

    /// See [`Store::revoke_connection`]; durable when it returns.
    ///
    /// # Errors
    ///
    /// As [`Store::revoke_connection`], plus [`StoreError::Closed`].
    pub async fn revoke_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let connection = connection.clone();
        self.call_durable(move |s| s.revoke_connection(&connection))
            .await
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

    /// See [`Store::connections`] (a listing: it reads the whole tree).
    ///
    /// # Errors
    ///
    /// As [`Store::connections`], plus [`StoreError::Closed`].
    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.call(|s| s.connections()).await
    }

    /// See [`Store::block`]; durable when it returns.
    ///
    /// # Errors
    ///
    /// As [`Store::block`], plus [`StoreError::Closed`].
    pub async fn block(&self, peer: &AccordId, at_ms: u64) -> Result<(), StoreError> {
        let peer = *peer;
        self.call_durable(move |s| s.block(&peer, at_ms)).await
    }

    /// See [`Store::unblock`]; durable when it returns `true`.
    ///
    /// # Errors
    ///
    /// As [`Store::unblock`], plus [`StoreError::Closed`].
    pub async fn unblock(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call_durable_if(move |s| s.unblock(&peer), |removed| *removed)
            .await
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

    /// See [`Store::live_entries`].
    ///
    /// # Errors
    ///
    /// As [`Store::live_entries`], plus [`StoreError::Closed`].
    pub async fn live_entries(&self) -> Result<Vec<LiveEntry>, StoreError> {
        self.call(|s| s.live_entries()).await
    }

    /// See [`Store::cooldowns`].
    ///
    /// # Errors
    ///
    /// As [`Store::cooldowns`], plus [`StoreError::Closed`].
    pub async fn cooldowns(&self) -> Result<Vec<CoolDown>, StoreError> {
        self.call(|s| s.cooldowns()).await
    }

    /// See [`Store::next_purge_at`].
    ///
    /// # Errors
    ///
    /// As [`Store::next_purge_at`], plus [`StoreError::Closed`].
    pub async fn next_purge_at(&self) -> Result<Option<u64>, StoreError> {
        self.call(|s| s.next_purge_at()).await
    }

    /// See [`Store::purge_due`]. Not waited on for durability: a purge lost in a crash is
    /// repeated after the restart.
    ///
    /// # Errors
    ///
    /// As [`Store::purge_due`], plus [`StoreError::Closed`].
    pub async fn purge_due(&self, now_ms: u64) -> Result<usize, StoreError> {
        self.call(move |s| s.purge_due(now_ms)).await
    }
}
