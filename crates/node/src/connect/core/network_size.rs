//! The network-size estimate and the shard level it gives (see `shard_layout.rs`).
//!
//! - **What is observed.** The key (SHA-256 of the ID, Kademlia's key) of every peer the
//!   network layer identifies. Only the [`CLOSEST`] keys nearest to our own (by XOR distance)
//!   are kept, each with when it was last seen; a key not seen for [`MAX_SIGHTING_AGE_MS`] is
//!   forgotten, so peers that left stop counting.
//! - **The estimate.** In a network of `N` uniformly placed keys, the `k`-th nearest key to
//!   ours lies about `k / N` of the key space away, so `N ≈ k / (d_k / 2²⁵⁶) + 1`. The
//!   neighbourhood is what a node sees best: Kademlia's bootstrap looks up the node's own key,
//!   which connects it to its nearest peers, and every connection is identified. Fewer than
//!   `k` sightings give at least as many nodes as were seen. Sixteen sightings make the error
//!   about a quarter (a standard deviation of 1/√16), a third of a level.
//! - **The level.** `⌊log₂(N / users_per_shard)⌋` within the configured bounds, with two
//!   dampers: it moves only once the exact value is a quarter of a level past the boundary
//!   (hysteresis), and at most once every [`MIN_LEVEL_DWELL_MS`]. It goes down only on a full
//!   sample of [`CLOSEST`] sightings, so a node that has just started, and has seen only a
//!   few peers, keeps the level it had (the actor persists it).

use std::collections::BTreeMap;

use accord_identity::AccordId;

use super::super::shard_layout::{ShardKey, level_bounds, level_for, shard_key};
use crate::GossipConfig;

/// How many of the nearest keys the estimate uses.
pub(crate) const CLOSEST: usize = 16;

/// A key not seen for this long no longer counts (a week).
pub(crate) const MAX_SIGHTING_AGE_MS: u64 = 7 * 24 * 3_600_000;

/// The least time between two level changes (ten minutes).
pub(crate) const MIN_LEVEL_DWELL_MS: u64 = 10 * 60_000;

/// How far past a level boundary, in levels, the exact value must be before the level moves.
const HYSTERESIS: f64 = 0.25;

/// The estimate and the level (see the module documentation).
#[derive(Debug)]
pub(crate) struct NetworkSize {
    me: ShardKey,
    /// XOR distance to our key → when that key was last seen (Unix ms). At most [`CLOSEST`].
    nearest: BTreeMap<ShardKey, u64>,
    level: u8,
    /// When the level last changed, `None` since start.
    changed_at_ms: Option<u64>,
}

impl NetworkSize {
    /// An estimate for `me`, starting at `level` (the last run's, or the lowest).
    pub(crate) fn new(me: &AccordId, level: u8, gossip: &GossipConfig) -> Self {
        let (min, max) = level_bounds(gossip);
        NetworkSize {
            me: shard_key(me),
            nearest: BTreeMap::new(),
            level: level.clamp(min, max),
            changed_at_ms: None,
        }
    }

    /// The current level.
    pub(crate) fn level(&self) -> u8 {
        self.level
    }

    /// Counts a sighting of `peer` at `now_ms`; returns the new level if it changed.
    pub(crate) fn observe(
        &mut self,
        peer: &AccordId,
        now_ms: u64,
        gossip: &GossipConfig,
    ) -> Option<u8> {
        let key = shard_key(peer);
        if key != self.me {
            let mut distance = [0u8; 32];
            for (d, (a, b)) in distance.iter_mut().zip(key.iter().zip(self.me.iter())) {
                *d = a ^ b;
            }
            self.nearest.insert(distance, now_ms);
            if self.nearest.len() > CLOSEST {
                self.nearest.pop_last();
            }
        }
        self.reconsider(now_ms, gossip)
    }

    /// The estimated number of nodes at `now_ms` (ourselves included).
    pub(crate) fn estimate(&mut self, now_ms: u64) -> f64 {
        self.nearest
            .retain(|_, seen| now_ms.saturating_sub(*seen) < MAX_SIGHTING_AGE_MS);
        let Some(farthest) = self.nearest.keys().next_back() else {
            return 1.0;
        };
        let seen = self.nearest.len() as f64;
        let mut top = [0u8; 8];
        top.copy_from_slice(&farthest[..8]);
        // The share of the key space within that distance; at least one 2⁶⁴th, so that a
        // key equal to ours in its first 64 bits cannot divide by zero.
        let share = (u64::from_be_bytes(top).max(1) as f64) / 2f64.powi(64);
        (seen / share + 1.0).max(seen + 1.0)
    }

    /// Moves the level if the estimate says so (see the module documentation).
    fn reconsider(&mut self, now_ms: u64, gossip: &GossipConfig) -> Option<u8> {
        let (min, max) = level_bounds(gossip);
        if self
            .changed_at_ms
            .is_some_and(|at| now_ms.saturating_sub(at) < MIN_LEVEL_DWELL_MS)
        {
            return None;
        }
        let estimate = self.estimate(now_ms);
        let exact = (estimate / f64::from(gossip.users_per_shard.max(1))).log2();
        let target = level_for(estimate, gossip);
        let current = f64::from(self.level);
        let moves = match target.cmp(&self.level) {
            std::cmp::Ordering::Greater => exact >= current + 1.0 + HYSTERESIS || target == max,
            std::cmp::Ordering::Less => {
                self.nearest.len() >= CLOSEST && (exact < current - HYSTERESIS || target == min)
            }
            std::cmp::Ordering::Equal => false,
        };
        if !moves {
            return None;
        }
        self.level = target;
        self.changed_at_ms = Some(now_ms);
        Some(target)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn ids(count: usize) -> Vec<AccordId> {
        let mut rng = crate::rng::os_rng();
        (0..count)
            .map(|_| accord_identity::Identity::generate(&mut rng).id())
            .collect()
    }

    /// The estimate when a node sees every one of `n` nodes.
    fn estimate_of_full_view(n: usize) -> f64 {
        let all = ids(n);
        let gossip = GossipConfig::default();
        let mut size = NetworkSize::new(&all[0], 0, &gossip);
        for peer in &all[1..] {
            size.observe(peer, NOW, &gossip);
        }
        size.estimate(NOW)
    }

    #[test]
    fn a_handful_of_nodes_is_estimated_as_a_handful_and_stays_at_level_zero() {
        let all = ids(6);
        let gossip = GossipConfig::default();
        let mut size = NetworkSize::new(&all[0], 0, &gossip);
        for peer in &all[1..] {
            assert_eq!(size.observe(peer, NOW, &gossip), None);
        }
        assert!(size.estimate(NOW) >= 6.0);
        assert_eq!(size.level(), 0);
    }

    #[test]
    fn the_estimate_follows_the_size_of_the_network() {
        // The median of several runs, so that one unlucky draw does not decide.
        for n in [2_000usize, 20_000] {
            let mut runs: Vec<f64> = (0..5).map(|_| estimate_of_full_view(n)).collect();
            runs.sort_by(f64::total_cmp);
            let median = runs[2];
            let ratio = median / n as f64;
            assert!(
                (0.4..2.5).contains(&ratio),
                "{n} nodes estimated as {median}"
            );
        }
    }

    #[test]
    fn the_level_rises_with_the_network_and_waits_between_changes() {
        let gossip = GossipConfig::default();
        let all = ids(8_000);
        let mut size = NetworkSize::new(&all[0], 0, &gossip);
        let mut changes = Vec::new();
        for peer in &all[1..] {
            changes.extend(size.observe(peer, NOW, &gossip));
        }
        // One change at most within the dwell time, whatever the sightings.
        assert_eq!(changes.len(), 1, "{changes:?}");
        let later = NOW + MIN_LEVEL_DWELL_MS;
        size.observe(&all[1], later, &gossip);
        // 8,000 nodes at 128 a shard: 62 shards' worth, level 5 (give or take the estimate).
        assert!((4..=6).contains(&size.level()), "level {}", size.level());
    }

    #[test]
    fn a_few_sightings_never_lower_a_remembered_level_and_old_ones_expire() {
        let gossip = GossipConfig::default();
        let all = ids(4);
        let mut size = NetworkSize::new(&all[0], 7, &gossip);
        for peer in &all[1..] {
            assert_eq!(size.observe(peer, NOW, &gossip), None);
        }
        assert_eq!(size.level(), 7);
        assert_eq!(size.estimate(NOW + MAX_SIGHTING_AGE_MS), 1.0);
        // A fixed shard count overrides the remembered level.
        let fixed = GossipConfig {
            shards: Some(4),
            ..GossipConfig::default()
        };
        assert_eq!(NetworkSize::new(&all[0], 7, &fixed).level(), 2);
    }
}
