//! Getting sealed frames to their recipient: inbox topics, gossip validation, publishing,
//! direct hand-over, and the republish schedule.

use accord_handshake::{GossipFrame, Payload, seal_payload};
use accord_identity::AccordId;
use accord_net::DirectProtocol;
use accord_net::{GossipValidator, GossipVerdict};
use accord_store::InviteId;
use sha2::{Digest, Sha256};

use super::ConnectMessage;
use super::actor::ConnectActor;
use crate::{GossipConfig, clock, rng};

/// Every inbox topic starts with this; the shard number follows.
pub(crate) const INBOX_TOPIC_PREFIX: &str = "accord/v1/inbox/";

/// The direct-delivery answer meaning "received and processed".
pub(crate) const DIRECT_OK: &[u8] = b"ok";

/// The direct-delivery answer meaning "refused or not for me".
pub(crate) const DIRECT_REFUSED: &[u8] = b"no";

/// The first republish comes this long after a send; each next one waits twice as long, up to
/// [`MAX_REPUBLISH_DELAY_MS`].
pub(crate) const FIRST_REPUBLISH_DELAY_MS: u64 = 2_000;

/// The longest wait between two republications of the same item.
pub(crate) const MAX_REPUBLISH_DELAY_MS: u64 = 60_000;

/// Revocations are republished at most this many times (they have no expiry of their own).
pub(crate) const MAX_REVOCATION_PUBLISHES: u32 = 30;

/// What a delivery was for, so that an answer can stop its republication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeliveryKey {
    /// Our invite.
    Invite(InviteId),
    /// Our acceptance of their invite.
    Acceptance(InviteId),
    /// Our withdrawal of our invite.
    Withdrawal(InviteId),
    /// Our revocation of the connection with this peer (boxed: an ID is large next to an
    /// invite id).
    Revocation(Box<AccordId>),
}

/// The inbox shard of an Accord ID: SHA-256("accord/v1/shard" ‖ ID bytes), first 8 bytes as a
/// big-endian integer, modulo the number of shards.
pub(crate) fn shard_of(id: &AccordId, shards: u32) -> u32 {
    let digest = Sha256::new()
        .chain_update(b"accord/v1/shard")
        .chain_update(id.to_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, which came from a u32.
    u32::try_from(u64::from_be_bytes(first) % shards).unwrap_or(0)
}

/// The inbox topic of an Accord ID.
pub(crate) fn topic_for(id: &AccordId, shards: u32) -> String {
    format!("{INBOX_TOPIC_PREFIX}{}", shard_of(id, shards))
}

/// The topics a node subscribes to: its own shard, or every shard when it relays for all.
pub(crate) fn inbox_topics(me: &AccordId, gossip: &GossipConfig) -> Vec<String> {
    if gossip.relay_all_shards {
        (0..gossip.shards)
            .map(|shard| format!("{INBOX_TOPIC_PREFIX}{shard}"))
            .collect()
    } else {
        vec![topic_for(me, gossip.shards)]
    }
}

/// The check every relay applies before forwarding: only the cleartext stamp and the shape can
/// be checked, because the content is sealed to someone else.
pub(crate) fn gossip_validator() -> GossipValidator {
    GossipValidator::new(|topic, data| {
        if !topic.starts_with(INBOX_TOPIC_PREFIX) {
            return GossipVerdict::Ignore;
        }
        match GossipFrame::check(data, clock::now_ms()) {
            Ok(()) => GossipVerdict::Accept,
            Err(err) => {
                tracing::debug!(%err, len = data.len(), "invalid inbox gossip");
                GossipVerdict::Reject
            }
        }
    })
}

/// The delay before the next republication after `count` of them.
pub(crate) fn republish_delay(count: u32) -> u64 {
    let factor = 1u64.checked_shl(count.min(16)).unwrap_or(u64::MAX);
    FIRST_REPUBLISH_DELAY_MS
        .saturating_mul(factor)
        .min(MAX_REPUBLISH_DELAY_MS)
}

impl ConnectActor {
    /// Seals `payload` to `to` and sends it both ways: published on `to`'s inbox topic, and
    /// handed over directly when `to` is connected. Failures are logged, never fatal: the
    /// republish schedule tries again.
    pub(super) async fn deliver(
        &self,
        to: AccordId,
        payload: &Payload,
        expires_at_ms: u64,
        key: DeliveryKey,
    ) {
        // Each send is sealed afresh, so a republication is new bytes: gossip's duplicate
        // filter would otherwise drop it, and relays cannot link the copies.
        let frame = match seal_payload(&to, payload, expires_at_ms, &mut rng::os_rng()) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::error!(%to, %err, "cannot seal a frame");
                return;
            }
        };
        let topic = topic_for(&to, self.config.gossip.shards);
        if let Err(err) = self.net.publish(topic, frame.clone()).await {
            tracing::debug!(%to, %err, "gossip publish failed; will republish");
        }
        let connected = self
            .net
            .connected_peers()
            .await
            .map(|peers| peers.iter().any(|peer| peer.peer == to.peer_id()))
            .unwrap_or(false);
        if connected {
            let net = self.net.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                match net
                    .send_direct(DirectProtocol::Inbox, to.peer_id(), frame)
                    .await
                {
                    Ok(answer) if answer == DIRECT_OK => {
                        let _ = tx.send(ConnectMessage::Delivered { key }).await;
                    }
                    Ok(_) => tracing::debug!(%to, "direct delivery refused"),
                    Err(err) => tracing::debug!(%to, %err, "direct delivery failed"),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn republish_delays_double_up_to_the_cap() {
        assert_eq!(republish_delay(0), 2_000);
        assert_eq!(republish_delay(1), 4_000);
        assert_eq!(republish_delay(4), 32_000);
        assert_eq!(republish_delay(5), MAX_REPUBLISH_DELAY_MS);
        assert_eq!(republish_delay(u32::MAX), MAX_REPUBLISH_DELAY_MS);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let mut rng = rng::os_rng();
        for _ in 0..50 {
            let id = accord_identity::Identity::generate(&mut rng).id();
            let shard = shard_of(&id, 16);
            assert!(shard < 16);
            assert_eq!(shard, shard_of(&id, 16));
            assert_eq!(shard_of(&id, 1), 0);
        }
    }
}
