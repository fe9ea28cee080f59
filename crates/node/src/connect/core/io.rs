//! What goes into the Connect core and what comes out of it: the whole vocabulary between the
//! decisions and the thin actor that carries them out.

use accord_api::{Event, RemoteError};
use accord_handshake::Payload;
use accord_identity::AccordId;
use accord_net::{Multiaddr, PeerId};
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite, StoreError, Zeroizing};

use super::super::command::{ConnectCommand, ConnectReply};
use super::super::delivery::DeliveryKey;

/// Names the reply channel of a command, which the actor keeps: the core never holds a
/// channel, so it can be driven without a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ReplyToken(pub(crate) u64);

/// Names the response channel of a frame handed over directly, which the actor keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FrameToken(pub(crate) u64);

/// The time of an input: the wall clock (Unix ms, what every rule uses) and how long the core
/// has run on the monotonic clock (what bounds a clock far ahead, see
/// `accord_handshake::TimeEvidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Now {
    /// The wall clock, in Unix ms.
    pub(crate) unix_ms: u64,
    /// Monotonic ms since the core started.
    pub(crate) elapsed_ms: u64,
}

/// Something that happened, for the core to decide about.
#[allow(
    clippy::large_enum_variant,
    reason = "one plan runs at a time and its values are moved a few times, never kept in bulk; a box would cost an allocation each"
)]
#[derive(Debug)]
pub(crate) enum ConnectInput {
    /// A user command; its answer comes back as [`ConnectOutput::Reply`] with the same token.
    Command {
        /// Names the reply channel.
        token: ReplyToken,
        /// What the user asked.
        command: ConnectCommand,
    },
    /// A sealed frame, from gossip (no token) or handed over directly (a token to answer on).
    Frame {
        /// The frame's bytes.
        data: Vec<u8>,
        /// The peer it came from (the relay, for gossip).
        from: PeerId,
        /// The direct hand-over's response channel, if any.
        direct: Option<FrameToken>,
        /// The gossip topic it arrived on (`None` when handed over directly).
        topic: Option<String>,
    },
    /// A peer connected.
    PeerConnected(PeerId),
    /// The network identified a peer and its addresses.
    PeerIdentified {
        /// The peer.
        peer: PeerId,
        /// Its listen addresses.
        addrs: Vec<Multiaddr>,
    },
    /// A peer subscribed to a gossip topic (it joined that shard, if the topic is one).
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
    /// A direct delivery was answered `ok` by its recipient.
    Delivered(DeliveryKey),
    /// The deadline the core last asked for ([`ConnectOutput::WakeAt`]) has come.
    Timer,
    /// The answer to the [`ConnectOutput::Store`] the core asked for last.
    Stored(Result<StoreAnswer, StoreError>),
}

/// A channel's state, on its way to the store (redacted in `Debug`).
pub(crate) struct SessionState(pub(crate) Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionState({} bytes)", self.0.len())
    }
}

/// One store operation the core needs; the actor runs it and answers with
/// [`ConnectInput::Stored`]. Every write is durable when it is answered.
#[allow(
    clippy::large_enum_variant,
    reason = "one plan runs at a time and its values are moved a few times, never kept in bulk; a box would cost an allocation each"
)]
#[derive(Debug)]
pub(crate) enum StoreOp {
    /// Store an outgoing invite.
    PutOutgoing(OutgoingInvite),
    /// Store a new outgoing invite and its quota ledger entry.
    RecordSentInvite {
        /// The invite.
        record: OutgoingInvite,
        /// The clock high-water mark to record with it.
        high_water_ms: u64,
    },
    /// Store an incoming invite.
    PutIncoming(IncomingInvite),
    /// Delete an incoming invite (evicted).
    RemoveIncoming(InviteId),
    /// Store an accepted incoming invite, its connection and the new channel, in one write.
    AcceptIncoming {
        /// The invite, accepted.
        record: IncomingInvite,
        /// The new connection.
        connection: Connection,
        /// The invitee's channel.
        session: SessionState,
    },
    /// Close our invite as accepted, with its connection and the channel, in one write
    /// (answered `Completed(false)` when it was no longer pending).
    CompleteOutgoing {
        /// Our invite.
        invite_id: InviteId,
        /// The new connection.
        connection: Connection,
        /// When it closed.
        closed_at_ms: u64,
        /// The inviter's channel.
        session: SessionState,
    },
    /// Store a connection.
    PutConnection(Connection),
    /// Store a revoked connection and delete its channel, in one write.
    RevokeConnection(Connection),
    /// Block a peer.
    Block {
        /// The peer.
        peer: AccordId,
        /// When.
        at_ms: u64,
    },
    /// Unblock a peer and keep the time (it ends the decline cool-down), flushed.
    Unblock {
        /// The peer.
        peer: AccordId,
        /// When.
        at_ms: u64,
    },
    /// Raise the clock high-water mark (not made durable on its own).
    NoteClock(u64),
    /// Record an identified peer in the address book.
    RecordPeer {
        /// The peer.
        peer: AccordId,
        /// Its addresses.
        addrs: Vec<Multiaddr>,
        /// When it was seen.
        at_ms: u64,
    },
    /// Delete the closed records and cool-downs whose time has come, and say when the next is.
    Purge(u64),
    /// Read one outgoing invite (one that is no longer live, so not in memory).
    ReadOutgoing(InviteId),
    /// Read one incoming invite (one that is no longer live, so not in memory).
    ReadIncoming(InviteId),
    /// Read every invite, both ways (`accord invites`, a listing).
    ReadInvites,
}

/// What a [`StoreOp`] answered.
#[derive(Debug)]
pub(crate) enum StoreAnswer {
    /// A write that answers nothing more.
    Done,
    /// Whether a conditional write happened (`CompleteOutgoing`).
    Completed(bool),
    /// An outgoing invite, if stored.
    Outgoing(Option<OutgoingInvite>),
    /// An incoming invite, if stored.
    Incoming(Option<IncomingInvite>),
    /// Every invite.
    Invites {
        /// Those we received.
        incoming: Vec<IncomingInvite>,
        /// Those we sent.
        outgoing: Vec<OutgoingInvite>,
    },
    /// When the store next has something to purge.
    NextPurge(Option<u64>),
}

/// A payload to seal, stamp and send to its recipient by gossip and, when connected, directly.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The recipient.
    pub(crate) to: AccordId,
    /// What to send.
    pub(crate) payload: Payload,
    /// The frame's expiry.
    pub(crate) expires_at_ms: u64,
    /// What it is, so that an answer stops its republication.
    pub(crate) key: DeliveryKey,
}

/// Something the core decided should happen; the actor carries the outputs out in order.
#[derive(Debug)]
pub(crate) enum ConnectOutput {
    /// Run a store operation and feed its answer back ([`ConnectInput::Stored`]). It is always
    /// the last output of a batch: what follows depends on the answer.
    Store(StoreOp),
    /// Seal, stamp and send a payload.
    Deliver(Delivery),
    /// Answer a direct hand-over (`ok` when accepted, `no` otherwise).
    AnswerDirect {
        /// Names the response channel.
        token: FrameToken,
        /// Whether the frame was accepted.
        accepted: bool,
    },
    /// Answer a command.
    Reply {
        /// Names the reply channel.
        token: ReplyToken,
        /// The answer.
        result: Result<ConnectReply, RemoteError>,
    },
    /// Tell the event subscribers.
    Emit(Event),
    /// Tell the network layer which peers are our connections (never trimmed).
    KeepPeers(Vec<PeerId>),
    /// Tell the Message actor that a channel with this peer appeared or changed.
    ChannelChanged(AccordId),
    /// Subscribe to exactly these inbox topics (leaving any other), publish at this shard
    /// level from now on, and remember the level for the next start.
    Shards {
        /// The shard level (see `shard_layout.rs`).
        level: u8,
        /// Every inbox topic to be subscribed to.
        topics: Vec<String>,
    },
    /// Hand these stored frames of its shards to a peer that connected or joined a shard, each
    /// over the direct inbox protocol (answers are not awaited: the peer's own checks decide).
    HandOver {
        /// The peer.
        peer: PeerId,
        /// The frames, oldest first.
        frames: Vec<Vec<u8>>,
    },
    /// Wake the core with [`ConnectInput::Timer`] at this time (Unix ms), or never.
    WakeAt(Option<u64>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_state_on_its_way_to_the_store_is_never_printed() {
        let op = StoreOp::CompleteOutgoing {
            invite_id: [0; 16],
            connection: Connection {
                peer: accord_identity::Identity::from_seed(Zeroizing::new([1; 32])).id(),
                attestation: Vec::new(),
                attestation_id: [0; 32],
                since_ms: 0,
                alias: None,
                revoked_at_ms: None,
                revocation: None,
                next_publish_at_ms: None,
                publish_count: 0,
                awaiting_confirmation: false,
            },
            closed_at_ms: 0,
            session: SessionState(Zeroizing::new(vec![0xAB; 40])),
        };
        let printed = format!("{op:?}");
        assert!(printed.contains("SessionState(40 bytes)"), "{printed}");
        assert!(
            !printed.contains("171"),
            "the state's bytes were printed: {printed}"
        );
    }
}
