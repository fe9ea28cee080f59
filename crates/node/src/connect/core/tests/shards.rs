//! The shard store and the own-shard rule: frames of other shards are kept for their owners
//! and never opened; a peer that connects is handed what its shard holds.

use super::super::super::delivery::{shard_of, topic_for};
use super::super::io::ConnectOutput;
use super::*;

/// The shards of the test configuration.
fn shards(h: &Harness) -> u32 {
    h.core.config.gossip.shards
}

/// The first identity (from seed 10 on) whose shard differs from `h`'s own.
fn someone_on_another_shard(h: &Harness) -> Identity {
    let mine = shard_of(&h.me_id(), shards(h));
    (10..=255)
        .map(identity)
        .find(|id| shard_of(&id.id(), shards(h)) != mine)
        .expect("16 shards: someone is elsewhere")
}

fn handed_over(outputs: &[ConnectOutput]) -> Vec<(PeerId, Vec<Vec<u8>>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ConnectOutput::HandOver { peer, frames } => Some((*peer, frames.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn only_frames_of_our_own_shard_are_opened() {
    let mut h = Harness::new();
    let relay = identity(7).id().peer_id();
    let other = someone_on_another_shard(&h);
    let other_topic = topic_for(&other.id(), shards(&h));
    // An invite sealed to us, but arriving on another shard's topic: a relay keeps it for
    // that shard's owners and does not try to open it (trial decryption of every shard would
    // be work for nothing, which a flood on any shard could make every node do).
    let (_, frame) = invite_frame(&identity(2), h.me_id(), NOW);
    let outputs = h.gossip_on(&frame, relay, &other_topic);
    assert!(stores(&outputs).is_empty(), "opened: {outputs:?}");
    assert!(events(&outputs).is_empty());
    // The same kind of frame on our own shard's topic is opened and stored.
    let (_, frame) = invite_frame(&identity(3), h.me_id(), NOW);
    let outputs = h.gossip(&frame, relay);
    assert!(
        writes(&outputs)
            .iter()
            .any(|op| matches!(op, StoreOp::PutIncoming(_))),
        "not opened: {outputs:?}"
    );
}

#[test]
fn a_peer_that_connects_is_handed_the_frames_its_shard_kept() {
    let mut h = Harness::new();
    let relay = identity(7).id().peer_id();
    let owner = someone_on_another_shard(&h);
    let topic = topic_for(&owner.id(), shards(&h));
    let mut sent = Vec::new();
    for n in 0..3 {
        let (_, frame) = invite_frame(&identity(20 + n), owner.id(), NOW);
        h.gossip_on(&frame, relay, &topic);
        sent.push(frame);
    }
    // A frame for a third shard is not the owner's business.
    let third = (10..=255)
        .map(identity)
        .find(|id| {
            let shard = shard_of(&id.id(), shards(&h));
            shard != shard_of(&owner.id(), shards(&h)) && shard != shard_of(&h.me_id(), shards(&h))
        })
        .unwrap();
    let (_, elsewhere) = invite_frame(&identity(30), third.id(), NOW);
    h.gossip_on(&elsewhere, relay, &topic_for(&third.id(), shards(&h)));

    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert_eq!(handed_over(&outputs), vec![(owner.id().peer_id(), sent)]);
    // Handed once: a reconnection gets only what arrived since.
    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert!(handed_over(&outputs).is_empty());
    // Another owner of the same shard gets the frames too, until they expire: a week and a
    // few hours later, nothing is left.
    let owner_shard = shard_of(&owner.id(), shards(&h));
    let neighbours: Vec<PeerId> = (41..=255)
        .map(identity)
        .filter(|id| shard_of(&id.id(), shards(&h)) == owner_shard)
        .map(|id| id.id().peer_id())
        .take(2)
        .collect();
    let outputs = h.feed(ConnectInput::PeerConnected(neighbours[0]));
    assert_eq!(handed_over(&outputs)[0].1.len(), 3);
    h.now = NOW + 8 * DAY;
    let outputs = h.feed(ConnectInput::PeerConnected(neighbours[1]));
    assert!(handed_over(&outputs).is_empty());
}

#[test]
fn a_store_budget_of_zero_keeps_nothing() {
    let mut config = config();
    config.gossip.store_kib_per_shard = 0;
    let mut h = Harness::with(config);
    let owner = someone_on_another_shard(&h);
    let topic = topic_for(&owner.id(), shards(&h));
    let (_, frame) = invite_frame(&identity(20), owner.id(), NOW);
    h.gossip_on(&frame, identity(7).id().peer_id(), &topic);
    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert!(handed_over(&outputs).is_empty());
}
