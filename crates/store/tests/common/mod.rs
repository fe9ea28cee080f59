//! Helpers shared by the integration tests.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "shared test helpers; not every test file uses every helper"
)]

use accord_identity::{AccordId, Identity};
use accord_store::{Multiaddr, Store, StoreConfig};
use zeroize::Zeroizing;

/// A deterministic, valid Accord ID.
pub fn id(n: u8) -> AccordId {
    Identity::from_seed(Zeroizing::new([n; 32])).id()
}

/// A distinct TCP address.
pub fn addr(n: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{n}").parse().unwrap()
}

/// A fresh store in a temporary directory.
pub fn open(config: &StoreConfig) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config).unwrap();
    (dir, store)
}
