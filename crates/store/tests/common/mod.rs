//! Helpers shared by the integration tests.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "shared test helpers; not every test file uses every helper"
)]

use accord_identity::{AccordId, Identity};
use accord_store::{Multiaddr, Store, StoreConfig, StoreKey};
use zeroize::Zeroizing;

/// A deterministic, valid Accord ID.
pub fn id(n: u8) -> AccordId {
    Identity::from_seed(Zeroizing::new([n; 32])).id()
}

/// The store key the tests open their stores with.
pub fn key() -> StoreKey {
    StoreKey::from_bytes(Zeroizing::new([0x5a; 32]))
}

/// The slot that keys `peer`'s records in a store opened with [`key`].
pub fn slot(peer: &AccordId) -> Vec<u8> {
    let (_dir, store) = open(&StoreConfig::default());
    store.peer_slot(peer)
}

/// A distinct TCP address.
pub fn addr(n: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{n}").parse().unwrap()
}

/// A fresh store in a temporary directory.
pub fn open(config: &StoreConfig) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config, &key()).unwrap();
    (dir, store)
}

/// Opens the store's sled database directly, to plant damage the API would never write.
///
/// A store dropped a moment ago may still hold sled's file lock (sled's I/O threads let go
/// of it asynchronously), so this waits, boundedly, for the lock like `Store::open` does.
pub fn raw_db(path: &std::path::Path) -> sled::Db {
    let give_up_at = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::Config::new().path(path).flush_every_ms(None).open() {
            Ok(db) => return db,
            Err(err) if std::time::Instant::now() < give_up_at => {
                let _ = err;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => panic!("cannot open the raw database: {err}"),
        }
    }
}
