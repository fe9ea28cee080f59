//! Everything Accord keeps on disk.
//!
//! This crate is the only one in the workspace that touches the storage engine (sled). It
//! exposes a typed API over it and keeps the engine's own types out of that API, so the engine
//! could be replaced without touching any other crate.
//!
//! There are two ways in:
//!
//! - [`Store`] is the synchronous owner of the database. It is `Send` but deliberately not
//!   `Sync`: one thread owns it, which is what makes read-modify-write operations such as
//!   [`Store::record_peer`] safe without locks.
//! - [`StoreHandle`] is the cloneable, async handle everyone else uses. [`Store::spawn`] moves the
//!   store onto a dedicated thread (sled blocks, so it stays off the async runtime) that serves
//!   typed requests from a bounded queue and answers each on a oneshot channel. [`StoreTask`]
//!   shuts that thread down cleanly.
//!
//! Besides the address book ([`PeerRecord`]) the store keeps the invite lifecycle: invites sent
//! and received ([`OutgoingInvite`], [`IncomingInvite`]), connections ([`Connection`]), the
//! invite-quota ledger with its clock high-water mark, and the block list. The steps that must
//! not be torn apart, such as deleting an invite's one-time key while saving the attestation,
//! are single transactions ([`Store::record_sent_invite`], [`Store::complete_outgoing`],
//! [`Store::accept_incoming`]).
//!
//! Messaging is persisted too: ratchet sessions, each conversation's history
//! ([`MessageRecord`], [`ConversationRecord`]) and the outbox of messages waiting for delivery
//! ([`OutboxEntry`]). Recording a message stores the new ratchet state, the message, its index
//! entry and (when sending) its outbox entry in one transaction ([`Store::record_outgoing`],
//! [`Store::record_incoming`]). Those methods do not flush; [`StoreHandle`] answers them at
//! once with a [`FlushTicket`] that resolves after a flush shared by every request queued at
//! the same time (group commit), so that a caller can go on while the disk catches up and
//! only what must wait for durability (an acknowledgement, an envelope on the wire) waits.
//!
//! Message bodies, invites (with their notes and one-time secrets), ratchet states and the
//! social graph (the address book, connections and aliases, conversations, the outbox, the
//! message-id index, the block list) are encrypted at rest with a [`StoreKey`] derived from
//! the identity, and every record about a peer is keyed by a keyed hash of its ID, so a copy
//! of the database without the key file reveals none of them and names no peer (`at_rest.rs`,
//! `peer_slot.rs`).
//!
//! The on-disk layout is described in [`trees`]; the schema version and migrations in
//! [`CURRENT_SCHEMA`] and `schema.rs`.
//!
//! # Example
//!
//! ```
//! use accord_store::{Store, StoreConfig, StoreKey, Zeroizing};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // A node derives the key from its identity: `identity.store_key()`.
//! let key = StoreKey::from_bytes(Zeroizing::new([7; 32]));
//! let store = Store::open(dir.path(), &StoreConfig::default(), &key)?;
//! store.set_meta("display_name", b"Ada")?;
//! assert_eq!(store.meta("display_name")?.as_deref(), Some(&b"Ada"[..]));
//! assert_eq!(store.counts()?.peers, 0);
//!
//! // Hand the store to its own thread and talk to it from async code.
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     let (handle, task) = store.spawn(64)?;
//!     assert_eq!(handle.counts().await?.peers, 0);
//!     task.shutdown().await
//! })?;
//! # Ok(())
//! # }
//! ```

mod address_book;
mod at_rest;
#[cfg(test)]
mod at_rest_tests;
mod blocks;
mod compaction;
mod connections;
mod error;
mod handle;
mod invite_index;
mod invites;
mod lifecycle_record;
mod mailbox;
mod message_record;
mod message_steps;
mod messages;
mod messages_receipts;
mod meta;
mod peer_slot;
mod people;
mod record;
mod schema;
mod sealing_rewrite;
mod slot_rewrite;
mod store_thread;
#[cfg(test)]
mod test_strategies;
pub mod trees;

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use accord_handshake::InviteState;
pub use accord_identity::{AccordId, StoreKey};
pub use address_book::PeerRecord;
pub use error::{DbError, StoreError};
pub use handle::{FlushTicket, StoreHandle};
pub use invite_index::{
    CLOSED_RETENTION_MS, COOLDOWN_RETENTION_MS, CoolDown, IndexCounts, LiveEntry, LiveItem,
    PURGE_BATCH, live_connection, live_incoming, live_outgoing,
};
pub use invites::{Connection, IncomingInvite, InviteId, OutgoingInvite};
pub use mailbox::{
    Announcement, DepositRefusal, HeldItem, MAX_TOKENS_PER_OWNER, MailboxLimits, OwnMailbox,
    ServingTotals, token_hash,
};
pub use message_steps::{IncomingContext, SendingContext};
pub use messages::{
    ConversationRecord, Direction, Incoming, MessageId, MessageRecord, MessageState, OutboxEntry,
    ParseMessageStateError,
};
pub use multiaddr::Multiaddr;
pub use people::{ListChanges, OwedNotice, PeerProfile, PeopleSync};
pub use schema::CURRENT_SCHEMA;
pub use store_thread::StoreTask;
pub use zeroize::Zeroizing;

/// Tuning for [`Store::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// How many bytes the storage engine may use for its page cache. Default: 64 MiB.
    pub cache_capacity: u64,
    /// The most peers the address book keeps; recording a new peer when it is full evicts the
    /// peer seen least recently. Must be at least 1. Default: 10 000.
    pub max_peers: usize,
    /// The most addresses kept per peer, newest first. Must be between 1 and 64.
    /// Default: 16.
    pub max_addrs_per_peer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity: 64 * 1024 * 1024,
            max_peers: 10_000,
            max_addrs_per_peer: 16,
        }
    }
}

impl StoreConfig {
    /// Refuses settings the address book cannot honour.
    fn validate(&self) -> Result<(), StoreError> {
        if self.max_peers == 0 {
            return Err(StoreError::InvalidConfig("max_peers must be at least 1"));
        }
        if self.max_addrs_per_peer == 0 || self.max_addrs_per_peer > record::MAX_STORED_ADDRS {
            return Err(StoreError::InvalidConfig(
                "max_addrs_per_peer must be between 1 and 64",
            ));
        }
        Ok(())
    }
}

/// How many entries some of the trees hold, for status displays.
///
/// `peers`, `outbox` and `messages` are tree lengths; the invite and connection figures count
/// only live records (see [`Store::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    /// Entries in the address book.
    pub peers: usize,
    /// Pending invites received (answered, declined and expired ones are not counted).
    pub invites_in: usize,
    /// Pending invites sent (closed ones are not counted).
    pub invites_out: usize,
    /// Connections (signed mutual attestations) that are not revoked.
    pub attestations: usize,
    /// Messages waiting for delivery.
    pub outbox: usize,
    /// Stored messages, across all conversations.
    pub messages: usize,
}

/// The synchronous owner of the database.
///
/// Open it with [`Store::open`]; either use it directly from one thread or hand it to its own
/// thread with [`Store::spawn`] and use the returned [`StoreHandle`].
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    config: StoreConfig,
    meta: sled::Tree,
    peers: sled::Tree,
    invites_in: sled::Tree,
    invites_out: sled::Tree,
    attestations: sled::Tree,
    sessions: sled::Tree,
    outbox: sled::Tree,
    messages: sled::Tree,
    seen: sled::Tree,
    conversations: sled::Tree,
    quota: sled::Tree,
    blocked: sled::Tree,
    /// The Connect index (see `invite_index.rs`).
    connect_index: sled::Tree,
    /// The address book in last-seen order (see `address_book.rs`).
    peers_seen: sled::Tree,
    /// Whether opening this store had to build the Connect index by a scan.
    index_built_at_open: bool,
    /// How many times a stored record was skipped because it could not be decoded. A `Cell`
    /// is enough because the store has one owner, and it is also what makes `Store` `!Sync`.
    skipped: Cell<u64>,
    /// How many times the database was flushed since it was opened.
    flushes: Arc<AtomicU64>,
    /// The number of entries in `peers`, learned on first need and then kept up to date by the
    /// address book, because sled's `len` walks the whole tree. Only this store writes the
    /// tree, and only from its one owning thread, so the cached figure cannot drift.
    peer_count: Cell<Option<usize>>,
    /// Seals and opens the values of the encrypted trees (see [`at_rest`]).
    cipher: at_rest::RecordCipher,
    /// Turns peer IDs into the slots that key their records (see `peer_slot.rs`).
    slots: peer_slot::PeerSlots,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How long [`Store::open`] waits for a database lock that a just-dropped store in this
/// process may still hold.
/// Drops the `revocations` tree of schema 2, which nothing ever wrote, if an older build left
/// it (empty) behind. A non-empty one is left alone: it is not this build's to delete.
fn drop_retired_revocations(db: &sled::Db) -> Result<(), StoreError> {
    let name = trees::RETIRED_REVOCATIONS.as_bytes();
    if !db.tree_names().iter().any(|n| n == name) {
        return Ok(());
    }
    let tree = db.open_tree(name).map_err(StoreError::db)?;
    if tree.is_empty() {
        db.drop_tree(name).map_err(StoreError::db)?;
    }
    Ok(())
}

const LOCK_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database, retrying briefly while its file lock is held.
///
/// sled's I/O thread pool can keep the database (and so its file lock) alive for a moment
/// after the last handle is dropped, so a store reopened at once in the same process (a
/// restart, a test) can find the lock still taken. Another *process* is kept out earlier by
/// the data directory's own lock, so waiting a bounded time here never hides a real
/// conflict: after [`LOCK_RETRY_WINDOW`] the lock error is returned as it is.
fn open_with_lock_retry(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let give_up_at = std::time::Instant::now() + LOCK_RETRY_WINDOW;
    loop {
        match config.open() {
            Err(sled::Error::Io(err))
                if err.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < give_up_at =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (or creates) the store in the directory `path`, encrypted at rest with `key`.
    ///
    /// `key` seals message bodies, invites and ratchet states (see the [`trees`] docs); the
    /// node derives it from the identity ([`accord_identity::Identity::store_key`]). A fresh
    /// store is stamped with [`CURRENT_SCHEMA`] and a key check; an older one is migrated
    /// (schema 1, which was not encrypted, is rewritten sealed into a fresh directory that
    /// replaces it); one written by a newer Accord is refused with
    /// [`StoreError::NewerSchema`] and left untouched. Every tree listed in [`trees::ALL`]
    /// exists once this returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidConfig`] for unusable settings, [`StoreError::Open`] when the
    /// directory cannot be opened as a database (including when another process has it open),
    /// [`StoreError::WrongKey`] when the store was written with another key, and the schema
    /// errors above.
    pub fn open(path: &Path, config: &StoreConfig, key: &StoreKey) -> Result<Store, StoreError> {
        config.validate()?;
        // No background flusher: durability comes from explicit, group-committed flushes, and
        // without the flusher thread (which outlives the handle for up to its period) dropping
        // the store releases the database's file lock at once, so a restart can reopen it.
        let sled_config = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_capacity)
            .flush_every_ms(None);
        let open_db = || {
            open_with_lock_retry(&sled_config).map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source: DbError(source),
            })
        };
        let cipher = at_rest::RecordCipher::new(key);
        let slots = peer_slot::PeerSlots::new(key);
        sealing_rewrite::recover(path)?;
        let mut db = open_db()?;
        // A schema-1 or schema-2 store is rewritten into a fresh directory (see
        // `sealing_rewrite`) before anything else, so nothing schema 3 hides is left behind in
        // the engine's files.
        if let Some(from) = sealing_rewrite::needs_rewrite(&db)? {
            let conversion = slot_rewrite::Conversion {
                cipher: &cipher,
                slots: &slots,
                from,
            };
            sealing_rewrite::rewrite(db, path, config.cache_capacity, &conversion)?;
            db = open_db()?;
        }
        // The schema is checked before any other tree is created, so a newer store is refused
        // without being altered.
        schema::check_and_migrate(&db, &cipher)?;
        let tree = |name: &str| db.open_tree(name).map_err(StoreError::db);
        drop_retired_revocations(&db)?;
        for name in trees::ALL {
            tree(name)?;
        }
        let mut store = Store {
            meta: tree(trees::META)?,
            peers: tree(trees::PEERS)?,
            invites_in: tree(trees::INVITES_IN)?,
            invites_out: tree(trees::INVITES_OUT)?,
            attestations: tree(trees::ATTESTATIONS)?,
            sessions: tree(trees::SESSIONS)?,
            outbox: tree(trees::OUTBOX)?,
            messages: tree(trees::MESSAGES)?,
            seen: tree(trees::SEEN)?,
            conversations: tree(trees::CONVERSATIONS)?,
            quota: tree(trees::QUOTA)?,
            blocked: tree(trees::BLOCKED)?,
            connect_index: tree(trees::CONNECT_INDEX)?,
            peers_seen: tree(trees::PEERS_SEEN)?,
            index_built_at_open: false,
            path: path.to_owned(),
            config: config.clone(),
            skipped: Cell::new(0),
            flushes: Arc::new(AtomicU64::new(0)),
            peer_count: Cell::new(None),
            cipher,
            slots,
            db,
        };
        store.index_built_at_open = invite_index::ensure_built(&store)?;
        address_book::ensure_seen_index(&store)?;
        Ok(store)
    }

    /// The engine key under which the records about `peer` are stored (the key of its
    /// address-book entry, connection, session, conversation and block, and the prefix of its
    /// messages): a keyed hash of its ID, so a copy of the database names no peer. For tools
    /// and tests that inspect the raw database; the store's own API takes Accord IDs.
    pub fn peer_slot(&self, peer: &AccordId) -> Vec<u8> {
        self.slot(peer)
    }

    /// Whether opening this store had to build the Connect index by scanning the invite and
    /// connection trees (a store written before the index existed). A store opened again
    /// after that reads only the index.
    pub fn index_built_at_open(&self) -> bool {
        self.index_built_at_open
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The page-cache capacity, in bytes, that the storage engine itself runs with: what it
    /// was handed, not what [`Store::config`] says (sled lowers it to the cgroup memory limit
    /// when that is smaller). It is read from sled 0.34's running configuration, public but
    /// hidden from its docs, so it is only for tests.
    #[cfg(test)]
    pub(crate) fn engine_cache_capacity(&self) -> u64 {
        self.db.context.cache_capacity
    }

    /// Counts the entries in the main trees.
    ///
    /// Peers, pending invites and unrevoked connections come from counters kept with the
    /// records (see `invite_index.rs` and `address_book.rs`), so those cost no scan whatever
    /// the store holds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read fails.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        let index = self.index_counts()?;
        let wide = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(StoreCounts {
            peers: self.peer_count(),
            invites_in: wide(index.pending_incoming),
            invites_out: wide(index.pending_outgoing),
            attestations: wide(index.connections),
            outbox: self.outbox.len(),
            messages: self.messages.len(),
        })
    }

    /// How many invites the quota ledger holds that were sent at or after `since_ms` (Unix
    /// milliseconds). The ledger is keyed by send time first, so this is one range scan.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the scan fails.
    pub fn quota_used_since(&self, since_ms: u64) -> Result<usize, StoreError> {
        let mut used = 0;
        for entry in self.quota.range(since_ms.to_be_bytes()..) {
            entry.map_err(StoreError::db)?;
            used += 1;
        }
        Ok(used)
    }

    /// How many times, since the store was opened, a stored record was skipped because it
    /// could not be decoded. A damaged record counts each time it is read.
    pub fn skipped_records(&self) -> u64 {
        self.skipped.get()
    }

    /// Writes everything buffered to disk and waits until it is durable.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_engine().map_err(StoreError::db)
    }

    /// How many times the database was flushed to disk since the store was opened (by
    /// [`Store::flush`], by the methods that flush on their own, and by the group commits of
    /// [`StoreHandle`]). Meant for tests and diagnostics.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Flushes and counts the flush; the engine's error is kept so that the store thread can
    /// hand it to every request of a group commit.
    pub(crate) fn flush_engine(&self) -> Result<(), sled::Error> {
        self.engine_flusher().flush()
    }

    /// What a thread other than the store's owner needs to flush the database: the engine's
    /// handle (sled's `Db` is thread-safe) and the flush counter.
    pub(crate) fn engine_flusher(&self) -> EngineFlusher {
        EngineFlusher {
            db: self.db.clone(),
            flushes: Arc::clone(&self.flushes),
        }
    }

    /// Logs and counts a record that could not be decoded, so that damage is visible without
    /// stopping the caller.
    fn note_skipped(&self, tree: &str, key: &[u8], error: &dyn std::error::Error) {
        self.skipped.set(self.skipped.get().saturating_add(1));
        tracing::warn!(tree, key = %hex(key), %error, "skipping a stored record that cannot be decoded");
    }
}

/// Flushes the database from any thread, counting the flushes.
pub(crate) struct EngineFlusher {
    db: sled::Db,
    flushes: Arc<AtomicU64>,
}

impl EngineFlusher {
    /// Writes everything written so far to disk.
    pub(crate) fn flush(&self) -> Result<(), sled::Error> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.db.flush()?;
        Ok(())
    }
}

/// Renders a key for logs.
fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test that cannot set up its fixture should fail loudly"
    )]

    use super::{Store, StoreConfig};
    use crate::at_rest::test_key;

    /// `[store] cache_mib` becomes `StoreConfig::cache_capacity`; this checks the last step,
    /// that the engine really runs with it. Two small, different sizes (both far below the
    /// 64 MiB default, sled's own 1 GiB default and any sane cgroup limit) rule out a value
    /// that only happens to match.
    #[test]
    fn the_configured_cache_capacity_is_what_the_engine_runs_with() {
        for mib in [3, 5] {
            let dir = tempfile::tempdir().unwrap();
            let config = StoreConfig {
                cache_capacity: mib * 1024 * 1024,
                ..StoreConfig::default()
            };
            let store = Store::open(dir.path(), &config, &test_key()).unwrap();
            assert_eq!(store.engine_cache_capacity(), mib * 1024 * 1024);
            assert_eq!(store.config().cache_capacity, mib * 1024 * 1024);
        }
    }
}
