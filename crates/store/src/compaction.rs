//! Compaction of the Connect index: deleting closed invite records and cool-downs once their
//! deadline passes. The deadlines are keys of the index ordered by time, so finding what is
//! due reads only what is due, and a backlog is worked off [`PURGE_BATCH`] entries at a time.

use sled::Transactional;

use crate::invite_index::{DEADLINE, LIVE, PURGE_BATCH, cooldown_key};
use crate::invites::{TxResult, tx_error};
use crate::lifecycle_record as codec;
use crate::{Store, StoreError};

impl Store {
    /// When the next closed record or cool-down is due for deletion, if any is.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn next_purge_at(&self) -> Result<Option<u64>, StoreError> {
        let first = self
            .connect_index
            .scan_prefix([DEADLINE])
            .next()
            .transpose()
            .map_err(StoreError::db)?;
        Ok(first.and_then(|(key, _)| key.get(1..9).and_then(|t| codec::decode_u64(t).ok())))
    }

    /// Deletes up to [`PURGE_BATCH`] closed records and cool-downs whose deadline is at or
    /// before `now_ms`, with their deadline entries. Returns how many deadlines it handled.
    /// Does not flush: a purge lost in a crash is repeated after the restart.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read or write fails.
    pub fn purge_due(&self, now_ms: u64) -> Result<usize, StoreError> {
        let mut start = vec![DEADLINE];
        start.extend_from_slice(&0u64.to_be_bytes());
        let mut end = vec![DEADLINE];
        end.extend_from_slice(&now_ms.to_be_bytes());
        end.push(u8::MAX);
        let mut handled = 0;
        let mut index_batch = sled::Batch::default();
        let mut out_batch = sled::Batch::default();
        let mut in_batch = sled::Batch::default();
        for entry in self.connect_index.range(start..end).take(PURGE_BATCH) {
            let (key, _) = entry.map_err(StoreError::db)?;
            index_batch.remove(key.clone());
            handled += 1;
            let (Some(&what), Some(id)) = (key.get(9), key.get(10..)) else {
                continue;
            };
            match what {
                b'o' => out_batch.remove(id),
                b'i' => in_batch.remove(id),
                b'O' | b'I' => index_batch.remove(cooldown_key(what, id)),
                _ => {}
            }
            if matches!(what, b'o' | b'i') {
                let mut live = vec![LIVE, what];
                live.extend_from_slice(id);
                index_batch.remove(live);
            }
        }
        if handled == 0 {
            return Ok(0);
        }
        (&self.connect_index, &self.invites_out, &self.invites_in)
            .transaction(|(index, out, inc)| -> TxResult<()> {
                index.apply_batch(&index_batch)?;
                out.apply_batch(&out_batch)?;
                inc.apply_batch(&in_batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(handled)
    }
}
