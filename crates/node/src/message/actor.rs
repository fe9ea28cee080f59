//! The Message actor: a thin loop around [`MessageCore`]. It takes what is queued for it, the
//! flushes, the network's answers and the core's deadline as they come, hands each to the core
//! with the time, and carries out what the core says. It owns the channels the core's tokens
//! name and decides nothing.
//!
//! The loop takes everything queued for it at once (up to [`MAX_BATCH`]), so that whatever
//! queues up while the store's flush runs goes into the next transaction and the next fsync.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use accord_api::{ErrorCode, Event, RemoteError};
use accord_identity::AccordId;
use accord_net::{NetHandle, ResponseChannel};
use accord_store::{FlushTicket, MessageId, StoreError, StoreHandle};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::{
    FlushId, MessageCore, MessageInput, MessageOutput, Queued, ReplyToken, ResponseToken,
};
use super::network::{self, Deliveries, ReceiptAnswers, Responder};
use super::wire::Status;
use super::{MessageHandle, MessageMessage, MessageReply, QUEUE_CAPACITY, store_jobs};
use crate::{Config, clock};

/// The most queued messages the actor takes in one batch.
const MAX_BATCH: usize = 256;

/// The answer to a user command.
type Reply = oneshot::Sender<Result<MessageReply, RemoteError>>;

/// Deposits at mailboxes under way, each answering whether a mailbox took the message.
type Deposits = FuturesUnordered<BoxFuture<'static, (AccordId, MessageId, Result<(), String>)>>;

/// Where the answer to an incoming request goes: the peer that sent it, or the mailbox
/// round that fetched it.
enum Answerer {
    Network(ResponseChannel<Vec<u8>>),
    Mailbox(oneshot::Sender<Status>),
}

/// The flushes waiting, in the order their writes were queued (so they resolve in order).
type Flushes = FuturesOrdered<BoxFuture<'static, (FlushId, Result<(), StoreError>)>>;

/// The Message actor (see the module docs).
pub(crate) struct MessageActor {
    /// Our own Accord ID (never a mailbox for our own messages).
    me: AccordId,
    core: MessageCore,
    config: Arc<Config>,
    store: StoreHandle,
    net: NetHandle,
    events: broadcast::Sender<Event>,
    rx: mpsc::Receiver<MessageMessage>,
    /// The channels of the commands being answered, by the token the core knows them by.
    replies: HashMap<ReplyToken, Reply>,
    /// The channels of the `/accord/dm/1` requests being answered, likewise.
    channels: HashMap<ResponseToken, Answerer>,
    /// The last token handed out.
    last_token: u64,
    flushes: Flushes,
    deliveries: Deliveries,
    receipts: ReceiptAnswers,
    deposits: Deposits,
    responder: Responder,
}

impl std::fmt::Debug for MessageActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageActor")
            .field("core", &self.core)
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
            core: MessageCore::new(me, config.messages.read_receipts),
            config,
            store,
            responder: Responder::new(net.clone()),
            net,
            events,
            rx,
            replies: HashMap::new(),
            channels: HashMap::new(),
            last_token: 0,
            flushes: FuturesOrdered::new(),
            deliveries: Deliveries::new(),
            receipts: ReceiptAnswers::new(),
            deposits: FuturesUnordered::new(),
        };
        let task = tokio::spawn(actor.run());
        (MessageHandle::new(tx), task)
    }

    async fn run(mut self) {
        // What the outbox held at the last shutdown goes out at once.
        self.step(MessageInput::Tick).await;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let due = self.core.wake_at().map(clock::deadline_from_unix_ms);
            let room = self.core.intake_room().min(MAX_BATCH);
            tokio::select! {
                taken = self.rx.recv_many(&mut batch, room), if room > 0 => {
                    if taken == 0 || self.on_batch(std::mem::take(&mut batch)).await {
                        break;
                    }
                }
                Some((id, result)) = self.flushes.next(), if !self.flushes.is_empty() => {
                    self.step(MessageInput::Flushed { id, result }).await;
                }
                Some(first) = self.deliveries.next(), if !self.deliveries.is_empty() => {
                    // Every answer already in is handled with this one, as one store job.
                    let mut answers = vec![first];
                    while answers.len() < MAX_BATCH
                        && let Some(Some(answer)) = self.deliveries.next().now_or_never()
                    {
                        answers.push(answer);
                    }
                    self.step(MessageInput::Answered(answers)).await;
                }
                Some((peer, up_to_local_seq, acknowledged)) = self.receipts.next(),
                    if !self.receipts.is_empty() =>
                {
                    let answered = MessageInput::ReceiptAnswered { peer, up_to_local_seq, acknowledged };
                    self.step(answered).await;
                }
                Some((peer, message_id, result)) = self.deposits.next(),
                    if !self.deposits.is_empty() =>
                {
                    self.step(MessageInput::Deposited { peer, message_id, result }).await;
                }
                () = self.responder.next_done(), if !self.responder.is_idle() => {}
                () = clock::sleep_until(due), if due.is_some() => {
                    self.step(MessageInput::Tick).await;
                }
            }
        }
        // What was recorded before the shutdown is still answered once it is durable.
        while let Some((id, result)) = self.flushes.next().await {
            self.step(MessageInput::Flushed { id, result }).await;
        }
        self.responder.finish().await;
    }

    /// Hands a batch taken from the queue to the core, up to a shutdown; returns whether to
    /// stop.
    async fn on_batch(&mut self, batch: Vec<MessageMessage>) -> bool {
        let mut queued = Vec::with_capacity(batch.len());
        let mut stop = false;
        for message in batch {
            queued.push(match message {
                MessageMessage::Shutdown => {
                    stop = true;
                    break;
                }
                MessageMessage::Command { command, reply } => {
                    let token = ReplyToken(self.next_token());
                    self.replies.insert(token, reply);
                    Queued::Command { token, command }
                }
                MessageMessage::Incoming {
                    peer,
                    data,
                    channel,
                } => {
                    let token = ResponseToken(self.next_token());
                    self.channels.insert(token, Answerer::Network(channel));
                    Queued::Incoming { token, peer, data }
                }
                MessageMessage::Fetched { peer, data, reply } => {
                    let token = ResponseToken(self.next_token());
                    self.channels.insert(token, Answerer::Mailbox(reply));
                    Queued::Incoming {
                        token,
                        peer: peer.peer_id(),
                        data,
                    }
                }
                MessageMessage::PeerConnected { peer } => Queued::PeerConnected(peer),
                MessageMessage::PeerDisconnected { peer } => Queued::PeerDisconnected(peer),
                MessageMessage::ChannelChanged { peer } => Queued::ChannelChanged(peer),
            });
        }
        if !queued.is_empty() {
            self.step(MessageInput::Queued(queued)).await;
        }
        stop
    }

    fn next_token(&mut self) -> u64 {
        self.last_token = self.last_token.wrapping_add(1);
        self.last_token
    }

    /// Hands `input` to the core and carries out what it says, in order. The input an output
    /// produces (a store job's result, the swarm's answer about connections) is handed to the
    /// core at once, and its outputs are carried out before the rest (see
    /// [`MessageOutput`]).
    async fn step(&mut self, input: MessageInput) {
        let mut todo: VecDeque<MessageOutput> = self.core.handle(input, clock::now_ms()).into();
        while let Some(output) = todo.pop_front() {
            let next = self.carry_out(output).await;
            for output in next.into_iter().rev() {
                todo.push_front(output);
            }
        }
    }

    /// Takes the flush waits out of `outputs` (they name the job just run, whose `ticket` this
    /// is) and returns the rest.
    fn bind_flush(
        &mut self,
        outputs: Vec<MessageOutput>,
        mut ticket: Option<FlushTicket>,
    ) -> Vec<MessageOutput> {
        let mut rest = Vec::with_capacity(outputs.len());
        for output in outputs {
            match output {
                MessageOutput::AwaitFlush(id) => self.await_flush(id, ticket.take()),
                other => rest.push(other),
            }
        }
        rest
    }

    /// Waits for `ticket` in order with the other flushes. Without one (the store did not
    /// hand it over), the writes are not known to be durable: that counts as a failed flush.
    fn await_flush(&mut self, id: FlushId, ticket: Option<FlushTicket>) {
        self.flushes.push_back(Box::pin(async move {
            let result = match ticket {
                Some(ticket) => ticket.wait().await,
                None => Err(StoreError::Closed),
            };
            (id, result)
        }));
    }

    /// Carries out one output; returns the outputs of the input it produced, if any.
    async fn carry_out(&mut self, output: MessageOutput) -> Vec<MessageOutput> {
        match output {
            MessageOutput::Store(job) => {
                let (done, ticket) = store_jobs::run(&self.store, &self.config, job).await;
                let outputs = self
                    .core
                    .handle(MessageInput::Stored(done), clock::now_ms());
                return self.bind_flush(outputs, ticket);
            }
            MessageOutput::CheckConnected { batch, peers } => {
                let connected = self.net.connected_peers().await.unwrap_or_default();
                let live = peers
                    .into_iter()
                    .filter(|peer| connected.iter().any(|c| c.peer == peer.peer_id()))
                    .collect();
                let checked = MessageInput::ConnectedChecked { batch, live };
                return self.core.handle(checked, clock::now_ms());
            }
            MessageOutput::Deliver {
                peer,
                message_id,
                frame,
            } => {
                let answer = network::deliver(&self.net, &self.store, peer, message_id, frame);
                let answer = answer.await;
                self.deliveries.push(answer);
            }
            MessageOutput::SendReceipt {
                peer,
                frame,
                up_to_local_seq,
            } => {
                let answer = network::send_receipt(
                    &self.net,
                    &self.store,
                    self.me,
                    peer,
                    frame,
                    up_to_local_seq,
                );
                self.receipts.push(answer);
            }
            MessageOutput::Respond { token, status } => self.respond(token, status).await,
            MessageOutput::Deposit { peer, message_id } => self.deposit(peer, message_id),
            MessageOutput::Reply { token, reply } => {
                if let Some(channel) = self.replies.remove(&token) {
                    // The user may have gone away meanwhile.
                    let _ = channel.send(reply);
                }
            }
            MessageOutput::Emit(event) => {
                // No subscribers is fine: the event simply has no audience.
                let _ = self.events.send(event);
            }
            MessageOutput::AwaitFlush(id) => self.await_flush(id, None),
        }
        Vec::new()
    }
}

impl MessageActor {
    /// Answers an incoming request: to the peer that sent it, or to the mailbox round that
    /// fetched it.
    async fn respond(&mut self, token: ResponseToken, status: Status) {
        match self.channels.remove(&token) {
            Some(Answerer::Network(channel)) => {
                self.responder.send(vec![(channel, status)]).await;
            }
            Some(Answerer::Mailbox(reply)) => {
                // The fetch round may have ended meanwhile: it fetches the item again.
                let _ = reply.send(status);
            }
            None => {}
        }
    }

    /// Starts depositing our message to `peer` at one of its mailboxes; the answer comes
    /// back through the loop.
    fn deposit(&mut self, peer: AccordId, message_id: MessageId) {
        let deposit = crate::mailbox::deposit(
            self.net.clone(),
            self.store.clone(),
            self.me,
            peer,
            message_id,
        );
        self.deposits
            .push(Box::pin(async move { (peer, message_id, deposit.await) }));
    }
}

/// The error a command gets when the node stops before answering it.
pub(super) fn stopped() -> RemoteError {
    RemoteError::new(ErrorCode::Internal, "the node is shutting down")
}
