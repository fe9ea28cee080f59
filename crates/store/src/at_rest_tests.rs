//! The store's encryption at rest, through its API: what reaches the disk (no secret, and no
//! peer ID, alias or address), the wrong key, a moved value, and the rewrite of a schema-1
//! (plain) and a schema-2 (IDs in keys, social graph plain) store.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use accord_identity::{AccordId, Identity, StoreKey};
use multiaddr::Multiaddr;
use zeroize::Zeroizing;

use crate::at_rest::{
    KEY_CHECK_KEY, PEER_ID_LEN, PEER_RECORD_TREES, RecordCipher, SEALED_TREES, split_peer_record,
    test_key,
};
use crate::peer_slot::{PeerSlots, SLOT_LEN};
use crate::schema::{SCHEMA_VERSION_KEY, read_version};
use crate::{
    CURRENT_SCHEMA, Connection, IncomingInvite, InviteState, OutgoingInvite, Store, StoreConfig,
    StoreError, trees,
};

const MARKER: &str = "ZQXJ-at-rest-marker";

/// The alias given to the connection [`fill`] stores.
const ALIAS: &str = "ALIAS-7c1d-marker";

/// The address of the peer [`fill`] records (a documentation prefix, RFC 5737).
const PEER_ADDR: &str = "/ip4/203.0.113.77/tcp/45123";

/// The name [`fill`] sets through `set_meta`, naming a peer as the node's `unblocked/…` does.
fn meta_name() -> String {
    format!("unblocked/{}", id(6))
}

/// The peers [`fill`] writes about: invitee, inviter, conversation, address book,
/// connection, blocked.
const PEERS: std::ops::RangeInclusive<u8> = 1..=6;

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
    store
        .record_peer(id(4), &[PEER_ADDR.parse::<Multiaddr>().unwrap()], 300)
        .unwrap();
    store.put_connection(&connection()).unwrap();
    store.block(&id(6), 400).unwrap();
    store.set_meta(&meta_name(), &500u64.to_be_bytes()).unwrap();
    store.flush().unwrap();
}

/// The connection [`fill`] stores: aliased, with a revocation being published (so it has a
/// live entry in the Connect index, keyed by its peer).
fn connection() -> Connection {
    Connection {
        peer: id(5),
        attestation: vec![5; 80],
        attestation_id: [5; 32],
        since_ms: 50,
        alias: Some(ALIAS.to_owned()),
        revoked_at_ms: Some(60),
        revocation: Some(vec![6; 70]),
        next_publish_at_ms: Some(70),
        publish_count: 1,
        awaiting_confirmation: false,
    }
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
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|e| e.peer == id(3)));
    assert_eq!(store.outbox_peers().unwrap(), [id(3)]);
    assert_eq!(store.outbox_head(&id(3), 2).unwrap().len(), 2);
    assert_eq!(store.outbox_count(&id(3), 10).unwrap(), 3);
    assert!(store.is_seen(&id(3), &[1; 16]).unwrap().is_some());
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].peer, id(3));
    assert_eq!(conversations[0].next_local_seq, 4);
    let peers = store.peers().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].id, id(4));
    assert_eq!(peers[0].addrs, [PEER_ADDR.parse::<Multiaddr>().unwrap()]);
    assert_eq!(store.counts().unwrap().peers, 1);
    assert_eq!(store.connections().unwrap(), [connection()]);
    assert_eq!(store.connection(&id(5)).unwrap(), Some(connection()));
    let live = store.live_entries().unwrap();
    assert!(
        live.iter()
            .any(|e| e.item == crate::LiveItem::Revocation(id(5)) && e.peer == id(5)),
        "{live:?}"
    );
    assert_eq!(store.blocked().unwrap(), [(id(6), 400)]);
    assert!(store.is_blocked(&id(6)).unwrap());
    assert!(!store.is_blocked(&id(5)).unwrap());
    assert_eq!(
        store.meta(&meta_name()).unwrap(),
        Some(500u64.to_be_bytes().to_vec())
    );
    assert_eq!(store.skipped_records(), 0);
}

/// Every form in which a peer of [`fill`] could be named on disk: its raw public key, its
/// binary Accord ID (the libp2p `PeerId` bytes) and its base58 text (the Accord ID and the
/// `PeerId` print the same); with the alias and the address, as bytes and as text.
fn identifying_needles() -> Vec<(String, Vec<u8>)> {
    let mut needles = Vec::new();
    for n in PEERS {
        let peer = id(n);
        let bytes = peer.to_bytes();
        needles.push((format!("key of {n}"), bytes[PEER_ID_LEN - 32..].to_vec()));
        needles.push((format!("id bytes of {n}"), bytes));
        needles.push((format!("id text of {n}"), peer.to_string().into_bytes()));
    }
    let addr: Multiaddr = PEER_ADDR.parse().unwrap();
    needles.push(("address bytes".into(), addr.to_vec()));
    needles.push(("address text".into(), b"203.0.113.77".to_vec()));
    needles.push(("address octets".into(), vec![203, 0, 113, 77]));
    needles.push(("alias".into(), ALIAS.as_bytes().to_vec()));
    needles.push(("meta name".into(), meta_name().into_bytes()));
    needles
}

/// The needles of [`identifying_needles`] found in the files under `dir`.
fn identifying_needles_in_files(dir: &Path) -> Vec<String> {
    let files = all_files(dir);
    identifying_needles()
        .into_iter()
        .filter(|(_, needle)| files.iter().any(|bytes| contains(bytes, needle)))
        .map(|(what, _)| what)
        .collect()
}

fn all_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push(std::fs::read(&path).unwrap());
        }
    }
    out
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
    all_files(dir)
        .iter()
        .any(|bytes| contains(bytes, MARKER.as_bytes()))
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
    assert_eq!(
        identifying_needles_in_files(dir.path()),
        Vec::<String>::new(),
        "the database files name a peer"
    );
    // The control: values written plain are found by the same scans, so they can fail.
    {
        let db = raw_db(dir.path());
        let control = db.open_tree("control").unwrap();
        control.insert("marker", MARKER.as_bytes()).unwrap();
        for (what, needle) in identifying_needles() {
            control.insert(what, needle).unwrap();
        }
        db.flush().unwrap();
        assert!(tree_shows_marker(&db, "control"));
    }
    assert!(files_show_marker(dir.path()));
    assert_eq!(
        identifying_needles_in_files(dir.path()).len(),
        identifying_needles().len()
    );
    check_readable(&open(dir.path(), &test_key()).unwrap());
}

#[test]
fn keys_hold_slots_not_ids_and_every_peer_record_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    fill(&open(dir.path(), &test_key()).unwrap());
    let db = raw_db(dir.path());
    let slots = PeerSlots::new(&test_key());
    let slot = |n: u8| slots.slot(&id(n));
    let keys = |tree: &str| -> Vec<Vec<u8>> {
        db.open_tree(tree)
            .unwrap()
            .iter()
            .map(|e| e.unwrap().0.to_vec())
            .collect()
    };
    assert_eq!(keys(trees::PEERS), [slot(4)]);
    assert_eq!(keys(trees::ATTESTATIONS), [slot(5)]);
    assert_eq!(keys(trees::BLOCKED), [slot(6)]);
    assert_eq!(keys(trees::CONVERSATIONS), [slot(3)]);
    assert_eq!(keys(trees::SESSIONS), [slot(3)]);
    for key in keys(trees::MESSAGES).into_iter().chain(keys(trees::SEEN)) {
        assert_eq!(key[..SLOT_LEN], slot(3)[..]);
    }
    for key in keys(trees::PEERS_SEEN) {
        assert_eq!(key[8..], slot(4)[..]);
    }
    let cipher = RecordCipher::new(&test_key());
    for tree in PEER_RECORD_TREES {
        for entry in db.open_tree(tree).unwrap().iter() {
            let (key, value) = entry.unwrap();
            let opened = cipher.open(tree, &key, &value).unwrap();
            let (id_bytes, _) = split_peer_record(&opened).unwrap();
            assert_eq!(slots.slot_of_bytes(id_bytes), key.to_vec(), "{tree}");
        }
    }
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

/// The trees schema 2 sealed (and schema 1 held plain).
const SEALED_IN_SCHEMA_2: [&str; 4] = [
    trees::MESSAGES,
    trees::INVITES_OUT,
    trees::INVITES_IN,
    trees::SESSIONS,
];

/// Turns a current store into exactly what the schema-`to` code (1 or 2) wrote: peer IDs
/// back in the keys, the `set_meta` names in clear, every value plain except, in schema 2,
/// those of [`SEALED_IN_SCHEMA_2`]; schema 1 also had no key check and none of the indexes
/// built later (`connect_index`, `peers_seen` and their markers), which opening rebuilds.
fn downgrade(path: &Path, to: u32) {
    let db = raw_db(path);
    let old = Old::new(to);
    for tree in trees::ALL {
        let t = db.open_tree(tree).unwrap();
        let entries: Vec<_> = t.iter().map(|e| e.unwrap()).collect();
        t.clear().unwrap();
        if to == 1 && matches!(tree, trees::CONNECT_INDEX | trees::PEERS_SEEN) {
            continue;
        }
        for (key, value) in entries {
            let (key, value) = old.record(tree, &key, &value);
            t.insert(key, value).unwrap();
        }
    }
    let meta = db.open_tree(trees::META).unwrap();
    if to == 1 {
        for name in [
            KEY_CHECK_KEY,
            crate::address_book::PEER_COUNT_KEY,
            crate::address_book::SEEN_BUILT_KEY,
            crate::invite_index::BUILT_KEY,
        ] {
            meta.remove(name).unwrap();
        }
    }
    meta.insert(SCHEMA_VERSION_KEY, &to.to_be_bytes()).unwrap();
    db.flush().unwrap();
}

/// What [`downgrade`] needs to write a record as an older schema did.
struct Old {
    to: u32,
    cipher: RecordCipher,
    /// Slot → Accord ID bytes, for the peers [`fill`] writes about.
    ids: HashMap<Vec<u8>, Vec<u8>>,
    /// Hashed `meta` key → name.
    names: HashMap<Vec<u8>, Vec<u8>>,
}

impl Old {
    fn new(to: u32) -> Old {
        let slots = PeerSlots::new(&test_key());
        Old {
            to,
            cipher: RecordCipher::new(&test_key()),
            ids: PEERS
                .map(|n| (slots.slot(&id(n)), id(n).to_bytes()))
                .collect(),
            names: [meta_name()]
                .into_iter()
                .map(|name| (slots.meta_name(name.as_bytes()), name.into_bytes()))
                .collect(),
        }
    }

    /// The key with its leading slot (after `skip` bytes) replaced by the peer's ID.
    fn unslot(&self, key: &[u8], skip: usize) -> Vec<u8> {
        let slot = &key[skip..skip + SLOT_LEN];
        let mut old = key[..skip].to_vec();
        old.extend_from_slice(&self.ids[slot]);
        old.extend_from_slice(&key[skip + SLOT_LEN..]);
        old
    }

    /// The value of `tree` under `key` as the older schema stored it, from its plain record.
    fn value(&self, tree: &str, key: &[u8], plain: &[u8]) -> Vec<u8> {
        if self.to == 2 && SEALED_IN_SCHEMA_2.contains(&tree) {
            let tree = SEALED_IN_SCHEMA_2.into_iter().find(|t| *t == tree).unwrap();
            self.cipher.seal(tree, key, plain).unwrap()
        } else {
            plain.to_vec()
        }
    }

    fn record(&self, tree: &str, key: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let open = |key: &[u8], value: &[u8]| self.cipher.open(tree, key, value).unwrap();
        match tree {
            _ if PEER_RECORD_TREES.contains(&tree) => {
                let opened = open(key, value);
                let (id_bytes, record) = split_peer_record(&opened).unwrap();
                (id_bytes.to_vec(), record.to_vec())
            }
            trees::SESSIONS | trees::MESSAGES | trees::SEEN => {
                let old_key = self.unslot(key, 0);
                let plain = open(key, value);
                let old_value = self.value(tree, &old_key, &plain);
                (old_key, old_value)
            }
            trees::OUTBOX => (key.to_vec(), open(key, &value[SLOT_LEN..]).to_vec()),
            trees::PEERS_SEEN => (self.unslot(key, 8), value.to_vec()),
            trees::CONNECT_INDEX if key.starts_with(b"Lc") => {
                let old_key = self.unslot(key, 2);
                let body = open(key, &value[1..]);
                let mut old_value = vec![value[0]];
                old_value.extend(
                    self.cipher
                        .seal(trees::CONNECT_INDEX, &old_key, &body)
                        .unwrap(),
                );
                (old_key, old_value)
            }
            trees::META if self.names.contains_key(key) => {
                (self.names[key].clone(), open(key, value).to_vec())
            }
            trees::INVITES_OUT | trees::INVITES_IN if self.to == 1 => {
                (key.to_vec(), open(key, value).to_vec())
            }
            _ => (key.to_vec(), value.to_vec()),
        }
    }
}

/// A filled schema-`to` store at `<dir>/db`, checked to hold what that schema held in clear:
/// the marker in the trees it did not seal, and the peers' IDs.
fn old_store(dir: &Path, to: u32) -> PathBuf {
    let path = dir.join("db");
    fill(&open(&path, &test_key()).unwrap());
    downgrade(&path, to);
    let db = raw_db(&path);
    for tree in SEALED_IN_SCHEMA_2 {
        assert_eq!(
            tree_shows_marker(&db, tree),
            to == 1,
            "{tree} in schema {to}"
        );
    }
    let id_keys = db.open_tree(trees::ATTESTATIONS).unwrap();
    assert!(id_keys.contains_key(id(5).to_bytes()).unwrap());
    drop(db);
    assert!(
        identifying_needles_in_files(&path).contains(&"alias".to_owned()),
        "schema {to} kept aliases plain"
    );
    path
}

/// A filled schema-1 store at `<dir>/db`.
fn plain_store(dir: &Path) -> PathBuf {
    old_store(dir, 1)
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
    assert_eq!(identifying_needles_in_files(&path), Vec::<String>::new());
    assert_eq!(names_in(dir.path()), ["db"], "leftovers beside the store");
}

#[test]
fn a_schema_2_store_is_rewritten_keeping_every_record_and_naming_no_peer() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_store(dir.path(), 2);
    // The control: the schema-2 files name the peers.
    assert!(!identifying_needles_in_files(&path).is_empty());
    let store = open(&path, &test_key()).unwrap();
    assert!(
        !store.index_built_at_open(),
        "the Connect index is carried over, not rebuilt"
    );
    check_readable(&store);
    drop(store);
    assert_eq!(stored_version(&path), Some(CURRENT_SCHEMA));
    assert_eq!(
        identifying_needles_in_files(&path),
        Vec::<String>::new(),
        "the rewritten store still names a peer"
    );
    assert!(!files_show_marker(&path));
    assert_eq!(names_in(dir.path()), ["db"], "leftovers beside the store");
    // Opened again, nothing is rewritten and everything still reads.
    check_readable(&open(&path, &test_key()).unwrap());
}

#[test]
fn a_schema_2_store_of_another_key_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_store(dir.path(), 2);
    let err = open(&path, &other_key()).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    assert_eq!(stored_version(&path), Some(2));
    assert_eq!(names_in(dir.path()), ["db"]);
    check_readable(&open(&path, &test_key()).unwrap());
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
