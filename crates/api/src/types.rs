//! The requests a client can make, the typed results the daemon returns, and the events it
//! streams to subscribers.
//!
//! Identities and multiaddrs travel as strings so that this crate stays free of libp2p; the
//! daemon validates them and answers [`crate::ErrorCode::InvalidParams`] when they do not parse.

use serde::{Deserialize, Serialize};

use crate::InviteDirection;

/// One control-API request. On the wire this is the `method` and `params` members of a
/// JSON-RPC 2.0 request object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// The node's own identity and addresses. Result: [`IdInfo`].
    Id,
    /// Counters describing the node. Result: [`StatusInfo`].
    Status,
    /// The peers the node is connected to right now. Result: a list of [`PeerInfo`].
    Peers,
    /// Find a peer's addresses from its Accord ID through the DHT. Result: [`LookupInfo`].
    Lookup {
        /// The Accord ID (`12D3KooW…`) to look up.
        peer: String,
    },
    /// Dial a multiaddr and wait until the connection is up. Result: [`PeerInfo`].
    Dial {
        /// The multiaddr to dial; it may end in `/p2p/<id>`.
        addr: String,
    },
    /// Send an invite. Result: [`InviteSummary`].
    Connect {
        /// The invitee's Accord ID.
        peer: String,
        /// The note (plain text, at most `invites.note_max_chars` characters).
        #[serde(default)]
        note: String,
        /// Attach the introduction this connection (ID or alias) made of us and the invitee.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// List invites. Result: a list of [`InviteInfo`], newest first.
    Invites {
        /// Only incoming or only outgoing invites; both when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direction: Option<InviteDirection>,
    },
    /// Accept an incoming invite. Result: [`InviteSummary`].
    Accept {
        /// The invite id (hex) or the inviter's Accord ID.
        target: String,
    },
    /// Decline an incoming invite; the inviter is not told. Result: [`InviteSummary`].
    Decline {
        /// The invite id (hex) or the inviter's Accord ID.
        target: String,
    },
    /// Decline every pending incoming invite from someone who is not a connection, for a
    /// user under a flood of invites; the inviters are not told. Result: [`DeclinedInfo`].
    DeclineStrangers,
    /// Withdraw an outgoing invite. Result: [`InviteSummary`].
    Withdraw {
        /// The invite id (hex) or the invitee's Accord ID.
        target: String,
    },
    /// Drop everything from an ID from now on. Result: [`BlockInfo`].
    Block {
        /// The Accord ID.
        peer: String,
    },
    /// Undo a block. Result: [`BlockInfo`].
    Unblock {
        /// The Accord ID.
        peer: String,
    },
    /// Revoke the attestation with a connection. Result: [`ConnectionInfo`].
    Disconnect {
        /// The connection's Accord ID.
        peer: String,
    },
    /// List connections. Result: a list of [`ConnectionInfo`], oldest first.
    Connections,
    /// The portable attestation of a connection. Result: [`AttestationText`].
    Attestation {
        /// The connection's Accord ID.
        peer: String,
    },
    /// Counters of what the node refused or dropped. Result: [`StatsInfo`].
    Stats,
    /// Send an end-to-end encrypted message to a connection. Result: [`SendInfo`].
    Send {
        /// The connection's Accord ID or alias.
        peer: String,
        /// The Markdown body, at most `messages.max_bytes` bytes.
        body: String,
        /// The id of the message this one answers, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    /// A conversation's messages, oldest first. Opening a conversation marks it read (and
    /// sends read receipts unless `messages.read_receipts = false`). Result: a list of
    /// [`MessageInfo`].
    History {
        /// The connection's Accord ID or alias.
        peer: String,
        /// At most this many of the newest messages (default 50, at most 1000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// Only messages older than this message (its `id`): the page before it. Paging
        /// back with the first id of each page reaches the first message. Without it, the
        /// newest page, and opening it marks the conversation read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
    },
    /// Conversations with unread counts, most recent first. Result: a list of
    /// [`ConversationInfo`].
    Inbox,
    /// Give a connection a local name. Result: [`AliasInfo`].
    Alias {
        /// The Accord ID.
        peer: String,
        /// The name (1–64 characters, no control characters, not an Accord ID).
        name: String,
    },
    /// The safety number of this node and a peer. Result: [`SafetyNumberInfo`].
    Verify {
        /// The Accord ID or alias.
        peer: String,
    },
    /// Turn this connection into an event stream. Result: `{"subscribed": true}`, then one
    /// `event` notification per [`Event`].
    Subscribe,
    /// Ask the daemon to shut down gracefully. Result: [`ShutdownInfo`].
    Shutdown,
    /// A profile: ours, or what we know of someone's. Result: [`crate::ProfileInfo`].
    Profile {
        /// Whose (Accord ID or alias); ours when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// Include the avatar's bytes (hex).
        #[serde(default)]
        with_avatar: bool,
    },
    /// Set our profile (a new version), and send it to our connections. Result:
    /// [`crate::ProfileInfo`].
    ProfileSet {
        /// The name (1–64 characters of plain text).
        name: String,
        /// The headline (0–120 characters); the current one is kept when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        headline: Option<String>,
        /// A PNG or JPEG picture of at most 64 KiB, as hex; the current avatar is kept when
        /// absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_hex: Option<String>,
    },
    /// Someone's degree and our mutual connections. Result: [`crate::PersonInfo`].
    People {
        /// The Accord ID or alias.
        peer: String,
    },
    /// Second-degree people, most mutual connections first. Result: a list of
    /// [`crate::SuggestionInfo`].
    Suggestions,
    /// Introduce two of our connections to each other. Result: [`crate::IntroductionInfo`].
    Introduce {
        /// One connection (ID or alias).
        first: String,
        /// The other.
        second: String,
        /// A note to both (at most 300 characters).
        #[serde(default)]
        note: String,
    },
    /// The introductions we made and received, newest first. Result: a list of
    /// [`crate::IntroductionInfo`].
    Introductions,
    /// Start the local web app if it is not running, and mint a fresh one-time login token.
    /// Result: [`UiUrl`].
    UiOpen,
    /// End every web app session and forget every unused login token. Result: [`UiRevoked`].
    UiRevoke,
    /// Our mailboxes and what we hold for others. Result: [`crate::MailboxInfo`].
    Mailbox,
    /// Make a connection one of our (at most two) mailboxes. Result: [`crate::MailboxInfo`].
    MailboxUse {
        /// The connection's Accord ID or alias.
        peer: String,
    },
    /// Stop using a connection as a mailbox. Result: [`crate::MailboxInfo`].
    MailboxDrop {
        /// The connection's Accord ID or alias.
        peer: String,
    },
}

impl Request {
    /// The JSON-RPC method name of this request, for logs and error messages.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Id => "id",
            Request::Status => "status",
            Request::Peers => "peers",
            Request::Lookup { .. } => "lookup",
            Request::Dial { .. } => "dial",
            Request::Connect { .. } => "connect",
            Request::Invites { .. } => "invites",
            Request::Accept { .. } => "accept",
            Request::Decline { .. } => "decline",
            Request::DeclineStrangers => "decline_strangers",
            Request::Withdraw { .. } => "withdraw",
            Request::Block { .. } => "block",
            Request::Unblock { .. } => "unblock",
            Request::Disconnect { .. } => "disconnect",
            Request::Connections => "connections",
            Request::Attestation { .. } => "attestation",
            Request::Stats => "stats",
            Request::Send { .. } => "send",
            Request::History { .. } => "history",
            Request::Inbox => "inbox",
            Request::Alias { .. } => "alias",
            Request::Verify { .. } => "verify",
            Request::Subscribe => "subscribe",
            Request::Shutdown => "shutdown",
            Request::Profile { .. } => "profile",
            Request::ProfileSet { .. } => "profile_set",
            Request::People { .. } => "people",
            Request::Suggestions => "suggestions",
            Request::Introduce { .. } => "introduce",
            Request::Introductions => "introductions",
            Request::UiOpen => "ui_open",
            Request::UiRevoke => "ui_revoke",
            Request::Mailbox => "mailbox",
            Request::MailboxUse { .. } => "mailbox_use",
            Request::MailboxDrop { .. } => "mailbox_drop",
        }
    }
}

/// The node's identity: what `accord id` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdInfo {
    /// The Accord ID (`12D3KooW…`).
    pub id: String,
    /// The short, human-comparable fingerprint of the identity key.
    pub fingerprint: String,
    /// Every address the node listens on, each ending in `/p2p/<id>`.
    pub addrs: Vec<String>,
}

/// What `accord status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The Accord ID of the node.
    pub id: String,
    /// How many peers the node has a live libp2p connection to.
    pub peers: usize,
    /// How many Accord connections (signed mutual attestations) the node holds.
    pub connections: usize,
    /// Invites received and not yet answered.
    pub pending_incoming: usize,
    /// Invites sent and not yet answered.
    pub pending_outgoing: usize,
    /// Messages waiting in the outbox for an acknowledgement.
    pub outbox: usize,
    /// Invites the weekly quota still allows.
    pub invites_left_this_week: u32,
    /// What AutoNAT concluded: `public`, `private` or `unknown`.
    #[serde(default)]
    pub reachability: Reachability,
    /// The relays this node was told to use, and its reservations on them.
    #[serde(default)]
    pub relays: Vec<RelayInfo>,
    /// Whether this node serves relay reservations and circuits for others.
    #[serde(default)]
    pub relay_server: bool,
    /// Peers whose queued messages could not be delivered at the last attempt, and why
    /// (for example `peer not found`).
    #[serde(default)]
    pub queued: Vec<QueuedInfo>,
    /// The node's clock and the high-water mark its invite rules run at. Absent from older
    /// daemons' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockInfo>,
    /// When the weekly invite quota is used up: when its next slot frees (RFC 3339, UTC,
    /// milliseconds). Absent while invites are left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invites_next_slot_at: Option<String>,
}

/// The clock in `accord status`: what the invite quota and the re-invite cool-downs are
/// judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// The node's clock now (RFC 3339, UTC, milliseconds).
    pub now: String,
    /// The highest time the node has recorded (RFC 3339, UTC, milliseconds); the rules run at
    /// the later of it and the clock, so that a clock set back frees nothing. The node raises
    /// it at most a day past the time elapsed since its start and the times peers report, so a
    /// clock far ahead does not drag it along.
    pub high_water: String,
}

/// What AutoNAT concluded about the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// Peers could dial the node back.
    Public,
    /// Peers could not dial the node back: it is behind a NAT or firewall.
    Private,
    /// No conclusion yet.
    #[default]
    Unknown,
}

/// A relay in `accord status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// The relay's Accord ID (its peer id).
    pub peer: String,
    /// The relay's address as configured.
    pub addr: String,
    /// Whether a connection to the relay is up.
    pub connected: bool,
    /// The node's `/p2p-circuit` address on the relay while it holds a reservation there:
    /// others reach the node through it.
    pub reserved: Option<String>,
}

/// Why messages to a peer are still queued, in `accord status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedInfo {
    /// The recipient's Accord ID.
    pub peer: String,
    /// Why the last delivery attempt failed.
    pub reason: String,
}

/// How a connected peer is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// At least one connection goes straight to the peer.
    #[default]
    Direct,
    /// Every connection runs through a relay circuit.
    Relayed,
}

/// A peer and the addresses it can be reached at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's Accord ID.
    pub id: String,
    /// The peer's known addresses (its listen addresses when it told us, otherwise the address
    /// of the connection).
    pub addrs: Vec<String>,
    /// `direct`, or `relayed` when every connection to the peer runs through a relay.
    #[serde(default)]
    pub via: Via,
}

/// Where the addresses of a [`LookupInfo`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// A Kademlia query returned the peer.
    Dht,
    /// The DHT did not return it, but the node is connected to it already.
    Connected,
}

/// The result of a [`Request::Lookup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupInfo {
    /// The Accord ID that was looked up.
    pub id: String,
    /// The addresses found, each without the `/p2p/<id>` suffix.
    pub addrs: Vec<String>,
    /// Where the addresses came from.
    pub source: LookupSource,
}

/// What `accord stats` prints: counters since the daemon started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsInfo {
    /// Inbound frames dropped, by reason (`malformed`, `invalid_invite`, `blocked`,
    /// `replayed_acceptance`, …).
    pub dropped: std::collections::BTreeMap<String, u64>,
    /// Gossip messages rejected before forwarding (malformed, oversized, expired, badly
    /// stamped); their forwarders were penalised.
    pub gossip_rejected: u64,
    /// Gossip messages ignored before forwarding.
    pub gossip_ignored: u64,
    /// Network events dropped because the node was not keeping up.
    pub events_dropped: u64,
    /// Bytes read from peers' libp2p substreams since start (direct TCP and QUIC
    /// connections, without transport framing). Absent from older daemons' answers.
    #[serde(default)]
    pub net_bytes_in: u64,
    /// Bytes written to peers' libp2p substreams since start, counted like `net_bytes_in`.
    #[serde(default)]
    pub net_bytes_out: u64,
    /// Bytes of sealed frames the shard store holds for the shards this node relays. Absent
    /// from older daemons' answers.
    #[serde(default)]
    pub shard_store_bytes: u64,
    /// Frames the shard store holds. Absent from older daemons' answers.
    #[serde(default)]
    pub shard_store_frames: u64,
    /// The shard level this node relays and publishes invites at: its inbox topics are its
    /// key's first `shard_level` bits (docs/protocol.md, "The level: a layout that grows with the network"). Absent from older
    /// daemons' answers.
    #[serde(default)]
    pub shard_level: u8,
    /// The number of nodes this node estimates the network has, from the identities nearest
    /// its own key; the level follows it. Absent from older daemons' answers.
    #[serde(default)]
    pub network_estimate: u64,
}

/// What `accord send` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendInfo {
    /// The message id, 32 hex digits.
    pub message_id: String,
    /// `queued`, `sent`, `delivered` or `read`.
    pub state: String,
    /// For a queued outgoing message: why the last delivery attempt failed (for example
    /// `peer not found`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One message, as `accord history` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// The message id, 32 hex digits.
    pub message_id: String,
    /// The sender's Accord ID.
    pub from: String,
    /// The recipient's Accord ID.
    pub to: String,
    /// The Markdown body.
    pub body: String,
    /// When the sender sent it (RFC 3339, UTC, milliseconds).
    pub sent_at: String,
    /// When it arrived here, for incoming messages.
    pub received_at: Option<String>,
    /// `queued`, `sent`, `delivered` or `read`.
    pub state: String,
    /// For a queued outgoing message: why the last delivery attempt failed (for example
    /// `peer not found`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The sender's name: the alias, else the profile's name, else null.
    #[serde(default)]
    pub name: Option<String>,
}

/// One conversation, as `accord inbox` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    /// The connection's Accord ID.
    pub peer: String,
    /// Its local name, if any.
    pub alias: Option<String>,
    /// Messages received and not yet read.
    pub unread: u64,
    /// When the last message was sent or received.
    pub last_message_at: String,
    /// The start of the last message.
    pub preview: String,
    /// The name shown: the alias, else the profile's name, else null.
    #[serde(default)]
    pub name: Option<String>,
}

/// The result of [`Request::Alias`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasInfo {
    /// The Accord ID.
    pub peer: String,
    /// The alias now in force.
    pub alias: String,
}

/// The result of [`Request::Verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyNumberInfo {
    /// The peer's Accord ID.
    pub peer: String,
    /// The safety number: 60 digits in 12 groups of 5, the same on both sides.
    pub safety_number: String,
}

/// The result of a [`Request::Shutdown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownInfo {
    /// Always true: the daemon has begun shutting down.
    pub stopping: bool,
}

/// The result of [`Request::UiOpen`]: what `accord ui --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiUrl {
    /// The web app's login address (`http://127.0.0.1:PORT/login?token=…`); the token in it
    /// works once, for a few minutes.
    pub url: String,
}

/// The result of [`Request::UiRevoke`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiRevoked {
    /// How many browser sessions were ended.
    pub sessions: usize,
    /// How many unused login tokens were forgotten.
    pub tokens: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn requests_serialise_as_method_and_params() {
        let json = serde_json::to_value(Request::Lookup { peer: "x".into() }).unwrap_or_default();
        assert_eq!(json["method"], "lookup");
        assert_eq!(json["params"]["peer"], "x");
        let json = serde_json::to_value(Request::Status).unwrap_or_default();
        assert_eq!(json["method"], "status");
    }

    #[test]
    fn events_carry_their_name_in_the_event_member() {
        let json =
            serde_json::to_value(Event::PeerDisconnected { peer: "p".into() }).unwrap_or_default();
        assert_eq!(json["event"], "peer_disconnected");
        assert_eq!(json["peer"], "p");
    }
}
