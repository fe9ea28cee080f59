//! The relay's memory of the frames it has accepted, kept for each frame's whole lifetime, so
//! that a stamp buys one pass through the network and no more. Gossipsub's own duplicate
//! filter forgets after 45 s; without this, anyone holding a frame could inject it again every
//! minute until it expires.
//!
//! A frame lives at most a week after its minting epoch (frame version 3), so that is also the
//! longest a digest is kept. Memory is bounded by a count: at most [`MAX_SEEN_DIGESTS`]
//! digests (32 bytes and an expiry each, about 100 bytes with the two indexes: under 13 MiB).
//! When full, the digest expiring first is forgotten, since its frame has the least time left
//! to be replayed in. At the scale model's rates a relay sees far fewer distinct frames a week
//! than this (see docs/protocol.md, "Scale").

use std::collections::{BTreeSet, HashMap};

/// The most digests kept.
pub(crate) const MAX_SEEN_DIGESTS: usize = 131_072;

/// A digest of a frame (SHA-256 of its bytes, gossip's message id).
pub(crate) type Digest = [u8; 32];

/// Digests of accepted frames, each until its frame expires (see the module documentation).
#[derive(Debug)]
pub(crate) struct SeenDigests {
    capacity: usize,
    expiry: HashMap<Digest, u64>,
    by_expiry: BTreeSet<(u64, Digest)>,
}

impl SeenDigests {
    /// An empty set holding at most `capacity` digests (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        SeenDigests {
            capacity: capacity.max(1),
            expiry: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Whether `digest` was accepted before and has not expired at `now_ms`.
    pub(crate) fn contains(&self, digest: &Digest, now_ms: u64) -> bool {
        self.expiry
            .get(digest)
            .is_some_and(|expires| *expires > now_ms)
    }

    /// Remembers `digest` until `expires_at_ms`, forgetting what expired by `now_ms` and,
    /// when full, the digest expiring first.
    pub(crate) fn insert(&mut self, digest: Digest, expires_at_ms: u64, now_ms: u64) {
        while let Some(&(expires, old)) = self.by_expiry.first() {
            if expires > now_ms && self.expiry.len() < self.capacity {
                break;
            }
            self.by_expiry.remove(&(expires, old));
            self.expiry.remove(&old);
        }
        if let Some(previous) = self.expiry.insert(digest, expires_at_ms) {
            self.by_expiry.remove(&(previous, digest));
        }
        self.by_expiry.insert((expires_at_ms, digest));
    }

    /// How many digests are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.expiry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        [n; 32]
    }

    #[test]
    fn a_digest_is_kept_until_its_frame_expires() {
        let mut seen = SeenDigests::new(16);
        seen.insert(d(1), 1_000, 0);
        assert!(seen.contains(&d(1), 999));
        assert!(!seen.contains(&d(1), 1_000));
        assert!(!seen.contains(&d(2), 0));
        // Expired digests are dropped as new ones arrive.
        seen.insert(d(2), 5_000, 2_000);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn when_full_the_digest_expiring_first_goes() {
        let mut seen = SeenDigests::new(3);
        seen.insert(d(1), 3_000, 0);
        seen.insert(d(2), 1_000, 0);
        seen.insert(d(3), 2_000, 0);
        seen.insert(d(4), 4_000, 0);
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(&d(2), 0));
        assert!(seen.contains(&d(1), 0) && seen.contains(&d(3), 0) && seen.contains(&d(4), 0));
    }
}
