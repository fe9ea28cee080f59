//! The republish schedule. Gossip keeps nothing, so everything that waits for an answer is
//! sent again with back-off until it is answered or expires: pending invites, withdrawals,
//! acceptances and revocations. The schedule lives in the store (each record's
//! `next_publish_at_ms`), so it survives restarts; the actor only keeps the next deadline.

use accord_handshake::{
    Acceptance, Invite, InviteEvent, InviteState, Payload, Revocation, Withdrawal,
};
use accord_identity::AccordId;

use super::actor::ConnectActor;
use super::delivery::{DeliveryKey, MAX_REVOCATION_PUBLISHES, republish_delay};
use super::transition::advance;
use crate::clock;

impl ConnectActor {
    /// Recomputes the next deadline from the stored records.
    pub(super) async fn reschedule(&mut self) {
        let mut due: Option<u64> = None;
        let mut consider = |at: Option<u64>| {
            if let Some(at) = at {
                due = Some(due.map_or(at, |d: u64| d.min(at)));
            }
        };
        if let Ok(outgoing) = self.store.outgoing_invites().await {
            for invite in &outgoing {
                consider(invite.next_publish_at_ms);
                if invite.state == InviteState::Pending {
                    consider(Some(invite.expires_at_ms));
                }
            }
        }
        if let Ok(incoming) = self.store.incoming_invites().await {
            for invite in &incoming {
                consider(invite.next_publish_at_ms);
                if invite.state == InviteState::Pending {
                    consider(Some(invite.expires_at_ms));
                }
            }
        }
        if let Ok(connections) = self.store.connections().await {
            for connection in &connections {
                consider(connection.next_publish_at_ms);
            }
        }
        self.next_due_ms = due;
    }

    /// Republishes what is due and expires what has run out.
    pub(super) async fn republish_due(&mut self) {
        let now = clock::now_ms();
        self.expire_due(now).await;
        let due = |at: u64| at <= now;
        self.republish_outgoing_to(now, None, due).await;
        self.republish_incoming_to(now, None, due).await;
        self.republish_revocations_to(now, None, due).await;
        self.reschedule().await;
    }

    /// Pending invites past their expiry become expired; an expired outgoing invite's one-time
    /// key is deleted.
    pub(super) async fn expire_due(&mut self, now: u64) {
        if let Ok(outgoing) = self.store.outgoing_invites().await {
            for mut invite in outgoing {
                // Only pending invites expire; the rules say so, not this loop.
                if invite.expires_at_ms <= now
                    && advance(&mut invite.state, InviteEvent::Expire).is_ok()
                {
                    invite.closed_at_ms = Some(now);
                    invite.one_time_secret = None;
                    invite.next_publish_at_ms = None;
                    let _ = self.store.put_outgoing(&invite).await;
                }
            }
        }
        if let Ok(incoming) = self.store.incoming_invites().await {
            for mut invite in incoming {
                if invite.expires_at_ms <= now
                    && advance(&mut invite.state, InviteEvent::Expire).is_ok()
                {
                    invite.closed_at_ms = Some(now);
                    let _ = self.store.put_incoming(&invite).await;
                }
            }
        }
    }

    /// Moves every scheduled republication to `at` at the latest.
    pub(super) async fn bring_forward(&mut self, at: u64) {
        self.shift(at, |due: u64| due > at).await;
        self.reschedule().await;
    }

    async fn shift(&mut self, at: u64, applies: impl Fn(u64) -> bool + Copy) {
        if let Ok(outgoing) = self.store.outgoing_invites().await {
            for mut invite in outgoing {
                if invite.next_publish_at_ms.is_some_and(applies) {
                    invite.next_publish_at_ms = Some(at);
                    let _ = self.store.put_outgoing(&invite).await;
                }
            }
        }
        if let Ok(incoming) = self.store.incoming_invites().await {
            for mut invite in incoming {
                if invite.next_publish_at_ms.is_some_and(applies) {
                    invite.next_publish_at_ms = Some(at);
                    let _ = self.store.put_incoming(&invite).await;
                }
            }
        }
        if let Ok(connections) = self.store.connections().await {
            for mut connection in connections {
                if connection.next_publish_at_ms.is_some_and(applies) {
                    connection.next_publish_at_ms = Some(at);
                    let _ = self.store.put_connection(&connection).await;
                }
            }
        }
    }

    /// Sends, straight away, everything waiting for `peer` (it has just connected).
    pub(super) async fn deliver_waiting_for(&mut self, peer: AccordId) {
        let now = clock::now_ms();
        let for_peer = |_: u64| true;
        self.republish_outgoing_to(now, Some(peer), for_peer).await;
        self.republish_incoming_to(now, Some(peer), for_peer).await;
        self.republish_revocations_to(now, Some(peer), for_peer)
            .await;
    }

    async fn republish_outgoing_to(
        &mut self,
        now: u64,
        only: Option<AccordId>,
        due: impl Fn(u64) -> bool + Copy,
    ) {
        let Ok(outgoing) = self.store.outgoing_invites().await else {
            return;
        };
        for mut record in outgoing {
            let Some(at) = record.next_publish_at_ms else {
                continue;
            };
            if !due(at) || only.is_some_and(|peer| peer != record.peer) {
                continue;
            }
            if record.expires_at_ms <= now {
                record.next_publish_at_ms = None;
                let _ = self.store.put_outgoing(&record).await;
                continue;
            }
            let (payload, key) = match record.state {
                InviteState::Pending => match Invite::decode(&record.invite) {
                    Ok(invite) => (
                        Payload::Invite(invite),
                        DeliveryKey::Invite(record.invite_id),
                    ),
                    Err(_) => continue,
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
                    let _ = self.store.put_outgoing(&record).await;
                    continue;
                }
            };
            record.publish_count = record.publish_count.saturating_add(1);
            record.next_publish_at_ms = Some(now + republish_delay(record.publish_count));
            let _ = self.store.put_outgoing(&record).await;
            self.deliver(record.peer, &payload, record.expires_at_ms, key)
                .await;
        }
    }

    async fn republish_incoming_to(
        &mut self,
        now: u64,
        only: Option<AccordId>,
        due: impl Fn(u64) -> bool + Copy,
    ) {
        let Ok(incoming) = self.store.incoming_invites().await else {
            return;
        };
        for mut record in incoming {
            let Some(at) = record.next_publish_at_ms else {
                continue;
            };
            if !due(at) || only.is_some_and(|peer| peer != record.peer) {
                continue;
            }
            let acceptance = record.acceptance.as_deref().map(Acceptance::decode);
            let Some(Ok(acceptance)) = acceptance else {
                record.next_publish_at_ms = None;
                let _ = self.store.put_incoming(&record).await;
                continue;
            };
            if record.expires_at_ms <= now {
                record.next_publish_at_ms = None;
                let _ = self.store.put_incoming(&record).await;
                continue;
            }
            record.publish_count = record.publish_count.saturating_add(1);
            record.next_publish_at_ms = Some(now + republish_delay(record.publish_count));
            let _ = self.store.put_incoming(&record).await;
            let key = DeliveryKey::Acceptance(record.invite_id);
            let payload = Payload::Acceptance(acceptance);
            self.deliver(record.peer, &payload, record.expires_at_ms, key)
                .await;
        }
    }

    async fn republish_revocations_to(
        &mut self,
        now: u64,
        only: Option<AccordId>,
        due: impl Fn(u64) -> bool + Copy,
    ) {
        let Ok(connections) = self.store.connections().await else {
            return;
        };
        for mut connection in connections {
            let Some(at) = connection.next_publish_at_ms else {
                continue;
            };
            if !due(at) || only.is_some_and(|peer| peer != connection.peer) {
                continue;
            }
            let revocation = connection.revocation.as_deref().map(Revocation::decode);
            let ours = matches!(&revocation, Some(Ok(r)) if r.by == self.me);
            if !ours || connection.publish_count >= MAX_REVOCATION_PUBLISHES {
                connection.next_publish_at_ms = None;
                let _ = self.store.put_connection(&connection).await;
                continue;
            }
            let Some(Ok(revocation)) = revocation else {
                continue;
            };
            connection.publish_count = connection.publish_count.saturating_add(1);
            connection.next_publish_at_ms = Some(now + republish_delay(connection.publish_count));
            let _ = self.store.put_connection(&connection).await;
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
                if let Ok(Some(mut record)) = self.store.outgoing(&id).await {
                    // A delivered invite still waits for its answer, but the recipient has it:
                    // no need to keep publishing it.
                    record.next_publish_at_ms = None;
                    let _ = self.store.put_outgoing(&record).await;
                }
            }
            DeliveryKey::Acceptance(id) => {
                if let Ok(Some(mut record)) = self.store.incoming(&id).await {
                    record.next_publish_at_ms = None;
                    let _ = self.store.put_incoming(&record).await;
                }
            }
            DeliveryKey::Revocation(peer) => {
                if let Ok(Some(mut connection)) = self.store.connection(&peer).await {
                    connection.next_publish_at_ms = None;
                    let _ = self.store.put_connection(&connection).await;
                }
            }
        }
    }
}
