//! Getting sealed frames to their recipient: gossip validation, publishing on the recipient's
//! shard (see `shard_layout.rs`), direct hand-over, and the republish schedule.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use accord_handshake::{FrameError, GossipFrame};
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetHandle};
use accord_net::{GossipValidator, GossipVerdict};
use accord_store::InviteId;
use sha2::{Digest, Sha256};

use super::ConnectMessage;
use super::actor::ConnectActor;
use super::core::io::Delivery;
use super::seen_digests::{MAX_SEEN_DIGESTS, SeenDigests};
use super::shard_layout::{INBOX_TOPIC_PREFIX, Shard};
use super::stamped::seal_and_mint;
use crate::clock;

/// The direct-delivery answer meaning "received and processed".
pub(crate) const DIRECT_OK: &[u8] = b"ok";

/// The direct-delivery answer meaning "refused or not for me".
pub(crate) const DIRECT_REFUSED: &[u8] = b"no";

/// The first republish comes this long after a send, in case the first publication found no
/// peer of the recipient's shard yet (gossip needs a heartbeat or two to learn a newcomer's
/// subscriptions).
pub(crate) const FIRST_REPUBLISH_DELAY_MS: u64 = 2_000;

/// The second republish comes this long after the first, for the same reason.
pub(crate) const SECOND_REPUBLISH_DELAY_MS: u64 = 30_000;

/// After the first two, an item is refreshed once a day. Relays' shard stores keep each frame
/// until it expires (about a week) and hand it to the recipient when it comes online, so the
/// refresh only has to cover storing peers that left and the week a frame lives: a daily fresh
/// frame keeps several stores holding one at any time, at one stamp a day per pending item.
pub(crate) const MAX_REPUBLISH_DELAY_MS: u64 = 24 * 3_600_000;

/// Revocations are republished at most this many times (they have no expiry of their own).
pub(crate) const MAX_REVOCATION_PUBLISHES: u32 = 30;

/// What a delivery was for, so that an answer can stop its republication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// Our settlement of an acceptance of our invite (never republished: each acceptance
    /// the invitee republishes is answered afresh).
    Settlement(InviteId),
}

/// What the relay check dropped before forwarding, by reason. Shared between the gossip
/// validator (which runs in the network task) and the Connect actor (which reports it).
#[derive(Debug, Default)]
pub(crate) struct RelayDrops {
    /// Frames that did not decode (bad version, size or sealed box).
    malformed: AtomicU64,
    /// Frames past their expiry, or with an expiry too far ahead.
    expired: AtomicU64,
    /// Frames whose proof-of-work stamp has too little work (or belongs to other bytes).
    stamp: AtomicU64,
    /// Frames accepted before and still unexpired: a replay.
    duplicate: AtomicU64,
}

impl RelayDrops {
    fn count(&self, err: &FrameError) {
        let counter = match err {
            FrameError::Malformed(_) => &self.malformed,
            FrameError::Expired { .. } | FrameError::BadStamp { .. } => &self.expired,
            FrameError::Work(_) => &self.stamp,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts, under the names `accord stats` shows.
    pub(crate) fn counts(&self) -> [(&'static str, u64); 4] {
        [
            ("relay_malformed", self.malformed.load(Ordering::Relaxed)),
            ("relay_expired", self.expired.load(Ordering::Relaxed)),
            ("relay_stamp", self.stamp.load(Ordering::Relaxed)),
            ("relay_duplicate", self.duplicate.load(Ordering::Relaxed)),
        ]
    }
}

/// The check every relay applies before forwarding (after the network layer's per-peer and
/// per-prefix rate limits): a frame accepted before and still unexpired is ignored before any
/// other work (relays remember digests for the frame's lifetime, see `seen_digests.rs`); then
/// only the shape, the minting epoch and the proof-of-work stamp (at least `stamp_bits` of
/// work) can be checked, because the content is sealed to someone else. It is cheap enough for
/// the network task: one pass over the bytes and a few hashes.
pub(crate) fn gossip_validator(stamp_bits: u32, drops: Arc<RelayDrops>) -> GossipValidator {
    let seen = Mutex::new(SeenDigests::new(MAX_SEEN_DIGESTS));
    GossipValidator::new(move |topic, data| {
        if !topic.starts_with(INBOX_TOPIC_PREFIX) {
            return GossipVerdict::Ignore;
        }
        let now = clock::now_ms();
        let digest: [u8; 32] = Sha256::digest(data).into();
        // A poisoned lock only means another validation panicked; the set is still sound.
        let mut seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(&digest, now) {
            drops.duplicate.fetch_add(1, Ordering::Relaxed);
            return GossipVerdict::Ignore;
        }
        match GossipFrame::validate(data, now, stamp_bits) {
            Ok(frame) => {
                seen.insert(digest, frame.expires_at_ms(), now);
                GossipVerdict::Accept
            }
            Err(err) => {
                drops.count(&err);
                tracing::debug!(%err, len = data.len(), "invalid inbox gossip");
                GossipVerdict::Reject
            }
        }
    })
}

/// The delay before the next republication after `count` of them: 2 s, 30 s, then daily.
pub(crate) fn republish_delay(count: u32) -> u64 {
    match count {
        0 => FIRST_REPUBLISH_DELAY_MS,
        1 => SECOND_REPUBLISH_DELAY_MS,
        _ => MAX_REPUBLISH_DELAY_MS,
    }
}

impl ConnectActor {
    /// Seals and stamps the payload to its recipient (or takes the frame stamped for it
    /// before) and sends it both ways: published on the recipient's inbox topic, and handed
    /// over directly when it is connected. Failures are logged, never fatal: the republish
    /// schedule tries again.
    ///
    /// Which stamped frame can be sent again is a matter of how gossip filters duplicates, not
    /// of the Connect rules, so it is decided here, next to the minting it saves.
    pub(super) async fn deliver(&mut self, delivery: Delivery) {
        let Delivery {
            to,
            payload,
            expires_at_ms,
            key,
        } = delivery;
        let connected = self
            .net
            .connected_peers()
            .await
            .map(|peers| peers.iter().any(|peer| peer.peer == to.peer_id()))
            .unwrap_or(false);
        let encoded = payload.encode();
        let now = clock::now_ms();
        let frame = match self.stamped.reuse(&key, &encoded, now, connected) {
            Some(frame) => frame,
            None => {
                // Minting runs on the blocking pool; the actor waits for it (tens of
                // milliseconds at the default difficulty), the network and other tasks do not.
                let bits = self.config.invites.stamp_bits;
                match seal_and_mint(to, payload, now, bits).await {
                    Ok((frame, frame_expires_at_ms)) => {
                        // The direct hand-over may reuse the frame while both it and the item
                        // are unexpired.
                        let until = frame_expires_at_ms.min(expires_at_ms);
                        self.stamped
                            .put(key.clone(), encoded, until, frame.clone(), now);
                        frame
                    }
                    Err(err) => {
                        tracing::error!(%to, %err, "cannot seal and stamp a frame");
                        return;
                    }
                }
            }
        };
        publish_on_shard(&self.net, self.shard_level, to, frame.clone()).await;
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

/// Publishes a frame on the recipient's shard at our own `level`: the recipient subscribes one
/// level either side of its own, so estimates of the network's size that differ by up to a
/// factor of two still meet. A failure is logged; the republish schedule tries again.
async fn publish_on_shard(net: &NetHandle, level: u8, to: AccordId, frame: Vec<u8>) {
    let topic = Shard::of_id(&to, level).topic();
    if level > 0 {
        // In a sharded network the recipient's shard is the DHT neighbourhood of its key;
        // looking the recipient up connects us to peers of that shard, whose subscriptions the
        // republication two seconds from now then finds. (It fails harmlessly with the DHT
        // off.)
        let net = net.clone();
        tokio::spawn(async move {
            let _ = net.lookup(to.peer_id()).await;
        });
    }
    if let Err(err) = net.publish(topic, frame).await {
        tracing::debug!(%to, %err, "gossip publish failed; will republish");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_handshake::Payload;

    #[test]
    fn republication_is_quick_twice_then_daily() {
        assert_eq!(republish_delay(0), 2_000);
        assert_eq!(republish_delay(1), 30_000);
        assert_eq!(republish_delay(2), MAX_REPUBLISH_DELAY_MS);
        assert_eq!(republish_delay(5), MAX_REPUBLISH_DELAY_MS);
        assert_eq!(republish_delay(u32::MAX), MAX_REPUBLISH_DELAY_MS);
    }

    #[tokio::test]
    async fn a_relay_forwards_a_frame_once_for_its_whole_lifetime() {
        let mut rng = crate::rng::os_rng();
        let a = accord_identity::Identity::generate(&mut rng);
        let b = accord_identity::Identity::generate(&mut rng);
        let withdrawal = accord_handshake::Withdrawal::create(&a, b.id(), [3; 16], 1_000);
        let now = clock::now_ms();
        let (frame, _) = seal_and_mint(b.id(), Payload::Withdrawal(withdrawal), now, 4)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let drops = Arc::new(RelayDrops::default());
        let validator = gossip_validator(4, Arc::clone(&drops));
        let topic = Shard::of_id(&b.id(), 4).topic();
        assert_eq!(validator.check(&topic, &frame), GossipVerdict::Accept);
        // Minutes or days later (gossipsub's own filter has long forgotten it), the same
        // bytes are a replay: ignored before any other check, and counted.
        assert_eq!(validator.check(&topic, &frame), GossipVerdict::Ignore);
        assert_eq!(drops.counts()[3], ("relay_duplicate", 1));
    }
}
