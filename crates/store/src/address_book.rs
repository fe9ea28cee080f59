//! The address book: where each known peer can be reached, and when it was last seen.
//!
//! Entries live in the `peers` tree, keyed by the peer's slot (`peer_slot.rs`), their value
//! sealed(Accord ID bytes ‖ the record encoded by [`crate::record`]). The book is bounded twice: at most `max_peers` entries (recording a new
//! peer into a full book evicts the one seen least recently) and at most `max_addrs_per_peer`
//! addresses per entry (newest first). Both bounds matter because addresses arrive from the
//! network, and nothing from the network may make the store grow without limit.
//!
//! An entry that cannot be decoded is logged, counted and skipped; it is never deleted by
//! reads, and it is replaced only when the same peer is recorded afresh.
//!
//! Two things are kept with the entries, in the same transaction, so that recording a peer
//! never walks the book: the `peers_seen` tree (last-seen time ‖ slot, so the peer seen
//! least recently is its first key) and the entry count (`meta/peer_count`). A store written
//! before they existed gets them from one scan when it is opened.

use multiaddr::Multiaddr;

use accord_identity::AccordId;

use crate::record::{self, MAX_ADDR_LEN, RecordError, StoredPeer};
use sled::Transactional;

use crate::at_rest::split_peer_record;
use crate::invites::{TxResult, tx_error};
use crate::{Store, StoreError, trees};

/// The `meta` key holding the number of entries in the book, a `u64` BE.
pub(crate) const PEER_COUNT_KEY: &str = "peer_count";

/// The `meta` key marking `peers_seen` and the count as complete.
pub(crate) const SEEN_BUILT_KEY: &str = "peers_seen_built";

/// A `peers_seen` key: last-seen time ‖ the peer's slot.
fn seen_key(last_seen_ms: u64, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&last_seen_ms.to_be_bytes());
    key.extend_from_slice(id);
    key
}

/// One address-book entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer.
    pub id: AccordId,
    /// Where the peer was last reachable, newest first.
    pub addrs: Vec<Multiaddr>,
    /// When the peer was first recorded, in unix milliseconds.
    pub first_seen_ms: u64,
    /// When the peer was last recorded, in unix milliseconds.
    pub last_seen_ms: u64,
}

impl Store {
    /// Records that `id` was seen at `now_ms`, reachable at `addrs`.
    ///
    /// The given addresses go first (in the order given), followed by previously known ones
    /// not among them; duplicates and addresses longer than 256 bytes are dropped, and at most
    /// `max_addrs_per_peer` are kept. The first-seen time only moves back and the last-seen
    /// time only moves forward, so a clock that jumps backwards cannot reorder history.
    ///
    /// A new peer recorded into a full book evicts the peer seen least recently, found as the
    /// first key of the last-seen index.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when a read or write fails; the book is then unchanged.
    pub fn record_peer(
        &self,
        id: AccordId,
        addrs: &[Multiaddr],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let key = self.slot(&id);
        let raw = self.peers.get(&key).map_err(StoreError::db)?;
        let existing = match raw.as_deref().map(|raw| self.open_entry(&key, raw)) {
            Some(Ok((_, peer))) => Some(peer),
            Some(Err(e)) => {
                // The damaged entry is for this same peer, so replacing it with what we have
                // just learned loses nothing that could still be read.
                self.note_skipped(trees::PEERS, &key, &e);
                None
            }
            None => None,
        };
        let old_seen = existing.as_ref().map(|p| seen_key(p.last_seen_ms, &key));
        let merged = merge(existing, addrs, now_ms, self.config.max_addrs_per_peer);
        let new_seen = seen_key(merged.last_seen_ms, &key);
        let value = self.seal_peer_record(trees::PEERS, &key, &id, &record::encode(&merged))?;
        let is_new = raw.is_none();
        // Counting the new entry too keeps the book at `max_peers` even if it was opened with
        // a smaller bound than it was filled with.
        let count = self.peer_count();
        let excess = if is_new {
            (count + 1).saturating_sub(self.config.max_peers)
        } else {
            0
        };
        let victims = self.least_recently_seen(excess, &key)?;
        let count_after = (count + usize::from(is_new)).saturating_sub(victims.len());
        let stored_count = u64::try_from(count_after).unwrap_or(u64::MAX).to_be_bytes();
        (&self.peers, &self.peers_seen, &self.meta)
            .transaction(|(peers, seen, meta)| -> TxResult<()> {
                for (victim_seen, victim) in &victims {
                    seen.remove(&victim_seen[..])?;
                    peers.remove(&victim[..])?;
                }
                if let Some(old) = &old_seen {
                    seen.remove(&old[..])?;
                }
                seen.insert(&new_seen[..], &[][..])?;
                peers.insert(&key[..], &value[..])?;
                meta.insert(PEER_COUNT_KEY, &stored_count[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.peer_count.set(Some(count_after));
        Ok(())
    }

    /// The number of entries in the book: the kept count, read once and then maintained.
    pub(crate) fn peer_count(&self) -> usize {
        if let Some(count) = self.peer_count.get() {
            return count;
        }
        let stored = self.meta.get(PEER_COUNT_KEY).ok().flatten();
        let count = stored
            .and_then(|raw| <[u8; 8]>::try_from(&raw[..]).ok())
            .map_or(0, |raw| {
                usize::try_from(u64::from_be_bytes(raw)).unwrap_or(usize::MAX)
            });
        self.peer_count.set(Some(count));
        count
    }

    /// Looks up one peer.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged entry is reported as absent (and
    /// logged and counted), not as an error.
    pub fn peer(&self, id: &AccordId) -> Result<Option<PeerRecord>, StoreError> {
        let key = self.slot(id);
        let Some(raw) = self.peers.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.open_entry(&key, &raw) {
            Ok((_, peer)) => Ok(Some(into_record(*id, peer))),
            Err(e) => {
                self.note_skipped(trees::PEERS, &key, &e);
                Ok(None)
            }
        }
    }

    /// Every peer in the book, most recently seen first (ties broken by Accord ID).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped (and logged and
    /// counted), not reported as errors.
    pub fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.peers.iter() {
            let (key, raw) = entry.map_err(StoreError::db)?;
            match self.decode_entry(&key, &raw) {
                Ok(record) => out.push(record),
                Err(e) => self.note_skipped(trees::PEERS, &key, &e),
            }
        }
        out.sort_by(|a, b| {
            b.last_seen_ms
                .cmp(&a.last_seen_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Removes a peer from the book. Returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn forget_peer(&self, id: &AccordId) -> Result<bool, StoreError> {
        let key = self.slot(id);
        let Some(raw) = self.peers.get(&key).map_err(StoreError::db)? else {
            return Ok(false);
        };
        let seen = self
            .open_entry(&key, &raw)
            .ok()
            .map(|(_, p)| seen_key(p.last_seen_ms, &key));
        let count_after = self.peer_count().saturating_sub(1);
        let stored_count = u64::try_from(count_after).unwrap_or(u64::MAX).to_be_bytes();
        (&self.peers, &self.peers_seen, &self.meta)
            .transaction(|(peers, peers_seen, meta)| -> TxResult<()> {
                peers.remove(&key[..])?;
                if let Some(seen) = &seen {
                    peers_seen.remove(&seen[..])?;
                }
                meta.insert(PEER_COUNT_KEY, &stored_count[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.peer_count.set(Some(count_after));
        Ok(true)
    }

    /// The `n` entries seen least recently, oldest first, as (last-seen key, slot):
    /// the first keys of the last-seen index, never `except` (the peer being recorded).
    fn least_recently_seen(
        &self,
        n: usize,
        except: &[u8],
    ) -> Result<Vec<(sled::IVec, Vec<u8>)>, StoreError> {
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return Ok(out);
        }
        for entry in self.peers_seen.iter() {
            let (seen, _) = entry.map_err(StoreError::db)?;
            let Some(id) = seen.get(8..) else { continue };
            // Damaged entries are not candidates: deleting them is not this code's decision.
            let readable = self
                .peers
                .get(id)
                .map_err(StoreError::db)?
                .is_some_and(|raw| self.open_entry(id, &raw).is_ok());
            if id != except && readable {
                out.push((seen.clone(), id.to_vec()));
            }
            if out.len() == n {
                break;
            }
        }
        Ok(out)
    }
}

/// Builds `peers_seen` and the count of a book written before they existed: one scan of the
/// book, then the marker. A book already indexed is not read.
pub(crate) fn ensure_seen_index(store: &Store) -> Result<(), StoreError> {
    if store
        .meta
        .get(SEEN_BUILT_KEY)
        .map_err(StoreError::db)?
        .is_some()
    {
        return Ok(());
    }
    store.peers_seen.clear().map_err(StoreError::db)?;
    let mut batch = sled::Batch::default();
    let mut count: u64 = 0;
    for entry in store.peers.iter() {
        let (key, raw) = entry.map_err(StoreError::db)?;
        count += 1;
        // A damaged entry is counted (it occupies the book) but has no last-seen time.
        if let Ok((_, peer)) = store.open_entry(&key, &raw) {
            batch.insert(seen_key(peer.last_seen_ms, &key), &[][..]);
        }
    }
    store
        .peers_seen
        .apply_batch(batch)
        .map_err(StoreError::db)?;
    store
        .meta
        .insert(PEER_COUNT_KEY, &count.to_be_bytes()[..])
        .map_err(StoreError::db)?;
    store
        .meta
        .insert(SEEN_BUILT_KEY, &[1][..])
        .map_err(StoreError::db)?;
    store.flush()
}

/// Combines what was known about a peer with a fresh sighting.
fn merge(
    existing: Option<StoredPeer>,
    fresh: &[Multiaddr],
    now_ms: u64,
    max_addrs: usize,
) -> StoredPeer {
    let (old_addrs, first_seen_ms, last_seen_ms) = match existing {
        Some(p) => (
            p.addrs,
            p.first_seen_ms.min(now_ms),
            p.last_seen_ms.max(now_ms),
        ),
        None => (Vec::new(), now_ms, now_ms),
    };
    let mut addrs: Vec<Multiaddr> = Vec::with_capacity(max_addrs);
    for addr in fresh.iter().chain(old_addrs.iter()) {
        if addrs.len() == max_addrs {
            break;
        }
        if addr.len() <= MAX_ADDR_LEN && !addrs.contains(addr) {
            addrs.push(addr.clone());
        }
    }
    StoredPeer {
        addrs,
        first_seen_ms,
        last_seen_ms,
    }
}

impl Store {
    /// Opens the `peers` entry stored under `slot`: the peer's ID bytes and the record.
    fn open_entry(&self, slot: &[u8], raw: &[u8]) -> Result<(Vec<u8>, StoredPeer), RecordError> {
        let opened = self
            .open_sealed(trees::PEERS, slot, raw)
            .map_err(|_| RecordError::Unsealable)?;
        let (id, record) = split_peer_record(&opened).map_err(|_| RecordError::BadKey)?;
        Ok((id.to_vec(), record::decode(record)?))
    }

    /// Decodes one `peers` entry, with the peer's ID read from the sealed value.
    fn decode_entry(&self, slot: &[u8], raw: &[u8]) -> Result<PeerRecord, RecordError> {
        let (id, peer) = self.open_entry(slot, raw)?;
        let id = AccordId::from_bytes(&id).map_err(|_| RecordError::BadKey)?;
        Ok(into_record(id, peer))
    }
}

fn into_record(id: AccordId, peer: StoredPeer) -> PeerRecord {
    PeerRecord {
        id,
        addrs: peer.addrs,
        first_seen_ms: peer.first_seen_ms,
        last_seen_ms: peer.last_seen_ms,
    }
}
