//! The Connect lifecycle as one sans-IO state machine, in the style of iroh-gossip's
//! `State::handle(InEvent, now) -> OutEvents`: [`ConnectCore::handle`] takes a typed input
//! (a command, a frame, a peer event, a timer tick, a store answer) and the time, and returns
//! the outputs (store operations, deliveries, replies, events, kept peers, the next wake-up)
//! for the actor to carry out in order. Every decision lives here; the actor decides nothing.
//!
//! Work that needs the store is a [`Plan`]: a queue of steps, run until a step needs a store
//! operation, which becomes the batch's last output. The actor runs it and feeds the answer
//! back ([`ConnectInput::Stored`]); the plan resumes from where it stopped. One plan runs at
//! a time (the actor takes no new input until the plan is done), so the continuation is a
//! single slot, and decisions never see a half-applied change. Memory follows a write only
//! once the write is answered, so a failed write leaves memory as the store is.
//!
//! The core does the protocol's cryptography itself — opening sealed frames, verifying and
//! making signatures, setting up channels — because each is microseconds and pure, and its
//! outcome decides what happens next. Minting a frame's proof-of-work stamp is the exception:
//! it costs tens of milliseconds, so it happens in the actor's delivery effect, on the
//! blocking pool, after the decision to deliver was taken here. Randomness (for new invites,
//! acceptances and channels) is given to the core when it is made, like the time with each
//! input, so the core reads no source of its own.

mod acceptance;
mod alias;
mod commands;
mod inbound;
mod invite_commands;
pub(super) mod io;
pub(super) mod live;
pub(super) mod memory;
mod network_size;
mod plan;
mod schedule;
mod settlement;
mod shard_membership;
pub(super) mod shard_store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use accord_handshake::TimeEvidence;
use accord_identity::{AccordId, Identity};
use accord_store::StoreError;
use rand_core::CryptoRng;

use self::io::{ConnectInput, ConnectOutput, Now};
use self::memory::{Loaded, Memory};
use self::network_size::NetworkSize;
use self::plan::{Plan, Running};
use self::settlement::RefusalPace;
use self::shard_store::ShardStore;
use super::IdentifyDrops;
use super::delivery::RelayDrops;
use super::replay::{REPLAY_CACHE_CAPACITY, ReplayCache};
use super::shard_layout::Shard;
use crate::Config;

/// Why an inbound frame was dropped, or an operation failed; counted per reason and shown by
/// `accord stats`.
pub(crate) type DropCounters = BTreeMap<&'static str, u64>;

/// The Connect state machine (see the module docs).
pub(crate) struct ConnectCore {
    identity: Identity,
    /// The randomness for new invites, acceptances and channels, given by the actor: the
    /// core reads no source of its own.
    rng: Box<dyn CryptoRng + Send>,
    me: AccordId,
    config: Arc<Config>,
    memory: Memory,
    /// Frames already handled, checked before any cryptography (see `replay.rs`).
    replays: ReplayCache,
    /// What bounds the clock high-water mark: the mark at start and peers' times.
    time_evidence: TimeEvidence,
    dropped: DropCounters,
    /// What the relay check dropped before forwarding (shared with the gossip validator).
    relay_drops: Arc<RelayDrops>,
    /// Identified peers the network loop could not hand over because the queue was full.
    identify_drops: IdentifyDrops,
    /// When a peer's arrival last pulled the schedule forward, to keep arrivals from causing a
    /// storm of republications.
    last_nudge_ms: u64,
    /// The sealed frames of the shards this node relays, kept until they expire.
    shard_store: ShardStore,
    /// The network-size estimate and the shard level it gives.
    network_size: NetworkSize,
    /// The shards subscribed to (as last told to the actor).
    subscribed: Vec<Shard>,
    /// When we last refused a late acceptance of each of our invites.
    refusals: RefusalPace,
    /// The wake-up last asked of the actor; `None` until the first is asked.
    told_wake: Option<Option<u64>>,
    /// The plan waiting for a store answer, if any.
    running: Option<Running>,
}

impl std::fmt::Debug for ConnectCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectCore")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl ConnectCore {
    /// A core over what the actor loaded at `now`.
    pub(crate) fn new(
        identity: Identity,
        rng: Box<dyn CryptoRng + Send>,
        config: Arc<Config>,
        loaded: Loaded,
        relay_drops: Arc<RelayDrops>,
        identify_drops: IdentifyDrops,
        now_ms: u64,
    ) -> Self {
        let time_evidence = TimeEvidence::at_start(loaded.high_water_ms, now_ms);
        let me = identity.id();
        let network_size = NetworkSize::new(&me, loaded.shard_level.unwrap_or(0), &config.gossip);
        let store_budget = usize::try_from(config_store_budget(&config)).unwrap_or(usize::MAX);
        ConnectCore {
            me,
            identity,
            rng,
            config,
            memory: Memory::load(loaded),
            replays: ReplayCache::new(REPLAY_CACHE_CAPACITY),
            time_evidence,
            dropped: DropCounters::new(),
            relay_drops,
            identify_drops,
            last_nudge_ms: 0,
            shard_store: ShardStore::new(store_budget),
            network_size,
            subscribed: Vec::new(),
            refusals: RefusalPace::default(),
            told_wake: None,
            running: None,
        }
    }

    /// The outputs to carry out at start: the inbox topics, the kept peers and the first
    /// wake-up.
    pub(crate) fn start(&mut self) -> Vec<ConnectOutput> {
        let mut out = vec![self.resubscribe()];
        self.settle(&mut out);
        out
    }

    /// Decides what `input`, arriving at `now`, means. While a store operation is
    /// outstanding, the only input expected is its answer ([`ConnectInput::Stored`]).
    pub(crate) fn handle(&mut self, input: ConnectInput, now: Now) -> Vec<ConnectOutput> {
        let mut out = Vec::new();
        if self.running.is_some() && !matches!(input, ConnectInput::Stored(_)) {
            // The actor's loop never does this; should it, the input is refused rather than
            // interleaved with a plan half done.
            tracing::error!(
                ?input,
                "the Connect core got an input while a plan was waiting"
            );
            return out;
        }
        let plan = match input {
            ConnectInput::Command { token, command } => self.on_command(token, command, now),
            ConnectInput::Frame {
                data,
                from,
                direct,
                topic,
            } => self.on_frame(&data, from, direct, topic.as_deref(), now),
            ConnectInput::PeerConnected(peer) => self.on_peer_connected(peer, now),
            ConnectInput::PeerIdentified { peer, addrs } => {
                self.on_peer_identified(peer, addrs, now)
            }
            ConnectInput::PeerSubscribed { peer, topic } => {
                self.on_peer_subscribed(peer, &topic, now)
            }
            ConnectInput::Delivered(key) => self.on_delivered(&key),
            ConnectInput::Timer => self.on_timer(now),
            ConnectInput::Stored(answer) => {
                self.on_stored(answer, now, &mut out);
                Plan::empty()
            }
        };
        self.run(plan, &mut out);
        if self.running.is_none() {
            self.settle(&mut out);
        }
        out
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
    fn drop_frame(&mut self, reason: &'static str, detail: &dyn std::fmt::Display) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::info!(reason, %detail, "dropped an inbound frame");
    }

    /// Counts and logs a store operation that failed.
    fn store_failed(&mut self, reason: &'static str, err: &StoreError) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::warn!(reason, %err, "a Connect store operation failed");
    }

    /// The time the clock high-water mark may be raised to when the clock reads `now`: the
    /// clock, but at most a day past what the monotonic clock and peers say (see
    /// `accord_handshake::TimeEvidence`), with a warning when the clock is beyond that.
    fn mark_reading(&self, now: Now) -> u64 {
        let reading = self.time_evidence.mark_reading(now.unix_ms, now.elapsed_ms);
        if reading.clock_ahead {
            tracing::warn!(
                clock_ms = now.unix_ms,
                bound_ms = reading.at_ms,
                "the clock is far ahead of the time peers and the last run report; the invite \
                 quota and cool-downs use the bound instead"
            );
        }
        reading.at_ms
    }

    /// Once a plan is done: tells the network layer of changed kept peers, and the actor of a
    /// changed wake-up.
    fn settle(&mut self, out: &mut Vec<ConnectOutput>) {
        self.tell_kept_peers(out);
        let wake = self.memory.live.next_deadline();
        if self.told_wake != Some(wake) {
            self.told_wake = Some(wake);
            out.push(ConnectOutput::WakeAt(wake));
        }
    }

    /// Tells the network layer which peers are our connections when that changed, so that
    /// connection trimming never closes theirs.
    fn tell_kept_peers(&mut self, out: &mut Vec<ConnectOutput>) {
        if let Some(peers) = self.memory.live.take_kept_peers() {
            out.push(ConnectOutput::KeepPeers(
                peers.iter().map(AccordId::peer_id).collect(),
            ));
        }
    }
}

/// The shard store's budget per shard, in bytes.
fn config_store_budget(config: &Config) -> u64 {
    config.gossip.store_kib_per_shard.saturating_mul(1024)
}
