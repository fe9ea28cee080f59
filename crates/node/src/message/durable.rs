//! Answers held back until the disk has caught up.
//!
//! The store answers a recorded message at once and hands back a [`FlushTicket`] that resolves
//! after the group commit covering it. The actor does not wait on the ticket: it queues the
//! answer here and goes on with the next send or the next incoming message, so that messages
//! arriving together share one fsync. Tickets resolve in the order their writes were queued
//! (the store runs jobs in order), and [`FuturesOrdered`] yields them in that order too, so
//! acknowledgements and events leave in the order the messages were recorded.

use accord_api::{ErrorCode, Event, RemoteError};
use accord_identity::AccordId;
use accord_net::{DirectProtocol, ResponseChannel};
use accord_store::{FlushTicket, MessageId, MessageState, StoreError};
use std::future::Future;
use std::pin::Pin;

use futures::stream::FuturesOrdered;
use serde_json::Value;
use tokio::sync::oneshot;

use super::actor::MessageActor;
use super::wire::{self, Status};

/// The most answers that may wait for a flush. When this many are waiting, the actor stops
/// taking new work until the disk catches up, which bounds the memory they hold.
pub(super) const MAX_AWAITING_FLUSH: usize = 1024;

/// What to do once a write is durable.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived, and at most MAX_AWAITING_FLUSH of them exist"
)]
pub(super) enum AfterFlush {
    /// A message the user sent was recorded: answer the `send` request, then deliver it.
    Sent {
        reply: oneshot::Sender<Result<Value, RemoteError>>,
        answer: Value,
        peer: AccordId,
        message_id: MessageId,
    },
    /// A message from a peer was recorded: acknowledge it, and tell subscribers.
    Received {
        channel: ResponseChannel<Vec<u8>>,
        status: Status,
        /// Boxed: an event is large, and most answers carry none.
        event: Option<Box<Event>>,
    },
}

/// One answer waiting for its flush. `Sync` as well as `Send`, so that the actor, which holds
/// these, can still be borrowed across an await.
type Awaiting = Pin<Box<dyn Future<Output = (Result<(), StoreError>, AfterFlush)> + Send + Sync>>;

/// The answers waiting for their flush, in the order their writes were queued.
pub(super) type AwaitingFlush = FuturesOrdered<Awaiting>;

impl MessageActor {
    /// Runs `then` once `ticket` resolves.
    pub(super) fn after_flush(&mut self, ticket: FlushTicket, then: AfterFlush) {
        self.awaiting_flush
            .push_back(Box::pin(async move { (ticket.wait().await, then) }));
    }

    /// A write became durable (or could not be made so): send what waited for it.
    pub(super) async fn on_flushed(&mut self, flushed: Result<(), StoreError>, then: AfterFlush) {
        match (then, flushed) {
            (
                AfterFlush::Sent {
                    reply,
                    answer,
                    peer,
                    message_id,
                },
                Ok(()),
            ) => {
                self.unflushed.remove(&message_id);
                // Handed to the peer's connection first, so that the answer can say `sent`.
                self.fill_window(peer, true).await;
                let answer = self.with_sent_state(answer, peer, &message_id).await;
                let _ = reply.send(Ok(answer));
            }
            (
                AfterFlush::Sent {
                    reply, message_id, ..
                },
                Err(err),
            ) => {
                self.unflushed.remove(&message_id);
                if !self.delivery_halted {
                    tracing::error!(
                        "delivery stopped: the outbox may hold messages that are not on disk; \
                         free space (or fix the disk) and restart the daemon"
                    );
                }
                self.delivery_halted = true;
                tracing::error!(%err, "a sent message could not be made durable");
                let _ = reply.send(Err(RemoteError::new(
                    ErrorCode::Internal,
                    format!("the message could not be saved: {err}"),
                )));
            }
            (
                AfterFlush::Received {
                    channel,
                    status,
                    event,
                },
                Ok(()),
            ) => {
                if let Some(event) = event {
                    self.emit(*event);
                }
                self.respond(channel, status).await;
            }
            (AfterFlush::Received { channel, .. }, Err(err)) => {
                tracing::warn!(%err, "an incoming message could not be made durable");
                self.respond(channel, Status::Refused).await;
            }
        }
    }

    /// The answer to `send`, saying `sent` (and no failure reason) if the message is now on
    /// a live connection to the peer.
    async fn with_sent_state(
        &mut self,
        mut answer: Value,
        peer: AccordId,
        message_id: &MessageId,
    ) -> Value {
        if self.is_sent(&peer, message_id)
            && self.still_connected(peer).await
            && let Some(fields) = answer.as_object_mut()
        {
            fields.insert("state".to_owned(), MessageState::Sent.to_string().into());
            fields.remove("reason");
        }
        answer
    }

    /// Asks the swarm whether `peer` still has a live connection, and forgets it if not. The
    /// actor learns of a closed connection by an event that may still be on its way; the
    /// answer to `send` asks the swarm itself before it says `sent`.
    async fn still_connected(&mut self, peer: AccordId) -> bool {
        let live = self
            .net
            .connected_peers()
            .await
            .is_ok_and(|peers| peers.iter().any(|p| p.peer == peer.peer_id()));
        if !live {
            self.connected.remove(&peer);
        }
        live
    }

    /// Answers a `/accord/dm/1` request.
    pub(super) async fn respond(&self, channel: ResponseChannel<Vec<u8>>, status: Status) {
        let _ = self
            .net
            .respond_direct(DirectProtocol::Dm, channel, wire::encode_status(status))
            .await;
    }
}
