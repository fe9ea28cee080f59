//! Schema 1 or 2 → 3: a store that shows what schema 3 hides is rewritten into a fresh
//! directory that then takes its place.
//!
//! Schema 1 held every value plain; schema 2 sealed messages, invites and sessions but kept
//! peer IDs in keys and the address book, connections (with aliases), conversations, the
//! outbox, the message-id index and the block list plain. Schema 3 keys every record about a
//! peer by its slot and seals them all (`slot_rewrite.rs` converts each record).
//!
//! Why not convert in place: sled is log-structured, so overwriting a value appends the new
//! version and leaves the old one in the log files until the engine happens to reclaim that
//! segment. A store converted in place would still show its messages (schema 1) or its
//! social graph (schema 2) in clear to whoever copied the directory. Writing a new database
//! holds only converted records, and the old directory is deleted once the new one has
//! replaced it.
//!
//! The steps, for a store at `<path>` (the node's `db/`):
//!
//! 1. Write every record, converted, into `<path>.sealing`, then the key check, then the
//!    schema version, and flush.
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

use crate::at_rest;
use crate::error::{DbError, StoreError};
use crate::schema::{self, CURRENT_SCHEMA};
use crate::slot_rewrite::Conversion;
use crate::trees;

/// The suffix of the converted copy being written.
const SEALING_SUFFIX: &str = "sealing";
/// The suffix of the old store once the converted copy has replaced it.
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

/// The schema of the store `db` if it must be rewritten (1 or 2), `None` otherwise.
pub(crate) fn needs_rewrite(db: &sled::Db) -> Result<Option<u32>, StoreError> {
    let meta = db.open_tree(trees::META).map_err(StoreError::db)?;
    Ok(schema::read_version(&meta)?
        .filter(|&version| (schema::PLAIN_SCHEMA..schema::SLOT_SCHEMA).contains(&version)))
}

/// Rewrites the schema-`from` store `db`, open at `path`, as schema 3, and puts the copy in
/// its place (see the module docs). `db` is closed on return; reopen `path`.
///
/// # Errors
///
/// [`StoreError::WrongKey`] when a schema-2 store was sealed with another key (it is left
/// untouched); the usual I/O and engine errors otherwise.
pub(crate) fn rewrite(
    db: sled::Db,
    path: &Path,
    cache_capacity: u64,
    conversion: &Conversion<'_>,
) -> Result<(), StoreError> {
    let cipher = conversion.cipher;
    if conversion.from >= 2 {
        // A store written with another key is refused before anything is written.
        let meta = db.open_tree(trees::META).map_err(StoreError::db)?;
        at_rest::verify_or_write_key_check(&meta, cipher)?;
    }
    tracing::info!(
        path = %path.display(),
        from = conversion.from,
        "rewriting the store: records keyed by peer slot and sealed (schema 3)"
    );
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
        let known = trees::ALL
            .into_iter()
            .find(|tree| tree.as_bytes() == name.as_ref());
        for entry in from.iter() {
            let (key, value) = entry.map_err(StoreError::db)?;
            match known {
                Some(tree) => {
                    let (key, value) = conversion.convert(tree, &key, &value)?;
                    to.insert(key, value).map_err(StoreError::db)?;
                }
                // A tree this build does not know (sled's default tree, a retired one) is
                // copied as it is.
                None => {
                    to.insert(key, value).map_err(StoreError::db)?;
                }
            }
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
