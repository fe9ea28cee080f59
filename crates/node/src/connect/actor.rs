//! The Connect actor: its state, its loop and its schedule.

use std::collections::BTreeMap;
use std::sync::Arc;

use accord_api::{Event, RemoteError};
use accord_handshake::TimeEvidence;
use accord_identity::{AccordId, Identity};
use accord_net::NetHandle;
use accord_store::StoreHandle;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::core::{LiveIndex, NUDGE_DELAY_MS, nudge_allowed};
use super::delivery::{RelayDrops, inbox_topics};
use super::replay::{REPLAY_CACHE_CAPACITY, ReplayCache};
use super::stamped::StampedFrames;
use super::{
    ConnectCommand, ConnectHandle, ConnectMessage, ConnectReply, IdentifyDrops, QUEUE_CAPACITY,
};
use crate::message::MessageHandle;
use crate::{Config, clock};

/// Why an inbound frame was dropped; counted per reason and shown by `accord stats`.
pub(crate) type DropCounters = BTreeMap<&'static str, u64>;

/// The owner of the invite lifecycle.
pub(crate) struct ConnectActor {
    pub(super) identity: Identity,
    pub(super) me: AccordId,
    pub(super) config: Arc<Config>,
    pub(super) store: StoreHandle,
    pub(super) net: NetHandle,
    pub(super) events: broadcast::Sender<Event>,
    /// Told when a channel is set up, so that queued messages go out at once.
    pub(super) messages: MessageHandle,
    pub(super) tx: mpsc::Sender<ConnectMessage>,
    rx: mpsc::Receiver<ConnectMessage>,
    pub(super) dropped: DropCounters,
    /// What the relay check dropped before forwarding (shared with the gossip validator).
    relay_drops: Arc<RelayDrops>,
    /// Stamped frames kept for republication, so that each item's stamp is minted once.
    pub(super) stamped: StampedFrames,
    /// When the republish schedule next has something due (Unix ms), if ever.
    pub(super) next_due_ms: Option<u64>,
    /// When a peer's arrival last pulled the schedule forward, to keep arrivals from causing a
    /// storm of republications.
    pub(super) last_nudge_ms: u64,
    /// The live invites and cool-downs, in memory (see `core.rs`).
    pub(super) live: LiveIndex,
    /// Identified peers the network loop could not hand over because the queue was full.
    identify_drops: IdentifyDrops,
    /// Frames already handled, checked before any cryptography (see `replay.rs`).
    pub(super) replays: ReplayCache,
    /// Whether the frame being handled is settled: a later copy of the same bytes could change
    /// nothing, so the replay cache may answer it. Cleared by the few outcomes that depend on
    /// what arrives later (a withdrawal before its invite, a crossed invite we set aside).
    pub(super) frame_settled: bool,
    /// What bounds the clock high-water mark: the mark at start and peers' times.
    pub(super) time_evidence: TimeEvidence,
    /// When the actor started, on the monotonic clock, for the bound on the mark.
    started: std::time::Instant,
}

impl std::fmt::Debug for ConnectActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectActor")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl ConnectActor {
    /// Subscribes to the inbox topics and starts the actor.
    pub(crate) async fn spawn(
        identity: Identity,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
        messages: MessageHandle,
        relay_drops: Arc<RelayDrops>,
    ) -> Result<(ConnectHandle, JoinHandle<()>), crate::NodeError> {
        let me = identity.id();
        for topic in inbox_topics(&me, &config.gossip) {
            net.subscribe(topic).await?;
        }
        let mut live = LiveIndex::load(
            store.live_entries().await?,
            store.cooldowns().await?,
            store.next_purge_at().await?,
        );
        // Read once at start-up (the list grows only with accepted connections, never with
        // what strangers send); from then on every change passes through the live index.
        for connection in store.connections().await? {
            live.note_connection(&connection);
        }
        let time_evidence =
            TimeEvidence::at_start(store.clock_high_water_ms().await?, clock::now_ms());
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let identify_drops = IdentifyDrops::default();
        let mut actor = ConnectActor {
            identity,
            me,
            config,
            store,
            net,
            events,
            messages,
            tx: tx.clone(),
            rx,
            dropped: DropCounters::new(),
            relay_drops,
            stamped: StampedFrames::default(),
            next_due_ms: None,
            last_nudge_ms: 0,
            live,
            identify_drops: identify_drops.clone(),
            replays: ReplayCache::new(REPLAY_CACHE_CAPACITY),
            frame_settled: true,
            time_evidence,
            started: std::time::Instant::now(),
        };
        actor.reschedule();
        actor.tell_kept_peers().await;
        let task = tokio::spawn(actor.run());
        Ok((ConnectHandle::new(tx, identify_drops), task))
    }

    async fn run(mut self) {
        loop {
            let due = self.next_due_ms.map(clock::deadline_from_unix_ms);
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(ConnectMessage::Shutdown) | None => break,
                    Some(message) => self.on_message(message).await,
                },
                () = clock::sleep_until(due), if due.is_some() => self.republish_due().await,
            }
        }
    }

    async fn on_message(&mut self, message: ConnectMessage) {
        // A frame that was not for us (the common case on a relay) or was dropped changed
        // nothing stored, so the schedule, which is read back from the store, stays as it is.
        let changed = match message {
            ConnectMessage::Command { command, reply } => {
                let result = self.on_command(command).await;
                // The network layer learns of a new connection before the user is answered,
                // so that the peer's first messages are not refused as a stranger's.
                self.reschedule();
                self.tell_kept_peers().await;
                let _ = reply.send(result);
                false
            }
            ConnectMessage::Frame {
                data,
                from,
                channel,
            } => self.on_frame(&data, from, channel).await,
            ConnectMessage::PeerConnected { peer } => {
                self.on_peer_connected(peer).await;
                true
            }
            ConnectMessage::Delivered { key } => {
                self.on_delivered(key).await;
                true
            }
            ConnectMessage::PeerIdentified { peer, addrs } => {
                self.remember_peer(peer, addrs).await;
                false
            }
            ConnectMessage::Shutdown => false,
        };
        if changed {
            self.reschedule();
            self.tell_kept_peers().await;
        }
    }

    /// Tells the network layer which peers are our connections when that changed, so that
    /// connection trimming never closes theirs. A failure only means the network loop is
    /// stopping; it is logged, and the next change tells it again.
    async fn tell_kept_peers(&mut self) {
        if let Some(peers) = self.live.take_kept_peers() {
            let peers = peers.iter().map(AccordId::peer_id).collect();
            if let Err(err) = self.net.keep_peers(peers).await {
                tracing::warn!(%err, "cannot tell the network layer which peers to keep");
            }
        }
    }

    async fn on_command(&mut self, command: ConnectCommand) -> Result<ConnectReply, RemoteError> {
        let reading = self.mark_reading(clock::now_ms());
        if let Err(err) = self.store.note_clock(reading).await {
            self.store_failed("store_write_failed", &err);
        }
        Ok(match command {
            ConnectCommand::Connect { peer, note, via } => {
                ConnectReply::Invite(self.connect(&peer, &note, via.as_deref()).await?)
            }
            ConnectCommand::Invites { direction } => {
                ConnectReply::Invites(self.list_invites(direction).await?)
            }
            ConnectCommand::Accept { target } => ConnectReply::Invite(self.accept(&target).await?),
            ConnectCommand::Decline { target } => {
                ConnectReply::Invite(self.decline(&target).await?)
            }
            ConnectCommand::DeclineStrangers => {
                ConnectReply::Declined(self.decline_strangers().await?)
            }
            ConnectCommand::Withdraw { target } => {
                ConnectReply::Invite(self.withdraw(&target).await?)
            }
            ConnectCommand::Block { peer, block } => {
                ConnectReply::Block(self.block(&peer, block).await?)
            }
            ConnectCommand::Disconnect { peer } => {
                ConnectReply::Connection(self.disconnect(&peer).await?)
            }
            ConnectCommand::Connections => {
                ConnectReply::Connections(self.list_connections().await?)
            }
            ConnectCommand::Attestation { peer } => {
                ConnectReply::Attestation(self.attestation(&peer).await?)
            }
            ConnectCommand::Stats => ConnectReply::Stats(self.stats()),
        })
    }

    /// Every reason something was dropped or failed, with its count.
    fn stats(&self) -> DropCounters {
        let mut dropped = self.dropped.clone();
        // Like every reason, they are listed once something was dropped for them.
        dropped.extend(
            self.relay_drops
                .counts()
                .into_iter()
                .filter(|(_, count)| *count > 0),
        );
        let identify = self.identify_drops.count();
        if identify > 0 {
            dropped.insert("identify_queue_full", identify);
        }
        dropped
    }

    /// Counts a dropped frame and logs why.
    pub(super) fn drop_frame(&mut self, reason: &'static str, detail: &dyn std::fmt::Display) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::info!(reason, %detail, "dropped an inbound frame");
    }

    /// The time the clock high-water mark may be raised to when the clock reads `now`: the
    /// clock, but at most a day past what the monotonic clock and peers say (see
    /// `accord_handshake::TimeEvidence`), with a warning when the clock is beyond that.
    pub(super) fn mark_reading(&self, now: u64) -> u64 {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let reading = self.time_evidence.mark_reading(now, elapsed);
        if reading.clock_ahead {
            tracing::warn!(
                clock_ms = now,
                bound_ms = reading.at_ms,
                "the clock is far ahead of the time peers and the last run report; the invite \
                 quota and cool-downs use the bound instead"
            );
        }
        reading.at_ms
    }

    /// Sends an event to subscribers (none listening is fine).
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn on_peer_connected(&mut self, peer: accord_net::PeerId) {
        let now = clock::now_ms();
        // A newcomer may be (or may reach) a recipient who was offline: pull the schedule
        // forward, but not more often than every few seconds.
        if nudge_allowed(self.last_nudge_ms, now) {
            self.last_nudge_ms = now;
            self.bring_forward(now + NUDGE_DELAY_MS).await;
        }
        if let Ok(id) = AccordId::from_peer_id(peer) {
            self.deliver_waiting_for(id).await;
        }
    }

    /// Records an identified peer in the address book. The network loop hands it over
    /// without waiting, so the store's pace never holds up the swarm.
    async fn remember_peer(&mut self, peer: accord_net::PeerId, addrs: Vec<accord_net::Multiaddr>) {
        let Ok(id) = AccordId::from_peer_id(peer) else {
            tracing::debug!(%peer, "not an Accord identity; not added to the address book");
            return;
        };
        if let Err(err) = self.store.record_peer(id, &addrs, clock::now_ms()).await {
            self.store_failed("address_book_write_failed", &err);
        }
    }
}
