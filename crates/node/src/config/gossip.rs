//! `[gossip]`: the inbox topics, their shard layout, the forwarding rates and the shard store.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// `[gossip]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// A fixed number of inbox shards (a power of two, 1–1024), overriding the shard level
    /// estimated from the network's size; every node of the network must then set the same.
    /// Default: unset (the level follows the network, see docs/protocol.md).
    pub shards: Option<u32>,
    /// Network members per shard the level aims at. Default: 128. Range: 1–1000000.
    pub users_per_shard: u32,
    /// The lowest shard level (2^level shards). Default: 0. Range: 0–20.
    pub min_shard_level: u8,
    /// The highest shard level. Default: 20. Range: 0–20.
    pub max_shard_level: u8,
    /// Subscribe to every shard of the levels subscribed (up to level 8) and so relay
    /// everyone's invites, as a bootstrap node may. Default: false.
    pub relay_all_shards: bool,
    /// Inbox frames each directly connected peer may forward to this node per minute, with a
    /// burst of as many; checked before the stamp and before any decryption. Beyond it frames
    /// are dropped without penalty; a peer that sends more than twice its allowance in about
    /// a minute has its frames rejected, which gossipsub's scoring turns into ignoring the
    /// peer. Default: 600 (10 a second, far above what honest republication needs). Range:
    /// 1–100000.
    pub max_frames_per_peer_per_minute: u32,
    /// Inbox frames all the peers connecting from one IP prefix (IPv4 /24, IPv6 /48) may
    /// forward per minute together, checked with the per-peer rate (loopback and relayed
    /// connections are exempt). Default: 2400 (four peers' worth). Range: 1–1000000.
    pub max_frames_per_prefix_per_minute: u32,
    /// The shard store's budget: sealed frames kept per relayed shard until they expire, in
    /// KiB. Default: 20480 (20 MiB; a node subscribes to three shards). Range: 0–1048576
    /// (0 keeps nothing).
    pub store_kib_per_shard: u64,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            shards: None,
            users_per_shard: 128,
            min_shard_level: 0,
            max_shard_level: 20,
            relay_all_shards: false,
            max_frames_per_peer_per_minute: 600,
            max_frames_per_prefix_per_minute: 2400,
            store_kib_per_shard: 20480,
        }
    }
}

impl GossipConfig {
    /// Checks every key against its documented range.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let refuse = |key: &'static str, message: String| ConfigError::Value {
            path: path.to_path_buf(),
            key,
            message,
        };
        if let Some(shards) = self.shards
            && !(shards.is_power_of_two() && shards <= 1024)
        {
            return Err(refuse(
                "gossip.shards",
                format!("{shards} is not a power of two from 1 to 1024"),
            ));
        }
        let ranges: [(&'static str, u64, u64, u64); 6] = [
            (
                "gossip.users_per_shard",
                self.users_per_shard.into(),
                1,
                1_000_000,
            ),
            ("gossip.max_shard_level", self.max_shard_level.into(), 0, 20),
            (
                "gossip.min_shard_level",
                self.min_shard_level.into(),
                0,
                self.max_shard_level.into(),
            ),
            (
                "gossip.max_frames_per_peer_per_minute",
                self.max_frames_per_peer_per_minute.into(),
                1,
                100_000,
            ),
            (
                "gossip.max_frames_per_prefix_per_minute",
                self.max_frames_per_prefix_per_minute.into(),
                1,
                1_000_000,
            ),
            (
                "gossip.store_kib_per_shard",
                self.store_kib_per_shard,
                0,
                1_048_576,
            ),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(refuse(key, format!("{value} is out of range {min}–{max}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn error_of(text: &str) -> String {
        Config::parse(text, Path::new("/tmp/x/config.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_fixed_shard_count_must_be_a_power_of_two() {
        for shards in [0, 3, 12, 2048] {
            let err = error_of(&format!("[gossip]\nshards = {shards}\n"));
            assert!(err.contains("gossip.shards"), "{shards}: {err}");
        }
        for shards in [1, 2, 16, 1024] {
            let err = error_of(&format!("[gossip]\nshards = {shards}\n"));
            assert!(err.is_empty(), "{shards}: {err}");
        }
    }

    #[test]
    fn the_level_bounds_are_checked() {
        let err = error_of("[gossip]\nmax_shard_level = 21\n");
        assert!(err.contains("gossip.max_shard_level"), "{err}");
        let err = error_of("[gossip]\nmin_shard_level = 5\nmax_shard_level = 4\n");
        assert!(err.contains("gossip.min_shard_level"), "{err}");
        let err = error_of("[gossip]\nusers_per_shard = 0\n");
        assert!(err.contains("gossip.users_per_shard"), "{err}");
    }
}
