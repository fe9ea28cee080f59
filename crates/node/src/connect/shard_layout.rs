//! The shard layout: which inbox topic carries a recipient's frames at a given level, and which
//! topics a node subscribes to. Pure functions; the level itself is estimated by the Connect
//! core (`core/network_size.rs`).
//!
//! A shard at level `L` is a prefix of `L` bits of an ID's **key**, the SHA-256 of its binary
//! form: the very key Kademlia places the node by. Level 0 is one shard holding everyone;
//! each level up halves every shard. Because shards are neighbourhoods of the DHT's key space,
//! the peers a node's Kademlia routing table holds nearest to it are the peers of its own
//! shard (so its own topic's mesh forms from peers it already knows), a sender's DHT lookup of
//! a recipient reaches the recipient's shard, and the density of that neighbourhood is what
//! the network-size estimate reads.

use accord_identity::AccordId;
use sha2::{Digest, Sha256};

use crate::GossipConfig;

/// Every inbox topic starts with this; the level and the prefix follow.
pub(crate) const INBOX_TOPIC_PREFIX: &str = "accord/v1/inbox/";

/// The highest level a shard can have: about a million shards, far more than a network of a
/// few hundred million users needs at the default users per shard.
pub(crate) const MAX_LEVEL: u8 = 20;

/// A node that relays every shard does so only at levels up to this one (at most 2⁶ + 2⁷ + 2⁸ =
/// 448 topics for its three levels); above it, it subscribes to its own shard like any node.
pub(crate) const MAX_RELAY_ALL_LEVEL: u8 = 8;

/// An ID's place in the key space: SHA-256 of its binary form (Kademlia's key of its peer ID).
pub(crate) type ShardKey = [u8; 32];

/// The key of an ID.
pub(crate) fn shard_key(id: &AccordId) -> ShardKey {
    Sha256::digest(id.to_bytes()).into()
}

/// One shard: the keys whose first `level` bits are `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Shard {
    level: u8,
    prefix: u32,
}

impl Shard {
    /// The shard at `level` (at most [`MAX_LEVEL`]) that holds `key`.
    pub(crate) fn of(key: &ShardKey, level: u8) -> Shard {
        let level = level.min(MAX_LEVEL);
        let first = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
        let prefix = if level == 0 {
            0
        } else {
            first >> (32 - u32::from(level))
        };
        Shard { level, prefix }
    }

    /// The shard at `level` that holds `id`.
    pub(crate) fn of_id(id: &AccordId, level: u8) -> Shard {
        Shard::of(&shard_key(id), level)
    }

    /// Its level.
    pub(crate) fn level(self) -> u8 {
        self.level
    }

    /// Whether `key` belongs to this shard.
    pub(crate) fn contains(self, key: &ShardKey) -> bool {
        Shard::of(key, self.level) == self
    }

    /// Its gossip topic: `accord/v1/inbox/<level>/<prefix bits>`, the prefix written as `level`
    /// binary digits (none at level 0).
    pub(crate) fn topic(self) -> String {
        let bits = if self.level == 0 {
            String::new()
        } else {
            format!("{:0width$b}", self.prefix, width = usize::from(self.level))
        };
        format!("{INBOX_TOPIC_PREFIX}{}/{bits}", self.level)
    }

    /// The shard a topic names, if it is a well-formed inbox topic.
    pub(crate) fn from_topic(topic: &str) -> Option<Shard> {
        let (level, bits) = topic.strip_prefix(INBOX_TOPIC_PREFIX)?.split_once('/')?;
        let level: u8 = level.parse().ok()?;
        if level > MAX_LEVEL
            || bits.len() != usize::from(level)
            || !bits.bytes().all(|b| b == b'0' || b == b'1')
        {
            return None;
        }
        let prefix = if level == 0 {
            0
        } else {
            u32::from_str_radix(bits, 2).ok()?
        };
        Some(Shard { level, prefix })
    }
}

/// The bounds on the level from the configuration: `gossip.shards`, when set, fixes the level
/// (log₂ of the shard count); otherwise `gossip.min_shard_level`–`gossip.max_shard_level`.
pub(crate) fn level_bounds(gossip: &GossipConfig) -> (u8, u8) {
    match gossip.shards {
        Some(shards) => {
            // The configuration accepts only powers of two up to 1024, so this is at most 10.
            let fixed = u8::try_from(shards.max(1).ilog2()).unwrap_or(MAX_LEVEL);
            (fixed, fixed)
        }
        None => {
            let max = gossip.max_shard_level.min(MAX_LEVEL);
            (gossip.min_shard_level.min(max), max)
        }
    }
}

/// The levels a node at `level` subscribes at: its own and the two next to it (within the
/// bounds), so that a sender whose estimate of the network is off by up to a factor of two
/// either way still reaches it.
pub(crate) fn subscribed_levels(level: u8, gossip: &GossipConfig) -> std::ops::RangeInclusive<u8> {
    let (min, max) = level_bounds(gossip);
    let level = level.clamp(min, max);
    level.saturating_sub(1).max(min)..=level.saturating_add(1).min(max)
}

/// The shards a node subscribes to at `level`: its own shard at each subscribed level, and,
/// when it relays every shard, every shard of those levels up to [`MAX_RELAY_ALL_LEVEL`].
pub(crate) fn subscribed_shards(me: &AccordId, level: u8, gossip: &GossipConfig) -> Vec<Shard> {
    let key = shard_key(me);
    let mut shards = Vec::new();
    for at in subscribed_levels(level, gossip) {
        if gossip.relay_all_shards && at <= MAX_RELAY_ALL_LEVEL {
            shards.extend((0..1u32 << at).map(|prefix| Shard { level: at, prefix }));
        } else {
            shards.push(Shard::of(&key, at));
        }
    }
    shards
}

/// The level for a network of about `estimate` nodes: ⌊log₂(estimate / users_per_shard)⌋
/// within the bounds (0 when the estimate is below one shard's worth).
pub(crate) fn level_for(estimate: f64, gossip: &GossipConfig) -> u8 {
    let (min, max) = level_bounds(gossip);
    let per_shard = f64::from(gossip.users_per_shard.max(1));
    let exact = (estimate / per_shard).log2().floor();
    // The float is clamped to 0–20 before the cast, so nothing is lost.
    let level = if exact.is_finite() && exact > 0.0 {
        exact.min(f64::from(MAX_LEVEL)) as u8
    } else {
        0
    };
    level.clamp(min, max)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    fn id(n: u8) -> AccordId {
        accord_identity::Identity::from_seed(accord_store::Zeroizing::new([n; 32])).id()
    }

    #[test]
    fn a_shard_is_a_prefix_of_the_key_and_its_topic_names_it() {
        let key = [0b1011_0000u8; 32];
        assert_eq!(Shard::of(&key, 0).topic(), "accord/v1/inbox/0/");
        assert_eq!(Shard::of(&key, 1).topic(), "accord/v1/inbox/1/1");
        assert_eq!(Shard::of(&key, 4).topic(), "accord/v1/inbox/4/1011");
        assert_eq!(Shard::of(&key, 10).topic(), "accord/v1/inbox/10/1011000010");
        for level in 0..=MAX_LEVEL {
            let shard = Shard::of(&key, level);
            assert_eq!(Shard::from_topic(&shard.topic()), Some(shard));
            assert!(shard.contains(&key));
        }
        assert!(!Shard::of(&key, 2).contains(&[0u8; 32]));
        // The key is Kademlia's: SHA-256 of the peer ID's bytes.
        let someone = id(1);
        let kad: [u8; 32] = Sha256::digest(someone.peer_id().to_bytes()).into();
        assert_eq!(shard_key(&someone), kad);
    }

    #[test]
    fn malformed_topics_name_no_shard() {
        for topic in [
            "accord/v1/inbox/0",
            "accord/v1/inbox/2/1",
            "accord/v1/inbox/2/12",
            "accord/v1/inbox/21/000000000000000000000",
            "accord/v1/inbox/x/",
            "accord/v1/inbox/3",
            "other/0/",
        ] {
            assert_eq!(Shard::from_topic(topic), None, "{topic}");
        }
    }

    #[test]
    fn a_node_subscribes_to_its_own_prefix_at_three_levels() {
        let me = id(3);
        let gossip = GossipConfig::default();
        let key = shard_key(&me);
        let shards = subscribed_shards(&me, 5, &gossip);
        assert_eq!(
            shards,
            vec![Shard::of(&key, 4), Shard::of(&key, 5), Shard::of(&key, 6)]
        );
        // At the lowest level there is nothing below.
        assert_eq!(
            subscribed_shards(&me, 0, &gossip),
            vec![Shard::of(&key, 0), Shard::of(&key, 1)]
        );
        // A fixed shard count fixes the level: one topic.
        let fixed = GossipConfig {
            shards: Some(16),
            ..GossipConfig::default()
        };
        assert_eq!(subscribed_shards(&me, 9, &fixed), vec![Shard::of(&key, 4)]);
        // Relaying every shard: every prefix of each level.
        let all = GossipConfig {
            relay_all_shards: true,
            ..GossipConfig::default()
        };
        assert_eq!(subscribed_shards(&me, 2, &all).len(), 2 + 4 + 8);
        let high = subscribed_shards(&me, 12, &all);
        assert_eq!(high.len(), 3, "above the relay-all bound: own shards only");
    }

    #[test]
    fn the_level_grows_with_the_log_of_the_network() {
        let gossip = GossipConfig::default();
        let per = f64::from(gossip.users_per_shard);
        assert_eq!(level_for(1.0, &gossip), 0);
        assert_eq!(level_for(per * 1.9, &gossip), 0);
        assert_eq!(level_for(per * 2.0, &gossip), 1);
        assert_eq!(level_for(per * 1024.0, &gossip), 10);
        assert_eq!(level_for(1e30, &gossip), gossip.max_shard_level);
        assert_eq!(level_for(f64::NAN, &gossip), 0);
        let floor = GossipConfig {
            min_shard_level: 3,
            ..GossipConfig::default()
        };
        assert_eq!(level_for(1.0, &floor), 3);
    }
}
