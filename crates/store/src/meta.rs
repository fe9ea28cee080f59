//! Small named values in the `meta` tree.
//!
//! The `meta` tree also holds the store's own bookkeeping (the schema version), so the names
//! the store manages are reserved and cannot be read or written through this API.

use crate::at_rest::KEY_CHECK_KEY;
use crate::blocks::CLOCK_HIGH_WATER_KEY;
use crate::schema::SCHEMA_VERSION_KEY;
use crate::{Store, StoreError};

/// The longest metadata key, in bytes.
pub(crate) const MAX_META_KEY_LEN: usize = 64;

/// Keys the store manages itself.
const RESERVED: &[&str] = &[SCHEMA_VERSION_KEY, CLOCK_HIGH_WATER_KEY, KEY_CHECK_KEY];

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
        self.meta.insert(key, value).map_err(StoreError::db)?;
        Ok(())
    }

    /// Reads the value stored under `key`, if any.
    ///
    /// # Errors
    ///
    /// The same key errors as [`Store::set_meta`]; [`StoreError::Db`] when the read fails.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(key)?;
        let value = self.meta.get(key).map_err(StoreError::db)?;
        Ok(value.map(|v| v.to_vec()))
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
