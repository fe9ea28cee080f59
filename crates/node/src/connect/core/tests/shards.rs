//! The shard store and the own-shard rule: frames of other shards are kept for their owners
//! and never opened; a peer that connects, or joins a shard, is handed what its shards hold;
//! sightings of peers move the shard level and the subscriptions.

use super::super::super::shard_layout::Shard;
use super::super::io::ConnectOutput;
use super::*;

/// The fixed level of these tests: 16 shards, every one relayed.
const LEVEL: u8 = 4;

/// A node relaying all 16 shards of a fixed layout.
fn relaying_all() -> Harness {
    let mut config = config();
    config.gossip.shards = Some(1 << LEVEL);
    config.gossip.relay_all_shards = true;
    Harness::with(config)
}

fn shard_of(id: &AccordId) -> Shard {
    Shard::of_id(id, LEVEL)
}

fn topic_for(id: &AccordId) -> String {
    shard_of(id).topic()
}

/// The first identity (from seed 10 on) whose shard differs from `h`'s own.
fn someone_on_another_shard(h: &Harness) -> Identity {
    let mine = shard_of(&h.me_id());
    (10..=255)
        .map(identity)
        .find(|id| shard_of(&id.id()) != mine)
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
    let mut h = relaying_all();
    let relay = identity(7).id().peer_id();
    let other = someone_on_another_shard(&h);
    let other_topic = topic_for(&other.id());
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
    let mut h = relaying_all();
    let relay = identity(7).id().peer_id();
    let owner = someone_on_another_shard(&h);
    let topic = topic_for(&owner.id());
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
            let shard = shard_of(&id.id());
            shard != shard_of(&owner.id()) && shard != shard_of(&h.me_id())
        })
        .unwrap();
    let (_, elsewhere) = invite_frame(&identity(30), third.id(), NOW);
    h.gossip_on(&elsewhere, relay, &topic_for(&third.id()));

    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert_eq!(handed_over(&outputs), vec![(owner.id().peer_id(), sent)]);
    // Handed once: a reconnection gets only what arrived since.
    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert!(handed_over(&outputs).is_empty());
    // Another owner of the same shard gets the frames too, until they expire: a week and a
    // few hours later, nothing is left.
    let owner_shard = shard_of(&owner.id());
    let neighbours: Vec<PeerId> = (41..=255)
        .map(identity)
        .filter(|id| shard_of(&id.id()) == owner_shard)
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
    config.gossip.shards = Some(1 << LEVEL);
    config.gossip.relay_all_shards = true;
    config.gossip.store_kib_per_shard = 0;
    let mut h = Harness::with(config);
    let owner = someone_on_another_shard(&h);
    let topic = topic_for(&owner.id());
    let (_, frame) = invite_frame(&identity(20), owner.id(), NOW);
    h.gossip_on(&frame, identity(7).id().peer_id(), &topic);
    let outputs = h.feed(ConnectInput::PeerConnected(owner.id().peer_id()));
    assert!(handed_over(&outputs).is_empty());
}

#[test]
fn a_peer_that_joins_a_shard_is_back_filled_with_its_older_frames() {
    let mut h = relaying_all();
    let relay = identity(7).id().peer_id();
    let owner = someone_on_another_shard(&h);
    let topic = topic_for(&owner.id());
    let (_, frame) = invite_frame(&identity(20), owner.id(), NOW);
    h.gossip_on(&frame, relay, &topic);
    // A peer of that shard subscribes to its topic (it started, or its level moved): it is
    // handed what the store kept of it.
    let joiner = owner.id().peer_id();
    let outputs = h.feed(ConnectInput::PeerSubscribed {
        peer: joiner,
        topic: topic.clone(),
    });
    assert_eq!(handed_over(&outputs), vec![(joiner, vec![frame.clone()])]);
    // A peer subscribing to a shard that is not its own (a node relaying everything) gets
    // nothing: its own shards are what it needs, and it hears the others' traffic from now.
    let stranger = (10..=255)
        .map(identity)
        .find(|id| shard_of(&id.id()) != shard_of(&owner.id()))
        .unwrap();
    let outputs = h.feed(ConnectInput::PeerSubscribed {
        peer: stranger.id().peer_id(),
        topic,
    });
    assert!(handed_over(&outputs).is_empty());
}

#[test]
fn a_back_filled_frame_that_is_not_ours_is_kept_for_our_shard() {
    // The default layout at the lowest level: one shard holding everyone.
    let mut h = Harness::new();
    let someone = identity(30);
    let (_, frame) = invite_frame(&identity(20), someone.id(), NOW);
    let (answer, _) = h.direct(&frame, &identity(7));
    assert_eq!(answer, Some(false), "not ours");
    assert_eq!(h.core.shard_store.frames(), 1);
    // A peer of our shard that connects gets it from us.
    let outputs = h.feed(ConnectInput::PeerConnected(someone.id().peer_id()));
    assert_eq!(
        handed_over(&outputs),
        vec![(someone.id().peer_id(), vec![frame])]
    );
}

#[test]
fn sightings_of_a_growing_network_raise_the_level_and_move_the_subscriptions() {
    let mut config = config();
    config.gossip.users_per_shard = 2;
    let mut h = Harness::with(config);
    assert_eq!(h.core.network_size.level(), 0);
    let mut moves = Vec::new();
    for n in 10..=200 {
        let outputs = h.feed(ConnectInput::PeerIdentified {
            peer: identity(n).id().peer_id(),
            addrs: Vec::new(),
        });
        moves.extend(outputs.into_iter().filter_map(|o| match o {
            ConnectOutput::Shards { level, topics } => Some((level, topics)),
            _ => None,
        }));
    }
    // One move within the ten minutes a level stays at least.
    assert_eq!(moves.len(), 1, "{moves:?}");
    let (level, topics) = &moves[0];
    assert!(*level >= 1);
    let me = h.me_id();
    let expected: Vec<String> = (level - 1..=level + 1)
        .map(|at| Shard::of_id(&me, at).topic())
        .collect();
    assert_eq!(topics, &expected);
}
