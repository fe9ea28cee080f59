//! Answers held back until the disk has caught up, and the answers on their way to the swarm.
//!
//! The store answers a batch at once and hands back a [`FlushTicket`] that resolves after the
//! group commit covering it. The actor does not wait on the ticket: it queues the batch's
//! answers here and goes on with the next batch, so that messages arriving together share one
//! fsync. Tickets resolve in the order their writes were queued (the store runs jobs in
//! order), and [`FuturesOrdered`] yields them in that order too, so acknowledgements and
//! events leave in the order the messages were recorded.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use accord_api::{ErrorCode, Event, RemoteError, SendInfo};
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetError, NetHandle, ResponseChannel};
use accord_store::{FlushTicket, MessageId, MessageState, StoreError};
use futures::StreamExt as _;
use futures::stream::{FuturesOrdered, FuturesUnordered};

use super::MessageReply;
use super::actor::{MessageActor, Reply};
use super::wire::{self, Status};

/// The most answers that may wait for a flush. When this many are waiting, the actor stops
/// taking new work until the disk catches up, which bounds the memory they hold.
pub(super) const MAX_AWAITING_FLUSH: usize = 1024;

/// A message the user sent, recorded and waiting for its flush.
pub(super) struct Sent {
    pub(super) reply: Reply,
    pub(super) info: SendInfo,
    pub(super) peer: AccordId,
    pub(super) message_id: MessageId,
}

/// A request from a peer, answered once what it wrote is durable.
pub(super) struct Received {
    pub(super) channel: ResponseChannel<Vec<u8>>,
    pub(super) status: Status,
    /// What to tell subscribers once it is durable.
    pub(super) events: Vec<Event>,
}

/// What to do once a batch's writes are durable.
pub(super) enum AfterFlush {
    /// Messages the user sent were recorded: answer the `send` requests, then deliver them.
    Sent(Vec<Sent>),
    /// Requests from peers were recorded: acknowledge them, and tell subscribers.
    Received(Vec<Received>),
    /// Messages from this peer were marked read: send the receipts now owed.
    ReadMarked(AccordId),
    /// A read receipt was made with a ratchet state now written: send it.
    Receipt {
        peer: AccordId,
        frame: Vec<u8>,
        up_to: u64,
    },
}

impl AfterFlush {
    fn answers(&self) -> usize {
        match self {
            AfterFlush::Sent(sent) => sent.len(),
            AfterFlush::Received(received) => received.len(),
            AfterFlush::ReadMarked(_) | AfterFlush::Receipt { .. } => 1,
        }
    }
}

/// One batch waiting for its flush. `Sync` as well as `Send`, so that the actor, which holds
/// these, can still be borrowed across an await.
type Awaiting = Pin<Box<dyn Future<Output = (Result<(), StoreError>, AfterFlush)> + Send + Sync>>;

/// The batches waiting for their flush, in the order their writes were queued.
pub(super) type AwaitingFlush = FuturesOrdered<Awaiting>;

/// The most answers to `/accord/dm/1` requests handed to the swarm and not yet confirmed by
/// it. When this many are outstanding, the actor waits for the swarm before it hands over more.
const MAX_RESPONDING: usize = 1024;

/// One answer on its way to the swarm. `Sync` as well as `Send`, so that the actor, which
/// holds these, can still be borrowed across an await.
type Responding = Pin<Box<dyn Future<Output = Result<(), NetError>> + Send + Sync>>;

/// The answers to `/accord/dm/1` requests on their way to the swarm, polled by the actor's own
/// loop.
///
/// Answering is a round trip to the swarm, which the actor does not wait for. The answers used
/// to go through a task of their own, but that task's wake-up was one more thread hand-off on
/// every acknowledgement's path; polled here, an answer reaches the swarm in the same wake-up
/// of the actor that found its flush done. [`FuturesUnordered`] polls newly pushed futures in
/// the order they were pushed, and the swarm's command queue is first come, first served, so
/// the answers still reach the swarm in order.
pub(super) struct Responder {
    net: NetHandle,
    pending: FuturesUnordered<Responding>,
}

impl Responder {
    pub(super) fn new(net: NetHandle) -> Responder {
        Responder {
            net,
            pending: FuturesUnordered::new(),
        }
    }

    /// Hands answers to the swarm (they leave when the actor's loop next polls
    /// [`Responder::next_done`]), first waiting for room if the swarm is behind.
    pub(super) async fn send(&mut self, answers: Vec<(ResponseChannel<Vec<u8>>, Status)>) {
        for (channel, status) in answers {
            while self.pending.len() >= MAX_RESPONDING {
                if let Some(result) = self.pending.next().await {
                    note_answered(result);
                }
            }
            let net = self.net.clone();
            self.pending.push(Box::pin(async move {
                net.respond_direct(DirectProtocol::Dm, channel, wire::encode_status(status))
                    .await
            }));
        }
    }

    /// Whether no answer is on its way.
    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drives the answers on their way; resolves when the swarm has taken one.
    pub(super) async fn next_done(&mut self) {
        if let Some(result) = self.pending.next().await {
            note_answered(result);
        }
    }

    /// Lets the responder send what it holds, and waits for it.
    pub(super) async fn finish(mut self) {
        while let Some(result) = self.pending.next().await {
            note_answered(result);
        }
    }
}

/// Logs an answer the swarm could not send.
fn note_answered(result: Result<(), NetError>) {
    if let Err(err) = result {
        // The requester went away (or the swarm stopped): it sends again.
        tracing::debug!(%err, "could not answer a message request");
    }
}

impl MessageActor {
    /// Runs `then` once `ticket` resolves.
    pub(super) fn after_flush(&mut self, ticket: FlushTicket, then: AfterFlush) {
        self.awaiting_answers += then.answers();
        self.awaiting_flush
            .push_back(Box::pin(async move { (ticket.wait().await, then) }));
    }

    /// A batch became durable (or could not be made so): send what waited for it.
    pub(super) async fn on_flushed(&mut self, flushed: Result<(), StoreError>, then: AfterFlush) {
        self.awaiting_answers = self.awaiting_answers.saturating_sub(then.answers());
        match (then, flushed) {
            (AfterFlush::Sent(sent), Ok(())) => self.on_sent_flushed(sent).await,
            (AfterFlush::Sent(sent), Err(err)) => {
                if self.outbox.halt() {
                    tracing::error!(
                        "delivery stopped: the outbox may hold messages that are not on disk; \
                         free space (or fix the disk) and restart the daemon"
                    );
                }
                tracing::error!(%err, "sent messages could not be made durable");
                for sent in sent {
                    self.outbox.flushed(&sent.message_id);
                    let _ = sent.reply.send(Err(RemoteError::new(
                        ErrorCode::Internal,
                        format!("the message could not be saved: {err}"),
                    )));
                }
            }
            (AfterFlush::Received(received), Ok(())) => {
                let mut answers = Vec::with_capacity(received.len());
                for received in received {
                    for event in received.events {
                        self.emit(event);
                    }
                    answers.push((received.channel, received.status));
                }
                self.responder.send(answers).await;
            }
            (AfterFlush::Received(received), Err(err)) => {
                tracing::warn!(%err, "incoming messages could not be made durable");
                let answers = received
                    .into_iter()
                    .map(|received| (received.channel, Status::Refused))
                    .collect();
                self.responder.send(answers).await;
            }
            (AfterFlush::ReadMarked(peer), Ok(())) => self.send_owed_receipts(peer).await,
            (AfterFlush::Receipt { peer, frame, up_to }, Ok(())) => {
                self.send_receipt(peer, frame, up_to);
            }
            (AfterFlush::ReadMarked(_), Err(err)) => {
                // The receipts stay owed; they go out with the next read or connection.
                self.note_store_failure("store_failed_mark_read", &err);
            }
            (AfterFlush::Receipt { peer, .. }, Err(err)) => {
                self.receipts.answered(&peer);
                self.note_store_failure("store_failed_receipts", &err);
            }
        }
    }

    /// Sent messages are durable: hand them to their peers' connections, then answer the
    /// users, saying `sent` for those now on a live connection.
    async fn on_sent_flushed(&mut self, sent: Vec<Sent>) {
        let mut peers = Vec::new();
        for sent in &sent {
            self.outbox.flushed(&sent.message_id);
            if !peers.contains(&sent.peer) {
                peers.push(sent.peer);
            }
        }
        // Handed to the peers' connections first, so that the answers can say `sent`.
        for peer in &peers {
            self.fill_window(*peer, true).await;
        }
        let mut live = HashSet::new();
        for peer in peers {
            if sent
                .iter()
                .any(|s| s.peer == peer && self.outbox.is_sent(&peer, &s.message_id))
                && self.still_connected(peer).await
            {
                live.insert(peer);
            }
        }
        for Sent {
            reply,
            mut info,
            peer,
            message_id,
        } in sent
        {
            if live.contains(&peer) && self.outbox.is_sent(&peer, &message_id) {
                info.state = MessageState::Sent.to_string();
                info.reason = None;
            }
            let _ = reply.send(Ok(MessageReply::Sent(info)));
        }
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
            self.outbox.disconnected(&peer);
        }
        live
    }
}
