//! The Connect actor: a thin loop around the [`ConnectCore`]. It waits on its queue and on the
//! one deadline the core asked for, feeds what arrives to the core, and carries out the
//! core's outputs in order — store operations (whose answers go back to the core), deliveries,
//! replies, events, kept peers. It decides nothing.
//!
//! Store operations are awaited one at a time, in the order the core asks for them: each
//! answer decides what comes next (a reply only after its write is durable, a delivery only
//! after the record that schedules it is stored). The store shares each flush with every other
//! write queued at the same time (its group commit), so waiting here costs no fsync of its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use accord_api::{Event, RemoteError};
use accord_identity::Identity;
use accord_net::{DirectProtocol, NetHandle, ResponseChannel};
use accord_store::StoreHandle;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::ConnectCore;
use super::core::io::{ConnectInput, ConnectOutput, FrameToken, Now, ReplyToken};
use super::delivery::{DIRECT_OK, DIRECT_REFUSED, RelayDrops};
use super::stamped::StampedFrames;
use super::store_ops::{SHARD_LEVEL_KEY, load, run_store_op};
use super::{ConnectHandle, ConnectMessage, ConnectReply, IdentifyDrops, QUEUE_CAPACITY};
use crate::message::MessageHandle;
use crate::{Config, clock};

/// The I/O around the Connect core.
pub(crate) struct ConnectActor {
    core: ConnectCore,
    pub(super) config: Arc<Config>,
    store: StoreHandle,
    pub(super) net: NetHandle,
    events: broadcast::Sender<Event>,
    /// Told when a channel is set up, so that queued messages go out at once.
    messages: MessageHandle,
    pub(super) tx: mpsc::Sender<ConnectMessage>,
    rx: mpsc::Receiver<ConnectMessage>,
    /// Stamped frames kept for republication, so that each item's stamp is minted once.
    pub(super) stamped: StampedFrames,
    /// The reply channel of the command being handled (one at a time), by token.
    replies: HashMap<ReplyToken, oneshot::Sender<Result<ConnectReply, RemoteError>>>,
    /// The response channel of the direct frame being handled (one at a time), by token.
    channels: HashMap<FrameToken, ResponseChannel<Vec<u8>>>,
    next_token: u64,
    /// When the core asked to be woken (Unix ms).
    wake_at: Option<u64>,
    /// When the actor started, on the monotonic clock, for the bound on the clock mark.
    started: std::time::Instant,
    /// The shard level frames are published at (the core decides it).
    pub(super) shard_level: u8,
    /// The inbox topics subscribed to.
    topics: HashSet<String>,
}

impl std::fmt::Debug for ConnectActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectActor")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl ConnectActor {
    /// Loads the core's memory, subscribes to the inbox topics the core names and starts the
    /// actor.
    pub(crate) async fn spawn(
        identity: Identity,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
        messages: MessageHandle,
        relay_drops: Arc<RelayDrops>,
    ) -> Result<(ConnectHandle, JoinHandle<()>), crate::NodeError> {
        let now = clock::now_ms();
        let loaded = load(&store, now).await?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let identify_drops = IdentifyDrops::default();
        let core = ConnectCore::new(
            identity,
            Box::new(crate::rng::os_rng()),
            config.clone(),
            loaded,
            relay_drops,
            identify_drops.clone(),
            now,
        );
        let mut actor = ConnectActor {
            core,
            config,
            store,
            net,
            events,
            messages,
            tx: tx.clone(),
            rx,
            stamped: StampedFrames::default(),
            replies: HashMap::new(),
            channels: HashMap::new(),
            next_token: 0,
            wake_at: None,
            started: std::time::Instant::now(),
            shard_level: 0,
            topics: HashSet::new(),
        };
        let first = actor.core.start();
        actor.carry_out(first).await;
        let task = tokio::spawn(actor.run());
        Ok((ConnectHandle::new(tx, identify_drops), task))
    }

    async fn run(mut self) {
        loop {
            let due = self.wake_at.map(clock::deadline_from_unix_ms);
            let input = tokio::select! {
                message = self.rx.recv() => match message.and_then(|m| self.input(m)) {
                    Some(input) => input,
                    None => break,
                },
                () = clock::sleep_until(due), if due.is_some() => {
                    self.wake_at = None;
                    ConnectInput::Timer
                }
            };
            let outputs = self.core.handle(input, self.now());
            self.carry_out(outputs).await;
        }
    }

    /// The core's input for a queued message (none for `Shutdown`); the channels stay here,
    /// under a token.
    fn input(&mut self, message: ConnectMessage) -> Option<ConnectInput> {
        Some(match message {
            ConnectMessage::Command { command, reply } => {
                let token = ReplyToken(self.token());
                self.replies.insert(token, reply);
                ConnectInput::Command { token, command }
            }
            ConnectMessage::Frame {
                data,
                from,
                topic,
                channel,
            } => {
                let direct = channel.map(|channel| {
                    let token = FrameToken(self.token());
                    self.channels.insert(token, channel);
                    token
                });
                ConnectInput::Frame {
                    data,
                    from,
                    direct,
                    topic,
                }
            }
            ConnectMessage::PeerConnected { peer } => ConnectInput::PeerConnected(peer),
            ConnectMessage::PeerSubscribed { peer, topic } => {
                ConnectInput::PeerSubscribed { peer, topic }
            }
            ConnectMessage::Delivered { key } => ConnectInput::Delivered(key),
            ConnectMessage::PeerIdentified { peer, addrs } => {
                ConnectInput::PeerIdentified { peer, addrs }
            }
            ConnectMessage::Shutdown => return None,
        })
    }

    fn token(&mut self) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    fn now(&self) -> Now {
        Now {
            unix_ms: clock::now_ms(),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Carries out the core's outputs in order; a store operation (always the last of a
    /// batch) is run and its answer fed back, until the core asks for nothing more.
    async fn carry_out(&mut self, mut outputs: Vec<ConnectOutput>) {
        loop {
            let mut store_op = None;
            for output in outputs {
                match output {
                    ConnectOutput::Store(op) => store_op = Some(op),
                    other => self.execute(other).await,
                }
            }
            let Some(op) = store_op else {
                break;
            };
            let answer = run_store_op(&self.store, op).await;
            outputs = self.core.handle(ConnectInput::Stored(answer), self.now());
        }
        // Whatever the core did not answer (a plan cut short by a bug) is dropped, which the
        // caller sees as the node stopping, rather than kept forever.
        self.replies.clear();
        self.channels.clear();
    }

    async fn execute(&mut self, output: ConnectOutput) {
        match output {
            ConnectOutput::Deliver(delivery) => self.deliver(delivery).await,
            ConnectOutput::AnswerDirect { token, accepted } => {
                if let Some(channel) = self.channels.remove(&token) {
                    let answer = if accepted { DIRECT_OK } else { DIRECT_REFUSED };
                    let _ = self
                        .net
                        .respond_direct(DirectProtocol::Inbox, channel, answer.to_vec())
                        .await;
                }
            }
            ConnectOutput::Reply { token, result } => {
                if let Some(reply) = self.replies.remove(&token) {
                    // The caller may have gone (its control connection closed); the command
                    // still happened.
                    let _ = reply.send(result);
                }
            }
            ConnectOutput::Emit(event) => {
                // No subscriber is fine.
                let _ = self.events.send(event);
            }
            ConnectOutput::KeepPeers(peers) => {
                // A failure only means the network loop is stopping; the next change tells it
                // again.
                if let Err(err) = self.net.keep_peers(peers).await {
                    tracing::warn!(%err, "cannot tell the network layer which peers to keep");
                }
            }
            ConnectOutput::ChannelChanged(peer) => self.messages.channel_changed(peer).await,
            ConnectOutput::HandOver { peer, frames } => {
                for frame in frames {
                    let net = self.net.clone();
                    // Each frame is its own request; the answers are not needed (the peer's
                    // checks decide), so none is awaited here.
                    tokio::spawn(async move {
                        if let Err(err) = net.send_direct(DirectProtocol::Inbox, peer, frame).await
                        {
                            tracing::debug!(%peer, %err, "shard store hand-over failed");
                        }
                    });
                }
            }
            ConnectOutput::Shards { level, topics } => self.move_shards(level, topics).await,
            ConnectOutput::WakeAt(at) => self.wake_at = at,
            ConnectOutput::Store(op) => {
                tracing::error!(?op, "a store operation out of order was not run");
            }
        }
    }
}

impl ConnectActor {
    /// Subscribes to `topics`, leaves the other inbox topics, publishes at `level` from now on
    /// and records it for the next start. Failures are logged: a topic not joined costs this
    /// node that shard's gossip until the next change, never a decision.
    async fn move_shards(&mut self, level: u8, topics: Vec<String>) {
        self.shard_level = level;
        let wanted: HashSet<String> = topics.into_iter().collect();
        for topic in wanted.difference(&self.topics) {
            if let Err(err) = self.net.subscribe(topic.clone()).await {
                tracing::warn!(%topic, %err, "cannot subscribe to an inbox topic");
            }
        }
        for topic in self.topics.difference(&wanted) {
            if let Err(err) = self.net.unsubscribe(topic.clone()).await {
                tracing::warn!(%topic, %err, "cannot leave an inbox topic");
            }
        }
        self.topics = wanted;
        if let Err(err) = self.store.set_meta(SHARD_LEVEL_KEY, &[level]).await {
            tracing::warn!(%err, "cannot record the shard level");
        }
    }
}
