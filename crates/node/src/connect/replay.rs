//! The replay cache: digests of frames already handled, so that a frame seen before costs a
//! hash and a lookup instead of a stamp check, a trial decryption and store reads.
//!
//! Gossip's own duplicate window is 45 seconds and the direct inbox protocol has none, so
//! without this cache anyone holding a stored invite's frame could replay it for as long as it
//! lives and make the node redo all the work each time. The cache is bounded and forgets the
//! oldest digest first; a hit does not refresh a digest, so a replayer cannot keep its own
//! frames in the cache at the expense of others.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// How many frame digests the cache holds: a few thousand, 32 bytes each plus the answer.
pub(super) const REPLAY_CACHE_CAPACITY: usize = 4096;

/// The SHA-256 digest of a frame's bytes.
pub(super) type FrameDigest = [u8; 32];

/// The digest of `frame`, as the cache keys it.
pub(super) fn frame_digest(frame: &[u8]) -> FrameDigest {
    Sha256::digest(frame).into()
}

/// A bounded set of handled frames, each with the answer it was given (see the module docs).
#[derive(Debug)]
pub(super) struct ReplayCache {
    answers: HashMap<FrameDigest, bool>,
    order: VecDeque<FrameDigest>,
    capacity: usize,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` digests.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            answers: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// The answer given when the frame with `digest` was handled, if it is remembered.
    pub(super) fn seen(&self, digest: &FrameDigest) -> Option<bool> {
        self.answers.get(digest).copied()
    }

    /// Remembers that the frame with `digest` was handled and answered `accepted`, forgetting
    /// the oldest digest if the cache is full.
    pub(super) fn remember(&mut self, digest: FrameDigest, accepted: bool) {
        if self.capacity == 0 {
            return;
        }
        if let Some(answer) = self.answers.get_mut(&digest) {
            *answer = accepted;
            return;
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.answers.remove(&oldest);
        }
        self.order.push_back(digest);
        self.answers.insert(digest, accepted);
    }

    /// How many digests are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_recognised_with_its_answer_until_it_is_the_oldest_beyond_capacity() {
        let mut cache = ReplayCache::new(3);
        let frames: Vec<FrameDigest> = (0u8..5).map(|n| frame_digest(&[n; 40])).collect();
        assert_eq!(cache.seen(&frames[0]), None);
        cache.remember(frames[0], true);
        cache.remember(frames[1], false);
        assert_eq!(cache.seen(&frames[0]), Some(true));
        assert_eq!(cache.seen(&frames[1]), Some(false));
        // A repeat neither grows the cache nor refreshes the digest's place.
        cache.remember(frames[0], true);
        cache.remember(frames[2], true);
        assert_eq!(cache.len(), 3);
        cache.remember(frames[3], true);
        assert_eq!(cache.len(), 3, "the cache is bounded");
        assert_eq!(cache.seen(&frames[0]), None, "the oldest goes first");
        assert_eq!(cache.seen(&frames[3]), Some(true));
        cache.remember(frames[4], false);
        assert_eq!(cache.seen(&frames[1]), None);
        assert_eq!(cache.seen(&frames[2]), Some(true));
    }

    #[test]
    fn a_zero_capacity_cache_remembers_nothing_and_digests_differ_by_content() {
        let mut cache = ReplayCache::new(0);
        cache.remember(frame_digest(b"frame"), true);
        assert_eq!(cache.seen(&frame_digest(b"frame")), None);
        assert_ne!(frame_digest(b"frame"), frame_digest(b"frame!"));
    }
}
