//! Frames that arrive: open, check, and decide what they change. Anything wrong is dropped and
//! counted, and nothing already stored is changed by it.

use accord_api::Event;
use accord_handshake::{
    Admission, Crossed, GossipFrame, IncomingPolicy, Invite, InviteEvent, InviteState, OpenError,
    Payload, Revocation, Withdrawal, check_cooldown, crossed_resolution, open_payload,
};
use accord_identity::AccordId;
use accord_net::PeerId;
use accord_store::IncomingInvite;

use super::super::replay::{FrameDigest, frame_digest};
use super::super::stamped::is_stamp_error;
use super::super::transition::advance;
use super::ConnectCore;
use super::io::{ConnectOutput, FrameToken, Now, StoreOp};
use super::plan::{Fail, Noted, Plan, Resume, Step, Then};
use crate::hex::encode as hex;

/// How far ahead of our clock a sender's time stamp may be.
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// How the decision about a frame ends.
#[allow(
    clippy::large_enum_variant,
    reason = "one plan runs at a time and its values are moved a few times, never kept in bulk; a box would cost an allocation each"
)]
#[derive(Debug)]
pub(super) enum Verdict {
    /// Decided: the steps to take, then the answer (`accepted`), and whether a later copy of
    /// the same bytes could change nothing (`settled`: the replay cache may answer it).
    Done {
        accepted: bool,
        settled: bool,
        steps: Vec<Step>,
    },
    /// The decision needs a record that is not in memory: this step reads it, and the
    /// decision goes on with the answer.
    Wait(Step),
}

impl Verdict {
    /// Refused, changing nothing.
    pub(super) fn refuse() -> Self {
        Verdict::Done {
            accepted: false,
            settled: true,
            steps: Vec::new(),
        }
    }

    /// Accepted once `steps` are done.
    pub(super) fn accept(steps: Vec<Step>) -> Self {
        Verdict::Done {
            accepted: true,
            settled: true,
            steps,
        }
    }

    /// Accepted, but a later copy may still count (it depends on what arrives later).
    fn accept_unsettled() -> Self {
        Verdict::Done {
            accepted: true,
            settled: false,
            steps: Vec::new(),
        }
    }
}

/// The answer to a direct hand-over, if the frame came that way.
fn answer(direct: Option<FrameToken>, accepted: bool) -> Option<Step> {
    direct.map(|token| Step::Out(ConnectOutput::AnswerDirect { token, accepted }))
}

impl ConnectCore {
    /// Opens one frame and decides what it changes.
    pub(super) fn on_frame(
        &mut self,
        data: &[u8],
        from: PeerId,
        direct: Option<FrameToken>,
        topic: Option<&str>,
        now: Now,
    ) -> Plan {
        let mut plan = Plan::new(Fail::Frame(direct));
        let digest = frame_digest(data);
        if let Some(topic) = topic
            && !self.keep_relayed(topic, data, digest, from, now.unix_ms)
        {
            // Another shard's frame: kept for its owner, never opened here. Only our own
            // shard can hold our mail, so trial decryption of the others would be work for
            // nothing (and work a flood on any shard could make every node do).
            return plan;
        }
        // A frame handled before is answered as it was, before any cryptography: a replay
        // costs a hash and a lookup, and changes nothing stored.
        if let Some(accepted) = self.replays.seen(&digest) {
            self.drop_frame("replayed_frame", &from);
            plan.extend(answer(direct, accepted));
            return plan;
        }
        // Direct frames get the relay check here, so that the stamp is checked before any
        // trial decryption. Gossip frames are not checked twice: gossipsub delivers only what
        // this node's gossip validator accepted, and that validator is the same check.
        let checked = match direct {
            Some(_) => GossipFrame::check(data, now.unix_ms, self.config.invites.stamp_bits),
            None => Ok(()),
        };
        let opened = checked
            .map_err(OpenError::from)
            .and_then(|()| open_payload(&self.identity, data, now.unix_ms));
        let verdict = match opened {
            Ok(payload) => self.on_payload(payload, direct, digest, now),
            // Trial decryption: most of what arrives on a shard is for someone else, and will
            // stay so.
            Err(OpenError::NotForMe) => {
                self.replays.remember(digest, false);
                if topic.is_none() {
                    // Handed over directly and not for us: a back-fill of one of our shards.
                    self.keep_handed(data, digest, from, now.unix_ms);
                }
                Verdict::refuse()
            }
            Err(OpenError::Frame(err)) if is_stamp_error(&err) => {
                self.drop_frame("stamp", &format_args!("{err} (via {from})"));
                Verdict::refuse()
            }
            Err(err) => {
                self.drop_frame("malformed", &format_args!("{err} (via {from})"));
                Verdict::refuse()
            }
        };
        plan.extend(finish(verdict, direct, digest));
        plan
    }

    /// Applies an opened payload from someone who is not blocked.
    fn on_payload(
        &mut self,
        payload: Payload,
        direct: Option<FrameToken>,
        digest: FrameDigest,
        now: Now,
    ) -> Verdict {
        let sender = match &payload {
            Payload::Invite(invite) => invite.inviter,
            Payload::Acceptance(acceptance) => acceptance.invitee,
            Payload::Withdrawal(withdrawal) => withdrawal.inviter,
            Payload::Revocation(revocation) => revocation.by,
            Payload::Settlement(settlement) => settlement.inviter,
        };
        if self.memory.is_blocked(&sender) {
            self.drop_frame("blocked", &sender);
            return Verdict::refuse();
        }
        match payload {
            Payload::Invite(invite) => self.on_invite(invite, direct, digest, now),
            Payload::Acceptance(acceptance) => {
                let Some(ours) = self.memory.outgoing(&acceptance.invite_id).cloned() else {
                    let read = StoreOp::ReadOutgoing(acceptance.invite_id);
                    let resume = Resume::Acceptance {
                        acceptance,
                        direct,
                        digest,
                    };
                    return Verdict::Wait(Step::Store(read, Then::Resume(resume)));
                };
                self.on_acceptance(&ours, &acceptance, now)
            }
            Payload::Withdrawal(withdrawal) => {
                let Some(theirs) = self.memory.incoming(&withdrawal.invite_id).cloned() else {
                    let read = StoreOp::ReadIncoming(withdrawal.invite_id);
                    let resume = Resume::Withdrawal {
                        withdrawal,
                        direct,
                        digest,
                    };
                    return Verdict::Wait(Step::Store(read, Then::Resume(resume)));
                };
                self.on_withdrawal(theirs, &withdrawal, now)
            }
            Payload::Revocation(revocation) => self.on_revocation(&revocation, now),
            Payload::Settlement(settlement) => {
                let Some(theirs) = self.memory.incoming(&settlement.invite_id).cloned() else {
                    let read = StoreOp::ReadIncoming(settlement.invite_id);
                    let resume = Resume::Settlement {
                        settlement,
                        direct,
                        digest,
                    };
                    return Verdict::Wait(Step::Store(read, Then::Resume(resume)));
                };
                self.on_settlement(theirs, &settlement, now)
            }
        }
    }

    fn on_invite(
        &mut self,
        invite: Invite,
        direct: Option<FrameToken>,
        digest: FrameDigest,
        now: Now,
    ) -> Verdict {
        if let Err(err) = invite.verify(&self.me, now.unix_ms, MAX_CLOCK_SKEW_MS) {
            self.drop_frame("invalid_invite", &err);
            return Verdict::refuse();
        }
        // A verified invite is evidence of the real time (the bound on the clock mark).
        self.time_evidence.note_peer_time(invite.created_at_ms);
        match self.memory.incoming(&invite.invite_id) {
            // A republication of an invite we have: nothing to do.
            Some(known) => known_invite(known.peer == invite.inviter),
            // Not live: only the store knows whether it is one we closed.
            None => {
                let read = StoreOp::ReadIncoming(invite.invite_id);
                let resume = Resume::Invite {
                    invite,
                    direct,
                    digest,
                };
                Verdict::Wait(Step::Store(read, Then::Resume(resume)))
            }
        }
    }

    /// A new invite from someone not blocked: admit it, or say why not.
    pub(super) fn admit_invite(&mut self, invite: &Invite, now: Now) -> Verdict {
        let peer = invite.inviter;
        if self
            .memory
            .connection(&peer)
            .is_some_and(|c| c.revoked_at_ms.is_none())
        {
            self.drop_frame("already_connected", &peer);
            return Verdict::refuse();
        }
        if self.declined_recently(&peer, now.unix_ms) {
            // Dropped without a trace, but answered like a delivered invite: a refusal would
            // tell the inviter what the decline itself never tells them.
            self.drop_frame("declined_cooldown", &peer);
            return Verdict::accept(Vec::new());
        }
        let crossed = self
            .memory
            .live
            .pending_outgoing_to(&peer, now.unix_ms)
            .is_some();
        if crossed && crossed_resolution(&self.me, &peer) == Crossed::KeepOurs {
            // Both asked, and ours wins the tie-break: they accept ours when it reaches them.
            // Should ours end unanswered, a later copy of theirs must still count.
            return Verdict::accept_unsettled();
        }
        let record = incoming_record(invite, now.unix_ms);
        let Some(mut steps) = self.make_room_for(&record) else {
            return Verdict::refuse();
        };
        tracing::info!(%peer, invite = %hex(&record.invite_id), "invite received");
        steps.push(Step::Store(
            StoreOp::PutIncoming(record.clone()),
            Then::Note(Noted::Incoming(record.clone())),
        ));
        if crossed {
            // Both asked, and theirs wins the tie-break: accept it.
            return self.resolve_crossed(steps, record, now);
        }
        steps.push(Step::Out(ConnectOutput::Emit(Event::InviteReceived {
            invite_id: hex(&record.invite_id),
            peer: peer.to_string(),
            note: record.note,
            // Filled in for each subscriber at the control edge (`people::names`).
            name: None,
        })));
        Verdict::accept(steps)
    }

    /// Whether we declined an invite from `peer` less than `invites.reinvite_cooldown_days`
    /// ago. The inviter is not told of a decline, so it cannot hold back on its own once its
    /// invite expires; the invitee enforces the cool-down instead. The clock high-water mark
    /// keeps a clock set back from ending the cool-down early.
    fn declined_recently(&self, peer: &AccordId, now: u64) -> bool {
        // Unblocking someone says "I will hear from them again": declines up to then (blocking
        // declines what is pending) no longer hold them back.
        let unblocked_at = self.memory.unblocked_at(peer);
        let Some(declined_at) = self.memory.live.last_decline(peer, unblocked_at) else {
            return false;
        };
        let days = self.config.invites.reinvite_cooldown_days;
        check_cooldown(declined_at, days, now, self.memory.high_water_ms()).is_err()
    }

    /// Keeps one pending invite per sender (the newest) and at most `limits.pending_invites`
    /// in all, by the handshake's rule: when full, the invite with the earliest eviction
    /// deadline (its expiry, capped at 14 days after its creation) goes, so a flood of
    /// long-lived invites cannot outrank honest ones that arrived after it. The steps delete
    /// what is evicted; `None` when the invite is not admitted.
    fn make_room_for(&mut self, record: &IncomingInvite) -> Option<Vec<Step>> {
        let summary = accord_handshake::IncomingInvite {
            invite_id: record.invite_id,
            inviter: record.peer,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        };
        let policy = IncomingPolicy {
            // Validated to at most 5000, which fits every usize.
            max_incoming: usize::try_from(self.config.limits.pending_invites).unwrap_or(usize::MAX),
        };
        match policy.admit(&self.memory.live.pending_incoming(), &summary) {
            Admission::Admit { evict } => Some(
                evict
                    .into_iter()
                    .flat_map(|id| {
                        [
                            Step::Store(
                                StoreOp::RemoveIncoming(id),
                                Then::Note(Noted::Removed(id)),
                            ),
                            Step::Count("evicted_invite", hex(&id)),
                        ]
                    })
                    .collect(),
            ),
            Admission::Duplicate => None,
            Admission::Stale => {
                self.drop_frame("superseded_invite", &record.peer);
                None
            }
            Admission::Full => {
                self.drop_frame("incoming_full", &record.peer);
                None
            }
        }
    }

    /// Crossed invites where theirs wins: accept theirs, and close ours as accepted, since the
    /// pair ends up connected through one attestation.
    fn resolve_crossed(
        &mut self,
        mut steps: Vec<Step>,
        record: IncomingInvite,
        now: Now,
    ) -> Verdict {
        let peer = record.peer;
        let (accepting, result) = self.accept_incoming(record, now.unix_ms);
        steps.extend(accepting);
        if let Err(err) = result {
            tracing::warn!(%peer, %err, "cannot accept a crossed invite");
            return Verdict::Done {
                accepted: false,
                settled: true,
                steps,
            };
        }
        // Expired or not, our pending invite to them is answered by the connection.
        if let Some(id) = self.memory.live.pending_outgoing_to(&peer, 0)
            && let Some(mut ours) = self.memory.outgoing(&id).cloned()
            && advance(&mut ours.state, InviteEvent::Accept).is_ok()
        {
            ours.closed_at_ms = Some(now.unix_ms);
            ours.one_time_secret = None;
            ours.next_publish_at_ms = None;
            steps.push(Step::Store(
                StoreOp::PutOutgoing(ours.clone()),
                Then::Note(Noted::Outgoing(ours)),
            ));
        }
        Verdict::accept(steps)
    }

    /// A withdrawal of `theirs`, checked against the invite it names.
    pub(super) fn on_withdrawal(
        &mut self,
        mut theirs: IncomingInvite,
        withdrawal: &Withdrawal,
        now: Now,
    ) -> Verdict {
        let invite = match Invite::decode(&theirs.invite) {
            Ok(invite) => invite,
            Err(err) => {
                self.drop_frame("unreadable_invite", &err);
                return Verdict::refuse();
            }
        };
        if let Err(err) = withdrawal.verify(&invite) {
            self.drop_frame("invalid_withdrawal", &err);
            return Verdict::refuse();
        }
        if theirs.state == InviteState::Accepted {
            // Our acceptance crossed the withdrawal: the inviter will never complete it.
            return self.withdrawn_after_acceptance(theirs, &invite, now);
        }
        // An invite declined, expired or withdrawn stays as it is.
        if advance(&mut theirs.state, InviteEvent::Withdraw).is_err() {
            return Verdict::accept(Vec::new());
        }
        theirs.closed_at_ms = Some(withdrawal.at_ms);
        let event = Event::InviteWithdrawn {
            invite_id: hex(&theirs.invite_id),
            peer: theirs.peer.to_string(),
        };
        Verdict::accept(vec![
            Step::Store(
                StoreOp::PutIncoming(theirs.clone()),
                Then::Note(Noted::Incoming(theirs)),
            ),
            Step::Out(ConnectOutput::Emit(event)),
        ])
    }

    fn on_revocation(&mut self, revocation: &Revocation, now: Now) -> Verdict {
        let peer = revocation.by;
        let Some(mut connection) = self.memory.connection(&peer).cloned() else {
            self.drop_frame("unknown_revocation", &peer);
            return Verdict::refuse();
        };
        let attestation = match accord_handshake::Attestation::decode(&connection.attestation) {
            Ok(attestation) => attestation,
            Err(err) => {
                self.drop_frame("unreadable_attestation", &err);
                return Verdict::refuse();
            }
        };
        if let Err(err) = revocation.verify(&attestation) {
            self.drop_frame("invalid_revocation", &err);
            return Verdict::refuse();
        }
        // Revoked already: a repeat changes nothing.
        if super::super::transition::revoke(&mut connection, now.unix_ms).is_err() {
            return Verdict::accept(Vec::new());
        }
        connection.revocation = Some(revocation.encode());
        let event = Event::ConnectionRevoked {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
        };
        // The connection and the end of its channel (the session's keys) are one write, so a
        // revocation can never be stored while the session survives.
        Verdict::accept(vec![
            Step::Store(
                StoreOp::RevokeConnection(connection.clone()),
                Then::Note(Noted::Connection(connection)),
            ),
            Step::Out(ConnectOutput::ChannelChanged(peer)),
            Step::Out(ConnectOutput::Emit(event)),
        ])
    }
}

/// The verdict on an invite we already have: a harmless repeat if it is from its inviter.
pub(super) fn known_invite(same_inviter: bool) -> Verdict {
    if same_inviter {
        Verdict::accept(Vec::new())
    } else {
        Verdict::refuse()
    }
}

/// The steps that end a frame's decision: its own, the answer, and the replay cache.
pub(super) fn finish(
    verdict: Verdict,
    direct: Option<FrameToken>,
    digest: FrameDigest,
) -> Vec<Step> {
    match verdict {
        Verdict::Wait(step) => vec![step],
        Verdict::Done {
            accepted,
            settled,
            mut steps,
        } => {
            steps.extend(answer(direct, accepted));
            // Only an accepted, settled frame is remembered: a refusal may come from a passing
            // store error or a block that is lifted later.
            if accepted && settled {
                steps.push(Step::Remember(digest));
            }
            steps
        }
    }
}

fn incoming_record(invite: &Invite, now: u64) -> IncomingInvite {
    IncomingInvite {
        invite_id: invite.invite_id,
        peer: invite.inviter,
        invite: invite.encode(),
        note: invite.note.as_str().to_owned(),
        state: InviteState::Pending,
        created_at_ms: invite.created_at_ms,
        expires_at_ms: invite.expires_at_ms,
        received_at_ms: now,
        closed_at_ms: None,
        acceptance: None,
        ephemeral_secret: None,
        next_publish_at_ms: None,
        publish_count: 0,
    }
}
