//! Frames: admission, the replay cache, blocks, crossed invites, the incoming limit, the
//! decline cool-down, acceptances, withdrawals and revocations.

use accord_api::Event;
use accord_handshake::{Crossed, InviteState, Payload, Revocation, Withdrawal, crossed_resolution};

use super::super::io::{ConnectOutput, StoreOp};
use super::*;

/// Identities among 2..40 whose crossed invites with identity 1 resolve to `side`.
fn peer_where(side: Crossed) -> Identity {
    let me = identity(1).id();
    (2..40)
        .map(identity)
        .find(|peer| crossed_resolution(&me, &peer.id()) == side)
        .expect("both sides occur among a few identities")
}

fn received(outputs: &[ConnectOutput]) -> usize {
    events(outputs)
        .iter()
        .filter(|e| matches!(e, Event::InviteReceived { .. }))
        .count()
}

#[test]
fn an_invite_is_admitted_once_and_repeats_change_nothing() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, frame) = invite_frame(&them, h.me_id(), NOW);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert_eq!(received(&outputs), 1);
    let [StoreOp::PutIncoming(record)] = writes(&outputs).as_slice() else {
        panic!("one incoming write expected: {outputs:?}");
    };
    assert_eq!(record.state, InviteState::Pending);

    // The same invite sealed afresh (a republication): known, answered, not stored again.
    let again = frame_for(&h, &Payload::Invite(invite));
    let (answer, outputs) = h.direct(&again, &them);
    assert_eq!(answer, Some(true));
    assert!(stores(&outputs).is_empty(), "a known invite read the store");

    // The very same bytes: the replay cache answers before any cryptography.
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert!(stores(&outputs).is_empty());
    assert_eq!(h.count("replayed_frame"), 1);
}

fn frame_for(h: &Harness, payload: &Payload) -> Vec<u8> {
    frame(&h.me_id(), payload, h.now + DAY)
}

#[test]
fn frames_not_for_us_or_without_work_are_refused() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, for_someone_else) = invite_frame(&them, identity(3).id(), NOW);
    assert_eq!(h.direct(&for_someone_else, &them).0, Some(false));
    // Damaged bytes are malformed.
    assert_eq!(h.direct(&[1, 2, 3], &them).0, Some(false));
    assert_eq!(h.count("malformed"), 1);
    // A stamp with too little work is refused on a direct hand-over.
    let mut strict = config();
    strict.invites.stamp_bits = 20;
    let mut h = Harness::with(strict);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    assert_eq!(h.direct(&frame, &them).0, Some(false));
    assert_eq!(h.count("stamp"), 1);
}

#[test]
fn a_blocked_sender_is_dropped_and_blocking_declines_what_is_pending() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    assert_eq!(h.direct(&frame, &them).0, Some(true));
    let (reply, outputs) = h.command(ConnectCommand::Block {
        peer: them.id().to_string(),
        block: true,
    });
    reply.unwrap();
    let writes = writes(&outputs);
    let [StoreOp::Block { .. }, StoreOp::PutIncoming(declined)] = writes.as_slice() else {
        panic!("a block and a decline expected: {writes:?}");
    };
    assert_eq!(declined.state, InviteState::Declined);
    // The Message actor is told, so that it stops sending what it held ready for them.
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, ConnectOutput::ChannelChanged(p) if *p == them.id())),
        "{outputs:?}"
    );

    let (_, frame) = invite_frame(&them, h.me_id(), NOW + 1);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(false));
    assert!(stores(&outputs).is_empty());
    assert_eq!(h.count("blocked"), 1);
}

#[test]
fn crossed_invites_where_ours_wins_wait_for_ours_and_stay_unsettled() {
    let mut h = Harness::new();
    let them = peer_where(Crossed::KeepOurs);
    h.invite(&them.id());
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert!(
        writes(&outputs).is_empty(),
        "theirs was stored: {outputs:?}"
    );
    // Should ours end unanswered, a later copy of theirs must count: it is not cached.
    h.direct(&frame, &them);
    assert_eq!(h.count("replayed_frame"), 0);
}

#[test]
fn crossed_invites_where_theirs_wins_accept_theirs_and_close_ours() {
    let mut h = Harness::new();
    let them = peer_where(Crossed::AcceptTheirs);
    let ours = h.invite(&them.id());
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    let writes = writes(&outputs);
    let [
        StoreOp::PutIncoming(_),
        StoreOp::AcceptIncoming { record, .. },
        StoreOp::PutOutgoing(closed),
    ] = writes.as_slice()
    else {
        panic!("store, accept theirs, close ours expected: {writes:?}");
    };
    assert_eq!(record.state, InviteState::Accepted);
    assert_eq!(closed.invite_id, ours.invite_id);
    assert_eq!(closed.state, InviteState::Accepted);
    assert!(closed.one_time_secret.is_none());
    assert!(
        outputs.iter().any(
            |o| matches!(o, ConnectOutput::KeepPeers(peers) if *peers == [them.id().peer_id()])
        )
    );
}

#[test]
fn beyond_the_limit_the_invite_with_the_earliest_deadline_is_evicted() {
    let mut config = config();
    config.limits.pending_invites = 2;
    let mut h = Harness::with(config);
    let me = h.me_id();
    let short = invite_from(&identity(2), me, NOW, 3 * DAY);
    let middle = invite_from(&identity(3), me, NOW, 5 * DAY);
    for invite in [&short, &middle] {
        let frame = frame_for(&h, &Payload::Invite(invite.clone()));
        assert_eq!(h.direct(&frame, &identity(2)).0, Some(true));
    }
    let long = invite_from(&identity(4), me, NOW, 6 * DAY);
    let (answer, outputs) = h.direct(&frame_for(&h, &Payload::Invite(long)), &identity(4));
    assert_eq!(answer, Some(true));
    let writes = writes(&outputs);
    let [StoreOp::RemoveIncoming(evicted), StoreOp::PutIncoming(_)] = writes.as_slice() else {
        panic!("an eviction and an admission expected: {writes:?}");
    };
    assert_eq!(*evicted, short.invite_id);
    assert_eq!(h.count("evicted_invite"), 1);

    // A newcomer whose deadline is the earliest of all finds no room.
    let shortest = invite_from(&identity(5), me, NOW, DAY);
    let frame = frame_for(&h, &Payload::Invite(shortest));
    assert_eq!(h.direct(&frame, &identity(5)).0, Some(false));
    assert_eq!(h.count("incoming_full"), 1);
}

#[test]
fn a_declined_inviter_is_held_back_until_the_cool_down_ends_or_it_is_unblocked() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    h.command(ConnectCommand::Decline {
        target: them.id().to_string(),
    })
    .0
    .unwrap();
    // A new invite is answered as if delivered, so the inviter learns nothing, but dropped.
    let (_, frame) = invite_frame(&them, h.me_id(), NOW + 1);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty());
    assert_eq!(h.count("declined_cooldown"), 1);

    // After the cool-down, their invites count again.
    let days = u64::from(config().invites.reinvite_cooldown_days);
    h.now = NOW + days * DAY + 1;
    let (_, frame) = invite_frame(&them, h.me_id(), h.now);
    let (_, outputs) = h.direct(&frame, &them);
    assert_eq!(received(&outputs), 1);

    // Unblocking ends a cool-down early.
    let other = identity(3);
    let (_, frame) = invite_frame(&other, h.me_id(), h.now);
    h.direct(&frame, &other);
    for block in [true, false] {
        let peer = other.id().to_string();
        h.command(ConnectCommand::Block { peer, block }).0.unwrap();
    }
    h.now += 1;
    let (_, frame) = invite_frame(&other, h.me_id(), h.now);
    let (_, outputs) = h.direct(&frame, &other);
    assert_eq!(
        received(&outputs),
        1,
        "the unblocked peer was still held back"
    );
}

/// Identity 1 invites `them`, who accepts; the acceptance's outputs.
fn connect_with(h: &mut Harness, them: &Identity) -> (Invite, Vec<ConnectOutput>) {
    let ours = h.invite(&them.id());
    let invite = Invite::decode(&ours.invite).unwrap();
    let acceptance = acceptance_of(them, &invite);
    let frame = frame_for(h, &Payload::Acceptance(acceptance));
    let (answer, outputs) = h.direct(&frame, them);
    assert_eq!(answer, Some(true));
    (invite, outputs)
}

#[test]
fn an_acceptance_completes_our_invite_and_keeps_the_peer() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, outputs) = connect_with(&mut h, &them);
    assert!(matches!(
        writes(&outputs).as_slice(),
        [StoreOp::CompleteOutgoing { .. }]
    ));
    assert!(
        events(&outputs)
            .iter()
            .any(|e| matches!(e, Event::InviteAccepted { .. }))
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, ConnectOutput::ChannelChanged(p) if *p == them.id()))
    );
    assert!(
        outputs.iter().any(
            |o| matches!(o, ConnectOutput::KeepPeers(peers) if *peers == [them.id().peer_id()])
        )
    );
    assert_eq!(
        wake(&outputs),
        Some(None),
        "an accepted invite is not republished"
    );

    // Another copy of an acceptance is read back, recognised, counted, and answered.
    let again = frame_for(&h, &Payload::Acceptance(acceptance_of(&them, &invite)));
    let (answer, outputs) = h.direct(&again, &them);
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty());
    assert_eq!(h.count("repeated_acceptance"), 1);
}

#[test]
fn an_acceptance_of_an_unknown_or_expired_invite_is_refused() {
    let mut h = Harness::new();
    let them = identity(2);
    let stranger_invite = invite_from(&h.me, them.id(), NOW, DAY);
    let frame = frame_for(
        &h,
        &Payload::Acceptance(acceptance_of(&them, &stranger_invite)),
    );
    assert_eq!(h.direct(&frame, &them).0, Some(false));
    assert_eq!(h.count("unknown_acceptance"), 1);

    let ours = h.invite(&them.id());
    let invite = Invite::decode(&ours.invite).unwrap();
    h.now = ours.expires_at_ms;
    let frame = frame_for(&h, &Payload::Acceptance(acceptance_of(&them, &invite)));
    assert_eq!(h.direct(&frame, &them).0, Some(false));
    assert_eq!(h.count("late_acceptance"), 1);
}

#[test]
fn a_withdrawal_closes_the_pending_invite_and_one_before_its_invite_stays_unsettled() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, frame) = invite_frame(&them, h.me_id(), NOW);
    // The withdrawal overtakes its invite: accepted, nothing stored, not cached.
    let withdrawal = Withdrawal::create(&them, h.me_id(), invite.invite_id, NOW + 1);
    let early = frame_for(&h, &Payload::Withdrawal(withdrawal));
    let (answer, outputs) = h.direct(&early, &them);
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty());

    h.direct(&frame, &them);
    let (answer, outputs) = h.direct(&early, &them);
    assert_eq!(answer, Some(true));
    assert_eq!(h.count("replayed_frame"), 0);
    let [StoreOp::PutIncoming(record)] = writes(&outputs).as_slice() else {
        panic!("the invite closed expected: {outputs:?}");
    };
    assert_eq!(record.state, InviteState::Withdrawn);
    assert!(
        events(&outputs)
            .iter()
            .any(|e| matches!(e, Event::InviteWithdrawn { .. }))
    );
}

#[test]
fn a_revocation_from_a_connection_ends_it_once() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, _) = connect_with(&mut h, &them);
    let connection = h.store.connections[&them.id()].clone();
    let attestation = accord_handshake::Attestation::decode(&connection.attestation).unwrap();
    let revocation = Revocation::create(&them, &attestation, h.now).unwrap();
    let frame = frame_for(&h, &Payload::Revocation(revocation.clone()));
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert!(matches!(
        writes(&outputs).as_slice(),
        [StoreOp::RevokeConnection(c)] if c.revoked_at_ms.is_some()
    ));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, ConnectOutput::KeepPeers(peers) if peers.is_empty()))
    );
    // Sealed again, it changes nothing more.
    let again = frame_for(&h, &Payload::Revocation(revocation));
    let (answer, outputs) = h.direct(&again, &them);
    assert_eq!(answer, Some(true));
    assert!(writes(&outputs).is_empty());
    let _ = invite;
}

#[test]
fn a_failed_write_refuses_the_frame_and_a_later_copy_still_counts() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    h.store.failing = true;
    assert_eq!(h.direct(&frame, &them).0, Some(false));
    assert_eq!(h.count("store_write_failed"), 1);
    h.store.failing = false;
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert_eq!(received(&outputs), 1);
}

#[test]
fn a_gossip_frame_is_applied_without_an_answer_or_a_second_stamp_check() {
    // Gossip delivers only what the relay check passed, so the stamp is not checked again:
    // even a node that asks for more work than this frame has takes it from gossip.
    let mut strict = config();
    strict.invites.stamp_bits = 20;
    let mut h = Harness::with(strict);
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    let outputs = h.gossip(&frame, identity(7).id().peer_id());
    assert_eq!(received(&outputs), 1);
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, ConnectOutput::AnswerDirect { .. }))
    );
}
