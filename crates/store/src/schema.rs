//! The schema version and the migrations between versions.
//!
//! The version lives in the `meta` tree under [`SCHEMA_VERSION_KEY`] as a `u32` big-endian.
//! Opening a store runs [`check_and_migrate`] before any other tree is touched, so a store
//! written by a newer build is refused without being altered, and an older one is brought up to
//! date one step at a time.
//!
//! # Versions
//!
//! - 1: the first released schema; every value plain.
//! - 2: the values of the sealed trees (`messages`, `invites_out`, `invites_in`, `sessions`)
//!   are encrypted at rest (see `at_rest.rs`), and `meta/store_key_check` holds the key check.
//!   A schema-1 store is not migrated by a step here but rewritten, sealed, into a fresh
//!   directory before it is opened (`sealing_rewrite.rs`): sealing in place would leave the
//!   plain values in the engine's log files until it happened to reclaim them.
//! - 3: every record about a peer is keyed by the peer's slot (a keyed hash of its ID,
//!   `peer_slot.rs`) instead of its ID, and the address book, connections, conversations,
//!   the outbox, the message-id index, the block list and the `meta` names set through
//!   `set_meta` are sealed too. A schema-1 or schema-2 store is rewritten into a fresh
//!   directory, like the sealing rewrite and for the same reason (`sealing_rewrite.rs`,
//!   `slot_rewrite.rs`).

use crate::at_rest::{self, RecordCipher};
use crate::error::StoreError;

/// The schema version this build writes.
pub const CURRENT_SCHEMA: u32 = SLOT_SCHEMA;

/// The last schema whose values were all plain; from here up to [`SLOT_SCHEMA`] a store is
/// rewritten.
pub(crate) const PLAIN_SCHEMA: u32 = 1;

/// The first schema that keys records by peer slot and seals everything about a peer.
pub(crate) const SLOT_SCHEMA: u32 = 3;

/// The `meta` key holding the schema version.
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// One migration step, from `from` to `from + 1`.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "no in-place migration exists yet; the tests exercise the machinery"
    )
)]
struct Migration {
    /// The version this step starts from.
    from: u32,
    /// Rewrites the data; the caller records the new version afterwards.
    run: fn(&sled::Db, &RecordCipher) -> Result<(), StoreError>,
}

/// Every in-place migration, oldest first. There is none yet: the steps from schemas 1 and 2
/// are the rewrite, which runs before the store is opened. A future step is added here as
/// `Migration { from: 3, run: ... }`.
const MIGRATIONS: &[Migration] = &[];

/// Reads the schema version, refuses a newer one, verifies (or writes) the key check, stamps
/// a fresh store and migrates an older one.
pub(crate) fn check_and_migrate(db: &sled::Db, cipher: &RecordCipher) -> Result<(), StoreError> {
    migrate_to(db, cipher, CURRENT_SCHEMA, MIGRATIONS)
}

/// The body of [`check_and_migrate`], with the target and the steps as parameters so that the
/// tests can exercise the machinery with steps of their own.
fn migrate_to(
    db: &sled::Db,
    cipher: &RecordCipher,
    current: u32,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let meta = db.open_tree(crate::trees::META).map_err(StoreError::db)?;
    let stored = read_version(&meta)?;
    if let Some(found) = stored
        && found > current
    {
        return Err(StoreError::NewerSchema {
            found,
            supported: current,
        });
    }
    // The key check comes before any data is written or migrated: a store written with
    // another key is refused untouched, and an interrupted migration can only be resumed with
    // the key it started with, so no value is ever sealed under two keys.
    at_rest::verify_or_write_key_check(&meta, cipher)?;
    let Some(mut found) = stored else {
        // Nothing recorded means nothing was ever written: this is a fresh store.
        write_version(&meta, current)?;
        return Ok(());
    };
    while found < current {
        let Some(step) = migrations.iter().find(|m| m.from == found) else {
            return Err(StoreError::NoMigration {
                found,
                supported: current,
            });
        };
        tracing::info!(from = found, to = found + 1, "migrating the store schema");
        (step.run)(db, cipher)?;
        found += 1;
        // Each step's version is recorded and flushed on its own, so an interrupted
        // migration resumes from the last completed step instead of re-running it.
        write_version(&meta, found)?;
        db.flush().map_err(StoreError::db)?;
    }
    Ok(())
}

/// Reads the stored schema version, if any.
pub(crate) fn read_version(meta: &sled::Tree) -> Result<Option<u32>, StoreError> {
    let Some(raw) = meta.get(SCHEMA_VERSION_KEY).map_err(StoreError::db)? else {
        return Ok(None);
    };
    let bytes: [u8; 4] = raw
        .as_ref()
        .try_into()
        .map_err(|_| StoreError::CorruptSchema { len: raw.len() })?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// Records `version` as the stored schema version.
pub(crate) fn write_version(meta: &sled::Tree, version: u32) -> Result<(), StoreError> {
    meta.insert(SCHEMA_VERSION_KEY, &version.to_be_bytes())
        .map_err(StoreError::db)?;
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;
    use accord_identity::StoreKey;
    use zeroize::Zeroizing;

    fn cipher() -> RecordCipher {
        RecordCipher::new(&StoreKey::from_bytes(Zeroizing::new([3; 32])))
    }

    fn temp_db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        (dir, db)
    }

    fn stored(db: &sled::Db) -> Option<u32> {
        read_version(&db.open_tree(crate::trees::META).unwrap()).unwrap()
    }

    fn mark_v1(db: &sled::Db, _: &RecordCipher) -> Result<(), StoreError> {
        db.open_tree("from_one").map_err(StoreError::db)?;
        Ok(())
    }

    fn mark_v2(db: &sled::Db, _: &RecordCipher) -> Result<(), StoreError> {
        db.open_tree("from_two").map_err(StoreError::db)?;
        Ok(())
    }

    #[test]
    fn fresh_store_gets_the_current_version() {
        let (_dir, db) = temp_db();
        check_and_migrate(&db, &cipher()).unwrap();
        assert_eq!(stored(&db), Some(CURRENT_SCHEMA));
    }

    #[test]
    fn migrations_run_in_order_and_record_each_step() {
        let (_dir, db) = temp_db();
        migrate_to(&db, &cipher(), 1, &[]).unwrap();
        let steps = [
            Migration {
                from: 2,
                run: mark_v2,
            },
            Migration {
                from: 1,
                run: mark_v1,
            },
        ];
        migrate_to(&db, &cipher(), 3, &steps).unwrap();
        assert_eq!(stored(&db), Some(3));
        let names: Vec<_> = db.tree_names();
        assert!(names.iter().any(|n| n.as_ref() == b"from_one"));
        assert!(names.iter().any(|n| n.as_ref() == b"from_two"));
    }

    #[test]
    fn missing_step_is_refused() {
        let (_dir, db) = temp_db();
        migrate_to(&db, &cipher(), 1, &[]).unwrap();
        let err = migrate_to(
            &db,
            &cipher(),
            3,
            &[Migration {
                from: 1,
                run: mark_v1,
            }],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            StoreError::NoMigration {
                found: 2,
                supported: 3
            }
        ));
        // The completed step stays recorded, so a fixed build resumes from it.
        assert_eq!(stored(&db), Some(2));
    }

    #[test]
    fn newer_version_is_refused_and_left_alone() {
        let (_dir, db) = temp_db();
        migrate_to(&db, &cipher(), 5, &[]).unwrap();
        let err = migrate_to(&db, &cipher(), 1, &[]).unwrap_err();
        assert!(matches!(
            err,
            StoreError::NewerSchema {
                found: 5,
                supported: 1
            }
        ));
        assert!(err.to_string().contains("upgrade Accord"));
        assert_eq!(stored(&db), Some(5));
    }

    #[test]
    fn damaged_version_is_reported() {
        let (_dir, db) = temp_db();
        let meta = db.open_tree(crate::trees::META).unwrap();
        meta.insert(SCHEMA_VERSION_KEY, b"xy".as_slice()).unwrap();
        let err = check_and_migrate(&db, &cipher()).unwrap_err();
        assert!(matches!(err, StoreError::CorruptSchema { len: 2 }));
    }
}
