//! User commands about invites: `accord connect`, `invites`, `accept`, `decline`, `withdraw`.

use accord_api::{
    ErrorCode, InviteDirection, InviteSummary, RemoteError, format_rfc3339_ms as rfc3339,
};
use accord_channel::Session;
use accord_handshake::{
    Acceptance, Invite, InviteEvent, InviteState, Note, Payload, QuotaError, QuotaPolicy,
    Withdrawal, check_cooldown,
};
use accord_identity::AccordId;
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite};

use super::super::command::ConnectReply;
use super::super::delivery::DeliveryKey;
use super::super::transition::advance;
use super::ConnectCore;
use super::commands::{
    DAY_MS, FIRST_REPUBLISH_DELAY_MS, new_connection, not_pending, parse_id, parse_invite_id, reply,
};
use super::io::{ConnectOutput, Delivery, ReplyToken, SessionState, StoreOp};
use super::plan::{Noted, Resume, Step, Then};
use crate::hex::encode as hex;
use crate::message::wire::Content;
use crate::remote_error::{internal, refused};

/// The most invites that may wait for an answer at once.
pub(crate) const MAX_OUTSTANDING: u32 = 200;

fn outgoing_summary(invite: &OutgoingInvite) -> InviteSummary {
    InviteSummary {
        invite_id: hex(&invite.invite_id),
        peer: invite.peer.to_string(),
        state: invite.state.to_string(),
        expires_at: rfc3339(invite.expires_at_ms),
    }
}

fn incoming_summary(invite: &IncomingInvite) -> InviteSummary {
    InviteSummary {
        invite_id: hex(&invite.invite_id),
        peer: invite.peer.to_string(),
        state: invite.state.to_string(),
        expires_at: rfc3339(invite.expires_at_ms),
    }
}

impl ConnectCore {
    /// `accord connect`.
    pub(super) fn connect(
        &mut self,
        token: ReplyToken,
        (peer, note, presentation): (&str, &str, accord_handshake::Presentation),
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let peer = parse_id(peer)?;
        self.check_can_invite(&peer, now)?;
        // If they invited us already, inviting them back means yes: accept theirs.
        if let Some(id) = self.memory.live.pending_incoming_from(&peer, now)
            && let Some(theirs) = self.memory.incoming(&id).cloned()
        {
            let (mut steps, result) = self.accept_incoming(theirs, now);
            steps.push(reply(token, result.map(ConnectReply::Invite)));
            return Ok(steps);
        }
        // The quota's window ends at the clock mark, which the command has just raised to
        // the bounded reading of the clock: a clock far ahead cannot move the window past
        // the sends it holds, and one set back cannot free a slot.
        self.check_quota(self.memory.high_water_ms())?;
        let (invite, record) = self.new_invite(peer, note, presentation, now)?;
        let high_water_ms = self.memory.high_water_ms();
        tracing::info!(%peer, invite = %hex(&record.invite_id), "sending an invite");
        let delivery = Delivery {
            to: peer,
            payload: Payload::Invite(invite),
            expires_at_ms: record.expires_at_ms,
            key: DeliveryKey::Invite(record.invite_id),
        };
        let summary = outgoing_summary(&record);
        Ok(vec![
            Step::Store(
                StoreOp::RecordSentInvite {
                    record: record.clone(),
                    high_water_ms,
                },
                Then::Note(Noted::Sent(record, high_water_ms)),
            ),
            Step::Out(ConnectOutput::Deliver(delivery)),
            reply(token, Ok(ConnectReply::Invite(summary))),
        ])
    }

    /// A new invite to `peer` and the record that keeps it (with its one-time key).
    fn new_invite(
        &mut self,
        peer: AccordId,
        note: &str,
        presentation: accord_handshake::Presentation,
        now: u64,
    ) -> Result<(Invite, OutgoingInvite), RemoteError> {
        let note = Note::new(note, self.config.invites.note_max_chars).map_err(|err| {
            RemoteError::new(ErrorCode::InvalidParams, format!("invalid note: {err}"))
        })?;
        let ttl = u64::from(self.config.invites.expiry_days) * DAY_MS;
        let (invite, secret) =
            Invite::create(&self.identity, peer, note.clone(), now, ttl, &mut *self.rng)
                .map_err(|err| refused(err.to_string()))?;
        // Our card and an introduction ride sealed inside the invite (version 2).
        let invite = if presentation.is_empty() {
            invite
        } else {
            invite
                .present(&self.identity, presentation)
                .map_err(|err| RemoteError::new(ErrorCode::InvalidParams, err.to_string()))?
        };
        let record = OutgoingInvite {
            invite_id: invite.invite_id,
            peer,
            invite: invite.encode(),
            one_time_secret: Some(secret.to_bytes()),
            state: InviteState::Pending,
            note: note.as_str().to_owned(),
            created_at_ms: invite.created_at_ms,
            expires_at_ms: invite.expires_at_ms,
            closed_at_ms: None,
            next_publish_at_ms: Some(now + FIRST_REPUBLISH_DELAY_MS),
            publish_count: 0,
        };
        Ok((invite, record))
    }

    /// Refuses invites to ourselves, to blocked IDs, to connections, a second pending invite,
    /// and re-invites during the cool-down.
    fn check_can_invite(&self, peer: &AccordId, now: u64) -> Result<(), RemoteError> {
        if *peer == self.me {
            return Err(refused("you cannot invite yourself"));
        }
        if self.memory.is_blocked(peer) {
            return Err(refused(format!(
                "{peer} is blocked; unblock it first with: accord unblock {peer}"
            )));
        }
        if self
            .memory
            .connection(peer)
            .is_some_and(|c| c.revoked_at_ms.is_none())
        {
            return Err(refused(format!("{peer} is already a connection")));
        }
        if let Some(pending) = self.memory.live.pending_outgoing_to(peer, now) {
            let id = hex(&pending);
            return Err(refused(format!(
                "an invite to {peer} is already pending (invite {id}); withdraw it with: accord withdraw {id}"
            )));
        }
        if let Some(closed_at) = self.memory.live.last_closing(peer) {
            let days = self.config.invites.reinvite_cooldown_days;
            check_cooldown(closed_at, days, now, self.memory.high_water_ms()).map_err(|err| {
                let until = match err {
                    QuotaError::CoolDown { until_ms } => rfc3339(until_ms),
                    other => other.to_string(),
                };
                refused(format!(
                    "you cannot invite {peer} again until {until} (re-invite cool-down of {days} days)"
                ))
            })?;
        }
        Ok(())
    }

    fn check_quota(&self, now: u64) -> Result<(), RemoteError> {
        let outstanding = self.memory.live.outstanding(now);
        let high_water = self.memory.high_water_ms();
        self.quota_policy()
            .check(self.memory.sent_at(), outstanding, now, high_water)
            .map_err(|err| match err {
                QuotaError::WeeklyLimit {
                    limit,
                    next_slot_at_ms,
                } => refused(format!(
                    "weekly invite limit of {limit} reached; the next slot frees at {}",
                    rfc3339(next_slot_at_ms)
                )),
                QuotaError::TooManyOutstanding { max } => refused(format!(
                    "{max} invites are already waiting for an answer; withdraw some first"
                )),
                QuotaError::CoolDown { until_ms } => {
                    refused(format!("re-invite cool-down until {}", rfc3339(until_ms)))
                }
            })
    }

    /// The invite quota, from the configuration.
    pub(super) fn quota_policy(&self) -> QuotaPolicy {
        QuotaPolicy {
            weekly_limit: self.config.invites.weekly_limit,
            max_outstanding: MAX_OUTSTANDING,
            ..QuotaPolicy::default()
        }
    }

    /// `accord invites`: what is due to expire expires first, then every invite is read (a
    /// listing, the one command that reads whole trees).
    pub(super) fn list_invites(
        &mut self,
        token: ReplyToken,
        direction: Option<InviteDirection>,
        now: u64,
    ) -> Vec<Step> {
        let mut steps = self.expiry_steps(now);
        steps.push(Step::Store(
            StoreOp::ReadInvites,
            Then::Resume(Resume::ListInvites { token, direction }),
        ));
        steps
    }

    /// The pending incoming invite named by an invite id or the inviter's ID; otherwise the
    /// steps that answer why not (reading the invite when it is not in memory).
    fn pending_incoming(
        &self,
        token: ReplyToken,
        target: &str,
    ) -> Result<IncomingInvite, Vec<Step>> {
        let refuse = |err| vec![reply(token, Err(err))];
        let id = match parse_invite_id(target) {
            Some(id) => id,
            None => {
                let peer = parse_id(target).map_err(refuse)?;
                self.memory
                    .live
                    .pending_incoming_from(&peer, 0)
                    .ok_or_else(|| refuse(not_pending(target, None, "from")))?
            }
        };
        match self.memory.incoming(&id) {
            Some(record) if record.state == InviteState::Pending => Ok(record.clone()),
            Some(record) => Err(refuse(not_pending(
                target,
                Some((id, record.state)),
                "from",
            ))),
            None => Err(vec![Step::Store(
                StoreOp::ReadIncoming(id),
                Then::Resume(Resume::NotPendingIncoming {
                    token,
                    target: target.to_owned(),
                }),
            )]),
        }
    }

    /// `accord accept`.
    pub(super) fn accept(
        &mut self,
        token: ReplyToken,
        target: &str,
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let record = match self.pending_incoming(token, target) {
            Ok(record) => record,
            Err(steps) => return Ok(steps),
        };
        let (mut steps, result) = self.accept_incoming(record, now);
        steps.push(reply(token, result.map(ConnectReply::Invite)));
        Ok(steps)
    }

    /// Accepts one pending incoming invite: signs the statement, makes the acceptance, and
    /// plans to save the connection and the channel and send the acceptance. An expired
    /// invite is closed as expired instead, and the answer says so.
    pub(super) fn accept_incoming(
        &mut self,
        mut record: IncomingInvite,
        now: u64,
    ) -> (Vec<Step>, Result<InviteSummary, RemoteError>) {
        if record.expires_at_ms <= now {
            let expired = refused(format!("invite {} has expired", hex(&record.invite_id)));
            if advance(&mut record.state, InviteEvent::Expire).is_err() {
                return (Vec::new(), Err(expired));
            }
            record.closed_at_ms = Some(now);
            let write = Step::Store(
                StoreOp::PutIncoming(record.clone()),
                Then::Note(Noted::Incoming(record)),
            );
            return (vec![write], Err(expired));
        }
        let (acceptance, session, attestation) = match self.make_acceptance(&record) {
            Ok(made) => made,
            Err(err) => return (Vec::new(), Err(err)),
        };
        if let Err(err) = advance(&mut record.state, InviteEvent::Accept) {
            return (Vec::new(), Err(refused(err.to_string())));
        }
        record.closed_at_ms = Some(now);
        record.acceptance = Some(acceptance.encode());
        // The session now holds everything the ephemeral key was for; keeping it would only
        // weaken forward secrecy.
        record.ephemeral_secret = None;
        record.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        record.publish_count = 0;
        // Our signature completes the attestation on our side only: the inviter may have
        // withdrawn the invite, or may see it expire, before our acceptance reaches it. The
        // connection waits for the inviter's settlement before anything is sent on it.
        let connection = new_connection(record.peer, &attestation, now, true);
        let delivery = Delivery {
            to: record.peer,
            payload: Payload::Acceptance(acceptance),
            expires_at_ms: record.expires_at_ms,
            key: DeliveryKey::Acceptance(record.invite_id),
        };
        let summary = incoming_summary(&record);
        let mut steps = vec![
            Step::Store(
                StoreOp::AcceptIncoming {
                    record: record.clone(),
                    connection: connection.clone(),
                    session: SessionState(session.to_bytes()),
                },
                Then::Note(Noted::Accepted(record.clone(), connection.clone())),
            ),
            Step::Out(ConnectOutput::ChannelChanged(record.peer)),
        ];
        steps.extend(self.accepted_steps(&record.invite_id, &connection));
        steps.push(Step::Out(ConnectOutput::Deliver(delivery)));
        (steps, Ok(summary))
    }

    /// The acceptance of `record`'s invite, the invitee's channel (its first ratchet message
    /// rides in the acceptance, so that the inviter's channel is complete on arrival), and the
    /// attestation.
    fn make_acceptance(
        &mut self,
        record: &IncomingInvite,
    ) -> Result<(Acceptance, Session, accord_handshake::Attestation), RemoteError> {
        let invite = Invite::decode(&record.invite).map_err(internal)?;
        let rng = &mut *self.rng;
        let (mut acceptance, ephemeral) =
            Acceptance::create(&self.identity, &invite, Vec::new(), &mut *rng).map_err(internal)?;
        let attestation = acceptance.verify(&invite).map_err(internal)?;
        let mut session = Session::new_invitee(
            &self.identity,
            &ephemeral,
            &invite.inviter,
            &invite.one_time_key,
            &attestation.id(),
            &mut *rng,
        )
        .map_err(internal)?;
        let hello = session
            .encrypt(&Content::Hello.encode(), rng)
            .map_err(internal)?;
        acceptance.set_first_message(hello).map_err(internal)?;
        Ok((acceptance, session, attestation))
    }

    /// The event that says a connection was made.
    pub(super) fn accepted_steps(
        &self,
        invite_id: &InviteId,
        connection: &Connection,
    ) -> Vec<Step> {
        let peer = connection.peer;
        tracing::info!(%peer, attestation = %hex(&connection.attestation_id), "connecting");
        vec![Step::Out(ConnectOutput::Emit(
            accord_api::Event::InviteAccepted {
                invite_id: hex(invite_id),
                peer: peer.to_string(),
                attestation_id: hex(&connection.attestation_id),
            },
        ))]
    }

    /// `accord decline`: the inviter is not told.
    pub(super) fn decline(
        &mut self,
        token: ReplyToken,
        target: &str,
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let mut record = match self.pending_incoming(token, target) {
            Ok(record) => record,
            Err(steps) => return Ok(steps),
        };
        advance(&mut record.state, InviteEvent::Decline).map_err(|e| refused(e.to_string()))?;
        record.closed_at_ms = Some(now);
        let summary = incoming_summary(&record);
        Ok(vec![
            Step::Store(
                StoreOp::PutIncoming(record.clone()),
                Then::Note(Noted::Incoming(record)),
            ),
            reply(token, Ok(ConnectReply::Invite(summary))),
        ])
    }

    /// `accord withdraw`.
    pub(super) fn withdraw(
        &mut self,
        token: ReplyToken,
        target: &str,
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let id = match parse_invite_id(target) {
            Some(id) => id,
            None => self
                .memory
                .live
                .pending_outgoing_to(&parse_id(target)?, 0)
                .ok_or_else(|| not_pending(target, None, "to"))?,
        };
        let mut record = match self.memory.outgoing(&id) {
            Some(record) if record.state == InviteState::Pending => record.clone(),
            Some(record) => return Err(not_pending(target, Some((id, record.state)), "to")),
            None => {
                let resume = Resume::NotPendingOutgoing {
                    token,
                    target: target.to_owned(),
                };
                return Ok(vec![Step::Store(
                    StoreOp::ReadOutgoing(id),
                    Then::Resume(resume),
                )]);
            }
        };
        advance(&mut record.state, InviteEvent::Withdraw).map_err(|e| refused(e.to_string()))?;
        record.closed_at_ms = Some(now);
        record.one_time_secret = None;
        record.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        record.publish_count = 0;
        let withdrawal = Withdrawal::create(&self.identity, record.peer, record.invite_id, now);
        let delivery = Delivery {
            to: record.peer,
            payload: Payload::Withdrawal(withdrawal),
            expires_at_ms: record.expires_at_ms,
            key: DeliveryKey::Withdrawal(record.invite_id),
        };
        let summary = outgoing_summary(&record);
        Ok(vec![
            Step::Store(
                StoreOp::PutOutgoing(record.clone()),
                Then::Note(Noted::Outgoing(record)),
            ),
            Step::Out(ConnectOutput::Deliver(delivery)),
            reply(token, Ok(ConnectReply::Invite(summary))),
        ])
    }
}
