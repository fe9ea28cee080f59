//! The republish schedule. Gossip keeps nothing, so everything that waits for an answer is
//! sent again with back-off until it is answered or expires: pending invites, withdrawals,
//! acceptances and revocations. The schedule lives in the store (each record's
//! `next_publish_at_ms`, mirrored in the live index), so it survives restarts; the core reads
//! what is due from memory and asks the actor to wake it at the next deadline.

use std::collections::HashSet;

use accord_handshake::{
    Acceptance, Invite, InviteEvent, InviteState, Payload, Revocation, Withdrawal,
};
use accord_identity::AccordId;
use accord_net::{Multiaddr, PeerId};
use accord_store::LiveItem;

use super::super::delivery::{DeliveryKey, MAX_REVOCATION_PUBLISHES};
use super::super::transition::advance;
use super::ConnectCore;
use super::io::{ConnectOutput, Delivery, Now, StoreOp};
use super::live::{NUDGE_DELAY_MS, RepublishStep, nudge_allowed, republish_step};
use super::plan::{Fail, Noted, Plan, Step, Then};

/// An acceptance awaiting the inviter's settlement is republished at most this many times in
/// all (the first three in its first minute, then daily: about a month).
const MAX_AWAITING_PUBLISHES: u32 = MAX_REVOCATION_PUBLISHES;

/// How long a revocation frame is valid when it is republished.
const REVOCATION_FRAME_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

impl ConnectCore {
    /// The deadline came: delete what is past keeping, expire what has run out, republish
    /// what is due.
    pub(super) fn on_timer(&mut self, now: Now) -> Plan {
        let now = now.unix_ms;
        // The actor's timer has fired and is spent: the next deadline is told again even if
        // it did not move (a write that failed leaves it where it was).
        self.told_wake = None;
        let mut plan = Plan::new(Fail::Quiet);
        if self.memory.live.purge_due(now) {
            plan.push(Step::Store(StoreOp::Purge(now), Then::Purged));
        }
        let expired: HashSet<LiveItem> = self.memory.live.expired(now).into_iter().collect();
        plan.extend(self.expiry_steps(now));
        for item in self.memory.live.publish_due(now) {
            // An item expiring in this batch is not republished: its write above stops it.
            if !expired.contains(&item) {
                plan.extend(self.republish(item, now));
            }
        }
        plan
    }

    /// Pending invites past their expiry become expired; an expired outgoing invite's one-time
    /// key is deleted.
    pub(super) fn expiry_steps(&mut self, now: u64) -> Vec<Step> {
        let mut steps = Vec::new();
        for item in self.memory.live.expired(now) {
            match item {
                LiveItem::Outgoing(id) => {
                    let Some(mut invite) = self.memory.outgoing(&id).cloned() else {
                        self.memory.live.forget(&item);
                        continue;
                    };
                    // Only pending invites expire; the rules say so, not this loop.
                    if advance(&mut invite.state, InviteEvent::Expire).is_ok() {
                        invite.closed_at_ms = Some(now);
                        invite.one_time_secret = None;
                        invite.next_publish_at_ms = None;
                    }
                    steps.push(put_outgoing(invite));
                }
                LiveItem::Incoming(id) => {
                    let Some(mut invite) = self.memory.incoming(&id).cloned() else {
                        self.memory.live.forget(&item);
                        continue;
                    };
                    if advance(&mut invite.state, InviteEvent::Expire).is_ok() {
                        invite.closed_at_ms = Some(now);
                    }
                    steps.push(put_incoming(invite));
                }
                LiveItem::Revocation(_) => {}
            }
        }
        steps
    }

    /// A peer connected. What waits for the peer itself is handed to it straight away. When
    /// the peer is one of our connections, it may reach a recipient who was offline, so the
    /// schedule is pulled forward (at most every few seconds). A stranger connecting pulls
    /// nothing: anyone can connect, and a node that republished on every arrival would show
    /// the newcomer which frames it originates.
    pub(super) fn on_peer_connected(&mut self, peer: PeerId, now: Now) -> Plan {
        let now = now.unix_ms;
        let mut plan = Plan::new(Fail::Quiet);
        let waiting: Vec<LiveItem> = match AccordId::from_peer_id(peer) {
            Ok(id) => self.memory.live.scheduled_for(&id),
            Err(_) => Vec::new(),
        };
        let is_connection = AccordId::from_peer_id(peer).is_ok_and(|id| {
            self.memory
                .connection(&id)
                .is_some_and(|c| c.revoked_at_ms.is_none())
        });
        if is_connection && nudge_allowed(self.last_nudge_ms, now) {
            self.last_nudge_ms = now;
            let at = now + NUDGE_DELAY_MS;
            for item in self.memory.live.scheduled_after(at) {
                // What waits for this peer is republished below, in one write each.
                if !waiting.contains(&item) {
                    plan.extend(self.moved_to(item, at));
                }
            }
        }
        for item in waiting {
            plan.extend(self.republish(item, now));
        }
        // Hand the peer what the shard store kept, since its last hand-over, of the shards
        // its key belongs to.
        plan.extend(self.hand_over_to(peer, None, now));
        plan
    }

    /// The write that moves an item's next republication to `at`.
    fn moved_to(&self, item: LiveItem, at: u64) -> Option<Step> {
        match item {
            LiveItem::Outgoing(id) => {
                let mut record = self.memory.outgoing(&id)?.clone();
                record.next_publish_at_ms = Some(at);
                Some(put_outgoing(record))
            }
            LiveItem::Incoming(id) => {
                let mut record = self.memory.incoming(&id)?.clone();
                record.next_publish_at_ms = Some(at);
                Some(put_incoming(record))
            }
            LiveItem::Revocation(peer) => {
                let mut connection = self.memory.connection(&peer)?.clone();
                connection.next_publish_at_ms = Some(at);
                Some(put_connection(connection))
            }
        }
    }

    /// The network identified a peer: record it in the address book. The network loop hands
    /// it over without waiting, so the store's pace never holds up the swarm.
    pub(super) fn on_peer_identified(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        now: Now,
    ) -> Plan {
        let Ok(id) = AccordId::from_peer_id(peer) else {
            tracing::debug!(%peer, "not an Accord identity; not added to the address book");
            return Plan::empty();
        };
        // Every identified peer is a sighting for the network-size estimate (which may move
        // the shard level, and so the subscriptions).
        let resubscribe = self.note_sighting(&id, now.unix_ms);
        let write = StoreOp::RecordPeer {
            peer: id,
            addrs,
            at_ms: now.unix_ms,
        };
        let mut steps: Vec<Step> = resubscribe.into_iter().collect();
        steps.push(Step::Store(
            write,
            Then::Tolerate("address_book_write_failed"),
        ));
        Plan::of(Fail::Quiet, steps)
    }

    /// A direct delivery was answered: stop republishing that item. A delivered invite still
    /// waits for its answer, but the recipient has it.
    pub(super) fn on_delivered(&mut self, key: &DeliveryKey) -> Plan {
        let step = match key {
            DeliveryKey::Invite(id) | DeliveryKey::Withdrawal(id) => {
                self.memory.outgoing(id).cloned().map(|mut record| {
                    record.next_publish_at_ms = None;
                    put_outgoing(record)
                })
            }
            // An acceptance that awaits the inviter's settlement stays scheduled: the inviter
            // has it, but its settlement may still be lost, and each republication is
            // answered with one.
            DeliveryKey::Acceptance(id) => self
                .memory
                .incoming(id)
                .filter(|record| !self.awaits_settlement(record))
                .cloned()
                .map(|mut record| {
                    record.next_publish_at_ms = None;
                    put_incoming(record)
                }),
            DeliveryKey::Revocation(peer) => {
                self.memory.connection(peer).cloned().map(|mut connection| {
                    connection.next_publish_at_ms = None;
                    put_connection(connection)
                })
            }
            // Settlements are not republished: nothing to stop.
            DeliveryKey::Settlement(_) => None,
        };
        Plan::of(Fail::Quiet, step.into_iter().collect())
    }

    /// The steps that republish one item, or stop its schedule.
    pub(super) fn republish(&mut self, item: LiveItem, now: u64) -> Vec<Step> {
        let known = match &item {
            LiveItem::Outgoing(id) => self.memory.outgoing(id).is_some(),
            LiveItem::Incoming(id) => self.memory.incoming(id).is_some(),
            LiveItem::Revocation(peer) => self.memory.connection(peer).is_some(),
        };
        if !known {
            // An index entry whose record could not be loaded at start: forgotten, or it
            // would stay due for ever.
            self.memory.live.forget(&item);
            return Vec::new();
        }
        match item {
            LiveItem::Outgoing(id) => self.republish_outgoing(&id, now),
            LiveItem::Incoming(id) => self.republish_incoming(&id, now),
            LiveItem::Revocation(peer) => self.republish_revocation(&peer, now),
        }
    }

    fn republish_outgoing(&mut self, id: &accord_store::InviteId, now: u64) -> Vec<Step> {
        let Some(mut record) = self.memory.outgoing(id).cloned() else {
            return Vec::new();
        };
        if record.next_publish_at_ms.is_none() {
            return Vec::new();
        }
        let step = republish_step(record.publish_count, record.expires_at_ms, None, now);
        let payload = match (step, record.state) {
            (RepublishStep::Publish { .. }, InviteState::Pending) => {
                match Invite::decode(&record.invite) {
                    Ok(invite) => Some((Payload::Invite(invite), DeliveryKey::Invite(*id))),
                    Err(err) => {
                        // It can never be sent: stop trying rather than retry forever.
                        self.drop_frame("unreadable_own_invite", &err);
                        None
                    }
                }
            }
            (RepublishStep::Publish { .. }, InviteState::Withdrawn) => {
                let at_ms = record.closed_at_ms.unwrap_or(now);
                let withdrawal = Withdrawal::create(&self.identity, record.peer, *id, at_ms);
                Some((
                    Payload::Withdrawal(withdrawal),
                    DeliveryKey::Withdrawal(*id),
                ))
            }
            _ => None,
        };
        let (RepublishStep::Publish { count, next_at_ms }, Some((payload, key))) = (step, payload)
        else {
            record.next_publish_at_ms = None;
            return vec![put_outgoing(record)];
        };
        record.publish_count = count;
        record.next_publish_at_ms = Some(next_at_ms);
        let delivery = Delivery {
            to: record.peer,
            payload,
            expires_at_ms: record.expires_at_ms,
            key,
        };
        vec![
            put_outgoing(record),
            Step::Out(ConnectOutput::Deliver(delivery)),
        ]
    }

    fn republish_incoming(&mut self, id: &accord_store::InviteId, now: u64) -> Vec<Step> {
        let Some(mut record) = self.memory.incoming(id).cloned() else {
            return Vec::new();
        };
        if record.next_publish_at_ms.is_none() {
            return Vec::new();
        }
        let acceptance = record.acceptance.as_deref().map(Acceptance::decode);
        // Until the inviter settles it, the acceptance is republished past the invite's
        // expiry too (a bounded number of times): an inviter that was offline then still
        // hears it, and refuses it as expired, so that both sides agree.
        let step = if self.awaits_settlement(&record) {
            let limit = Some(MAX_AWAITING_PUBLISHES);
            republish_step(record.publish_count, u64::MAX, limit, now)
        } else {
            republish_step(record.publish_count, record.expires_at_ms, None, now)
        };
        let (Some(Ok(acceptance)), RepublishStep::Publish { count, next_at_ms }) =
            (acceptance, step)
        else {
            record.next_publish_at_ms = None;
            return vec![put_incoming(record)];
        };
        record.publish_count = count;
        record.next_publish_at_ms = Some(next_at_ms);
        let delivery = Delivery {
            to: record.peer,
            payload: Payload::Acceptance(acceptance),
            expires_at_ms: record.expires_at_ms,
            key: DeliveryKey::Acceptance(*id),
        };
        vec![
            put_incoming(record),
            Step::Out(ConnectOutput::Deliver(delivery)),
        ]
    }

    fn republish_revocation(&mut self, peer: &AccordId, now: u64) -> Vec<Step> {
        let Some(mut connection) = self.memory.connection(peer).cloned() else {
            return Vec::new();
        };
        if connection.next_publish_at_ms.is_none() {
            return Vec::new();
        }
        let revocation = connection.revocation.as_deref().map(Revocation::decode);
        let limit = Some(MAX_REVOCATION_PUBLISHES);
        let step = republish_step(connection.publish_count, u64::MAX, limit, now);
        let (Some(Ok(revocation)), RepublishStep::Publish { count, next_at_ms }) =
            (revocation, step)
        else {
            connection.next_publish_at_ms = None;
            return vec![put_connection(connection)];
        };
        if revocation.by != self.me {
            connection.next_publish_at_ms = None;
            return vec![put_connection(connection)];
        }
        connection.publish_count = count;
        connection.next_publish_at_ms = Some(next_at_ms);
        let delivery = Delivery {
            to: connection.peer,
            payload: Payload::Revocation(revocation),
            expires_at_ms: now + REVOCATION_FRAME_TTL_MS,
            key: DeliveryKey::Revocation(Box::new(connection.peer)),
        };
        vec![
            put_connection(connection),
            Step::Out(ConnectOutput::Deliver(delivery)),
        ]
    }
}

fn put_outgoing(record: accord_store::OutgoingInvite) -> Step {
    Step::Store(
        StoreOp::PutOutgoing(record.clone()),
        Then::Note(Noted::Outgoing(record)),
    )
}

fn put_incoming(record: accord_store::IncomingInvite) -> Step {
    Step::Store(
        StoreOp::PutIncoming(record.clone()),
        Then::Note(Noted::Incoming(record)),
    )
}

fn put_connection(connection: accord_store::Connection) -> Step {
    Step::Store(
        StoreOp::PutConnection(connection.clone()),
        Then::Note(Noted::Connection(connection)),
    )
}
