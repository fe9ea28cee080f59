//! The actor's store writes: each one keeps the in-memory live index in step with what was
//! stored, and a failure is never swallowed — it is logged and counted under a reason that
//! `accord stats` shows.

use accord_identity::AccordId;
use accord_store::{Connection, IncomingInvite, InviteId, LiveItem, OutgoingInvite, StoreError};

use super::actor::ConnectActor;

impl ConnectActor {
    /// Counts and logs a store operation that failed.
    pub(super) fn store_failed(&mut self, reason: &'static str, err: &StoreError) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::warn!(reason, %err, "a Connect store operation failed");
    }

    /// Whether a store write succeeded; a failure is counted as `store_write_failed` and
    /// logged, so that every `save_*` below reports it the same way.
    fn written(&mut self, stored: Result<(), StoreError>) -> bool {
        match stored {
            Ok(()) => true,
            Err(err) => {
                self.store_failed("store_write_failed", &err);
                false
            }
        }
    }

    /// Stores an outgoing invite; false (counted) when the store refused.
    pub(super) async fn save_outgoing(&mut self, record: &OutgoingInvite) -> bool {
        let stored = self.store.put_outgoing(record).await;
        let ok = self.written(stored);
        if ok {
            self.live.note_outgoing(record);
        }
        ok
    }

    /// Stores an incoming invite; false (counted) when the store refused.
    pub(super) async fn save_incoming(&mut self, record: &IncomingInvite) -> bool {
        let stored = self.store.put_incoming(record).await;
        let ok = self.written(stored);
        if ok {
            self.live.note_incoming(record);
        }
        ok
    }

    /// Stores a connection; false (counted) when the store refused.
    pub(super) async fn save_connection(&mut self, connection: &Connection) -> bool {
        let stored = self.store.put_connection(connection).await;
        let ok = self.written(stored);
        if ok {
            self.live.note_connection(connection);
        }
        ok
    }

    /// Stores a revoked connection and deletes its session in one transaction; false
    /// (counted) when the store refused, in which case neither happened.
    pub(super) async fn save_revocation(&mut self, connection: &Connection) -> bool {
        let stored = self.store.revoke_connection(connection).await;
        let ok = self.written(stored);
        if ok {
            self.live.note_connection(connection);
        }
        ok
    }

    /// Loads an outgoing invite the live index names; a missing one leaves the index.
    pub(super) async fn load_outgoing(&mut self, id: &InviteId) -> Option<OutgoingInvite> {
        match self.store.outgoing(id).await {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.live.forget(&LiveItem::Outgoing(*id));
                None
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                None
            }
        }
    }

    /// Loads an incoming invite the live index names; a missing one leaves the index.
    pub(super) async fn load_incoming(&mut self, id: &InviteId) -> Option<IncomingInvite> {
        match self.store.incoming(id).await {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.live.forget(&LiveItem::Incoming(*id));
                None
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                None
            }
        }
    }

    /// Loads a connection the live index names; a missing one leaves the index.
    pub(super) async fn load_connection(&mut self, peer: &AccordId) -> Option<Connection> {
        match self.store.connection(peer).await {
            Ok(Some(connection)) => Some(connection),
            Ok(None) => {
                self.live.forget(&LiveItem::Revocation(*peer));
                None
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                None
            }
        }
    }

    /// Deletes what is due of the closed records and cool-downs, a batch at a time.
    pub(super) async fn purge_due(&mut self, now: u64) {
        if !self.live.purge_due(now) {
            return;
        }
        if let Err(err) = self.store.purge_due(now).await {
            self.store_failed("store_purge_failed", &err);
        }
        match self.store.next_purge_at().await {
            Ok(at) => self.live.set_next_purge(at),
            Err(err) => {
                // Try again in a minute rather than spin on a failing store.
                self.store_failed("store_read_failed", &err);
                self.live.set_next_purge(Some(now + 60_000));
            }
        }
    }
}
