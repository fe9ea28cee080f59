//! The Message actor: its state, its loop and its retry deadline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use accord_api::{ErrorCode, Event, RemoteError, Request};
use accord_identity::AccordId;
use accord_net::NetHandle;
use accord_store::StoreHandle;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::delivery::Flight;
use super::durable::{AfterFlush, AwaitingFlush, MAX_AWAITING_FLUSH};
use super::reorder::ReorderBuffer;
use super::{MessageHandle, MessageMessage, QUEUE_CAPACITY};
use crate::{Config, clock};

/// The owner of every conversation's ratchet state and of the outbox.
pub(crate) struct MessageActor {
    pub(super) me: AccordId,
    pub(super) config: Arc<Config>,
    pub(super) store: StoreHandle,
    pub(super) net: NetHandle,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) tx: mpsc::Sender<MessageMessage>,
    rx: mpsc::Receiver<MessageMessage>,
    /// The deliveries under way, per peer, by message id (at most the window per peer).
    pub(super) in_flight: HashMap<AccordId, HashMap<accord_store::MessageId, Flight>>,
    /// Answers waiting for the store's flush, in order.
    pub(super) awaiting_flush: AwaitingFlush,
    /// Incoming messages that overtook an earlier one, held until it arrives.
    pub(super) reorder: ReorderBuffer<accord_net::ResponseChannel<Vec<u8>>>,
    /// When the earliest outbox retry is due (Unix ms).
    pub(super) next_retry_ms: Option<u64>,
    /// Inbound messages dropped, by reason.
    pub(super) dropped: BTreeMap<&'static str, u64>,
    /// The peers with a live libp2p connection, as the swarm last reported: a delivery handed
    /// to one of them shows as `sent` until it is answered.
    pub(super) connected: HashSet<AccordId>,
    /// The peers with a read receipt on its way (one at a time per peer).
    pub(super) receipts_in_flight: HashSet<AccordId>,
    /// Why the last delivery to a peer failed, until one succeeds.
    pub(super) undelivered: BTreeMap<AccordId, String>,
    /// Messages the user sent whose record is not known to be on disk yet. The outbox shows
    /// them as soon as they are written, but their envelopes stay home until the flush: if the
    /// daemon crashed after one left, the ratchet state it was made with would be lost and its
    /// keys used again for the next message. Each also waits in `awaiting_flush`, so there are
    /// at most [`MAX_AWAITING_FLUSH`].
    pub(super) unflushed: HashSet<accord_store::MessageId>,
    /// Set once a sent message could not be made durable (the disk is full or failing). The
    /// outbox in memory may then hold entries that are not on disk, so nothing more is
    /// delivered until the daemon restarts and reads back what the disk really holds.
    pub(super) delivery_halted: bool,
}

impl std::fmt::Debug for MessageActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageActor")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl MessageActor {
    /// Starts the actor; it delivers what the outbox held at the last shutdown.
    pub(crate) fn spawn(
        me: AccordId,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
    ) -> (MessageHandle, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let actor = MessageActor {
            me,
            config,
            store,
            net,
            events,
            tx: tx.clone(),
            rx,
            in_flight: HashMap::new(),
            awaiting_flush: AwaitingFlush::new(),
            reorder: ReorderBuffer::default(),
            next_retry_ms: Some(clock::now_ms()),
            dropped: BTreeMap::new(),
            undelivered: BTreeMap::new(),
            connected: HashSet::new(),
            receipts_in_flight: HashSet::new(),
            unflushed: HashSet::new(),
            delivery_halted: false,
        };
        let task = tokio::spawn(actor.run());
        (MessageHandle::new(tx), task)
    }

    async fn run(mut self) {
        loop {
            let due = self.next_retry_ms.map(clock::deadline_from_unix_ms);
            let room = self.awaiting_flush.len() < MAX_AWAITING_FLUSH;
            tokio::select! {
                message = self.rx.recv(), if room => match message {
                    Some(MessageMessage::Shutdown) | None => break,
                    Some(message) => self.on_message(message).await,
                },
                Some((flushed, then)) = self.awaiting_flush.next(),
                    if !self.awaiting_flush.is_empty() =>
                {
                    self.on_flushed(flushed, then).await;
                }
                () = clock::sleep_until(due), if due.is_some() => {
                    self.next_retry_ms = None;
                    self.pump_due().await;
                }
            }
        }
        // What was recorded before the shutdown is still answered once it is durable.
        while let Some((flushed, then)) = self.awaiting_flush.next().await {
            self.on_flushed(flushed, then).await;
        }
    }

    async fn on_message(&mut self, message: MessageMessage) {
        match message {
            MessageMessage::Command {
                request:
                    Request::Send {
                        peer,
                        body,
                        reply_to,
                    },
                reply,
            } => self.on_send(&peer, body, reply_to.as_deref(), reply).await,
            MessageMessage::Command { request, reply } => {
                let result = self.on_command(request).await;
                let _ = reply.send(result);
            }
            MessageMessage::Incoming {
                peer,
                data,
                channel,
            } => self.on_incoming(peer, data, channel).await,
            MessageMessage::PeerConnected { peer } => {
                if let Ok(peer) = AccordId::from_peer_id(peer) {
                    self.connected.insert(peer);
                    self.send_owed_receipts(peer).await;
                    let retried = self.retry_now(peer).await;
                    if retried > 0 {
                        // Says that delivery is driven by the connection, not by the back-off
                        // timer (a test reads it).
                        tracing::info!(
                            "outbox: {peer} connected; retrying {retried} queued message(s) now"
                        );
                    }
                }
            }
            MessageMessage::PeerDisconnected { peer } => {
                if let Ok(peer) = AccordId::from_peer_id(peer) {
                    self.connected.remove(&peer);
                }
            }
            MessageMessage::ChannelChanged { peer } => {
                self.send_owed_receipts(peer).await;
                self.retry_now(peer).await;
            }
            MessageMessage::ReceiptAnswered {
                peer,
                up_to_local_seq,
                acknowledged,
            } => {
                self.on_receipt_answered(peer, up_to_local_seq, acknowledged)
                    .await;
            }
            MessageMessage::Delivered {
                peer,
                message_id,
                result,
            } => self.on_delivered(peer, message_id, result).await,
            MessageMessage::Shutdown => {}
        }
    }

    async fn on_command(&mut self, request: Request) -> Result<Value, RemoteError> {
        match request {
            Request::History { peer, limit } => to_value(self.history(&peer, limit).await?),
            Request::Inbox => to_value(self.inbox().await?),
            Request::Alias { peer, name } => to_value(self.alias(&peer, &name).await?),
            Request::Verify { peer } => to_value(self.verify(&peer).await?),
            Request::Stats => to_value(&self.dropped),
            Request::Status => to_value(self.undelivered_reasons()),
            other => Err(RemoteError::new(
                ErrorCode::Internal,
                format!("{} is not a Message command", other.method()),
            )),
        }
    }

    /// `accord send`: the message is recorded now and the user answered once it is durable,
    /// while the actor goes on with other work.
    async fn on_send(
        &mut self,
        peer: &str,
        body: String,
        reply_to: Option<&str>,
        reply: oneshot::Sender<Result<Value, RemoteError>>,
    ) {
        let recorded = self
            .send(peer, body, reply_to)
            .await
            .and_then(|recorded| Ok((to_value(&recorded.info)?, recorded)));
        match recorded {
            Ok((answer, recorded)) => {
                // Its outbox entry is readable at once, but its envelope must not leave before
                // the ratchet state it was made with is on disk (see `unflushed`).
                self.unflushed.insert(recorded.message_id);
                self.after_flush(
                    recorded.ticket,
                    AfterFlush::Sent {
                        reply,
                        answer,
                        peer: recorded.peer,
                        message_id: recorded.message_id,
                    },
                );
            }
            Err(err) => {
                let _ = reply.send(Err(err));
            }
        }
    }

    /// Counts a dropped inbound message and logs why.
    pub(super) fn drop_message(&mut self, reason: &'static str, peer: &dyn std::fmt::Display) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::info!(reason, %peer, "dropped an inbound message");
    }

    /// Sends an event to subscribers (none listening is fine).
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

pub(super) fn to_value<T: serde::Serialize>(value: T) -> Result<Value, RemoteError> {
    serde_json::to_value(value)
        .map_err(|err| RemoteError::new(ErrorCode::Internal, err.to_string()))
}
