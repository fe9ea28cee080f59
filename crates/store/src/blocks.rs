//! The quota ledger with its clock high-water mark, and the block list.

use accord_identity::AccordId;

use crate::lifecycle_record::{self as codec, CodecError};
use crate::{Store, StoreError, trees};

/// The `meta` key holding the clock high-water mark, a `u64` BE of unix milliseconds.
pub(crate) const CLOCK_HIGH_WATER_KEY: &str = "clock_high_water_ms";

impl Store {
    /// The send time of every quota ledger entry at or after `since_ms` (unix milliseconds),
    /// ascending: a range read of the rolling window, however long the ledger is.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the scan fails. Malformed keys are skipped.
    pub fn quota_sent_at(&self, since_ms: u64) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for entry in self.quota.range(since_ms.to_be_bytes()..) {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::quota_key_time(&key) {
                Ok(at) => out.push(at),
                Err(e) => self.note_skipped(trees::QUOTA, &key, &e),
            }
        }
        Ok(out)
    }

    /// The highest clock reading recorded (unix milliseconds), or 0 if none was. Quota
    /// decisions use it so that a clock moved backwards does not reopen the quota window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged value is logged, counted and read
    /// as 0; the next [`Store::note_clock`] or [`Store::record_sent_invite`] replaces it.
    pub fn clock_high_water_ms(&self) -> Result<u64, StoreError> {
        let Some(raw) = self
            .meta
            .get(CLOCK_HIGH_WATER_KEY)
            .map_err(StoreError::db)?
        else {
            return Ok(0);
        };
        match codec::decode_u64(&raw) {
            Ok(mark) => Ok(mark),
            Err(e) => {
                self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
                Ok(0)
            }
        }
    }

    /// Raises the clock high-water mark to `now_ms` if that is higher; a lower reading
    /// changes nothing. It runs often and is not made durable on its own: a lost update only
    /// lowers the mark to the last flushed one, and every other write's group commit keeps that
    /// recent.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read or write fails.
    pub fn note_clock(&self, now_ms: u64) -> Result<(), StoreError> {
        let raw = self
            .meta
            .get(CLOCK_HIGH_WATER_KEY)
            .map_err(StoreError::db)?;
        let current = match raw.as_deref().map(codec::decode_u64) {
            None => 0,
            Some(Ok(mark)) if mark >= now_ms => return Ok(()),
            Some(Ok(mark)) => mark,
            Some(Err(e)) => {
                self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
                0
            }
        };
        self.meta
            .insert(CLOCK_HIGH_WATER_KEY, &current.max(now_ms).to_be_bytes())
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Blocks `peer` as of `at_ms` (replacing the time of an earlier block).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn block(&self, peer: &AccordId, at_ms: u64) -> Result<(), StoreError> {
        let slot = self.slot(peer);
        let value =
            self.seal_peer_record(trees::BLOCKED, &slot, peer, &codec::encode_blocked(at_ms))?;
        self.blocked.insert(slot, value).map_err(StoreError::db)?;
        Ok(())
    }

    /// Unblocks `peer`. Returns whether it was blocked.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn unblock(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let removed = self
            .blocked
            .remove(self.slot(peer))
            .map_err(StoreError::db)?
            .is_some();
        Ok(removed)
    }

    /// Whether `peer` is blocked. An entry whose time cannot be decoded still blocks: damage
    /// must not let a blocked peer through.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn is_blocked(&self, peer: &AccordId) -> Result<bool, StoreError> {
        self.blocked
            .contains_key(self.slot(peer))
            .map_err(StoreError::db)
    }

    /// Every blocked peer with the time it was blocked (unix milliseconds), in Accord ID
    /// byte order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped (and logged and
    /// counted), though [`Store::is_blocked`] still honours them.
    pub fn blocked(&self) -> Result<Vec<(AccordId, u64)>, StoreError> {
        let mut out = self.decode_all(trees::BLOCKED, &self.blocked, |id, value| {
            let peer = AccordId::from_bytes(id).map_err(|_| CodecError::BadKey)?;
            Ok((peer, codec::decode_blocked(value)?))
        })?;
        // The engine's order is the slots' (pseudo-random); the listing keeps the order it
        // always had.
        out.sort_by_cached_key(|(peer, _)| peer.to_bytes());
        Ok(out)
    }
}
