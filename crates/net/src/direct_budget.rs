//! What one peer may send on the direct protocols: a request rate on `/accord/inbox/1` and a
//! byte budget across both direct protocols, each a token bucket per peer in a bounded map
//! ([`PeerRateLimiter`]), with time passed in.

use std::time::Instant;

use libp2p::PeerId;

use crate::direct::DirectProtocol;
use crate::{NetLimits, PeerRateLimiter, RateVerdict};

/// What the budget decides about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Within the peer's budgets: hand it to the node.
    Admit,
    /// Over the peer's inbox request rate: drop it.
    OverRate,
    /// Over the peer's byte budget: drop it.
    OverBytes,
}

/// The per-peer budgets of the direct protocols.
#[derive(Debug)]
pub(crate) struct DirectBudget {
    inbox_requests: PeerRateLimiter,
    bytes: PeerRateLimiter,
}

impl DirectBudget {
    pub(crate) fn new(limits: &NetLimits) -> Self {
        DirectBudget {
            inbox_requests: PeerRateLimiter::new(
                limits.inbox_requests_per_peer_per_minute,
                limits.direct_budget_peers,
            ),
            bytes: PeerRateLimiter::new(
                limits.direct_bytes_per_peer_per_minute,
                limits.direct_budget_peers,
            ),
        }
    }

    /// Decides about a request of `len` bytes from `peer` on `protocol` at `now`, and charges
    /// it. The rate comes first: a request over it costs no bytes of the budget.
    pub(crate) fn admit(
        &mut self,
        protocol: DirectProtocol,
        peer: PeerId,
        len: usize,
        now: Instant,
    ) -> Admission {
        if protocol == DirectProtocol::Inbox
            && self.inbox_requests.check(peer, now) != RateVerdict::Allow
        {
            return Admission::OverRate;
        }
        // The length prefix travels too.
        let cost = u32::try_from(len.saturating_add(4)).unwrap_or(u32::MAX);
        if self.bytes.check_cost(peer, now, cost) == RateVerdict::Allow {
            Admission::Admit
        } else {
            Admission::OverBytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(requests: u32, bytes: u32) -> DirectBudget {
        DirectBudget::new(&NetLimits {
            inbox_requests_per_peer_per_minute: requests,
            direct_bytes_per_peer_per_minute: bytes,
            ..NetLimits::default()
        })
    }

    #[test]
    fn inbox_requests_beyond_the_rate_are_dropped_per_peer() {
        let now = Instant::now();
        let mut budget = budget(3, 1_000_000);
        let (noisy, quiet) = (PeerId::random(), PeerId::random());
        let verdicts: Vec<Admission> = (0..5)
            .map(|_| budget.admit(DirectProtocol::Inbox, noisy, 100, now))
            .collect();
        assert_eq!(
            verdicts,
            [
                Admission::Admit,
                Admission::Admit,
                Admission::Admit,
                Admission::OverRate,
                Admission::OverRate
            ]
        );
        assert_eq!(
            budget.admit(DirectProtocol::Inbox, quiet, 100, now),
            Admission::Admit
        );
        // The request rate is the inbox's only: dm requests are not counted against it.
        assert_eq!(
            budget.admit(DirectProtocol::Dm, noisy, 100, now),
            Admission::Admit
        );
    }

    #[test]
    fn bytes_beyond_the_budget_are_dropped_on_both_protocols() {
        let now = Instant::now();
        let mut budget = budget(1000, 10_000);
        let peer = PeerId::random();
        assert_eq!(
            budget.admit(DirectProtocol::Dm, peer, 6000, now),
            Admission::Admit
        );
        assert_eq!(
            budget.admit(DirectProtocol::Inbox, peer, 3000, now),
            Admission::Admit
        );
        // 9,008 bytes spent: 1,000 more (with their prefix) do not fit.
        assert_eq!(
            budget.admit(DirectProtocol::Inbox, peer, 1000, now),
            Admission::OverBytes
        );
        let later = now + std::time::Duration::from_secs(60);
        assert_eq!(
            budget.admit(DirectProtocol::Dm, peer, 6000, later),
            Admission::Admit
        );
    }
}
