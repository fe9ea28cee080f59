//! The address book: merging, ordering, bounds, eviction and damaged records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{Store, StoreConfig, trees};
use common::{addr, id, open};

#[test]
fn new_peer_is_recorded() {
    let (_dir, store) = open(&StoreConfig::default());
    store.record_peer(id(1), &[addr(1), addr(2)], 100).unwrap();
    let peer = store.peer(&id(1)).unwrap().unwrap();
    assert_eq!(peer.id, id(1));
    assert_eq!(peer.addrs, vec![addr(1), addr(2)]);
    assert_eq!((peer.first_seen_ms, peer.last_seen_ms), (100, 100));
    assert_eq!(store.peer(&id(2)).unwrap(), None);
}

#[test]
fn addresses_merge_newest_first_without_duplicates() {
    let (_dir, store) = open(&StoreConfig::default());
    store.record_peer(id(1), &[addr(1), addr(2)], 100).unwrap();
    store
        .record_peer(id(1), &[addr(3), addr(1), addr(3)], 200)
        .unwrap();
    let peer = store.peer(&id(1)).unwrap().unwrap();
    assert_eq!(peer.addrs, vec![addr(3), addr(1), addr(2)]);
    assert_eq!((peer.first_seen_ms, peer.last_seen_ms), (100, 200));
}

#[test]
fn times_only_widen_when_the_clock_goes_back() {
    let (_dir, store) = open(&StoreConfig::default());
    store.record_peer(id(1), &[], 500).unwrap();
    store.record_peer(id(1), &[], 300).unwrap();
    let peer = store.peer(&id(1)).unwrap().unwrap();
    assert_eq!((peer.first_seen_ms, peer.last_seen_ms), (300, 500));
}

#[test]
fn addresses_per_peer_are_bounded() {
    let config = StoreConfig {
        max_addrs_per_peer: 3,
        ..StoreConfig::default()
    };
    let (_dir, store) = open(&config);
    let many: Vec<_> = (1..=10).map(addr).collect();
    store.record_peer(id(1), &many, 1).unwrap();
    assert_eq!(
        store.peer(&id(1)).unwrap().unwrap().addrs,
        many[..3].to_vec()
    );
    store.record_peer(id(1), &[addr(99)], 2).unwrap();
    assert_eq!(
        store.peer(&id(1)).unwrap().unwrap().addrs,
        vec![addr(99), addr(1), addr(2)]
    );
}

#[test]
fn oversized_addresses_are_dropped() {
    let (_dir, store) = open(&StoreConfig::default());
    let long: accord_store::Multiaddr = format!("/dns4/{}/tcp/1", "a".repeat(300)).parse().unwrap();
    store.record_peer(id(1), &[long, addr(1)], 1).unwrap();
    assert_eq!(store.peer(&id(1)).unwrap().unwrap().addrs, vec![addr(1)]);
}

#[test]
fn peers_are_listed_most_recent_first() {
    let (_dir, store) = open(&StoreConfig::default());
    store.record_peer(id(1), &[], 100).unwrap();
    store.record_peer(id(2), &[], 300).unwrap();
    store.record_peer(id(3), &[], 200).unwrap();
    let order: Vec<_> = store.peers().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(order, vec![id(2), id(3), id(1)]);
}

#[test]
fn full_book_evicts_the_least_recently_seen() {
    let config = StoreConfig {
        max_peers: 3,
        ..StoreConfig::default()
    };
    let (_dir, store) = open(&config);
    store.record_peer(id(1), &[], 100).unwrap();
    store.record_peer(id(2), &[], 200).unwrap();
    store.record_peer(id(3), &[], 300).unwrap();
    // Seeing peer 1 again makes peer 2 the stalest.
    store.record_peer(id(1), &[], 400).unwrap();
    assert_eq!(store.counts().unwrap().peers, 3);
    store.record_peer(id(4), &[], 500).unwrap();
    assert_eq!(store.counts().unwrap().peers, 3);
    assert_eq!(store.peer(&id(2)).unwrap(), None);
    for kept in [1, 3, 4] {
        assert!(
            store.peer(&id(kept)).unwrap().is_some(),
            "peer {kept} evicted"
        );
    }
}

#[test]
fn lowering_the_bound_shrinks_the_book_on_the_next_insert() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
        for n in 1..=5 {
            store.record_peer(id(n), &[], u64::from(n)).unwrap();
        }
    }
    let config = StoreConfig {
        max_peers: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), &config, &common::key()).unwrap();
    store.record_peer(id(6), &[], 6).unwrap();
    let ids: Vec<_> = store.peers().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id(6), id(5)]);
    assert_eq!(store.counts().unwrap().peers, 2);
}

#[test]
fn forget_removes_only_that_peer() {
    let (_dir, store) = open(&StoreConfig::default());
    store.record_peer(id(1), &[addr(1)], 1).unwrap();
    store.record_peer(id(2), &[addr(2)], 2).unwrap();
    assert!(store.forget_peer(&id(1)).unwrap());
    assert!(!store.forget_peer(&id(1)).unwrap());
    assert_eq!(store.peer(&id(1)).unwrap(), None);
    assert!(store.peer(&id(2)).unwrap().is_some());
}

#[test]
fn damaged_records_are_skipped_and_counted_and_the_rest_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
        store.record_peer(id(1), &[addr(1)], 100).unwrap();
        store.record_peer(id(2), &[addr(2)], 200).unwrap();
        store.record_peer(id(3), &[addr(3)], 300).unwrap();
    }
    {
        let db = common::raw_db(dir.path());
        let peers = db.open_tree(trees::PEERS).unwrap();
        // A garbage value under a peer's slot, and a garbage key.
        peers
            .insert(common::slot(&id(2)), b"\x01garbage".as_slice())
            .unwrap();
        peers
            .insert(b"not an id".as_slice(), b"\x01".as_slice())
            .unwrap();
        // A record from a future format version.
        peers
            .insert(common::slot(&id(4)), b"\x09whatever".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let ids: Vec<_> = store.peers().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id(3), id(1)]);
    assert_eq!(store.skipped_records(), 3);
    assert_eq!(store.peer(&id(2)).unwrap(), None);
    assert_eq!(store.skipped_records(), 4);
    // Reads never delete: the damaged entries are all still there (the count is the one the
    // store keeps with its own writes, so the two entries slipped in behind its back are not
    // in it, but the damaged one it wrote is).
    assert_eq!(store.counts().unwrap().peers, 3);

    // Recording the damaged peer afresh replaces its entry with a good one.
    store.record_peer(id(2), &[addr(22)], 400).unwrap();
    let peer = store.peer(&id(2)).unwrap().unwrap();
    assert_eq!(peer.addrs, vec![addr(22)]);
    assert_eq!(peer.first_seen_ms, 400);
}

#[test]
fn eviction_never_picks_damaged_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
        store.record_peer(id(9), &[], 50).unwrap();
        store.record_peer(id(1), &[], 100).unwrap();
        store.record_peer(id(2), &[], 200).unwrap();
    }
    {
        // The peer seen least recently is damaged on disk: eviction must pass it over.
        let db = common::raw_db(dir.path());
        let peers = db.open_tree(trees::PEERS).unwrap();
        peers
            .insert(common::slot(&id(9)), b"\x01bad".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let config = StoreConfig {
        max_peers: 3,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), &config, &common::key()).unwrap();
    store.record_peer(id(3), &[], 300).unwrap();
    assert_eq!(store.peer(&id(1)).unwrap(), None);
    assert!(store.peer(&id(2)).unwrap().is_some());
    assert_eq!(store.counts().unwrap().peers, 3);
}

#[test]
fn forgetting_makes_room_without_eviction() {
    let config = StoreConfig {
        max_peers: 2,
        ..StoreConfig::default()
    };
    let (_dir, store) = open(&config);
    store.record_peer(id(1), &[], 1).unwrap();
    store.record_peer(id(2), &[], 2).unwrap();
    assert!(store.forget_peer(&id(2)).unwrap());
    store.record_peer(id(3), &[], 3).unwrap();
    let ids: Vec<_> = store.peers().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id(3), id(1)]);
    // Many more sightings keep the book at its bound.
    for n in 10..60 {
        store.record_peer(id(n), &[], u64::from(n)).unwrap();
        assert_eq!(store.counts().unwrap().peers, 2);
    }
    let ids: Vec<_> = store.peers().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id(59), id(58)]);
}
