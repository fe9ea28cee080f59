//! Plans: the steps a decision takes, run until one needs the store, then resumed with the
//! store's answer (see the module docs of `core`).

use std::collections::VecDeque;

use accord_api::{InviteDirection, RemoteError};
use accord_handshake::{Acceptance, Invite, Settlement, Withdrawal};
use accord_identity::AccordId;
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite, StoreError};

use super::super::replay::FrameDigest;
use super::ConnectCore;
use super::io::{ConnectOutput, FrameToken, Now, ReplyToken, StoreAnswer, StoreOp};
use crate::remote_error::{internal, refused};

/// What a plan does when one of its store steps fails (after counting it).
#[derive(Debug, Clone, Copy)]
pub(super) enum Fail {
    /// Answer the command with the error.
    Reply(ReplyToken),
    /// Refuse the frame (answering `no` to a direct hand-over).
    Frame(Option<FrameToken>),
    /// Nothing more: the failure is counted and logged, and the schedule tries again.
    Quiet,
}

/// A queue of steps (see the module docs).
#[derive(Debug)]
pub(super) struct Plan {
    steps: VecDeque<Step>,
    fail: Fail,
}

/// One step of a plan.
#[allow(
    clippy::large_enum_variant,
    reason = "one plan runs at a time and its values are moved a few times, never kept in bulk; a box would cost an allocation each"
)]
#[derive(Debug)]
pub(super) enum Step {
    /// An output for the actor.
    Out(ConnectOutput),
    /// A store operation, and what its answer means.
    Store(StoreOp, Then),
    /// Remember the frame as handled and accepted, for the replay cache.
    Remember(FrameDigest),
    /// Count a dropped frame (once the steps before it succeeded).
    Count(&'static str, String),
}

/// What a store answer means for the plan.
#[derive(Debug)]
pub(super) enum Then {
    /// A write: memory follows it once it succeeded; a failure ends the plan.
    Note(Noted),
    /// A write whose failure is counted under the reason, and the plan goes on.
    Tolerate(&'static str),
    /// A read: the decision it was for goes on with the answer.
    Resume(Resume),
    /// A purge: its answer is when the next one is due.
    Purged,
}

/// How memory follows a successful write.
#[derive(Debug)]
pub(super) enum Noted {
    /// An outgoing invite was stored.
    Outgoing(OutgoingInvite),
    /// An incoming invite was stored.
    Incoming(IncomingInvite),
    /// A connection was stored.
    Connection(Connection),
    /// An incoming invite was accepted, with its connection.
    Accepted(IncomingInvite, Connection),
    /// Our invite was completed by their acceptance, with its connection (only when the
    /// store says it was still pending).
    Completed(OutgoingInvite, Connection),
    /// An incoming invite was deleted.
    Removed(InviteId),
    /// A new invite was sent, with the high-water mark stored with it.
    Sent(OutgoingInvite, u64),
    /// A peer was blocked (`true`) or unblocked, at a time.
    Blocked(AccordId, bool, u64),
}

/// A decision waiting for a record that is not in memory.
#[derive(Debug)]
pub(super) enum Resume {
    /// An invite arrived whose id is not live: is it one we have?
    Invite {
        invite: Invite,
        direct: Option<FrameToken>,
        digest: FrameDigest,
    },
    /// An acceptance of an invite that is not live.
    Acceptance {
        acceptance: Acceptance,
        direct: Option<FrameToken>,
        digest: FrameDigest,
    },
    /// A withdrawal of an invite that is not live.
    Withdrawal {
        withdrawal: Withdrawal,
        direct: Option<FrameToken>,
        digest: FrameDigest,
    },
    /// A settlement of our acceptance of an invite that is not live.
    Settlement {
        settlement: Settlement,
        direct: Option<FrameToken>,
        digest: FrameDigest,
    },
    /// A command named an incoming invite that is not pending: say what it is.
    NotPendingIncoming { token: ReplyToken, target: String },
    /// A command named an outgoing invite that is not pending: say what it is.
    NotPendingOutgoing { token: ReplyToken, target: String },
    /// `accord invites`, once every invite is read.
    ListInvites {
        token: ReplyToken,
        direction: Option<InviteDirection>,
    },
}

/// A plan waiting for the answer to the store operation it asked for.
#[derive(Debug)]
pub(super) struct Running {
    plan: Plan,
    then: Then,
}

impl Plan {
    /// A plan with no steps yet.
    pub(super) fn new(fail: Fail) -> Self {
        Plan {
            steps: VecDeque::new(),
            fail,
        }
    }

    /// A plan that does nothing.
    pub(super) fn empty() -> Self {
        Plan::new(Fail::Quiet)
    }

    /// A plan of `steps`.
    pub(super) fn of(fail: Fail, steps: Vec<Step>) -> Self {
        Plan {
            steps: steps.into(),
            fail,
        }
    }

    /// Adds a step at the end.
    pub(super) fn push(&mut self, step: Step) {
        self.steps.push_back(step);
    }

    /// Adds steps at the end.
    pub(super) fn extend(&mut self, steps: impl IntoIterator<Item = Step>) {
        self.steps.extend(steps);
    }

    /// Puts `steps` before the remaining ones, in order.
    fn prepend(&mut self, steps: Vec<Step>) {
        for step in steps.into_iter().rev() {
            self.steps.push_front(step);
        }
    }
}

impl ConnectCore {
    /// Runs `plan` until it is done or waits for the store.
    pub(super) fn run(&mut self, mut plan: Plan, out: &mut Vec<ConnectOutput>) {
        while let Some(step) = plan.steps.pop_front() {
            match step {
                Step::Out(output) => {
                    // The network layer learns of a new connection before the user is
                    // answered, so that the peer's first messages are not refused as a
                    // stranger's.
                    if matches!(output, ConnectOutput::Reply { .. }) {
                        self.tell_kept_peers(out);
                    }
                    out.push(output);
                }
                Step::Store(op, then) => {
                    out.push(ConnectOutput::Store(op));
                    self.running = Some(Running { plan, then });
                    return;
                }
                Step::Remember(digest) => self.replays.remember(digest, true),
                Step::Count(reason, detail) => self.drop_frame(reason, &detail),
            }
        }
    }

    /// Resumes the waiting plan with the store's answer.
    pub(super) fn on_stored(
        &mut self,
        answer: Result<StoreAnswer, StoreError>,
        now: Now,
        out: &mut Vec<ConnectOutput>,
    ) {
        let Some(Running { mut plan, then }) = self.running.take() else {
            tracing::error!("a store answer came with no plan waiting for it");
            return;
        };
        match (then, answer) {
            (Then::Note(noted), Ok(answer)) => {
                if let Err(err) = self.apply(noted, &answer) {
                    return self.abort(plan, &err, out);
                }
            }
            (Then::Tolerate(_), Ok(_)) => {}
            (Then::Tolerate(reason), Err(err)) => self.store_failed(reason, &err),
            (Then::Purged, Ok(StoreAnswer::NextPurge(at))) => self.memory.live.set_next_purge(at),
            (Then::Purged, Ok(_)) => {}
            (Then::Purged, Err(err)) => {
                // Try again in a minute rather than spin on a failing store.
                self.store_failed("store_purge_failed", &err);
                self.memory
                    .live
                    .set_next_purge(Some(now.unix_ms.saturating_add(60_000)));
            }
            (Then::Resume(resume), Ok(answer)) => {
                let steps = self.resume(resume, answer, now);
                plan.prepend(steps);
            }
            (Then::Note(_), Err(err)) => {
                self.store_failed("store_write_failed", &err);
                return self.abort(plan, &internal(&err), out);
            }
            (Then::Resume(_), Err(err)) => {
                self.store_failed("store_read_failed", &err);
                return self.abort(plan, &internal(&err), out);
            }
        }
        self.run(plan, out);
    }

    /// Ends a plan whose store step failed.
    fn abort(&mut self, plan: Plan, err: &RemoteError, out: &mut Vec<ConnectOutput>) {
        match plan.fail {
            Fail::Reply(token) => self.run(
                Plan::of(
                    Fail::Quiet,
                    vec![Step::Out(ConnectOutput::Reply {
                        token,
                        result: Err(err.clone()),
                    })],
                ),
                out,
            ),
            Fail::Frame(Some(token)) => out.push(ConnectOutput::AnswerDirect {
                token,
                accepted: false,
            }),
            Fail::Frame(None) | Fail::Quiet => {}
        }
    }

    /// Makes memory follow a write that succeeded; an error when the write, though it did not
    /// fail, did not happen (an acceptance completed before).
    fn apply(&mut self, noted: Noted, answer: &StoreAnswer) -> Result<(), RemoteError> {
        match noted {
            Noted::Outgoing(record) => self.memory.note_outgoing(record),
            Noted::Incoming(record) => self.memory.note_incoming(record),
            Noted::Connection(connection) => self.memory.note_connection(connection),
            Noted::Accepted(record, connection) => {
                self.memory.note_incoming(record);
                self.memory.note_connection(connection);
            }
            Noted::Completed(closed, connection) => {
                if matches!(answer, StoreAnswer::Completed(false)) {
                    self.drop_frame("replayed_acceptance", &closed.peer);
                    return Err(refused("the invite was answered already"));
                }
                self.memory.note_outgoing(closed);
                self.memory.note_connection(connection);
            }
            Noted::Removed(id) => self.memory.forget_incoming(&id),
            Noted::Sent(record, high_water_ms) => {
                let window = self.quota_policy().window_ms;
                self.memory.note_sent(high_water_ms, window);
                self.memory.note_outgoing(record);
            }
            Noted::Blocked(peer, blocked, at_ms) => {
                self.memory.set_blocked(peer, blocked, at_ms);
            }
        }
        Ok(())
    }
}
