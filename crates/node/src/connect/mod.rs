//! The Connect half of the node: invites, acceptances, withdrawals, revocations.
//!
//! One actor task owns the lifecycle, so that every change to an invite or a connection
//! happens in one place, in order: user commands (from control connections) and frames that
//! arrive by gossip or directly are processed one at a time. The protocol rules themselves live
//! in the sans-IO `accord-handshake` crate; every decision of the node about them lives in the
//! sans-IO [`core`] (`ConnectCore::handle(input, now) -> outputs`), and the actor is a thin
//! loop that feeds it and carries out its outputs — the store, the network, the clock.

mod actor;
mod command;
mod core;
mod delivery;
mod replay;
mod seen_digests;
mod shard_layout;
mod stamped;
mod store_ops;
mod transition;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use accord_api::RemoteError;
use accord_net::{Multiaddr, PeerId, ResponseChannel};
use tokio::sync::{mpsc, oneshot};

pub(crate) use actor::ConnectActor;
pub(crate) use command::{ConnectCommand, ConnectReply};
pub(crate) use delivery::{RelayDrops, gossip_validator};

/// Capacity of the actor's queue. Frames beyond it are dropped (gossip repeats them);
/// commands wait for a slot.
pub(crate) const QUEUE_CAPACITY: usize = 256;

/// A message to the Connect actor.
#[derive(Debug)]
pub(crate) enum ConnectMessage {
    /// A user command from the control API.
    Command {
        command: ConnectCommand,
        reply: oneshot::Sender<Result<ConnectReply, RemoteError>>,
    },
    /// A sealed frame from gossip (no channel) or from a peer directly (with the channel to
    /// answer on).
    Frame {
        data: Vec<u8>,
        from: PeerId,
        /// The gossip topic (`None` for a direct hand-over).
        topic: Option<String>,
        channel: Option<ResponseChannel<Vec<u8>>>,
    },
    /// A peer connected: hand it what is waiting for it, and republish soon.
    PeerConnected { peer: PeerId },
    /// A peer subscribed to a gossip topic: hand it what we store of that shard.
    PeerSubscribed { peer: PeerId, topic: String },
    /// A direct delivery was answered by its recipient.
    Delivered { key: delivery::DeliveryKey },
    /// The network identified a peer: record it in the address book.
    PeerIdentified { peer: PeerId, addrs: Vec<Multiaddr> },
    /// Stop after what is queued before this message.
    Shutdown,
}

/// How many identified peers were not recorded because the actor's queue was full; shared
/// between the handle (which counts) and the actor (which reports it in `accord stats`).
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentifyDrops(Arc<AtomicU64>);

impl IdentifyDrops {
    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A cloneable handle to the Connect actor.
#[derive(Debug, Clone)]
pub(crate) struct ConnectHandle {
    tx: mpsc::Sender<ConnectMessage>,
    identify_drops: IdentifyDrops,
}

impl ConnectHandle {
    pub(crate) fn new(tx: mpsc::Sender<ConnectMessage>, identify_drops: IdentifyDrops) -> Self {
        ConnectHandle { tx, identify_drops }
    }

    /// Hands an identified peer to the actor for the address book, without waiting: the
    /// network loop must never wait for the store. When the queue is full the sighting is
    /// dropped and counted (the peer is identified again on its next connection).
    pub(crate) fn peer_identified(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if self
            .tx
            .try_send(ConnectMessage::PeerIdentified { peer, addrs })
            .is_err()
        {
            if self.identify_drops.count() == 0 {
                tracing::warn!(%peer, "Connect queue full; an identified peer was not recorded");
            }
            self.identify_drops.add();
        }
    }

    /// Runs a user command and returns its result.
    pub(crate) async fn command(
        &self,
        command: ConnectCommand,
    ) -> Result<ConnectReply, RemoteError> {
        let (reply, response) = oneshot::channel();
        let stopped =
            || RemoteError::new(accord_api::ErrorCode::Internal, "the node is shutting down");
        self.tx
            .send(ConnectMessage::Command { command, reply })
            .await
            .map_err(|_| stopped())?;
        response.await.map_err(|_| stopped())?
    }

    /// Queues an inbound frame without waiting; returns false when the queue is full.
    pub(crate) fn frame(
        &self,
        data: Vec<u8>,
        from: PeerId,
        topic: Option<String>,
        channel: Option<ResponseChannel<Vec<u8>>>,
    ) -> bool {
        self.tx
            .try_send(ConnectMessage::Frame {
                data,
                from,
                topic,
                channel,
            })
            .is_ok()
    }

    /// Asks the actor to stop once it has handled what is already queued. The actor holds a
    /// sender to itself (for delivery answers), so it does not stop on its own when the other
    /// handles are dropped.
    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(ConnectMessage::Shutdown).await;
    }

    /// Tells the actor a peer subscribed to a gossip topic (best effort: the peer is handed
    /// the shard's frames at its next connection otherwise).
    pub(crate) fn peer_subscribed(&self, peer: PeerId, topic: String) {
        let _ = self
            .tx
            .try_send(ConnectMessage::PeerSubscribed { peer, topic });
    }

    /// Tells the actor a peer connected (best effort).
    pub(crate) fn peer_connected(&self, peer: PeerId) {
        let _ = self.tx.try_send(ConnectMessage::PeerConnected { peer });
    }
}
