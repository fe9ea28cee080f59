//! The republish schedule, expiry, back-off and the peer-connected nudge.

use accord_handshake::{InviteState, Payload};

use super::super::super::delivery::{
    DeliveryKey, FIRST_REPUBLISH_DELAY_MS, MAX_REPUBLISH_DELAY_MS,
};
use super::super::io::{ConnectInput, ConnectOutput, StoreOp};
use super::super::live::{NUDGE_DELAY_MS, NUDGE_INTERVAL_MS};
use super::super::memory::Loaded;
use super::*;

/// The outgoing invite written by `outputs`, the only write expected.
fn only_outgoing_write(outputs: &[ConnectOutput]) -> OutgoingInvite {
    let writes = writes(outputs);
    let [StoreOp::PutOutgoing(record)] = writes.as_slice() else {
        panic!("one outgoing write expected: {writes:?}");
    };
    record.clone()
}

#[test]
fn a_sent_invite_is_republished_with_back_off_until_delivered() {
    let mut h = Harness::new();
    let peer = identity(2).id();
    let (reply, outputs) = h.command(ConnectCommand::Connect {
        peer: peer.to_string(),
        note: String::new(),
        presentation: Box::default(),
    });
    reply.unwrap();
    assert_eq!(deliveries(&outputs).len(), 1);
    let first_due = NOW + FIRST_REPUBLISH_DELAY_MS;
    assert_eq!(wake(&outputs), Some(Some(first_due)));

    // Each republication sends the invite again: once more after 30 s, then once a day.
    let mut due = first_due;
    let mut delays = Vec::new();
    for count in 1..=7 {
        let outputs = h.tick(due);
        let record = only_outgoing_write(&outputs);
        assert_eq!(record.publish_count, count);
        let sent = deliveries(&outputs);
        let [delivery] = sent.as_slice() else {
            panic!("one delivery expected: {outputs:?}");
        };
        assert!(matches!(delivery.payload, Payload::Invite(_)));
        assert_eq!(delivery.to, peer);
        let next = record.next_publish_at_ms.unwrap();
        assert_eq!(wake(&outputs), Some(Some(next)));
        delays.push(next - due);
        due = next;
    }
    let day = MAX_REPUBLISH_DELAY_MS;
    assert_eq!(delays, [30_000, day, day, day, day, day, day]);
    assert_eq!(*delays.last().unwrap(), MAX_REPUBLISH_DELAY_MS);

    // Once the recipient answered a direct hand-over, the invite is no longer republished;
    // what remains is its expiry.
    let id = h.store.outgoing.values().next().unwrap().invite_id;
    let outputs = h.feed(ConnectInput::Delivered(DeliveryKey::Invite(id)));
    let record = only_outgoing_write(&outputs);
    assert_eq!(record.next_publish_at_ms, None);
    assert_eq!(wake(&outputs), Some(Some(record.expires_at_ms)));
}

#[test]
fn an_expired_outgoing_invite_loses_its_key_and_is_not_sent_again() {
    let mut h = Harness::new();
    let record = h.invite(&identity(2).id());
    // The republication and the expiry fall due at the same tick: only the expiry happens.
    let outputs = h.tick(record.expires_at_ms);
    let expired = only_outgoing_write(&outputs);
    assert_eq!(expired.state, InviteState::Expired);
    assert!(
        expired.one_time_secret.is_none(),
        "the one-time key was kept"
    );
    assert_eq!(expired.next_publish_at_ms, None);
    assert!(deliveries(&outputs).is_empty());
    assert_eq!(wake(&outputs), Some(None), "nothing is left to wake for");
    // Once expired, the peer may be invited again at once (an expiry is no cool-down).
    h.invite(&identity(2).id());
}

#[test]
fn an_incoming_invite_expires_when_its_time_comes_and_not_before() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, frame) = invite_frame(&them, h.me_id(), NOW);
    assert_eq!(h.direct(&frame, &them).0, Some(true));
    let outputs = h.tick(invite.expires_at_ms - 1);
    assert!(writes(&outputs).is_empty(), "expired early: {outputs:?}");
    let outputs = h.tick(invite.expires_at_ms);
    let writes = writes(&outputs);
    let [StoreOp::PutIncoming(record)] = writes.as_slice() else {
        panic!("one incoming write expected: {writes:?}");
    };
    assert_eq!(record.state, InviteState::Expired);
    assert_eq!(record.closed_at_ms, Some(invite.expires_at_ms));
}

#[test]
fn only_a_connection_arriving_pulls_the_schedule_forward_at_most_once_per_interval() {
    let mut h = Harness::new();
    let friend = identity(3);
    inbound::connect_with(&mut h, &friend);
    let record = h.invite(&identity(2).id());
    // Two republications push the next one a day away.
    let mut due = record.next_publish_at_ms.unwrap();
    for _ in 0..2 {
        let outputs = h.tick(due);
        due = only_outgoing_write(&outputs).next_publish_at_ms.unwrap();
    }
    assert!(due > h.now + NUDGE_DELAY_MS);

    // A stranger connecting moves nothing: anyone could connect to watch what the node then
    // publishes, and learn which frames it originates.
    let stranger = identity(9).id().peer_id();
    let outputs = h.feed(ConnectInput::PeerConnected(stranger));
    assert!(
        writes(&outputs).is_empty(),
        "a stranger's nudge: {outputs:?}"
    );
    assert!(deliveries(&outputs).is_empty());

    // A connection connects: the invite is moved to a couple of seconds from now, not sent.
    let outputs = h.feed(ConnectInput::PeerConnected(friend.id().peer_id()));
    let moved = only_outgoing_write(&outputs);
    assert_eq!(moved.next_publish_at_ms, Some(h.now + NUDGE_DELAY_MS));
    assert!(deliveries(&outputs).is_empty());
    assert_eq!(wake(&outputs), Some(Some(h.now + NUDGE_DELAY_MS)));

    // A second arrival within the interval pulls nothing.
    h.now += NUDGE_INTERVAL_MS - 1;
    let outputs = h.feed(ConnectInput::PeerConnected(friend.id().peer_id()));
    assert!(writes(&outputs).is_empty(), "a second nudge: {outputs:?}");

    // The recipient itself connecting gets its invite at once, whatever the interval.
    let outputs = h.feed(ConnectInput::PeerConnected(identity(2).id().peer_id()));
    assert_eq!(deliveries(&outputs).len(), 1);
    assert_eq!(only_outgoing_write(&outputs).publish_count, 3);
}

#[test]
fn a_failed_republication_write_sends_nothing_and_is_tried_again() {
    let mut h = Harness::new();
    let record = h.invite(&identity(2).id());
    let due = record.next_publish_at_ms.unwrap();
    h.store.failing = true;
    let outputs = h.tick(due);
    assert!(deliveries(&outputs).is_empty(), "sent without its write");
    assert_eq!(h.count("store_write_failed"), 1);
    // The timer is asked for again although the deadline did not move.
    assert_eq!(wake(&outputs), Some(Some(due)));
    h.store.failing = false;
    let outputs = h.tick(due);
    assert_eq!(deliveries(&outputs).len(), 1);
}

#[test]
fn an_identified_peer_is_recorded_and_a_failure_counted() {
    let mut h = Harness::new();
    let peer = identity(3).id().peer_id();
    let outputs = h.feed(ConnectInput::PeerIdentified {
        peer,
        addrs: Vec::new(),
    });
    assert!(matches!(
        stores(&outputs).as_slice(),
        [StoreOp::RecordPeer { .. }]
    ));
    h.store.failing = true;
    h.feed(ConnectInput::PeerIdentified {
        peer,
        addrs: Vec::new(),
    });
    assert_eq!(h.count("address_book_write_failed"), 1);
    // A libp2p peer that is not an Accord identity is not recorded.
    let outputs = h.feed(ConnectInput::PeerIdentified {
        peer: PeerId::random(),
        addrs: Vec::new(),
    });
    assert!(stores(&outputs).is_empty());
}

#[test]
fn what_a_store_held_is_scheduled_at_start_and_purged_when_due() {
    let them = identity(2);
    let invite = invite_from(&them, identity(1).id(), NOW - DAY, 3 * DAY);
    let record = IncomingInvite {
        invite_id: invite.invite_id,
        peer: them.id(),
        invite: invite.encode(),
        note: String::new(),
        state: InviteState::Pending,
        created_at_ms: invite.created_at_ms,
        expires_at_ms: invite.expires_at_ms,
        received_at_ms: NOW - DAY,
        closed_at_ms: None,
        acceptance: None,
        ephemeral_secret: None,
        next_publish_at_ms: None,
        publish_count: 0,
    };
    let entry = accord_store::live_incoming(&record).unwrap();
    // A second entry whose record is gone must not keep the timer busy.
    let mut lost = entry.clone();
    lost.item = accord_store::LiveItem::Outgoing([7; 16]);
    lost.next_publish_at_ms = Some(NOW);
    lost.expires_at_ms = u64::MAX;
    lost.state = InviteState::Withdrawn;
    let loaded = Loaded {
        live_entries: vec![entry, lost],
        incoming: vec![record.clone()],
        next_purge_ms: Some(NOW + 10),
        ..Loaded::default()
    };
    let mut h = Harness::loaded(config(), loaded);
    assert_eq!(h.started, Some(Some(NOW)));
    let outputs = h.tick(NOW);
    assert!(stores(&outputs).is_empty(), "{outputs:?}");
    assert_eq!(wake(&outputs), Some(Some(NOW + 10)));
    let outputs = h.tick(NOW + 10);
    assert!(matches!(stores(&outputs).as_slice(), [StoreOp::Purge(_)]));
    assert_eq!(wake(&outputs), Some(Some(record.expires_at_ms)));
    // The loaded invite is known: a republication of it changes nothing.
    let frame = frame(&h.me_id(), &Payload::Invite(invite), NOW);
    let (answer, outputs) = h.direct(&frame, &them);
    assert_eq!(answer, Some(true));
    assert!(stores(&outputs).is_empty());
}

#[test]
fn an_acceptance_is_republished_until_confirmed_and_a_revocation_a_bounded_number_of_times() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, invite_bytes) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&invite_bytes, &them);
    let (reply, outputs) = h.command(ConnectCommand::Accept {
        target: them.id().to_string(),
    });
    reply.unwrap();
    // The acceptance is republished until the inviter settles it: a direct hand-over that is
    // answered does not stop it while the connection awaits confirmation.
    let due = wake(&outputs).flatten().unwrap();
    let outputs = h.tick(due);
    assert!(matches!(
        deliveries(&outputs).as_slice(),
        [d] if matches!(d.payload, Payload::Acceptance(_))
    ));
    let id = *h.store.incoming.keys().next().unwrap();
    let outputs = h.feed(ConnectInput::Delivered(DeliveryKey::Acceptance(id)));
    assert!(writes(&outputs).is_empty(), "{outputs:?}");
    assert!(h.store.incoming[&id].next_publish_at_ms.is_some());
    assert!(h.store.connections[&them.id()].awaiting_confirmation);
    let confirmed = accord_handshake::Settlement::create(
        &them,
        &invite,
        accord_handshake::Outcome::Confirmed,
        NOW,
    );
    let settled = frame(&h.me_id(), &Payload::Settlement(confirmed), NOW);
    let (answer, outputs) = h.direct(&settled, &them);
    assert_eq!(answer, Some(true));
    assert!(!h.store.connections[&them.id()].awaiting_confirmation);
    assert_eq!(h.store.incoming[&id].next_publish_at_ms, None);
    assert_eq!(wake(&outputs), Some(None));
    assert!(
        events(&outputs)
            .iter()
            .any(|e| matches!(e, accord_api::Event::InviteConfirmed { .. }))
    );

    let (reply, outputs) = h.command(ConnectCommand::Disconnect {
        peer: them.id().to_string(),
    });
    reply.unwrap();
    let mut due = wake(&outputs).flatten().unwrap();
    let mut sent = 0;
    loop {
        let outputs = h.tick(due);
        sent += deliveries(&outputs).len();
        match wake(&outputs) {
            Some(Some(next)) => due = next,
            _ => break,
        }
        assert!(sent <= 40, "the revocation is republished without end");
    }
    assert_eq!(
        sent,
        super::super::super::delivery::MAX_REVOCATION_PUBLISHES as usize
    );
    assert_eq!(h.store.connections[&them.id()].next_publish_at_ms, None);
}
