//! Connection trimming: which peers to disconnect when too many are connected.
//!
//! Kademlia queries and inbound dials connect a node to every peer they touch, and gossipsub
//! keeps every peer it put in one of its 16 topic meshes connected, so without a bound a node
//! of a 60-node network keeps all 59 connections open, pinging and heartbeating each. Here,
//! as in go-libp2p's connection manager, once more than [`TrimConfig::high`] peers are
//! connected the node disconnects the least useful until [`TrimConfig::low`] are left. Never
//! trimmed: the peers the node asked to keep (its Accord connections), its bootstrap peers and
//! relays, and any peer connected for less than [`TrimConfig::grace`] (so that identify,
//! subscriptions and a request that caused the dial can finish). Peers outside every gossip
//! mesh go first, then the most recently connected. Sans-IO: time and peer sets come in,
//! peers to disconnect go out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::PeerId;
use tokio::time::Instant;

/// The watermarks and grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrimConfig {
    /// Trim down to this many connected peers.
    pub(crate) low: usize,
    /// Trim once more than this many are connected.
    pub(crate) high: usize,
    /// A connection younger than this is never trimmed.
    pub(crate) grace: Duration,
}

/// The connected peers, when each was connected, and the peers to keep.
#[derive(Debug)]
pub(crate) struct Trimmer {
    config: TrimConfig,
    connected_since: HashMap<PeerId, Instant>,
    kept: HashSet<PeerId>,
    check_at: Option<Instant>,
}

impl Trimmer {
    pub(crate) fn new(config: TrimConfig) -> Self {
        Trimmer {
            config,
            connected_since: HashMap::new(),
            kept: HashSet::new(),
            check_at: None,
        }
    }

    /// The first connection to `peer` is up.
    pub(crate) fn connected(&mut self, peer: PeerId, now: Instant) {
        self.connected_since.entry(peer).or_insert(now);
        if self.connected_since.len() > self.config.high {
            self.check_at = Some(self.check_at.map_or(now, |at| at.min(now)));
        }
    }

    /// The last connection to `peer` closed.
    pub(crate) fn disconnected(&mut self, peer: &PeerId) {
        self.connected_since.remove(peer);
    }

    /// Replaces the peers that are never trimmed.
    pub(crate) fn keep(&mut self, peers: impl IntoIterator<Item = PeerId>) {
        self.kept = peers.into_iter().collect();
    }

    /// When [`Trimmer::choose`] should run next, if at all.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.check_at
    }

    /// The peers to disconnect now. `protected` are never chosen; `in_mesh` go last. When
    /// the node stays above the high watermark only because some connections are still in
    /// their grace period, the next check is set for when the first of them ends.
    pub(crate) fn choose(
        &mut self,
        now: Instant,
        protected: &HashSet<PeerId>,
        in_mesh: &HashSet<PeerId>,
    ) -> Vec<PeerId> {
        self.check_at = None;
        let count = self.connected_since.len();
        if count <= self.config.high {
            return Vec::new();
        }
        let mut candidates: Vec<(PeerId, Instant)> = Vec::new();
        let mut next_grace_end: Option<Instant> = None;
        for (peer, since) in &self.connected_since {
            if self.kept.contains(peer) || protected.contains(peer) {
                continue;
            }
            let grace_end = *since + self.config.grace;
            if grace_end > now {
                next_grace_end = Some(next_grace_end.map_or(grace_end, |at| at.min(grace_end)));
            } else {
                candidates.push((*peer, *since));
            }
        }
        // Outside every mesh first, then the most recently connected first.
        candidates.sort_by_key(|(peer, since)| (in_mesh.contains(peer), std::cmp::Reverse(*since)));
        let excess = count - self.config.low.min(count);
        let chosen: Vec<PeerId> = candidates
            .into_iter()
            .take(excess)
            .map(|(peer, _)| peer)
            .collect();
        if count - chosen.len() > self.config.high {
            self.check_at = next_grace_end;
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: TrimConfig = TrimConfig {
        low: 2,
        high: 4,
        grace: Duration::from_secs(30),
    };

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn nothing_is_trimmed_at_or_below_the_high_watermark() {
        let mut trimmer = Trimmer::new(CONFIG);
        let start = Instant::now();
        for peer in peers(4) {
            trimmer.connected(peer, start);
        }
        assert_eq!(trimmer.due(), None);
        let later = start + Duration::from_secs(60);
        assert!(
            trimmer
                .choose(later, &HashSet::new(), &HashSet::new())
                .is_empty()
        );
    }

    #[test]
    fn above_it_the_newest_non_mesh_unprotected_peers_go_down_to_the_low_watermark() {
        let mut trimmer = Trimmer::new(CONFIG);
        let start = Instant::now();
        let all = peers(6);
        for (i, peer) in all.iter().enumerate() {
            trimmer.connected(*peer, start + Duration::from_secs(i as u64));
        }
        assert_eq!(trimmer.due(), Some(start + Duration::from_secs(4)));
        trimmer.keep([all[5]]);
        let protected = HashSet::from([all[4]]);
        let in_mesh = HashSet::from([all[3]]);
        let now = start + Duration::from_secs(100);
        let mut chosen = trimmer.choose(now, &protected, &in_mesh);
        chosen.sort();
        // 6 connected, 4 to go; 5 is kept and 4 protected; 3 is in a mesh so it goes last.
        let mut expected = vec![all[0], all[1], all[2], all[3]];
        expected.sort();
        assert_eq!(chosen, expected);
        assert_eq!(trimmer.due(), None);
    }

    #[test]
    fn young_connections_wait_for_their_grace_period() {
        let mut trimmer = Trimmer::new(CONFIG);
        let start = Instant::now();
        let all = peers(5);
        for peer in &all {
            trimmer.connected(*peer, start);
        }
        let chosen = trimmer.choose(
            start + Duration::from_secs(1),
            &HashSet::new(),
            &HashSet::new(),
        );
        assert!(chosen.is_empty());
        assert_eq!(trimmer.due(), Some(start + CONFIG.grace));
        let chosen = trimmer.choose(start + CONFIG.grace, &HashSet::new(), &HashSet::new());
        assert_eq!(chosen.len(), 3);
        for peer in &chosen {
            trimmer.disconnected(peer);
        }
        assert!(
            trimmer
                .choose(start + CONFIG.grace, &HashSet::new(), &HashSet::new())
                .is_empty()
        );
    }
}
