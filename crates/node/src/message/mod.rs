//! The Message half of the node: end-to-end encrypted messages between connections.
//!
//! One actor owns sending and receiving, so that the ratchet state of a conversation is only
//! ever advanced in one place and in order. A message is encrypted when it is sent and stored,
//! together with the new ratchet state, its history entry and its outbox entry, in one store
//! transaction. The outbox is delivered over `/accord/dm/1`, a window of messages in flight per
//! peer, in order, with back-off while the peer is unreachable and at once when it connects.
//! The recipient takes messages only in the order they were sent, answers only after the
//! message and its ratchet state are durable, and recognises retransmissions by their message
//! id before decrypting anything. Neither side waits for the disk inline: answers that need
//! durability wait for the store's group commit, while the actor goes on.
//!
//! Every decision is [`core::MessageCore`]'s, a state machine without I/O (inputs and the time
//! in, outputs out); [`actor`] is the thin loop that feeds it and carries out what it says:
//! store jobs ([`store_jobs`], with the ratchet steps [`send_step`], [`receive_step`] and
//! [`receipt_step`] on the store thread), sends and answers ([`network`]), replies and events.
//! The actor works in batches: everything queued for it while the store was busy is taken at
//! once, and every send of the batch, every incoming message of every peer and every batch of
//! delivery answers go to the store as one job each, so that they share one transaction hop
//! and one fsync.

mod actor;
mod command;
mod core;
mod network;
mod receipt_step;
mod receive_step;
mod send_step;
mod store_jobs;
pub mod wire;

use accord_api::RemoteError;

use accord_net::{PeerId, ResponseChannel};
pub(crate) use command::{MessageCommand, MessageReply};
use tokio::sync::{mpsc, oneshot};

pub(crate) use actor::MessageActor;
pub(crate) use send_step::random_id as random_frame_id;

/// Capacity of the actor's queue.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// A message to the Message actor.
#[derive(Debug)]
pub(crate) enum MessageMessage {
    /// A user command.
    Command {
        command: MessageCommand,
        reply: oneshot::Sender<Result<MessageReply, RemoteError>>,
    },
    /// A direct message request from a peer, with the channel to answer on.
    Incoming {
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    },
    /// An `/accord/dm/1` request fetched from one of our mailboxes, sent by `peer`; its
    /// answer (after the flush, like any other) goes to `reply`.
    Fetched {
        peer: accord_identity::AccordId,
        data: Vec<u8>,
        reply: oneshot::Sender<wire::Status>,
    },
    /// A peer connected: deliver what waits for it.
    PeerConnected { peer: PeerId },
    /// A peer's last connection closed: what was handed to it is no longer `sent`.
    PeerDisconnected { peer: PeerId },
    /// A channel was set up or torn down (by the Connect actor): re-examine the outbox.
    ChannelChanged { peer: accord_identity::AccordId },
    /// Stop after what is queued before this.
    Shutdown,
}

/// A cloneable handle to the Message actor.
#[derive(Debug, Clone)]
pub(crate) struct MessageHandle {
    tx: mpsc::Sender<MessageMessage>,
}

impl MessageHandle {
    pub(crate) fn new(tx: mpsc::Sender<MessageMessage>) -> Self {
        MessageHandle { tx }
    }

    /// Runs a user command.
    pub(crate) async fn run(&self, command: MessageCommand) -> Result<MessageReply, RemoteError> {
        let (reply, response) = oneshot::channel();
        self.tx
            .send(MessageMessage::Command { command, reply })
            .await
            .map_err(|_| actor::stopped())?;
        response.await.map_err(|_| actor::stopped())?
    }

    /// Queues an incoming request; false when the queue is full (the sender retries).
    pub(crate) fn incoming(
        &self,
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) -> bool {
        self.tx
            .try_send(MessageMessage::Incoming {
                peer,
                data,
                channel,
            })
            .is_ok()
    }

    /// Hands the actor a request fetched from one of our mailboxes (waiting for room in its
    /// queue); the answer comes on the returned channel, or `None` if the actor stopped.
    pub(crate) async fn fetched(
        &self,
        peer: accord_identity::AccordId,
        data: Vec<u8>,
    ) -> Option<oneshot::Receiver<wire::Status>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(MessageMessage::Fetched { peer, data, reply })
            .await
            .ok()?;
        Some(answer)
    }

    /// Tells the actor a peer connected (best effort).
    pub(crate) fn peer_connected(&self, peer: PeerId) {
        let _ = self.tx.try_send(MessageMessage::PeerConnected { peer });
    }

    /// Tells the actor a peer's last connection closed (best effort: if this is lost, the
    /// deliveries on that connection fail soon anyway and show `queued` again).
    pub(crate) fn peer_disconnected(&self, peer: PeerId) {
        let _ = self.tx.try_send(MessageMessage::PeerDisconnected { peer });
    }

    /// Tells the actor a channel appeared or went away.
    pub(crate) async fn channel_changed(&self, peer: accord_identity::AccordId) {
        let _ = self.tx.send(MessageMessage::ChannelChanged { peer }).await;
    }

    /// Stops the actor once it has handled what is already queued.
    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(MessageMessage::Shutdown).await;
    }
}
