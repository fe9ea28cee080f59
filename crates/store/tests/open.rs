//! Opening, reopening and the schema version.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{CURRENT_SCHEMA, Store, StoreConfig, StoreError, trees};
use common::{addr, id};

#[test]
fn reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::default();
    {
        let store = Store::open(dir.path(), &config, &common::key()).unwrap();
        store.record_peer(id(1), &[addr(1)], 10).unwrap();
        store.set_meta("display_name", b"Ada").unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path(), &config, &common::key()).unwrap();
    let peer = store.peer(&id(1)).unwrap().unwrap();
    assert_eq!(peer.addrs, vec![addr(1)]);
    assert_eq!(
        store.meta("display_name").unwrap().as_deref(),
        Some(&b"Ada"[..])
    );
    assert_eq!(store.counts().unwrap().peers, 1);
}

#[test]
fn fresh_store_has_every_tree_and_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap());
    let db = common::raw_db(dir.path());
    let names: Vec<_> = db.tree_names();
    for tree in trees::ALL {
        assert!(
            names.iter().any(|n| n.as_ref() == tree.as_bytes()),
            "{tree} missing"
        );
    }
    let version = db
        .open_tree(trees::META)
        .unwrap()
        .get("schema_version")
        .unwrap()
        .unwrap();
    assert_eq!(version.as_ref(), CURRENT_SCHEMA.to_be_bytes());
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = common::raw_db(dir.path());
        let meta = db.open_tree(trees::META).unwrap();
        meta.insert("schema_version", &(CURRENT_SCHEMA + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap_err();
    match &err {
        StoreError::NewerSchema { found, supported } => {
            assert_eq!(*found, CURRENT_SCHEMA + 1);
            assert_eq!(*supported, CURRENT_SCHEMA);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade Accord"), "{err}");
    // The refusal left the newer store untouched: no trees were added to it.
    let db = common::raw_db(dir.path());
    assert!(
        !db.tree_names()
            .iter()
            .any(|n| n.as_ref() == trees::PEERS.as_bytes())
    );
}

#[test]
fn unopenable_path_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"garbage").unwrap();
    let err = Store::open(&file, &StoreConfig::default(), &common::key()).unwrap_err();
    match &err {
        StoreError::Open { path, .. } => assert_eq!(path, &file),
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(err.to_string().contains("not-a-directory"), "{err}");
}

#[test]
fn second_open_of_the_same_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let err = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
}

#[test]
fn invalid_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for config in [
        StoreConfig {
            max_peers: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            max_addrs_per_peer: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            max_addrs_per_peer: 65,
            ..StoreConfig::default()
        },
    ] {
        let err = Store::open(dir.path(), &config, &common::key()).unwrap_err();
        assert!(matches!(err, StoreError::InvalidConfig(_)), "{err:?}");
    }
}

#[test]
fn counts_start_at_zero() {
    let (_dir, store) = common::open(&StoreConfig::default());
    assert_eq!(
        store.counts().unwrap(),
        accord_store::StoreCounts::default()
    );
}

#[test]
fn accord_id_bytes_have_the_fixed_length_the_layout_relies_on() {
    // The sealed records of the address book, connections, conversations and blocks start
    // with the peer's ID; that only reads one way if every id is 38 bytes.
    for n in 0..=255 {
        assert_eq!(id(n).to_bytes().len(), 38);
    }
}

#[test]
fn the_quota_ledger_counts_only_invites_in_the_window() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let store = accord_store::Store::open(
        dir.path(),
        &accord_store::StoreConfig::default(),
        &common::key(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(store.quota_used_since(0).ok(), Some(0));
    drop(store);
    // Invites are written by later work; the layout is fixed now, so fill it through sled.
    let db = common::raw_db(dir.path());
    let quota = db
        .open_tree(accord_store::trees::QUOTA)
        .unwrap_or_else(|err| panic!("{err}"));
    for (at, id) in [(1_000u64, 1u8), (2_000, 2), (3_000, 3)] {
        let mut key = at.to_be_bytes().to_vec();
        key.extend_from_slice(&[id; 16]);
        quota
            .insert(key, &[][..])
            .unwrap_or_else(|err| panic!("{err}"));
    }
    db.flush().unwrap_or_else(|err| panic!("{err}"));
    drop(quota);
    drop(db);
    let store = accord_store::Store::open(
        dir.path(),
        &accord_store::StoreConfig::default(),
        &common::key(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(store.quota_used_since(0).ok(), Some(3));
    assert_eq!(store.quota_used_since(2_000).ok(), Some(2));
    assert_eq!(store.quota_used_since(3_001).ok(), Some(0));
}
