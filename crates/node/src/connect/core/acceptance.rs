//! An acceptance of our invite arriving, and the decisions that waited for a record read from
//! the store.

use accord_channel::Session;
use accord_handshake::{Acceptance, Attestation, Invite, InviteState, OneTimeSecret, Outcome};
use accord_store::OutgoingInvite;

use super::super::command::ConnectReply;
use super::ConnectCore;
use super::commands::{new_connection, not_pending};
use super::inbound::{Verdict, finish, known_invite};
use super::io::{ConnectOutput, Now, SessionState, StoreAnswer, StoreOp};
use super::plan::{Noted, Resume, Step, Then};
use crate::message::wire::Content;
use crate::remote_error::internal;

impl ConnectCore {
    /// An acceptance of `ours`: checked, then our invite is closed and the connection and the
    /// inviter's channel are stored in one write, and the invitee is sent our confirmation.
    /// An acceptance that comes after we withdrew the invite or saw it expire is refused, and
    /// the invitee is told so (signed), so that its side drops the connection too.
    pub(super) fn on_acceptance(
        &mut self,
        ours: &OutgoingInvite,
        acceptance: &Acceptance,
        now: Now,
    ) -> Verdict {
        let invite = match Invite::decode(&ours.invite) {
            Ok(invite) => invite,
            Err(err) => {
                self.drop_frame("unreadable_own_invite", &err);
                return Verdict::refuse();
            }
        };
        let attestation = match acceptance.verify(&invite) {
            Ok(attestation) => attestation,
            Err(err) => {
                self.drop_frame("invalid_acceptance", &err);
                return Verdict::refuse();
            }
        };
        if ours.state == InviteState::Accepted {
            return self.repeated_acceptance(ours, &invite, &attestation, now.unix_ms);
        }
        if ours.state != InviteState::Pending || ours.expires_at_ms <= now.unix_ms {
            return self.late_acceptance(ours, &invite, now.unix_ms);
        }
        let Some(session) = self.inviter_session(ours, acceptance, &attestation, now.unix_ms)
        else {
            return Verdict::refuse();
        };
        let connection = new_connection(ours.peer, &attestation, now.unix_ms, false);
        let mut closed = ours.clone();
        closed.state = InviteState::Accepted;
        closed.closed_at_ms = Some(now.unix_ms);
        closed.one_time_secret = None;
        closed.next_publish_at_ms = None;
        let write = StoreOp::CompleteOutgoing {
            invite_id: ours.invite_id,
            connection: connection.clone(),
            closed_at_ms: now.unix_ms,
            session: SessionState(session.to_bytes()),
        };
        let mut steps = vec![Step::Store(
            write,
            Then::Note(Noted::Completed(closed, connection.clone())),
        )];
        steps.extend(self.accepted_steps(&ours.invite_id, &connection));
        steps.push(Step::Out(ConnectOutput::ChannelChanged(ours.peer)));
        // Only once the connection is stored (a failed or refused write ends the plan
        // before this step) is the invitee told it is confirmed.
        steps.push(self.settlement_step(&invite, Outcome::Confirmed, now.unix_ms));
        Verdict::accept(steps)
    }

    /// The inviter's half of the channel: from the invite's one-time key and the acceptance's
    /// ephemeral key, checked by decrypting the first ratchet message the acceptance carries.
    fn inviter_session(
        &mut self,
        ours: &OutgoingInvite,
        acceptance: &Acceptance,
        attestation: &Attestation,
        now: u64,
    ) -> Option<Session> {
        let Some(secret) = ours.one_time_secret.clone() else {
            self.drop_frame("no_one_time_key", &acceptance.invitee);
            return None;
        };
        let secret = OneTimeSecret::from_bytes(secret);
        let session = Session::new_inviter(
            &self.identity,
            &secret,
            &acceptance.invitee,
            &acceptance.ephemeral_key,
            &attestation.id(),
        );
        let mut session = match session {
            Ok(session) => session,
            Err(err) => {
                self.drop_frame("bad_channel_setup", &err);
                return None;
            }
        };
        match session.decrypt(acceptance.first_message(), now) {
            Ok(first) if Content::decode(&first) == Ok(Content::Hello) => Some(session),
            Ok(_) => {
                self.drop_frame("bad_first_message", &acceptance.invitee);
                None
            }
            Err(err) => {
                self.drop_frame("bad_first_message", &err);
                None
            }
        }
    }

    /// Goes on with a decision that waited for the store, now that it answered.
    pub(super) fn resume(&mut self, resume: Resume, answer: StoreAnswer, now: Now) -> Vec<Step> {
        match (resume, answer) {
            (
                Resume::Invite {
                    invite,
                    direct,
                    digest,
                },
                StoreAnswer::Incoming(known),
            ) => {
                let verdict = match known {
                    Some(known) => known_invite(known.peer == invite.inviter),
                    None => self.admit_invite(&invite, now),
                };
                finish(verdict, direct, digest)
            }
            (
                Resume::Acceptance {
                    acceptance,
                    direct,
                    digest,
                },
                StoreAnswer::Outgoing(ours),
            ) => {
                let verdict = match ours {
                    Some(ours) => self.on_acceptance(&ours, &acceptance, now),
                    None => {
                        self.drop_frame("unknown_acceptance", &acceptance.invitee);
                        Verdict::refuse()
                    }
                };
                finish(verdict, direct, digest)
            }
            (
                Resume::Withdrawal {
                    withdrawal,
                    direct,
                    digest,
                },
                StoreAnswer::Incoming(theirs),
            ) => {
                let verdict = match theirs {
                    Some(theirs) => self.on_withdrawal(theirs, &withdrawal, now),
                    // We never saw the invite (or already dropped it): nothing to withdraw.
                    // The invite may still arrive, so a later copy must still count.
                    None => Verdict::Done {
                        accepted: true,
                        settled: false,
                        steps: Vec::new(),
                    },
                };
                finish(verdict, direct, digest)
            }
            (
                Resume::Settlement {
                    settlement,
                    direct,
                    digest,
                },
                StoreAnswer::Incoming(theirs),
            ) => {
                let verdict = match theirs {
                    Some(theirs) => self.on_settlement(theirs, &settlement, now),
                    None => {
                        self.drop_frame("unknown_settlement", &settlement.inviter);
                        Verdict::refuse()
                    }
                };
                finish(verdict, direct, digest)
            }
            (resume, answer) => resume_command(resume, answer),
        }
    }
}

/// Goes on with a command that waited for the store.
fn resume_command(resume: Resume, answer: StoreAnswer) -> Vec<Step> {
    let (token, result) = match (resume, answer) {
        (Resume::NotPendingIncoming { token, target }, StoreAnswer::Incoming(found)) => {
            let state = found.map(|invite| (invite.invite_id, invite.state));
            (token, Err(not_pending(&target, state, "from")))
        }
        (Resume::NotPendingOutgoing { token, target }, StoreAnswer::Outgoing(found)) => {
            let state = found.map(|invite| (invite.invite_id, invite.state));
            (token, Err(not_pending(&target, state, "to")))
        }
        (Resume::ListInvites { token, direction }, StoreAnswer::Invites { incoming, outgoing }) => {
            let list = super::commands::invite_list(direction, incoming, outgoing);
            (token, Ok(ConnectReply::Invites(list)))
        }
        (
            Resume::NotPendingIncoming { token, .. }
            | Resume::NotPendingOutgoing { token, .. }
            | Resume::ListInvites { token, .. },
            answer,
        ) => {
            // The actor answers each operation with its own kind of answer; anything else is
            // a bug, reported rather than guessed at.
            tracing::error!(?answer, "a store answer of the wrong kind");
            (
                token,
                Err(internal("the store answered the wrong question")),
            )
        }
        (resume, answer) => {
            // A frame's decision with the wrong answer: the frame is left unanswered, which
            // its sender sees as a failed hand-over and retries.
            tracing::error!(?resume, ?answer, "a store answer of the wrong kind");
            return Vec::new();
        }
    };
    vec![Step::Out(ConnectOutput::Reply { token, result })]
}
