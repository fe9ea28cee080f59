//! Settling acceptances, so that both sides agree on being connected.
//!
//! The invitee's signature completes an attestation on its own side at once, but the inviter
//! may have withdrawn the invite, or seen it expire, before the acceptance reached it. So the
//! invitee's new connection *awaits confirmation*: its messages are queued, not sent, and its
//! acceptance keeps being republished. The inviter answers every acceptance it can verify with
//! a signed [`Settlement`]: `confirmed` once it stored the same attestation, `withdrawn` or
//! `expired` when it never will. A confirmation completes the invitee's connection; a refusal
//! (or the inviter's signed withdrawal, which means the same) drops it with its channel.

use std::collections::HashMap;

use accord_api::Event;
use accord_handshake::{
    Attestation, Invite, InviteEvent, InviteState, Outcome, Payload, Settlement,
};
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite};

use super::super::delivery::DeliveryKey;
use super::super::transition::advance;
use super::ConnectCore;
use super::inbound::Verdict;
use super::io::{ConnectOutput, Delivery, Now, StoreOp};
use super::plan::{Noted, Step, Then};
use crate::hex::encode as hex;

/// How long a settlement's frame is meant to live: as long as any gossip frame (a week).
const SETTLEMENT_FRAME_TTL_MS: u64 = 7 * 24 * 3_600_000;

/// At most one refusal per invite is sent in this long. Each costs a proof-of-work stamp, and
/// a refused acceptance is not remembered by the replay cache (its answer is `no`), so without
/// a pace anyone replaying the invitee's acceptance directly could make us mint one per copy.
/// An honest invitee republishes far more slowly than this.
pub(super) const REFUSAL_INTERVAL_MS: u64 = 60_000;

/// The most invites whose last refusal time is kept.
const PACED_INVITES: usize = 1024;

/// When a refusal was last sent for each invite (bounded; see [`REFUSAL_INTERVAL_MS`]).
#[derive(Debug, Default)]
pub(super) struct RefusalPace {
    last_sent: HashMap<InviteId, u64>,
}

impl RefusalPace {
    /// Whether a refusal for `invite_id` may go at `now`; if so, it is counted as sent.
    pub(super) fn allow(&mut self, invite_id: &InviteId, now: u64) -> bool {
        if self
            .last_sent
            .get(invite_id)
            .is_some_and(|at| now.saturating_sub(*at) < REFUSAL_INTERVAL_MS)
        {
            return false;
        }
        if self.last_sent.len() >= PACED_INVITES {
            self.last_sent
                .retain(|_, at| now.saturating_sub(*at) < REFUSAL_INTERVAL_MS);
            if self.last_sent.len() >= PACED_INVITES {
                // Every slot was used within the interval: a flood of distinct acceptances,
                // each signed by its invitee. Sending nothing more until it passes costs an
                // honest invitee one day's republication at most.
                return false;
            }
        }
        self.last_sent.insert(*invite_id, now);
        true
    }
}

impl ConnectCore {
    /// The step that sends our settlement of an acceptance of `invite` (one of ours).
    pub(super) fn settlement_step(&self, invite: &Invite, outcome: Outcome, now: u64) -> Step {
        tracing::info!(
            peer = %invite.invitee,
            invite = %hex(&invite.invite_id),
            outcome = outcome.as_str(),
            "settling an acceptance"
        );
        let settlement = Settlement::create(&self.identity, invite, outcome, now);
        Step::Out(ConnectOutput::Deliver(Delivery {
            to: invite.invitee,
            payload: Payload::Settlement(settlement),
            expires_at_ms: now.saturating_add(SETTLEMENT_FRAME_TTL_MS),
            key: DeliveryKey::Settlement(invite.invite_id),
        }))
    }

    /// A republication, or a replay, of an acceptance of `ours` we already applied: it
    /// changes nothing, but it is counted, and answered so that an honest sender stops. The
    /// invitee republishes while it has not heard our confirmation, so it is sent again (only
    /// if this very attestation is our connection: a crossed invite may have closed ours as
    /// accepted through the other invite).
    pub(super) fn repeated_acceptance(
        &mut self,
        ours: &OutgoingInvite,
        invite: &Invite,
        attestation: &Attestation,
        now: u64,
    ) -> Verdict {
        self.drop_frame("repeated_acceptance", &invite.invitee);
        let ours_too = self.memory.connection(&ours.peer).is_some_and(|c| {
            c.revoked_at_ms.is_none() && c.attestation_id == attestation.id().to_bytes()
        });
        let steps = if ours_too {
            vec![self.settlement_step(invite, Outcome::Confirmed, now)]
        } else {
            Vec::new()
        };
        Verdict::accept(steps)
    }

    /// An acceptance of `ours` after we withdrew it or saw it expire: refused (`no`), and,
    /// since withdrawn and expired are final, we will never complete this attestation, so
    /// the invitee, which holds it as awaiting confirmation, is told so, signed (at most once
    /// per invite per [`REFUSAL_INTERVAL_MS`]).
    pub(super) fn late_acceptance(
        &mut self,
        ours: &OutgoingInvite,
        invite: &Invite,
        now: u64,
    ) -> Verdict {
        self.drop_frame("late_acceptance", &invite.invitee);
        let outcome = if ours.state == InviteState::Withdrawn {
            Outcome::Withdrawn
        } else {
            Outcome::Expired
        };
        let steps = if self.refusals.allow(&invite.invite_id, now) {
            vec![self.settlement_step(invite, outcome, now)]
        } else {
            Vec::new()
        };
        Verdict::Done {
            accepted: false,
            settled: true,
            steps,
        }
    }

    /// Whether `record` is an invite we accepted whose connection still awaits the
    /// inviter's settlement (there is at most one connection per peer, and an invite from a
    /// connection is dropped on arrival, so the peer's connection is this invite's).
    pub(super) fn awaits_settlement(&self, record: &IncomingInvite) -> bool {
        record.acceptance.is_some()
            && self
                .memory
                .connection(&record.peer)
                .is_some_and(|c| c.revoked_at_ms.is_none() && c.awaiting_confirmation)
    }

    /// A settlement of our acceptance of `theirs` arrived from its inviter.
    pub(super) fn on_settlement(
        &mut self,
        theirs: IncomingInvite,
        settlement: &Settlement,
        now: Now,
    ) -> Verdict {
        let invite = match Invite::decode(&theirs.invite) {
            Ok(invite) => invite,
            Err(err) => {
                self.drop_frame("unreadable_invite", &err);
                return Verdict::refuse();
            }
        };
        if let Err(err) = settlement.verify(&invite) {
            self.drop_frame("invalid_settlement", &err);
            return Verdict::refuse();
        }
        let Some(connection) = self.awaiting_connection(&theirs, &invite) else {
            // Settled already, or a connection made since: the settlement changes nothing. A
            // refusal after a confirmation would contradict it; no honest inviter sends one.
            if settlement.outcome != Outcome::Confirmed {
                self.drop_frame("contradicting_settlement", &settlement.inviter);
            }
            return Verdict::accept(Vec::new());
        };
        match settlement.outcome {
            Outcome::Confirmed => Verdict::accept(confirmed_steps(theirs, connection)),
            Outcome::Withdrawn => {
                Verdict::accept(self.refused_steps(theirs, connection, false, now.unix_ms))
            }
            Outcome::Expired => {
                Verdict::accept(self.refused_steps(theirs, connection, true, now.unix_ms))
            }
        }
    }

    /// A signed withdrawal of an invite we had accepted arrived: the inviter withdrew it
    /// before our acceptance reached it (a withdrawn invite is final, so it will never
    /// complete our attestation), which is a refusal.
    pub(super) fn withdrawn_after_acceptance(
        &mut self,
        theirs: IncomingInvite,
        invite: &Invite,
        now: Now,
    ) -> Verdict {
        match self.awaiting_connection(&theirs, invite) {
            Some(connection) => {
                Verdict::accept(self.refused_steps(theirs, connection, false, now.unix_ms))
            }
            // Confirmed already (the withdrawal is older than the confirmation and was
            // refused by the inviter's own rules) or dropped already: nothing changes.
            None => Verdict::accept(Vec::new()),
        }
    }

    /// Our unrevoked connection made by accepting `invite`, if it still awaits confirmation.
    fn awaiting_connection(&self, theirs: &IncomingInvite, invite: &Invite) -> Option<Connection> {
        let id = invite.statement().id().to_bytes();
        self.memory
            .connection(&theirs.peer)
            .filter(|c| {
                c.revoked_at_ms.is_none() && c.awaiting_confirmation && c.attestation_id == id
            })
            .cloned()
    }

    /// The inviter refused our acceptance: the connection is dropped with its channel (marked
    /// revoked, so that the pair can connect again later and nothing is sent or accepted on
    /// it), the invite becomes `withdrawn` or `expired`, and the user is told why.
    fn refused_steps(
        &self,
        mut theirs: IncomingInvite,
        mut connection: Connection,
        expired: bool,
        now: u64,
    ) -> Vec<Step> {
        let peer = connection.peer;
        let reason = if expired { "expired" } else { "withdrawn" };
        tracing::info!(%peer, reason, "the inviter refused our acceptance; not connected");
        let mut steps = Vec::new();
        if advance(&mut theirs.state, InviteEvent::Refused { expired }).is_ok() {
            theirs.closed_at_ms = Some(now);
            theirs.next_publish_at_ms = None;
            steps.push(Step::Store(
                StoreOp::PutIncoming(theirs.clone()),
                Then::Note(Noted::Incoming(theirs.clone())),
            ));
        }
        connection.revoked_at_ms = Some(now);
        connection.awaiting_confirmation = false;
        connection.next_publish_at_ms = None;
        let event = Event::InviteRefused {
            invite_id: hex(&theirs.invite_id),
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
            reason: reason.to_owned(),
        };
        steps.extend([
            // The connection and its channel's keys go in one write, as for a revocation.
            Step::Store(
                StoreOp::RevokeConnection(connection.clone()),
                Then::Note(Noted::Connection(connection)),
            ),
            Step::Out(ConnectOutput::ChannelChanged(peer)),
            Step::Out(ConnectOutput::Emit(event)),
        ]);
        steps
    }
}

/// The inviter confirmed our acceptance: the connection is complete, the acceptance is no
/// longer republished, and what was queued for the peer goes out.
fn confirmed_steps(mut theirs: IncomingInvite, mut connection: Connection) -> Vec<Step> {
    let peer = connection.peer;
    tracing::info!(%peer, "the inviter confirmed our acceptance; connected");
    connection.awaiting_confirmation = false;
    theirs.next_publish_at_ms = None;
    let event = Event::InviteConfirmed {
        invite_id: hex(&theirs.invite_id),
        peer: peer.to_string(),
        attestation_id: hex(&connection.attestation_id),
    };
    vec![
        Step::Store(
            StoreOp::PutConnection(connection.clone()),
            Then::Note(Noted::Connection(connection)),
        ),
        Step::Store(
            StoreOp::PutIncoming(theirs.clone()),
            Then::Note(Noted::Incoming(theirs)),
        ),
        Step::Out(ConnectOutput::ChannelChanged(peer)),
        Step::Out(ConnectOutput::Emit(event)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_paced_per_invite_and_bounded() {
        let mut pace = RefusalPace::default();
        assert!(pace.allow(&[1; 16], 0));
        assert!(!pace.allow(&[1; 16], REFUSAL_INTERVAL_MS - 1));
        assert!(pace.allow(&[2; 16], 1));
        assert!(pace.allow(&[1; 16], REFUSAL_INTERVAL_MS));
        // A flood of distinct invites fills the map; none beyond it is sent in the interval,
        // and the map never grows past its bound.
        let mut pace = RefusalPace::default();
        for n in 0..PACED_INVITES {
            let id = (n as u128).to_be_bytes();
            assert!(pace.allow(&id, 10));
        }
        assert!(!pace.allow(&[0xFF; 16], 11));
        assert_eq!(pace.last_sent.len(), PACED_INVITES);
        // Once the interval has passed, old entries make room again.
        assert!(pace.allow(&[0xFF; 16], 10 + REFUSAL_INTERVAL_MS));
        assert_eq!(pace.last_sent.len(), 1);
    }
}
