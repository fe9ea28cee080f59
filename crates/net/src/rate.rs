//! The per-forwarding-peer rate limit on gossip: a token bucket per propagation source, kept
//! in a bounded map, with time passed in so that it can be tested without a clock.
//!
//! Each peer's bucket holds up to one minute's allowance (`per_minute` frames) and refills
//! continuously at `per_minute` frames a minute. A frame that finds a whole token is allowed.
//! A frame that does not is [`RateVerdict::Limited`]: not forwarded, but not penalised either,
//! because an honest relay that aggregates many honest senders can burst past the limit now
//! and then. Such frames still draw on the bucket, which goes into debt, down to minus one
//! minute's allowance; a peer that reaches that floor has sent more than twice its allowance
//! within about a minute, which no honest relay does, and its frames are
//! [`RateVerdict::Penalise`]d (rejected, so that gossipsub's scoring graylists it). A peer in
//! debt has to stay quiet until the debt is paid back before anything it sends is forwarded.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use libp2p::PeerId;

use crate::prefix::IpPrefix;

/// Bucket amounts are kept in units of 1/60,000 frame, so that a rate in frames per minute
/// refills `per_minute` units every millisecond and all arithmetic is exact integers.
const UNITS_PER_FRAME: i64 = 60_000;

/// What the limiter decides about one frame from one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the peer's rate: go on to validate the frame.
    Allow,
    /// Over the rate: drop the frame without penalty.
    Limited,
    /// Far over the rate for a sustained time: drop the frame and penalise the peer.
    Penalise,
}

/// One peer's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Units available; negative while in debt.
    units: i64,
    /// When `units` was last brought up to date.
    updated: Instant,
}

/// Token buckets for at most `max_peers` keys (forwarding peers, or the IP prefixes they
/// connect from); when full, the key heard from least recently is forgotten (and starts again
/// with a full bucket if it comes back).
#[derive(Debug)]
pub struct RateLimiter<K> {
    per_minute: u32,
    max_peers: usize,
    buckets: HashMap<K, Bucket>,
}

/// The rate limiter keyed by forwarding peer.
pub type PeerRateLimiter = RateLimiter<PeerId>;

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// A limiter allowing `per_minute` frames a minute (and a burst of as many) per peer, for
    /// at most `max_peers` peers at once (both at least 1).
    pub fn new(per_minute: u32, max_peers: usize) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1),
            max_peers: max_peers.max(1),
            buckets: HashMap::new(),
        }
    }

    /// A full bucket's units: one minute's allowance.
    fn capacity(&self) -> i64 {
        i64::from(self.per_minute) * UNITS_PER_FRAME
    }

    /// Decides about one frame from `peer` at `now`, and charges it to the peer's bucket.
    pub fn check(&mut self, peer: K, now: Instant) -> RateVerdict {
        self.check_cost(peer, now, 1)
    }

    /// Decides about something that costs `cost` frames' worth of the allowance (the same
    /// limiter counts bytes when its rate is in bytes a minute and `cost` is a length), and
    /// charges it to the peer's bucket. A cost above a whole minute's allowance is never
    /// allowed.
    pub fn check_cost(&mut self, peer: K, now: Instant, cost: u32) -> RateVerdict {
        let capacity = self.capacity();
        let cost = i64::from(cost).saturating_mul(UNITS_PER_FRAME);
        if !self.buckets.contains_key(&peer) && self.buckets.len() >= self.max_peers {
            self.evict_oldest();
        }
        let per_ms = i64::from(self.per_minute);
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            units: capacity,
            updated: now,
        });
        // A clock that went backwards (it cannot with Instant, but a test may pass anything)
        // refills nothing.
        let elapsed_ms = now.saturating_duration_since(bucket.updated).as_millis();
        let refill = i64::try_from(elapsed_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(per_ms);
        bucket.units = bucket.units.saturating_add(refill).min(capacity);
        bucket.updated = bucket.updated.max(now);
        if bucket.units >= cost {
            bucket.units -= cost;
            RateVerdict::Allow
        } else if bucket.units.saturating_sub(cost) >= -capacity {
            bucket.units -= cost;
            RateVerdict::Limited
        } else {
            RateVerdict::Penalise
        }
    }

    /// How many peers are tracked.
    pub fn tracked_peers(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets the peer heard from least recently. A linear scan, but only when a new peer
    /// arrives at a full map, and the map is small (each entry is a connected peer).
    fn evict_oldest(&mut self) {
        let oldest = self
            .buckets
            .iter()
            .min_by_key(|(_, bucket)| bucket.updated)
            .map(|(peer, _)| *peer);
        if let Some(peer) = oldest {
            self.buckets.remove(&peer);
        }
    }
}

/// The gossip forwarding rate, per forwarding peer and per IP prefix it connects from: a frame
/// must find a token in both buckets. One host can run many peer identities, each with its own
/// per-peer bucket; the prefix bucket (several peers' worth) caps what they forward together.
#[derive(Debug)]
pub struct ForwardingRate {
    peers: PeerRateLimiter,
    prefixes: RateLimiter<IpPrefix>,
}

impl ForwardingRate {
    /// `per_peer` and `per_prefix` frames a minute, for at most `max_keys` peers and as many
    /// prefixes.
    pub fn new(per_peer: u32, per_prefix: u32, max_keys: usize) -> Self {
        ForwardingRate {
            peers: PeerRateLimiter::new(per_peer, max_keys),
            prefixes: RateLimiter::new(per_prefix, max_keys),
        }
    }

    /// Decides about one frame forwarded by `peer` from `prefix` (none for loopback or relayed
    /// connections), charging the peer's bucket and, if the peer is within its rate, the
    /// prefix's. The stricter verdict wins.
    pub fn check(&mut self, peer: PeerId, prefix: Option<IpPrefix>, now: Instant) -> RateVerdict {
        let by_peer = self.peers.check(peer, now);
        if by_peer != RateVerdict::Allow {
            return by_peer;
        }
        match prefix {
            Some(prefix) => self.prefixes.check(prefix, now),
            None => RateVerdict::Allow,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
