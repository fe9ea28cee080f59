//! The store's encryption at rest, through its API: what reaches the disk, the wrong key, a
//! moved value, and the migration of a schema-1 (plain) store.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

use std::path::{Path, PathBuf};

use accord_identity::{AccordId, Identity, StoreKey};
use zeroize::Zeroizing;

use crate::at_rest::{KEY_CHECK_KEY, RecordCipher, SEALED_TREES, test_key};
use crate::schema::{SCHEMA_VERSION_KEY, read_version};
use crate::{
    CURRENT_SCHEMA, IncomingInvite, InviteState, OutgoingInvite, Store, StoreConfig, StoreError,
    trees,
};

const MARKER: &str = "ZQXJ-at-rest-marker";

fn id(n: u8) -> AccordId {
    Identity::from_seed(Zeroizing::new([n; 32])).id()
}

fn other_key() -> StoreKey {
    StoreKey::from_bytes(Zeroizing::new([0x77; 32]))
}

fn open(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
    Store::open(path, &StoreConfig::default(), key)
}

/// Opens the raw database once the dropped store has let go of its lock.
fn raw_db(path: &Path) -> sled::Db {
    let give_up_at = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::Config::new().path(path).flush_every_ms(None).open() {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < give_up_at => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open the raw database: {e}"),
        }
    }
}

/// Fills a store with one record of every sealed kind, each carrying [`MARKER`].
fn fill(store: &Store) {
    store
        .put_outgoing(&OutgoingInvite {
            invite_id: [1; 16],
            peer: id(1),
            invite: vec![1; 40],
            one_time_secret: Some(Zeroizing::new([0xA5; 32])),
            state: InviteState::Pending,
            note: format!("out {MARKER}"),
            created_at_ms: 10,
            expires_at_ms: 1_000,
            closed_at_ms: None,
            next_publish_at_ms: None,
            publish_count: 0,
        })
        .unwrap();
    store
        .put_incoming(&IncomingInvite {
            invite_id: [2; 16],
            peer: id(2),
            invite: vec![2; 40],
            note: format!("in {MARKER}"),
            state: InviteState::Pending,
            created_at_ms: 5,
            expires_at_ms: 1_000,
            received_at_ms: 10,
            closed_at_ms: None,
            acceptance: None,
            ephemeral_secret: None,
            next_publish_at_ms: None,
            publish_count: 0,
        })
        .unwrap();
    for n in 0..3u8 {
        store
            .record_outgoing(
                &id(3),
                format!("state {MARKER} {n}").as_bytes(),
                [n; 16],
                &format!("body {MARKER} {n}"),
                None,
                100 + u64::from(n),
                &[0xAB; 64],
                200,
            )
            .unwrap();
    }
    store.flush().unwrap();
}

/// Checks that everything [`fill`] wrote reads back.
fn check_readable(store: &Store) {
    assert_eq!(
        store.outgoing(&[1; 16]).unwrap().unwrap().note,
        format!("out {MARKER}")
    );
    assert_eq!(
        store.incoming(&[2; 16]).unwrap().unwrap().note,
        format!("in {MARKER}")
    );
    let history = store.history(&id(3), 10, None).unwrap();
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        [0, 1, 2].map(|n| format!("body {MARKER} {n}")).to_vec()
    );
    assert_eq!(
        store.session(&id(3)).unwrap().unwrap().as_slice(),
        format!("state {MARKER} 2").as_bytes()
    );
    assert_eq!(store.skipped_records(), 0);
}

/// Whether any value of `tree` contains the marker.
fn tree_shows_marker(db: &sled::Db, tree: &str) -> bool {
    db.open_tree(tree)
        .unwrap()
        .iter()
        .map(|entry| entry.unwrap().1)
        .any(|value| contains(&value, MARKER.as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether the marker appears anywhere in the files of the database directory.
fn files_show_marker(dir: &Path) -> bool {
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if contains(&std::fs::read(&path).unwrap(), MARKER.as_bytes()) {
            return true;
        }
    }
    false
}

#[test]
fn sealed_records_never_reach_the_disk_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &test_key()).unwrap();
    fill(&store);
    check_readable(&store);
    drop(store);
    {
        let db = raw_db(dir.path());
        for tree in SEALED_TREES {
            assert!(
                !tree_shows_marker(&db, tree),
                "{tree} holds the marker in clear"
            );
        }
    }
    assert!(
        !files_show_marker(dir.path()),
        "the marker is in the database files"
    );
    // The control: a value the store does not seal is found by the same scans, so they can
    // fail.
    let store = open(dir.path(), &test_key()).unwrap();
    store.set_meta("control", MARKER.as_bytes()).unwrap();
    store.flush().unwrap();
    drop(store);
    assert!(tree_shows_marker(&raw_db(dir.path()), trees::META));
    assert!(files_show_marker(dir.path()));
    check_readable(&open(dir.path(), &test_key()).unwrap());
}

#[test]
fn another_key_is_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &test_key()).unwrap();
    fill(&store);
    drop(store);
    let err = open(dir.path(), &other_key()).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    assert!(err.to_string().contains("another identity key"));
    check_readable(&open(dir.path(), &test_key()).unwrap());
}

#[test]
fn a_value_moved_to_another_slot_or_tree_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &test_key()).unwrap();
    fill(&store);
    drop(store);
    {
        let db = raw_db(dir.path());
        let messages = db.open_tree(trees::MESSAGES).unwrap();
        let (first_key, first) = messages.first().unwrap().unwrap();
        let (last_key, _) = messages.last().unwrap().unwrap();
        assert_ne!(first_key, last_key);
        messages.insert(last_key, first).unwrap();
        let out = db.open_tree(trees::INVITES_OUT).unwrap();
        let sealed_out = out.get([1u8; 16]).unwrap().unwrap();
        db.open_tree(trees::INVITES_IN)
            .unwrap()
            .insert([1u8; 16], sealed_out)
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path(), &test_key()).unwrap();
    let history = store.history(&id(3), 10, None).unwrap();
    assert_eq!(history.len(), 2, "the moved copy must be skipped, not read");
    assert!(store.incoming(&[1; 16]).unwrap().is_none());
    assert_eq!(store.skipped_records(), 2);
}

/// Turns a current store into exactly what the schema-1 code wrote: every sealed value back
/// to the plain record its codec produced, no key check, version 1.
fn downgrade_to_schema_1(path: &Path) {
    let db = raw_db(path);
    let cipher = RecordCipher::new(&test_key());
    for tree in SEALED_TREES {
        let t = db.open_tree(tree).unwrap();
        for entry in t.iter() {
            let (key, value) = entry.unwrap();
            let plain = cipher.open(tree, &key, &value).unwrap();
            t.insert(key, plain.as_slice()).unwrap();
        }
    }
    let meta = db.open_tree(trees::META).unwrap();
    meta.remove(KEY_CHECK_KEY).unwrap();
    meta.insert(SCHEMA_VERSION_KEY, &1u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
}

/// A filled schema-1 store at `<dir>/db`, checked to hold its secrets in clear.
fn plain_store(dir: &Path) -> PathBuf {
    let path = dir.join("db");
    fill(&open(&path, &test_key()).unwrap());
    downgrade_to_schema_1(&path);
    let db = raw_db(&path);
    for tree in SEALED_TREES {
        assert!(
            tree_shows_marker(&db, tree),
            "{tree} is not plain in schema 1"
        );
    }
    path
}

fn stored_version(path: &Path) -> Option<u32> {
    read_version(&raw_db(path).open_tree(trees::META).unwrap()).unwrap()
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_schema_1_store_is_rewritten_sealed_with_no_plain_value_left_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = plain_store(dir.path());
    // The control: the plain store's files show the marker.
    assert!(files_show_marker(&path));
    let store = open(&path, &test_key()).unwrap();
    check_readable(&store);
    drop(store);
    assert_eq!(stored_version(&path), Some(CURRENT_SCHEMA));
    {
        let db = raw_db(&path);
        for tree in SEALED_TREES {
            assert!(!tree_shows_marker(&db, tree), "{tree} still plain");
        }
    }
    assert!(!files_show_marker(&path), "plain values left in the files");
    assert_eq!(names_in(dir.path()), ["db"], "leftovers beside the store");
}

#[test]
fn an_interrupted_rewrite_is_redone_or_finished() {
    // Crashed while writing the copy: the plain store is intact, the copy is redone.
    let dir = tempfile::tempdir().unwrap();
    let path = plain_store(dir.path());
    let partial = dir.path().join("db.sealing");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("db"), b"half a database").unwrap();
    check_readable(&open(&path, &test_key()).unwrap());
    assert_eq!(names_in(dir.path()), ["db"]);
    assert!(!files_show_marker(&path));

    // Crashed between the two renames: the complete copy is put in place.
    let dir = tempfile::tempdir().unwrap();
    let path = plain_store(dir.path());
    let sealed = tempfile::tempdir().unwrap();
    let sealed_path = sealed.path().join("db");
    fill(&open(&sealed_path, &test_key()).unwrap());
    std::fs::rename(&path, dir.path().join("db.plain-old")).unwrap();
    std::fs::rename(&sealed_path, dir.path().join("db.sealing")).unwrap();
    check_readable(&open(&path, &test_key()).unwrap());
    assert_eq!(names_in(dir.path()), ["db"]);
    assert!(!files_show_marker(&path));
}
