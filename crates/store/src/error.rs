//! The one error type every store operation returns.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong when opening or using the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database at `path` could not be opened: it is missing permissions, locked by another
    /// process, not a database at all, or damaged beyond what the engine can recover.
    #[error("cannot open the Accord store at {}: {source}", path.display())]
    Open {
        /// The directory that was being opened.
        path: PathBuf,
        /// What the storage engine reported.
        #[source]
        source: DbError,
    },

    /// The database was written by a newer Accord whose schema this build does not understand.
    #[error(
        "the Accord store uses schema version {found}, but this build only understands \
         up to version {supported}; upgrade Accord to open it"
    )]
    NewerSchema {
        /// The schema version found on disk.
        found: u32,
        /// The newest schema version this build supports.
        supported: u32,
    },

    /// The database holds a schema version older than any this build can migrate from.
    #[error(
        "the Accord store uses schema version {found}, which this build has no migration for \
         (it supports version {supported})"
    )]
    NoMigration {
        /// The schema version found on disk.
        found: u32,
        /// The schema version this build would migrate to.
        supported: u32,
    },

    /// The stored schema version is not a 4-byte big-endian integer.
    #[error("the Accord store's schema version record is damaged ({len} bytes instead of 4)")]
    CorruptSchema {
        /// The length of the value that was found.
        len: usize,
    },

    /// The store was encrypted with another key: the data directory's key file was replaced
    /// by another identity's (or the store copied next to another key file). Nothing was
    /// read or changed.
    #[error(
        "this data dir's store was written with another identity key; restore the key file \
         it was created with (or move the db directory away to start afresh)"
    )]
    WrongKey,

    /// The operating system could not supply the random bytes a record's encryption needs.
    /// Nothing was written.
    #[error("cannot encrypt a record: the system's random number source failed: {0}")]
    Randomness(String),

    /// The configuration cannot work (for example a zero-sized address book).
    #[error("invalid store configuration: {0}")]
    InvalidConfig(&'static str),

    /// A metadata key was refused.
    #[error("invalid metadata key {key:?}: {reason}")]
    InvalidMetaKey {
        /// The key as given (possibly truncated for display).
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A record could not be stored: it is larger than the store accepts (64 KiB encoded) or
    /// cannot be encoded. Nothing was written.
    #[error("cannot store a record in {tree}: {reason}")]
    BadRecord {
        /// The tree the record was meant for.
        tree: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A read or write in the storage engine failed (usually an I/O error).
    #[error("store I/O failed: {0}")]
    Db(#[source] DbError),

    /// The filesystem holding the store is full (or the user's quota is used up). The storage
    /// engine stops writing for good at the first write that does not fit: every later write
    /// fails too, even once space is freed, while reads keep working. What was made durable
    /// before stays intact; the daemon must be restarted after space is freed.
    #[error(
        "the disk holding the Accord store is full, so nothing more can be saved; what was \
         saved before is intact. Free some space and restart the daemon ({0})"
    )]
    DiskFull(#[source] DbError),

    /// The store thread could not be started.
    #[error("cannot start the store thread: {0}")]
    Spawn(#[source] std::io::Error),

    /// The store thread has stopped, so the request could not be served.
    #[error("the store has been shut down")]
    Closed,

    /// The store thread stopped by panicking; this is a bug in Accord.
    #[error("the store thread panicked")]
    Panicked,
}

impl StoreError {
    /// Wraps an engine error from an ordinary read or write: [`StoreError::DiskFull`] when
    /// the disk is full, [`StoreError::Db`] otherwise.
    pub(crate) fn db(e: sled::Error) -> Self {
        if is_disk_full(&e) {
            StoreError::DiskFull(DbError(e))
        } else {
            StoreError::Db(DbError(e))
        }
    }
}

/// Whether the engine failed because the filesystem (or the quota) is full. sled reports the
/// first failure as the operating system's error and every later one as a copy it made of it,
/// which keeps the kind but not the OS code, so the kind is what is checked.
pub(crate) fn is_disk_full(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ),
        _ => false,
    }
}

/// An error reported by the storage engine.
///
/// The engine's own error type is kept private so that the engine can be replaced without
/// changing this crate's public API; only its message and source chain are exposed.
pub struct DbError(pub(crate) sled::Error);

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn enospc_and_its_copies_are_disk_full_and_say_what_to_do() {
        // The first failure carries the OS code; sled's later copies only the kind.
        let first = sled::Error::Io(io::Error::from_raw_os_error(28));
        let copy = sled::Error::Io(io::Error::new(io::ErrorKind::StorageFull, "copied"));
        let quota = sled::Error::Io(io::Error::from(io::ErrorKind::QuotaExceeded));
        for e in [first, copy, quota] {
            let err = StoreError::db(e);
            assert!(matches!(err, StoreError::DiskFull(_)), "{err:?}");
            let text = err.to_string();
            assert!(
                text.contains("disk holding the Accord store is full"),
                "{text}"
            );
            assert!(text.contains("restart the daemon"), "{text}");
        }
    }

    #[test]
    fn other_engine_errors_stay_io_errors() {
        let denied = sled::Error::Io(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(StoreError::db(denied), StoreError::Db(_)));
        let corrupt = sled::Error::Unsupported("test".into());
        assert!(matches!(StoreError::db(corrupt), StoreError::Db(_)));
    }
}
