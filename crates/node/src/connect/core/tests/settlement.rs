//! Settling acceptances: the inviter answers each acceptance with a signed settlement, and the
//! invitee's connection awaits it (issue 15 finding 5).

use accord_api::Event;
use accord_handshake::{Invite, InviteState, Outcome, Payload, Settlement, Withdrawal};

use super::super::settlement::REFUSAL_INTERVAL_MS;
use super::inbound::connect_with;
use super::*;

/// The settlements among `outputs`' deliveries.
fn settlements(outputs: &[ConnectOutput]) -> Vec<Settlement> {
    deliveries(outputs)
        .into_iter()
        .filter_map(|d| match &d.payload {
            Payload::Settlement(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Our node (identity 1) accepts an invite from `them`; returns the invite.
fn accepted_from(h: &mut Harness, them: &Identity) -> Invite {
    let (invite, frame) = invite_frame(them, h.me_id(), NOW);
    h.direct(&frame, them);
    let (reply, _) = h.command(ConnectCommand::Accept {
        target: them.id().to_string(),
    });
    reply.unwrap();
    invite
}

#[test]
fn the_inviter_confirms_only_once_the_connection_is_stored_and_again_for_a_repeat() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, outputs) = connect_with(&mut h, &them);
    let stored = position(&outputs, |o| {
        matches!(o, ConnectOutput::Store(StoreOp::CompleteOutgoing { .. }))
    });
    let confirmed = position(
        &outputs,
        |o| matches!(o, ConnectOutput::Deliver(d) if matches!(d.payload, Payload::Settlement(_))),
    );
    assert!(stored < confirmed, "{outputs:?}");
    let sent = settlements(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome, Outcome::Confirmed);
    sent[0].verify(&invite).unwrap();
    assert!(!h.store.connections[&them.id()].awaiting_confirmation);

    // The invitee republishes until it hears us: each repeat is confirmed again.
    let again = frame(
        &h.me_id(),
        &Payload::Acceptance(acceptance_of(&them, &invite)),
        NOW,
    );
    let (answer, outputs) = h.direct(&again, &them);
    assert_eq!(answer, Some(true));
    assert_eq!(settlements(&outputs).len(), 1);
}

#[test]
fn a_late_acceptance_is_refused_with_a_signed_reason_at_a_bounded_pace() {
    let mut h = Harness::new();
    let them = identity(2);
    let ours = h.invite(&them.id());
    let invite = Invite::decode(&ours.invite).unwrap();
    let (reply, _) = h.command(ConnectCommand::Withdraw {
        target: them.id().to_string(),
    });
    reply.unwrap();
    let acceptance = Payload::Acceptance(acceptance_of(&them, &invite));
    let (answer, outputs) = h.direct(&frame(&h.me_id(), &acceptance, NOW), &them);
    assert_eq!(answer, Some(false));
    assert_eq!(h.count("late_acceptance"), 1);
    let sent = settlements(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome, Outcome::Withdrawn);
    sent[0].verify(&invite).unwrap();
    assert!(!h.store.connections.contains_key(&them.id()));

    // Copies within the minute are refused without another stamp to mint.
    let (_, outputs) = h.direct(&frame(&h.me_id(), &acceptance, NOW), &them);
    assert!(settlements(&outputs).is_empty());
    h.now = NOW + REFUSAL_INTERVAL_MS;
    let (_, outputs) = h.direct(&frame(&h.me_id(), &acceptance, NOW), &them);
    assert_eq!(settlements(&outputs).len(), 1);

    // An invite that expired unanswered is refused as expired.
    let other = identity(3);
    let ours = h.invite(&other.id());
    let invite = Invite::decode(&ours.invite).unwrap();
    h.now = ours.expires_at_ms;
    let acceptance = Payload::Acceptance(acceptance_of(&other, &invite));
    let (_, outputs) = h.direct(&frame(&h.me_id(), &acceptance, h.now), &other);
    let sent = settlements(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome, Outcome::Expired);
}

#[test]
fn the_invitee_awaits_confirmation_and_a_refusal_drops_the_connection() {
    let mut h = Harness::new();
    let them = identity(2);
    let invite = accepted_from(&mut h, &them);
    let connection = h.store.connections[&them.id()].clone();
    assert!(connection.awaiting_confirmation);
    assert_eq!(connection.revoked_at_ms, None);

    // A settlement someone else signed changes nothing.
    let forged = Settlement::create(&identity(3), &invite, Outcome::Expired, NOW);
    let (answer, _) = h.direct(&frame(&h.me_id(), &Payload::Settlement(forged), NOW), &them);
    assert_eq!(answer, Some(false));
    assert_eq!(h.count("invalid_settlement"), 1);
    assert!(h.store.connections[&them.id()].awaiting_confirmation);

    let refused = Settlement::create(&them, &invite, Outcome::Expired, NOW);
    let refusal = frame(&h.me_id(), &Payload::Settlement(refused), NOW);
    let (answer, outputs) = h.direct(&refusal, &them);
    assert_eq!(answer, Some(true));
    let dropped = &h.store.connections[&them.id()];
    assert!(dropped.revoked_at_ms.is_some() && !dropped.awaiting_confirmation);
    assert!(
        writes(&outputs)
            .iter()
            .any(|op| matches!(op, StoreOp::RevokeConnection(_))),
        "the channel goes with the connection: {outputs:?}"
    );
    let record = &h.store.incoming[&invite.invite_id];
    assert_eq!(record.state, InviteState::Expired);
    assert_eq!(record.next_publish_at_ms, None);
    assert!(events(&outputs).iter().any(|e| matches!(
        e,
        Event::InviteRefused { reason, .. } if reason == "expired"
    )));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, ConnectOutput::ChannelChanged(p) if *p == them.id()))
    );
    // A confirmation arriving after the refusal changes nothing.
    let late = Settlement::create(&them, &invite, Outcome::Confirmed, NOW);
    let (answer, outputs) = h.direct(&frame(&h.me_id(), &Payload::Settlement(late), NOW), &them);
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty());
}

#[test]
fn a_withdrawal_that_crossed_our_acceptance_is_a_refusal() {
    let mut h = Harness::new();
    let them = identity(2);
    let invite = accepted_from(&mut h, &them);
    let withdrawal = Withdrawal::create(&them, h.me_id(), invite.invite_id, NOW + 5);
    let (answer, outputs) = h.direct(
        &frame(&h.me_id(), &Payload::Withdrawal(withdrawal), NOW),
        &them,
    );
    assert_eq!(answer, Some(true));
    assert!(h.store.connections[&them.id()].revoked_at_ms.is_some());
    assert_eq!(
        h.store.incoming[&invite.invite_id].state,
        InviteState::Withdrawn
    );
    assert!(events(&outputs).iter().any(|e| matches!(
        e,
        Event::InviteRefused { reason, .. } if reason == "withdrawn"
    )));
    // The connection is gone, so the pair may connect again: a new invite is admitted.
    let (_, frame) = invite_frame(&them, h.me_id(), NOW + 10);
    assert_eq!(h.direct(&frame, &them).0, Some(true));
    assert_eq!(h.count("already_connected"), 0);
}

#[test]
fn a_withdrawal_after_a_confirmation_changes_nothing() {
    let mut h = Harness::new();
    let them = identity(2);
    let invite = accepted_from(&mut h, &them);
    let confirmed = Settlement::create(&them, &invite, Outcome::Confirmed, NOW);
    h.direct(
        &frame(&h.me_id(), &Payload::Settlement(confirmed), NOW),
        &them,
    );
    assert!(!h.store.connections[&them.id()].awaiting_confirmation);
    let withdrawal = Withdrawal::create(&them, h.me_id(), invite.invite_id, NOW + 5);
    let (answer, outputs) = h.direct(
        &frame(&h.me_id(), &Payload::Withdrawal(withdrawal), NOW),
        &them,
    );
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty(), "{outputs:?}");
    assert_eq!(h.store.connections[&them.id()].revoked_at_ms, None);
}
