//! The Message actor: its state, its loop and its retry deadline.
//!
//! The loop takes everything queued for it at once (up to [`MAX_BATCH`]) and handles it as a
//! batch: every `accord send` of the batch is one store job, every incoming message of every
//! peer another, every delivery answer a third. Whatever queues up while the store's flush
//! runs thus goes into the next transaction and the next fsync, and a message costs a share
//! of a hop to the store thread rather than several hops of its own.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use accord_api::{ErrorCode, Event, RemoteError};
use accord_identity::AccordId;
use accord_net::{NetHandle, PeerId};
use accord_store::{StoreError, StoreHandle};
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::outbox::Outbox;
use super::core::receipts::Receipts;
use super::delivery::Deliveries;
use super::durable::{AwaitingFlush, MAX_AWAITING_FLUSH, Responder};
use super::reorder::ReorderBuffer;
use super::{MessageCommand, MessageReply};
use super::{MessageHandle, MessageMessage, QUEUE_CAPACITY};
use crate::{Config, clock};

/// The most queued messages the actor takes in one batch.
const MAX_BATCH: usize = 256;

/// The answer to a user command.
pub(super) type Reply = oneshot::Sender<Result<MessageReply, RemoteError>>;

/// The owner of every conversation's ratchet state and of the outbox.
pub(crate) struct MessageActor {
    pub(super) me: AccordId,
    pub(super) config: Arc<Config>,
    pub(super) store: StoreHandle,
    pub(super) net: NetHandle,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) tx: mpsc::Sender<MessageMessage>,
    rx: mpsc::Receiver<MessageMessage>,
    /// The outbox's state and decisions: what is in flight, to whom we are connected, what
    /// is not on disk yet, when to retry (see [`Outbox`]).
    pub(super) outbox: Outbox,
    /// The answers of the deliveries under way, as they come.
    pub(super) deliveries: Deliveries,
    /// Answers waiting for the store's flush, in order, one entry per batch.
    pub(super) awaiting_flush: AwaitingFlush,
    /// How many answers `awaiting_flush` holds in all its batches.
    pub(super) awaiting_answers: usize,
    /// The answers to `/accord/dm/1` requests on their way to the swarm, in order, polled by
    /// this loop without the actor waiting for them.
    pub(super) responder: Responder,
    /// Incoming messages that overtook an earlier one, held until it arrives.
    pub(super) reorder: ReorderBuffer<accord_net::ResponseChannel<Vec<u8>>>,
    /// Inbound messages dropped, and store writes that failed, by reason.
    pub(super) dropped: BTreeMap<&'static str, u64>,
    /// The peers with a read receipt on its way (one at a time per peer).
    pub(super) receipts: Receipts,
    /// The Accord IDs of the peer IDs and texts seen lately (see [`KnownIds`]).
    pub(super) known: KnownIds,
    /// Why the last delivery to a peer failed, until one succeeds.
    pub(super) undelivered: BTreeMap<AccordId, String>,
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
        let mut actor = MessageActor {
            me,
            config,
            store,
            responder: Responder::new(net.clone()),
            net,
            events,
            tx: tx.clone(),
            rx,
            outbox: Outbox::default(),
            deliveries: Deliveries::default(),
            awaiting_flush: AwaitingFlush::new(),
            awaiting_answers: 0,
            reorder: ReorderBuffer::default(),
            dropped: BTreeMap::new(),
            undelivered: BTreeMap::new(),
            receipts: Receipts::default(),
            known: KnownIds::default(),
        };
        // What the outbox held at the last shutdown goes out at once.
        actor.outbox.note_retry(clock::now_ms());
        let task = tokio::spawn(actor.run());
        (MessageHandle::new(tx), task)
    }

    async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let due = self
                .outbox
                .next_retry_ms()
                .map(clock::deadline_from_unix_ms);
            // Bounds the answers held for the flush: when the disk falls behind, the actor
            // stops taking work until it catches up.
            let room = MAX_AWAITING_FLUSH
                .saturating_sub(self.awaiting_answers)
                .min(MAX_BATCH);
            tokio::select! {
                taken = self.rx.recv_many(&mut batch, room), if room > 0 => {
                    if taken == 0 || self.on_batch(std::mem::take(&mut batch)).await {
                        break;
                    }
                }
                Some((flushed, then)) = self.awaiting_flush.next(),
                    if !self.awaiting_flush.is_empty() =>
                {
                    self.on_flushed(flushed, then).await;
                }
                Some(first) = self.deliveries.next(), if !self.deliveries.is_empty() => {
                    // Every answer already in is handled with this one, as one store job.
                    let mut answers = vec![first];
                    while answers.len() < MAX_BATCH
                        && let Some(Some(answer)) = self.deliveries.next().now_or_never()
                    {
                        answers.push(answer);
                    }
                    tracing::trace!(answers = answers.len(), "delivery answers");
                    self.on_delivery_answers(answers).await;
                }
                () = self.responder.next_done(), if !self.responder.is_idle() => {}
                () = clock::sleep_until(due), if due.is_some() => {
                    self.outbox.take_retry();
                    self.pump_due().await;
                }
            }
        }
        // What was recorded before the shutdown is still answered once it is durable.
        while let Some((flushed, then)) = self.awaiting_flush.next().await {
            self.on_flushed(flushed, then).await;
        }
        self.responder.finish().await;
    }

    /// Handles a batch taken from the queue; returns whether to stop. Commands and peer events
    /// are handled one by one in order; then the answers of deliveries, the sends and the
    /// incoming messages each go to the store as one job. Within each kind the order is kept.
    async fn on_batch(&mut self, batch: Vec<MessageMessage>) -> bool {
        let mut sends = Vec::new();
        let mut incoming = Vec::new();
        let mut delivered = Vec::new();
        let mut stop = false;
        for message in batch {
            match message {
                MessageMessage::Shutdown => {
                    stop = true;
                    break;
                }
                MessageMessage::Command {
                    command: MessageCommand::Send(send),
                    reply,
                } => {
                    let mut send = *send;
                    send.id = self.known.parse(&send.peer);
                    sends.push((send, reply));
                }
                MessageMessage::Incoming {
                    peer,
                    data,
                    channel,
                } => incoming.push((peer, data, channel)),
                MessageMessage::Delivered {
                    peer,
                    message_id,
                    result,
                } => delivered.push((peer, message_id, result)),
                other => self.on_message(other).await,
            }
        }
        // How far batching goes under load; read with `RUST_LOG=accord_node::message=trace`.
        tracing::trace!(
            sends = sends.len(),
            incoming = incoming.len(),
            delivered = delivered.len(),
            "message batch"
        );
        if !delivered.is_empty() {
            self.on_delivered_batch(delivered).await;
        }
        if !sends.is_empty() {
            self.on_send_batch(sends).await;
        }
        if !incoming.is_empty() {
            self.on_incoming_batch(incoming).await;
        }
        stop
    }

    async fn on_message(&mut self, message: MessageMessage) {
        match message {
            MessageMessage::Command {
                command: MessageCommand::Send(send),
                reply,
            } => self.on_send_batch(vec![(*send, reply)]).await,
            MessageMessage::Command { command, reply } => {
                let result = self.on_command(command).await;
                let _ = reply.send(result);
            }
            MessageMessage::PeerConnected { peer } => {
                if let Some(peer) = self.known.of_peer(peer) {
                    self.outbox.connected(peer);
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
                if let Some(peer) = self.known.of_peer(peer) {
                    self.outbox.disconnected(&peer);
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
            MessageMessage::Incoming {
                peer,
                data,
                channel,
            } => self.on_incoming_batch(vec![(peer, data, channel)]).await,
            MessageMessage::Delivered {
                peer,
                message_id,
                result,
            } => {
                self.on_delivered_batch(vec![(peer, message_id, result)])
                    .await;
            }
            MessageMessage::Shutdown => {}
        }
    }

    async fn on_command(&mut self, command: MessageCommand) -> Result<MessageReply, RemoteError> {
        Ok(match command {
            // Sends are recorded in batches (`on_batch`, `on_message`), never here.
            MessageCommand::Send(_) => {
                return Err(RemoteError::new(
                    ErrorCode::Internal,
                    "a send is recorded with its batch",
                ));
            }
            MessageCommand::History {
                peer,
                limit,
                before,
            } => MessageReply::History(self.history(&peer, limit, before.as_deref()).await?),
            MessageCommand::Inbox => MessageReply::Inbox(self.inbox().await?),
            MessageCommand::Alias { peer, name } => {
                MessageReply::Alias(self.alias(&peer, &name).await?)
            }
            MessageCommand::Verify { peer } => MessageReply::Verify(self.verify(&peer).await?),
            MessageCommand::Stats => MessageReply::Stats(self.dropped.clone()),
            MessageCommand::Status => MessageReply::Status(self.undelivered_reasons()),
        })
    }

    /// Counts a dropped inbound message and logs why.
    pub(super) fn drop_message(&mut self, reason: &'static str, peer: &dyn std::fmt::Display) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::info!(reason, %peer, "dropped an inbound message");
    }

    /// Counts a store call that failed under `reason` (shown by `accord stats`), and logs it
    /// the first time, so that a failing disk does not flood the log.
    pub(super) fn note_store_failure(&mut self, reason: &'static str, err: &StoreError) {
        let count = self.dropped.entry(reason).or_default();
        *count += 1;
        if *count == 1 {
            tracing::warn!(reason, %err, "a store call failed (counted in `accord stats`)");
        } else {
            tracing::debug!(reason, %err, "a store call failed");
        }
    }

    /// Sends an event to subscribers (none listening is fine).
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// The most IDs [`KnownIds`] remembers of each kind; it forgets them all when full.
const MAX_KNOWN_IDS: usize = 1024;

/// The Accord IDs of the libp2p peer IDs and the texts the actor has parsed lately. Parsing
/// either decompresses a public key (tens of microseconds), which every incoming message and
/// every `send` would otherwise pay again for the same few peers.
#[derive(Debug, Default)]
pub(super) struct KnownIds {
    peers: HashMap<PeerId, AccordId>,
    texts: HashMap<String, AccordId>,
}

impl KnownIds {
    /// The Accord ID of a libp2p peer, or `None` if its key is not one.
    pub(super) fn of_peer(&mut self, peer: PeerId) -> Option<AccordId> {
        if let Some(id) = self.peers.get(&peer) {
            return Some(*id);
        }
        let id = AccordId::from_peer_id(peer).ok()?;
        if self.peers.len() >= MAX_KNOWN_IDS {
            self.peers.clear();
        }
        self.peers.insert(peer, id);
        Some(id)
    }

    /// `text` parsed as an Accord ID, or `None` if it is not one (an alias, say).
    pub(super) fn parse(&mut self, text: &str) -> Option<AccordId> {
        let text = text.trim();
        if let Some(id) = self.texts.get(text) {
            return Some(*id);
        }
        let id = AccordId::from_str(text).ok()?;
        if self.texts.len() >= MAX_KNOWN_IDS {
            self.texts.clear();
        }
        self.texts.insert(text.to_owned(), id);
        Some(id)
    }
}
