//! Small named values in the `meta` tree.
//!
//! The `meta` tree also holds the store's own bookkeeping (the schema version), so the names
//! the store manages are reserved and cannot be read or written through this API.
//!
//! A name set through this API is the writer's choice and may name a peer (the node keeps
//! `unblocked/<Accord ID>`), so it is not stored as it is: the engine's key is `0x00` ‖
//! HMAC-SHA256 of the name under the slot key (`peer_slot.rs`), and the value is sealed
//! (`at_rest.rs`). The store's own names ([`STORE_MANAGED`]) are printable ASCII, so the two
//! kinds of key can never meet; they stay plain because they hold only counts, times, the
//! schema version and the (sealed) key check.

use crate::at_rest::KEY_CHECK_KEY;
use crate::blocks::CLOCK_HIGH_WATER_KEY;
use crate::schema::SCHEMA_VERSION_KEY;
use crate::{Store, StoreError, trees};

/// The longest metadata key, in bytes.
pub(crate) const MAX_META_KEY_LEN: usize = 64;

/// Keys the store manages itself.
const RESERVED: &[&str] = &[SCHEMA_VERSION_KEY, CLOCK_HIGH_WATER_KEY, KEY_CHECK_KEY];

/// Every name the store writes into `meta` itself, under its own name: everything else in
/// the tree was set through [`Store::set_meta`].
pub(crate) const STORE_MANAGED: &[&str] = &[
    SCHEMA_VERSION_KEY,
    CLOCK_HIGH_WATER_KEY,
    KEY_CHECK_KEY,
    crate::address_book::PEER_COUNT_KEY,
    crate::address_book::SEEN_BUILT_KEY,
    crate::invite_index::BUILT_KEY,
];

impl Store {
    /// Stores `value` under `key` in the metadata tree, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidMetaKey`] when the key is empty, longer than 64 bytes, not
    /// printable ASCII, or reserved by the store (`schema_version`, `clock_high_water_ms`,
    /// `store_key_check`); [`StoreError::Db`] when the
    /// write fails.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        validate_key(key)?;
        let slot = self.slots.meta_name(key.as_bytes());
        let sealed = self.seal(trees::META, &slot, value)?;
        self.meta.insert(slot, sealed).map_err(StoreError::db)?;
        Ok(())
    }

    /// Reads the value stored under `key`, if any.
    ///
    /// # Errors
    ///
    /// The same key errors as [`Store::set_meta`]; [`StoreError::Db`] when the read fails.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        let slot = self.slots.meta_name(key.as_bytes());
        let Some(raw) = self.meta.get(&slot).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.open_sealed(trees::META, &slot, &raw) {
            Ok(value) => Ok(Some(value.to_vec())),
            Err(e) => {
                // A damaged value reads as absent, like every damaged record.
                self.note_skipped(trees::META, &slot, &e);
                Ok(None)
            }
        }
    }
}

/// Refuses keys that are empty, too long, not printable ASCII or reserved.
fn validate_key(key: &str) -> Result<(), StoreError> {
    let refuse = |reason| {
        Err(StoreError::InvalidMetaKey {
            // Only a bounded prefix is echoed back, so a huge key cannot bloat error messages.
            key: key.chars().take(MAX_META_KEY_LEN).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("the key is empty");
    }
    if key.len() > MAX_META_KEY_LEN {
        return refuse("the key is longer than 64 bytes");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return refuse("the key must be printable ASCII");
    }
    if RESERVED.contains(&key) {
        return refuse("the key is reserved by the store");
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;
    use crate::StoreConfig;

    #[test]
    fn round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            &StoreConfig::default(),
            &crate::at_rest::test_key(),
        )
        .unwrap();
        assert_eq!(store.meta("name").unwrap(), None);
        store.set_meta("name", b"one").unwrap();
        store.set_meta("name", b"two").unwrap();
        assert_eq!(store.meta("name").unwrap().as_deref(), Some(&b"two"[..]));
        store.set_meta("empty value", b"").unwrap();
        assert_eq!(
            store.meta("empty value").unwrap().as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            &StoreConfig::default(),
            &crate::at_rest::test_key(),
        )
        .unwrap();
        let long = "k".repeat(MAX_META_KEY_LEN + 1);
        for key in [
            "",
            long.as_str(),
            "caf\u{e9}",
            "tab\there",
            "schema_version",
            "clock_high_water_ms",
            "store_key_check",
        ] {
            assert!(
                matches!(
                    store.set_meta(key, b"x"),
                    Err(StoreError::InvalidMetaKey { .. })
                ),
                "{key:?} accepted by set_meta"
            );
            assert!(
                matches!(store.meta(key), Err(StoreError::InvalidMetaKey { .. })),
                "{key:?} accepted by meta"
            );
        }
        store.set_meta(&"k".repeat(MAX_META_KEY_LEN), b"x").unwrap();
    }
}
