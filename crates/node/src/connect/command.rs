//! The Connect actor's typed commands and replies. The control API's `Request` and its JSON
//! stay at the control-socket edge (`requests.rs`), which converts both ways.

use accord_api::{
    AliasInfo, AttestationText, BlockInfo, ConnectionInfo, DeclinedInfo, InviteDirection,
    InviteInfo, InviteSummary,
};

use super::core::DropCounters;

/// What a user asks of the Connect actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectCommand {
    /// Invite a peer (`accord connect`).
    Connect {
        peer: String,
        note: String,
        /// What the invite presents: our profile card and an introduction (`--via`), read
        /// from the people records at the control edge (`requests.rs`).
        presentation: Box<accord_handshake::Presentation>,
    },
    /// List invites (`accord invites`).
    Invites { direction: Option<InviteDirection> },
    /// Accept an incoming invite, by invite id or inviter.
    Accept { target: String },
    /// Decline an incoming invite, by invite id or inviter.
    Decline { target: String },
    /// Decline every pending incoming invite from someone who is not a connection.
    DeclineStrangers,
    /// Withdraw an outgoing invite, by invite id or invitee.
    Withdraw { target: String },
    /// Block (`true`) or unblock (`false`) a peer.
    Block { peer: String, block: bool },
    /// Revoke the connection with a peer.
    Disconnect { peer: String },
    /// List the unrevoked connections.
    Connections,
    /// Show the attestation of a connection.
    Attestation { peer: String },
    /// Give a connection a local name (`accord alias`).
    Alias { peer: String, name: String },
    /// The dropped-frame and failed-write counters.
    Stats,
    /// What the shard store holds.
    ShardStore,
}

/// What the Connect actor answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectReply {
    /// One invite after a change (connect, accept, decline, withdraw).
    Invite(InviteSummary),
    /// Every invite, newest first.
    Invites(Vec<InviteInfo>),
    /// How many invites a bulk decline declined.
    Declined(DeclinedInfo),
    /// A block or unblock.
    Block(BlockInfo),
    /// One connection after a change (disconnect).
    Connection(ConnectionInfo),
    /// Every unrevoked connection.
    Connections(Vec<ConnectionInfo>),
    /// An attestation's text.
    Attestation(AttestationText),
    /// A connection's new alias.
    Alias(AliasInfo),
    /// The counters by reason.
    Stats(DropCounters),
    /// The shard store's size.
    ShardStore {
        /// Bytes of frames held.
        bytes: u64,
        /// Frames held.
        frames: u64,
        /// The shard level this node relays and publishes at.
        level: u8,
        /// The network-size estimate the level comes from.
        network_estimate: u64,
    },
}
