//! This node's place in the shard layout: which shards it subscribes to (and when that
//! changes), which frames it keeps in its shard store, and which stored frames it hands to a
//! peer of a shard — at its connection, or when it joins the shard (back-fill).

use accord_handshake::GossipFrame;
use accord_identity::AccordId;
use accord_net::PeerId;

use super::super::replay::FrameDigest;
use super::super::shard_layout::{Shard, shard_key, subscribed_shards};
use super::ConnectCore;
use super::io::{ConnectOutput, Now};
use super::plan::{Plan, Step};

impl ConnectCore {
    /// The subscriptions for the current level, remembered, and the output that tells the
    /// actor; frames of shards no longer subscribed are let go.
    pub(super) fn resubscribe(&mut self) -> ConnectOutput {
        let level = self.network_size.level();
        self.subscribed = subscribed_shards(&self.me, level, &self.config.gossip);
        self.shard_store.retain_shards(&self.subscribed);
        tracing::info!(
            level,
            shards = self.subscribed.len(),
            "inbox shard level set"
        );
        ConnectOutput::Shards {
            level,
            topics: self.subscribed.iter().map(|shard| shard.topic()).collect(),
        }
    }

    /// Counts a sighting of an identified peer in the network-size estimate; when the level
    /// changes, the step that moves the subscriptions.
    pub(super) fn note_sighting(&mut self, peer: &AccordId, now_ms: u64) -> Option<Step> {
        self.network_size
            .observe(peer, now_ms, &self.config.gossip)
            .map(|_| Step::Out(self.resubscribe()))
    }

    /// Keeps a frame that arrived by gossip on `topic` in the shard store (the gossip validator
    /// has checked it as a relay does), and says whether that shard holds our own key: only
    /// those shards' frames are opened.
    pub(super) fn keep_relayed(
        &mut self,
        topic: &str,
        data: &[u8],
        digest: FrameDigest,
        from: PeerId,
        now_ms: u64,
    ) -> bool {
        let Some(shard) = Shard::from_topic(topic).filter(|s| self.subscribed.contains(s)) else {
            return false;
        };
        self.keep_in(shard, data, digest, from, now_ms);
        shard.contains(&shard_key(&self.me))
    }

    /// Keeps a frame handed over directly that is not for us: a peer of one of our shards
    /// back-filled it from its store. It passed the relay check; a hand-over carries no topic,
    /// so it is kept in our widest shard (our own prefix at the lowest level we subscribe at),
    /// which holds every shard of ours it can belong to.
    pub(super) fn keep_handed(
        &mut self,
        data: &[u8],
        digest: FrameDigest,
        from: PeerId,
        now_ms: u64,
    ) {
        let key = shard_key(&self.me);
        let widest = self
            .subscribed
            .iter()
            .filter(|shard| shard.contains(&key))
            .min_by_key(|shard| shard.level())
            .copied();
        if let Some(shard) = widest {
            self.keep_in(shard, data, digest, from, now_ms);
        }
    }

    fn keep_in(
        &mut self,
        shard: Shard,
        data: &[u8],
        digest: FrameDigest,
        from: PeerId,
        now_ms: u64,
    ) {
        if let Ok(frame) = GossipFrame::decode(data) {
            self.shard_store
                .keep(shard, digest, data, frame.expires_at_ms(), from, now_ms);
        }
    }

    /// The hand-over of what the store kept for `peer`: of `only`, or of every stored shard
    /// that holds its key.
    pub(super) fn hand_over_to(
        &mut self,
        peer: PeerId,
        only: Option<Shard>,
        now_ms: u64,
    ) -> Option<Step> {
        let id = AccordId::from_peer_id(peer).ok()?;
        let frames = self
            .shard_store
            .hand_over(peer, &shard_key(&id), only, now_ms);
        (!frames.is_empty()).then_some(Step::Out(ConnectOutput::HandOver { peer, frames }))
    }

    /// A peer subscribed to a topic: if it joined one of its own shards that we store, hand it
    /// the frames of that shard it has not had (back-fill). Gossip tells every neighbour of
    /// every subscription anyway, so answering one reveals nothing new about the peer.
    pub(super) fn on_peer_subscribed(&mut self, peer: PeerId, topic: &str, now: Now) -> Plan {
        let mut plan = Plan::empty();
        if let Some(shard) = Shard::from_topic(topic) {
            plan.extend(self.hand_over_to(peer, Some(shard), now.unix_ms));
        }
        plan
    }
}
