//! Schema 1 → 2: a plain store is rewritten, sealed, into a fresh directory that then takes
//! its place.
//!
//! Why not seal the values in place: sled is log-structured, so overwriting a value appends
//! the new version and leaves the old one in the log files until the engine happens to
//! reclaim that segment. A store sealed in place would still show its messages in clear to
//! whoever copied the directory. Writing a new database holds only sealed values, and the
//! old directory is deleted once the new one has replaced it.
//!
//! The steps, for a store at `<path>` (the node's `db/`):
//!
//! 1. Write every tree into `<path>.sealing`, sealing the values of the sealed trees, then
//!    the key check, then the schema version, and flush.
//! 2. Rename `<path>` to `<path>.plain-old`, then `<path>.sealing` to `<path>` (each rename
//!    made durable by syncing the parent directory).
//! 3. Delete `<path>.plain-old`.
//!
//! A crash at any point loses nothing. Before the first rename the plain store is intact and
//! a partial copy is deleted and redone on the next open. Between the renames `<path>` is
//! missing and both others exist: the copy is complete (it is renamed only once flushed), so
//! [`recover`] finishes the swap. After the second rename only the deletion remains, which
//! [`recover`] does too.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::at_rest::{self, RecordCipher, SEALED_TREES};
use crate::error::{DbError, StoreError};
use crate::schema::{self, CURRENT_SCHEMA};
use crate::trees;

/// The suffix of the sealed copy being written.
const SEALING_SUFFIX: &str = "sealing";
/// The suffix of the plain store once the sealed copy has replaced it.
const PLAIN_SUFFIX: &str = "plain-old";

/// `<path>.<suffix>`, beside the store.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// An I/O error on `path` as the store reports it.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        path: path.to_owned(),
        source: DbError(sled::Error::Io(source)),
    }
}

/// Makes a rename in `path`'s parent directory durable.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(parent))
}

/// Finishes what an interrupted rewrite left beside the store at `path`. Runs before the
/// store is opened.
pub(crate) fn recover(path: &Path) -> Result<(), StoreError> {
    let sealing = sibling(path, SEALING_SUFFIX);
    let plain = sibling(path, PLAIN_SUFFIX);
    if !path.exists() && sealing.exists() && plain.exists() {
        tracing::info!(path = %path.display(), "finishing an interrupted sealing of the store");
        fs::rename(&sealing, path).map_err(io_error(&sealing))?;
        sync_parent(path)?;
    }
    if plain.exists() {
        fs::remove_dir_all(&plain).map_err(io_error(&plain))?;
    }
    Ok(())
}

/// Whether the store `db` is a plain (schema 1) store that must be rewritten.
pub(crate) fn is_plain(db: &sled::Db) -> Result<bool, StoreError> {
    let meta = db.open_tree(trees::META).map_err(StoreError::db)?;
    Ok(schema::read_version(&meta)? == Some(schema::PLAIN_SCHEMA))
}

/// Rewrites the plain store `db`, open at `path`, sealed, and puts the sealed copy in its
/// place (see the module docs). `db` is closed on return; reopen `path`.
pub(crate) fn rewrite(
    db: sled::Db,
    path: &Path,
    cache_capacity: u64,
    cipher: &RecordCipher,
) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "encrypting the store at rest (schema 1 to 2)");
    let sealing = sibling(path, SEALING_SUFFIX);
    if sealing.exists() {
        // A copy left by a crash before the swap: incomplete by construction, so redone.
        fs::remove_dir_all(&sealing).map_err(io_error(&sealing))?;
    }
    // A fresh configuration: sled's `Config::path` cannot be applied to a clone of one
    // that is in use. Like the store's own, it has no background flusher.
    let copy = sled::Config::new()
        .path(&sealing)
        .cache_capacity(cache_capacity)
        .flush_every_ms(None)
        .open()
        .map_err(|source| StoreError::Open {
            path: sealing.clone(),
            source: DbError(source),
        })?;
    for name in db.tree_names() {
        let from = db.open_tree(&name).map_err(StoreError::db)?;
        let to = copy.open_tree(&name).map_err(StoreError::db)?;
        let sealed = SEALED_TREES
            .into_iter()
            .find(|tree| tree.as_bytes() == name.as_ref());
        for entry in from.iter() {
            let (key, value) = entry.map_err(StoreError::db)?;
            let value = match sealed {
                Some(tree) => cipher.seal(tree, &key, &value)?.into(),
                None => value,
            };
            to.insert(key, value).map_err(StoreError::db)?;
        }
    }
    let meta = copy.open_tree(trees::META).map_err(StoreError::db)?;
    at_rest::verify_or_write_key_check(&meta, cipher)?;
    // The version goes last: a copy that has it is complete.
    schema::write_version(&meta, CURRENT_SCHEMA)?;
    copy.flush().map_err(StoreError::db)?;
    drop(copy);
    drop(db);
    let plain = sibling(path, PLAIN_SUFFIX);
    fs::rename(path, &plain).map_err(io_error(path))?;
    sync_parent(path)?;
    fs::rename(&sealing, path).map_err(io_error(&sealing))?;
    sync_parent(path)?;
    fs::remove_dir_all(&plain).map_err(io_error(&plain))?;
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn siblings_sit_beside_the_store() {
        assert_eq!(
            sibling(Path::new("/data/db"), SEALING_SUFFIX),
            Path::new("/data/db.sealing")
        );
        assert_eq!(
            sibling(Path::new("db"), PLAIN_SUFFIX),
            Path::new("db.plain-old")
        );
    }
}
