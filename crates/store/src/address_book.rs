//! The address book: where each known peer can be reached, and when it was last seen.
//!
//! Entries live in the `peers` tree, keyed by the peer's Accord ID bytes, encoded by
//! [`crate::record`]. The book is bounded twice: at most `max_peers` entries (recording a new
//! peer into a full book evicts the one seen least recently) and at most `max_addrs_per_peer`
//! addresses per entry (newest first). Both bounds matter because addresses arrive from the
//! network, and nothing from the network may make the store grow without limit.
//!
//! An entry that cannot be decoded is logged, counted and skipped; it is never deleted by
//! reads, and it is replaced only when the same peer is recorded afresh.

use multiaddr::Multiaddr;

use accord_identity::AccordId;

use crate::record::{self, MAX_ADDR_LEN, RecordError, StoredPeer};
use crate::{Store, StoreError, trees};

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
    /// A new peer recorded into a full book evicts the peer seen least recently. Finding it
    /// walks the book, which happens only when the book is full and the peer is new.
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
        let key = id.to_bytes();
        let raw = self.peers.get(&key).map_err(StoreError::db)?;
        let existing = match raw.as_deref().map(record::decode) {
            Some(Ok(peer)) => Some(peer),
            Some(Err(e)) => {
                // The damaged entry is for this same peer, so replacing it with what we have
                // just learned loses nothing that could still be read.
                self.note_skipped(trees::PEERS, &key, &e);
                None
            }
            None => None,
        };
        let merged = merge(existing, addrs, now_ms, self.config.max_addrs_per_peer);
        let mut batch = sled::Batch::default();
        let mut count_after = None;
        if raw.is_none() {
            // Counting the new entry too keeps the book at `max_peers` even if it was opened
            // with a smaller bound than it was filled with.
            let count = self.peer_count() + 1;
            let victims = self.least_recently_seen(count.saturating_sub(self.config.max_peers))?;
            count_after = Some(count - victims.len());
            for victim in victims {
                batch.remove(victim);
            }
        }
        batch.insert(key, record::encode(&merged));
        // The eviction and the insertion land together or not at all.
        self.peers.apply_batch(batch).map_err(StoreError::db)?;
        if count_after.is_some() {
            self.peer_count.set(count_after);
        }
        Ok(())
    }

    /// The number of entries in the book, counted once and then maintained.
    fn peer_count(&self) -> usize {
        if let Some(count) = self.peer_count.get() {
            return count;
        }
        let count = self.peers.len();
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
        let key = id.to_bytes();
        let Some(raw) = self.peers.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match record::decode(&raw) {
            Ok(peer) => Ok(Some(into_record(*id, peer))),
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
            match decode_entry(&key, &raw) {
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
        let removed = self
            .peers
            .remove(id.to_bytes())
            .map_err(StoreError::db)?
            .is_some();
        if removed && let Some(count) = self.peer_count.get() {
            self.peer_count.set(Some(count.saturating_sub(1)));
        }
        Ok(removed)
    }

    /// The keys of the `n` readable entries seen least recently, oldest first.
    ///
    /// Damaged entries are not candidates: deleting them is not this code's decision. If they
    /// alone fill the book, it can exceed `max_peers` by their number, which this API cannot
    /// increase.
    fn least_recently_seen(&self, n: usize) -> Result<Vec<sled::IVec>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut candidates = Vec::new();
        for entry in self.peers.iter() {
            let (key, raw) = entry.map_err(StoreError::db)?;
            match record::decode(&raw) {
                Ok(peer) => candidates.push((peer.last_seen_ms, key)),
                Err(e) => self.note_skipped(trees::PEERS, &key, &e),
            }
        }
        // Ties go to the smaller key, so eviction is deterministic.
        candidates.sort_unstable();
        candidates.truncate(n);
        Ok(candidates.into_iter().map(|(_, key)| key).collect())
    }
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

/// Decodes one `peers` entry, key and value.
fn decode_entry(key: &[u8], raw: &[u8]) -> Result<PeerRecord, RecordError> {
    let id = AccordId::from_bytes(key).map_err(|_| RecordError::BadKey)?;
    Ok(into_record(id, record::decode(raw)?))
}

fn into_record(id: AccordId, peer: StoredPeer) -> PeerRecord {
    PeerRecord {
        id,
        addrs: peer.addrs,
        first_seen_ms: peer.first_seen_ms,
        last_seen_ms: peer.last_seen_ms,
    }
}
