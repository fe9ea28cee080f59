//! The republish schedule. Gossip keeps nothing, so everything that waits for an answer is
//! sent again with back-off until it is answered or expires: pending invites, withdrawals,
//! acceptances and revocations. The schedule lives in the store (each record's
//! `next_publish_at_ms`, mirrored in the live index), so it survives restarts; the actor
//! reads what is due from its in-memory [`LiveIndex`](super::core::LiveIndex) and loads only
//! those records.

use accord_handshake::{
    Acceptance, Invite, InviteEvent, InviteState, Payload, Revocation, Withdrawal,
};
use accord_identity::AccordId;
use accord_store::LiveItem;

use super::actor::ConnectActor;
use super::core::{RepublishStep, republish_step};
use super::delivery::{DeliveryKey, MAX_REVOCATION_PUBLISHES};
use super::transition::advance;
use crate::clock;

impl ConnectActor {
    /// Recomputes the next deadline from the live index (no store read).
    pub(super) fn reschedule(&mut self) {
        self.next_due_ms = self.live.next_deadline();
    }

    /// Republishes what is due, expires what has run out and deletes what is past keeping.
    pub(super) async fn republish_due(&mut self) {
        let now = clock::now_ms();
        self.purge_due(now).await;
        self.expire_due(now).await;
        for item in self.live.publish_due(now) {
            self.republish(item, now).await;
        }
        self.reschedule();
    }

    /// Pending invites past their expiry become expired; an expired outgoing invite's one-time
    /// key is deleted.
    pub(super) async fn expire_due(&mut self, now: u64) {
        for item in self.live.expired(now) {
            match item {
                LiveItem::Outgoing(id) => {
                    let Some(mut invite) = self.load_outgoing(&id).await else {
                        continue;
                    };
                    // Only pending invites expire; the rules say so, not this loop.
                    if advance(&mut invite.state, InviteEvent::Expire).is_ok() {
                        invite.closed_at_ms = Some(now);
                        invite.one_time_secret = None;
                        invite.next_publish_at_ms = None;
                    }
                    self.save_outgoing(&invite).await;
                }
                LiveItem::Incoming(id) => {
                    let Some(mut invite) = self.load_incoming(&id).await else {
                        continue;
                    };
                    if advance(&mut invite.state, InviteEvent::Expire).is_ok() {
                        invite.closed_at_ms = Some(now);
                    }
                    self.save_incoming(&invite).await;
                }
                LiveItem::Revocation(_) => {}
            }
        }
    }

    /// Moves every scheduled republication to `at` at the latest.
    pub(super) async fn bring_forward(&mut self, at: u64) {
        for item in self.live.scheduled_after(at) {
            match item {
                LiveItem::Outgoing(id) => {
                    if let Some(mut record) = self.load_outgoing(&id).await {
                        record.next_publish_at_ms = Some(at);
                        self.save_outgoing(&record).await;
                    }
                }
                LiveItem::Incoming(id) => {
                    if let Some(mut record) = self.load_incoming(&id).await {
                        record.next_publish_at_ms = Some(at);
                        self.save_incoming(&record).await;
                    }
                }
                LiveItem::Revocation(peer) => {
                    if let Some(mut connection) = self.load_connection(&peer).await {
                        connection.next_publish_at_ms = Some(at);
                        self.save_connection(&connection).await;
                    }
                }
            }
        }
    }

    /// Sends, straight away, everything waiting for `peer` (it has just connected).
    pub(super) async fn deliver_waiting_for(&mut self, peer: AccordId) {
        let now = clock::now_ms();
        for item in self.live.scheduled_for(&peer) {
            self.republish(item, now).await;
        }
    }

    async fn republish(&mut self, item: LiveItem, now: u64) {
        match item {
            LiveItem::Outgoing(id) => self.republish_outgoing(id, now).await,
            LiveItem::Incoming(id) => self.republish_incoming(id, now).await,
            LiveItem::Revocation(peer) => self.republish_revocation(peer, now).await,
        }
    }

    async fn republish_outgoing(&mut self, id: accord_store::InviteId, now: u64) {
        let Some(mut record) = self.load_outgoing(&id).await else {
            return;
        };
        if record.next_publish_at_ms.is_none() {
            return;
        }
        let RepublishStep::Publish { count, next_at_ms } =
            republish_step(record.publish_count, record.expires_at_ms, None, now)
        else {
            record.next_publish_at_ms = None;
            self.save_outgoing(&record).await;
            return;
        };
        let (payload, key) = match record.state {
            InviteState::Pending => match Invite::decode(&record.invite) {
                Ok(invite) => (
                    Payload::Invite(invite),
                    DeliveryKey::Invite(record.invite_id),
                ),
                Err(err) => {
                    // It can never be sent: stop trying rather than retry forever.
                    self.drop_frame("unreadable_own_invite", &err);
                    record.next_publish_at_ms = None;
                    self.save_outgoing(&record).await;
                    return;
                }
            },
            InviteState::Withdrawn => {
                let at_ms = record.closed_at_ms.unwrap_or(now);
                let withdrawal =
                    Withdrawal::create(&self.identity, record.peer, record.invite_id, at_ms);
                (
                    Payload::Withdrawal(withdrawal),
                    DeliveryKey::Withdrawal(record.invite_id),
                )
            }
            _ => {
                record.next_publish_at_ms = None;
                self.save_outgoing(&record).await;
                return;
            }
        };
        record.publish_count = count;
        record.next_publish_at_ms = Some(next_at_ms);
        if self.save_outgoing(&record).await {
            self.deliver(record.peer, &payload, record.expires_at_ms, key)
                .await;
        }
    }

    async fn republish_incoming(&mut self, id: accord_store::InviteId, now: u64) {
        let Some(mut record) = self.load_incoming(&id).await else {
            return;
        };
        if record.next_publish_at_ms.is_none() {
            return;
        }
        let acceptance = record.acceptance.as_deref().map(Acceptance::decode);
        let Some(Ok(acceptance)) = acceptance else {
            record.next_publish_at_ms = None;
            self.save_incoming(&record).await;
            return;
        };
        let RepublishStep::Publish { count, next_at_ms } =
            republish_step(record.publish_count, record.expires_at_ms, None, now)
        else {
            record.next_publish_at_ms = None;
            self.save_incoming(&record).await;
            return;
        };
        record.publish_count = count;
        record.next_publish_at_ms = Some(next_at_ms);
        if self.save_incoming(&record).await {
            let key = DeliveryKey::Acceptance(record.invite_id);
            let payload = Payload::Acceptance(acceptance);
            self.deliver(record.peer, &payload, record.expires_at_ms, key)
                .await;
        }
    }

    async fn republish_revocation(&mut self, peer: AccordId, now: u64) {
        let Some(mut connection) = self.load_connection(&peer).await else {
            return;
        };
        if connection.next_publish_at_ms.is_none() {
            return;
        }
        let revocation = connection.revocation.as_deref().map(Revocation::decode);
        let revocation = match revocation {
            Some(Ok(r)) if r.by == self.me => r,
            _ => {
                connection.next_publish_at_ms = None;
                self.save_connection(&connection).await;
                return;
            }
        };
        let limit = Some(MAX_REVOCATION_PUBLISHES);
        let RepublishStep::Publish { count, next_at_ms } =
            republish_step(connection.publish_count, u64::MAX, limit, now)
        else {
            connection.next_publish_at_ms = None;
            self.save_connection(&connection).await;
            return;
        };
        connection.publish_count = count;
        connection.next_publish_at_ms = Some(next_at_ms);
        if self.save_connection(&connection).await {
            let expires = now + 7 * 24 * 3600 * 1000;
            let key = DeliveryKey::Revocation(Box::new(connection.peer));
            self.deliver(
                connection.peer,
                &Payload::Revocation(revocation),
                expires,
                key,
            )
            .await;
        }
    }

    /// A direct delivery was answered: stop republishing that item.
    pub(super) async fn on_delivered(&mut self, key: DeliveryKey) {
        match key {
            DeliveryKey::Invite(id) | DeliveryKey::Withdrawal(id) => {
                if let Some(mut record) = self.load_outgoing(&id).await {
                    // A delivered invite still waits for its answer, but the recipient has it:
                    // no need to keep publishing it.
                    record.next_publish_at_ms = None;
                    self.save_outgoing(&record).await;
                }
            }
            DeliveryKey::Acceptance(id) => {
                if let Some(mut record) = self.load_incoming(&id).await {
                    record.next_publish_at_ms = None;
                    self.save_incoming(&record).await;
                }
            }
            DeliveryKey::Revocation(peer) => {
                if let Some(mut connection) = self.load_connection(&peer).await {
                    connection.next_publish_at_ms = None;
                    self.save_connection(&connection).await;
                }
            }
        }
    }
}
