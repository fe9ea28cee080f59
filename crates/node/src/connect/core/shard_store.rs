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
//! - **Who gets them.** A peer of a shard: one whose key the shard holds. When a peer
//!   connects, the store hands it the frames of every stored shard it belongs to; when a peer
//!   subscribes to one of those shards' topics (it joined the shard, at start or when its level
//!   changed), the frames of that shard. Each time only what arrived since the last hand-over
//!   of that shard to that peer, oldest first, and at most [`MAX_FRAMES_PER_HAND_OVER`] frames a
//!   minute to one peer; the peer checks each frame as a relay would, trial-decrypts it, and
//!   keeps the others in its own store. A cursor per peer and shard, kept in memory, needs no
//!   extra round trip and no new protocol; a peer forgotten (or a restart) gets the whole shard
//!   again, which its replay cache answers at the cost of a hash each.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use accord_net::PeerId;

use super::super::replay::FrameDigest;
use super::super::shard_layout::{Shard, ShardKey};

/// The most frames handed to one peer a minute: within the 120 direct inbox requests a minute
/// a peer accepts from another. The rest follow at its next connection or subscription.
pub(crate) const MAX_FRAMES_PER_HAND_OVER: usize = 100;

/// The window [`MAX_FRAMES_PER_HAND_OVER`] counts in.
const HAND_OVER_WINDOW_MS: u64 = 60_000;

/// The most (peer, shard) cursors and per-peer windows remembered; a forgotten peer gets its
/// whole shard again at its next hand-over.
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
struct Frames {
    frames: HashMap<FrameDigest, Stored>,
    by_expiry: BTreeSet<(u64, FrameDigest)>,
    by_arrival: BTreeMap<u64, FrameDigest>,
    /// Bytes held per forwarding peer.
    by_forwarder: HashMap<PeerId, usize>,
    bytes: usize,
}

impl Frames {
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

/// Inserts into a bounded map: when it is full and `key` is new, the entry with the smallest
/// `age` goes first (the oldest cursor or window, whose peer loses least by being forgotten).
fn remember<K: std::hash::Hash + Eq + Copy, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    age: impl Fn(&V) -> u64,
) {
    if !map.contains_key(&key) && map.len() >= MAX_REMEMBERED_PEERS {
        let oldest = map.iter().min_by_key(|(_, v)| age(v)).map(|(k, _)| *k);
        if let Some(oldest) = oldest {
            map.remove(&oldest);
        }
    }
    map.insert(key, value);
}

/// The frames of the shards this node relays (see the module documentation).
#[derive(Debug)]
pub(crate) struct ShardStore {
    budget_per_shard: usize,
    shards: HashMap<Shard, Frames>,
    next_seq: u64,
    /// The last arrival of each shard handed to each peer.
    handed: HashMap<(PeerId, Shard), u64>,
    /// Per peer: when its hand-over window started and how many frames it got in it.
    windows: HashMap<PeerId, (u64, usize)>,
}

impl ShardStore {
    /// A store keeping at most `budget_per_shard` bytes of frames per shard (0: none).
    pub(crate) fn new(budget_per_shard: usize) -> Self {
        ShardStore {
            budget_per_shard,
            shards: HashMap::new(),
            next_seq: 0,
            handed: HashMap::new(),
            windows: HashMap::new(),
        }
    }

    /// Offers a frame that arrived from `forwarder` on `shard` at `now_ms`.
    pub(crate) fn keep(
        &mut self,
        shard: Shard,
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

    /// The frames that `peer` (whose key is `key`) has not been handed yet, of `only` or of
    /// every stored shard that holds `key`, oldest first within each shard, within the peer's
    /// [`MAX_FRAMES_PER_HAND_OVER`] a minute; remembers them as handed.
    pub(crate) fn hand_over(
        &mut self,
        peer: PeerId,
        key: &ShardKey,
        only: Option<Shard>,
        now_ms: u64,
    ) -> Vec<Vec<u8>> {
        let mut shards: Vec<Shard> = self
            .shards
            .keys()
            .copied()
            .filter(|shard| shard.contains(key) && only.is_none_or(|only| only == *shard))
            .collect();
        shards.sort();
        let allowed = self.room_for(peer, now_ms);
        let mut room = allowed;
        let mut out = Vec::new();
        for shard in shards {
            if room == 0 {
                break;
            }
            let Some(frames) = self.shards.get_mut(&shard) else {
                continue;
            };
            frames.purge_expired(now_ms);
            let after = self.handed.get(&(peer, shard)).copied().unwrap_or(0);
            let due: Vec<(u64, Vec<u8>)> = frames
                .by_arrival
                .range(after + 1..)
                .take(room)
                .filter_map(|(seq, digest)| Some((*seq, frames.frames.get(digest)?.frame.clone())))
                .collect();
            let Some(&(last, _)) = due.last() else {
                continue;
            };
            room -= due.len();
            remember(&mut self.handed, (peer, shard), last, |seq| *seq);
            out.extend(due.into_iter().map(|(_, frame)| frame));
        }
        let used = allowed - room;
        if used > 0 {
            let window = self.windows.get(&peer).map_or((now_ms, 0), |w| *w);
            let window = if now_ms.saturating_sub(window.0) >= HAND_OVER_WINDOW_MS {
                (now_ms, used)
            } else {
                (window.0, window.1 + used)
            };
            remember(&mut self.windows, peer, window, |w| w.0);
        }
        out
    }

    /// How many frames `peer` may still be handed in its current window.
    fn room_for(&self, peer: PeerId, now_ms: u64) -> usize {
        match self.windows.get(&peer) {
            Some(&(start, used)) if now_ms.saturating_sub(start) < HAND_OVER_WINDOW_MS => {
                MAX_FRAMES_PER_HAND_OVER.saturating_sub(used)
            }
            _ => MAX_FRAMES_PER_HAND_OVER,
        }
    }

    /// Forgets every shard but `kept` (the node left them: it no longer relays them, and the
    /// budget is for the shards it relays).
    pub(crate) fn retain_shards(&mut self, kept: &[Shard]) {
        self.shards.retain(|shard, _| kept.contains(shard));
        self.handed.retain(|(_, shard), _| kept.contains(shard));
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
    const MINUTE: u64 = 60_000;

    fn peer(n: u8) -> PeerId {
        accord_identity::Identity::from_seed(accord_store::Zeroizing::new([n; 32]))
            .id()
            .peer_id()
    }

    /// A key whose first two bits are `prefix`.
    fn key(prefix: u8) -> ShardKey {
        [prefix << 6; 32]
    }

    /// The level-2 shard with `prefix`.
    fn shard(prefix: u8) -> Shard {
        Shard::of(&key(prefix), 2)
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
        let s3 = shard(3);
        assert_eq!(
            store.keep(s3, digest(1), &[1; 100], NOW + HOUR, peer(1), NOW),
            Kept::Stored
        );
        assert_eq!(
            store.keep(s3, digest(1), &[1; 100], NOW + HOUR, peer(2), NOW),
            Kept::Duplicate
        );
        assert_eq!(
            store.keep(s3, digest(2), &[2; 100], NOW + 2 * HOUR, peer(1), NOW),
            Kept::Stored
        );
        assert_eq!(
            store.keep(s3, digest(3), &[3; 100], NOW, peer(1), NOW),
            Kept::Refused
        );
        assert_eq!(
            store.hand_over(owner, &key(3), None, NOW),
            vec![vec![1; 100], vec![2; 100]]
        );
        // Handed once: only what arrives later goes at the next connection.
        assert!(store.hand_over(owner, &key(3), None, NOW).is_empty());
        store.keep(s3, digest(4), &[4; 100], NOW + 2 * HOUR, peer(1), NOW);
        assert_eq!(
            store.hand_over(owner, &key(3), None, NOW),
            vec![vec![4; 100]]
        );
        // A peer of another shard gets nothing of shard 3.
        assert!(store.hand_over(peer(8), &key(1), None, NOW).is_empty());
        // An hour later the first frame has expired and is gone.
        assert_eq!(
            store.hand_over(peer(7), &key(3), None, NOW + HOUR),
            vec![vec![2; 100], vec![4; 100]]
        );
        assert_eq!(store.frames(), 2);
        assert_eq!(store.bytes(), 200);
    }

    #[test]
    fn a_peer_is_handed_every_shard_it_belongs_to_or_the_one_it_joined() {
        let mut store = ShardStore::new(10_000);
        // Level 1, prefix 1, holds the keys of level-2 shards 2 and 3.
        let wide = Shard::of(&key(3), 1);
        store.keep(wide, digest(1), &[1; 10], NOW + HOUR, peer(1), NOW);
        store.keep(shard(3), digest(2), &[2; 10], NOW + HOUR, peer(1), NOW);
        store.keep(shard(2), digest(3), &[3; 10], NOW + HOUR, peer(1), NOW);
        // A peer in level-2 shard 3 joins that shard: only its frames.
        let joiner = peer(9);
        assert_eq!(
            store.hand_over(joiner, &key(3), Some(shard(3)), NOW),
            vec![vec![2; 10]]
        );
        // A shard it does not belong to is never handed, even when named.
        assert!(
            store
                .hand_over(joiner, &key(3), Some(shard(2)), NOW)
                .is_empty()
        );
        // At its next connection, the rest of what it belongs to.
        assert_eq!(
            store.hand_over(joiner, &key(3), None, NOW),
            vec![vec![1; 10]]
        );
        // Leaving a shard forgets its frames.
        store.retain_shards(&[shard(2)]);
        assert_eq!(store.frames(), 1);
        assert_eq!(
            store.hand_over(peer(8), &key(2), None, NOW),
            vec![vec![3; 10]]
        );
    }

    #[test]
    fn a_flood_pushes_out_its_own_frames_not_the_honest_ones() {
        let budget = 50 * 512;
        let mut store = ShardStore::new(budget);
        let (honest, flooder) = (peer(1), peer(2));
        for n in 0..5 {
            store.keep(
                shard(0),
                digest(n),
                &[1; 512],
                NOW + 100 * HOUR,
                honest,
                NOW,
            );
        }
        // A flood of 10,000 frames through one forwarder, each expiring later than the honest
        // ones: it fills the budget but only ever displaces its own.
        for n in 100..10_100 {
            store.keep(
                shard(0),
                digest(n),
                &[2; 512],
                NOW + 160 * HOUR,
                flooder,
                NOW + 1,
            );
        }
        assert!(store.bytes() <= budget);
        let handed = store.hand_over(peer(9), &key(0), None, NOW + 2);
        assert_eq!(handed.iter().filter(|f| f[0] == 1).count(), 5);
        assert_eq!(handed.len(), 50);
    }

    #[test]
    fn hand_overs_to_a_peer_are_bounded_per_minute_and_continue_later() {
        let mut store = ShardStore::new(1 << 20);
        for n in 0..150 {
            store.keep(shard(0), digest(n), &[0; 256], NOW + HOUR, peer(1), NOW);
        }
        let owner = peer(9);
        assert_eq!(
            store.hand_over(owner, &key(0), None, NOW).len(),
            MAX_FRAMES_PER_HAND_OVER
        );
        // Within the same minute (another subscription, say), nothing more.
        assert!(store.hand_over(owner, &key(0), None, NOW + 1).is_empty());
        assert_eq!(
            store.hand_over(owner, &key(0), None, NOW + MINUTE).len(),
            50
        );
        assert!(
            store
                .hand_over(owner, &key(0), None, NOW + 2 * MINUTE)
                .is_empty()
        );
    }
}
