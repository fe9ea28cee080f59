//! The shard store: the sealed frames of the shards this node relays, kept until each frame
//! expires, so that a recipient that comes online after its sender has gone still gets them.
//!
//! - **What is kept.** Every frame that arrived by gossip on a shard this node subscribes to
//!   (so it passed the relay check: structure, a recent minting epoch, the stamp), as the
//!   very bytes that arrived. Frames stay sealed: the store learns nothing a relay does not.
//! - **How long.** Until the frame's own expiry (its minting epoch plus a week).
//! - **How much.** At most `gossip.store_bytes_per_shard` bytes of frames per shard.
//! - **Who is pushed out when a shard is full.** The oldest frame of the forwarding peer that
//!   holds the most bytes of that shard. A flood arrives through the peers that carry it, so
//!   it displaces its own frames first; an honest frame that came through another peer stays
//!   until every heavier forwarder has been cut down to its size. (A flood spread over many
//!   forwarders still has to pay a stamp per frame and pass each forwarder's rate limits.)
//! - **Who gets them.** A peer that connects is the owner of one shard, the one its own ID
//!   hashes to. The store hands it that shard's frames that arrived since the last hand-over
//!   to it, oldest first, at most [`MAX_FRAMES_PER_HAND_OVER`] at a time; the peer checks each
//!   frame as a relay would and trial-decrypts it. A time window, kept per peer in memory,
//!   needs no extra round trip and no new protocol; a peer forgotten (or a restart) gets the
//!   whole shard again, which its replay cache answers at the cost of a hash each.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use accord_net::PeerId;

use super::super::replay::FrameDigest;

/// The most frames handed to a peer at once: within the 120 direct inbox requests a minute a
/// peer accepts from another. The rest follow at its next connection.
pub(crate) const MAX_FRAMES_PER_HAND_OVER: usize = 100;

/// The most peers whose last hand-over is remembered; a forgotten peer gets its whole shard
/// again at its next connection.
const MAX_REMEMBERED_PEERS: usize = 4096;

/// One stored frame.
#[derive(Debug)]
struct Stored {
    frame: Vec<u8>,
    expires_at_ms: u64,
    /// Arrival order within the store.
    seq: u64,
    /// The peer it arrived from.
    forwarder: PeerId,
}

/// One shard's frames and the indexes the rules need.
#[derive(Debug, Default)]
struct Shard {
    frames: HashMap<FrameDigest, Stored>,
    by_expiry: BTreeSet<(u64, FrameDigest)>,
    by_arrival: BTreeMap<u64, FrameDigest>,
    /// Bytes held per forwarding peer.
    by_forwarder: HashMap<PeerId, usize>,
    bytes: usize,
}

impl Shard {
    fn remove(&mut self, digest: &FrameDigest) {
        let Some(stored) = self.frames.remove(digest) else {
            return;
        };
        self.by_expiry.remove(&(stored.expires_at_ms, *digest));
        self.by_arrival.remove(&stored.seq);
        self.bytes -= stored.frame.len();
        if let Some(held) = self.by_forwarder.get_mut(&stored.forwarder) {
            *held -= stored.frame.len();
            if *held == 0 {
                self.by_forwarder.remove(&stored.forwarder);
            }
        }
    }

    fn purge_expired(&mut self, now_ms: u64) {
        while let Some(&(expires, digest)) = self.by_expiry.first() {
            if expires > now_ms {
                break;
            }
            self.remove(&digest);
        }
    }

    /// The oldest frame of the forwarder holding the most bytes, counting `incoming` bytes
    /// for `from` (the frame about to be stored).
    fn eviction_victim(&self, from: &PeerId, incoming: usize) -> Option<FrameDigest> {
        let heaviest = self
            .by_forwarder
            .iter()
            .map(|(peer, held)| (*held + if peer == from { incoming } else { 0 }, peer))
            .max_by_key(|(held, _)| *held)?
            .1;
        self.by_arrival
            .values()
            .find(|digest| {
                self.frames
                    .get(*digest)
                    .is_some_and(|s| s.forwarder == *heaviest)
            })
            .copied()
    }
}

/// What became of a frame offered to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Stored (other frames may have been pushed out for it).
    Stored,
    /// Already held.
    Duplicate,
    /// Not stored: expired, or larger than a shard's whole budget.
    Refused,
}

/// The frames of the shards this node relays (see the module documentation).
#[derive(Debug)]
pub(crate) struct ShardStore {
    budget_per_shard: usize,
    shards: HashMap<u32, Shard>,
    next_seq: u64,
    /// The last arrival handed to each peer.
    handed: HashMap<PeerId, u64>,
}

impl ShardStore {
    /// A store keeping at most `budget_per_shard` bytes of frames per shard (0: none).
    pub(crate) fn new(budget_per_shard: usize) -> Self {
        ShardStore {
            budget_per_shard,
            shards: HashMap::new(),
            next_seq: 0,
            handed: HashMap::new(),
        }
    }

    /// Offers a frame that arrived from `forwarder` on `shard` at `now_ms`.
    pub(crate) fn keep(
        &mut self,
        shard: u32,
        digest: FrameDigest,
        frame: &[u8],
        expires_at_ms: u64,
        forwarder: PeerId,
        now_ms: u64,
    ) -> Kept {
        if expires_at_ms <= now_ms || frame.len() > self.budget_per_shard {
            return Kept::Refused;
        }
        let store = self.shards.entry(shard).or_default();
        store.purge_expired(now_ms);
        if store.frames.contains_key(&digest) {
            return Kept::Duplicate;
        }
        while store.bytes + frame.len() > self.budget_per_shard {
            match store.eviction_victim(&forwarder, frame.len()) {
                Some(victim) => store.remove(&victim),
                None => return Kept::Refused,
            }
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        store.by_expiry.insert((expires_at_ms, digest));
        store.by_arrival.insert(seq, digest);
        *store.by_forwarder.entry(forwarder).or_default() += frame.len();
        store.bytes += frame.len();
        store.frames.insert(
            digest,
            Stored {
                frame: frame.to_vec(),
                expires_at_ms,
                seq,
                forwarder,
            },
        );
        Kept::Stored
    }

    /// The frames of `shard` that `peer` has not been handed yet, oldest first, at most
    /// [`MAX_FRAMES_PER_HAND_OVER`], and remembers them as handed.
    pub(crate) fn hand_over(&mut self, peer: PeerId, shard: u32, now_ms: u64) -> Vec<Vec<u8>> {
        let Some(store) = self.shards.get_mut(&shard) else {
            return Vec::new();
        };
        store.purge_expired(now_ms);
        let after = self.handed.get(&peer).copied().unwrap_or(0);
        let due: Vec<(u64, Vec<u8>)> = store
            .by_arrival
            .range(after + 1..)
            .take(MAX_FRAMES_PER_HAND_OVER)
            .filter_map(|(seq, digest)| Some((*seq, store.frames.get(digest)?.frame.clone())))
            .collect();
        let Some(&(last, _)) = due.last() else {
            return Vec::new();
        };
        if !self.handed.contains_key(&peer) && self.handed.len() >= MAX_REMEMBERED_PEERS {
            // Forget the peer handed the oldest frames: it gets its shard again, which costs
            // it a hash per frame it has seen.
            let oldest = self
                .handed
                .iter()
                .min_by_key(|(_, seq)| **seq)
                .map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.handed.remove(&oldest);
            }
        }
        self.handed.insert(peer, last);
        due.into_iter().map(|(_, frame)| frame).collect()
    }

    /// Bytes of frames held, over every shard.
    pub(crate) fn bytes(&self) -> usize {
        self.shards.values().map(|shard| shard.bytes).sum()
    }

    /// Frames held, over every shard.
    pub(crate) fn frames(&self) -> usize {
        self.shards.values().map(|shard| shard.frames.len()).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    const HOUR: u64 = 3_600_000;

    fn peer(n: u8) -> PeerId {
        accord_identity::Identity::from_seed(accord_store::Zeroizing::new([n; 32]))
            .id()
            .peer_id()
    }

    fn digest(n: u32) -> FrameDigest {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&n.to_be_bytes());
        d
    }

    #[test]
    fn frames_are_kept_until_they_expire_and_handed_over_once() {
        let mut store = ShardStore::new(10_000);
        let owner = peer(9);
        assert_eq!(
            store.keep(3, digest(1), &[1; 100], NOW + HOUR, peer(1), NOW),
            Kept::Stored
        );
        assert_eq!(
            store.keep(3, digest(1), &[1; 100], NOW + HOUR, peer(2), NOW),
            Kept::Duplicate
        );
        assert_eq!(
            store.keep(3, digest(2), &[2; 100], NOW + 2 * HOUR, peer(1), NOW),
            Kept::Stored
        );
        assert_eq!(
            store.keep(3, digest(3), &[3; 100], NOW, peer(1), NOW),
            Kept::Refused
        );
        assert_eq!(
            store.hand_over(owner, 3, NOW),
            vec![vec![1; 100], vec![2; 100]]
        );
        // Handed once: only what arrives later goes at the next connection.
        assert!(store.hand_over(owner, 3, NOW).is_empty());
        store.keep(3, digest(4), &[4; 100], NOW + 2 * HOUR, peer(1), NOW);
        assert_eq!(store.hand_over(owner, 3, NOW), vec![vec![4; 100]]);
        // Another shard's owner gets nothing of shard 3.
        assert!(store.hand_over(peer(8), 4, NOW).is_empty());
        // An hour later the first frame has expired and is gone.
        assert_eq!(
            store.hand_over(peer(7), 3, NOW + HOUR),
            vec![vec![2; 100], vec![4; 100]]
        );
        assert_eq!(store.frames(), 2);
        assert_eq!(store.bytes(), 200);
    }

    #[test]
    fn a_flood_pushes_out_its_own_frames_not_the_honest_ones() {
        let budget = 50 * 512;
        let mut store = ShardStore::new(budget);
        let (honest, flooder) = (peer(1), peer(2));
        for n in 0..5 {
            store.keep(0, digest(n), &[1; 512], NOW + 100 * HOUR, honest, NOW);
        }
        // A flood of 10,000 frames through one forwarder, each expiring later than the honest
        // ones: it fills the budget but only ever displaces its own.
        for n in 100..10_100 {
            store.keep(0, digest(n), &[2; 512], NOW + 160 * HOUR, flooder, NOW + 1);
        }
        assert!(store.bytes() <= budget);
        let handed = store.hand_over(peer(9), 0, NOW + 2);
        assert_eq!(handed.iter().filter(|f| f[0] == 1).count(), 5);
        assert_eq!(handed.len(), 50);
    }

    #[test]
    fn a_hand_over_is_bounded_and_continues_at_the_next_connection() {
        let mut store = ShardStore::new(1 << 20);
        for n in 0..150 {
            store.keep(0, digest(n), &[0; 256], NOW + HOUR, peer(1), NOW);
        }
        let owner = peer(9);
        assert_eq!(
            store.hand_over(owner, 0, NOW).len(),
            MAX_FRAMES_PER_HAND_OVER
        );
        assert_eq!(store.hand_over(owner, 0, NOW).len(), 50);
        assert!(store.hand_over(owner, 0, NOW).is_empty());
    }
}
