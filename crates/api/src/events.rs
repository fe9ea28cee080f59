//! The events the daemon streams to subscribers (`accord watch`).

use serde::{Deserialize, Serialize};

/// Something that happened in the node, streamed to subscribers (`accord watch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The node started listening on an address.
    Listening {
        /// The new listen address, ending in `/p2p/<id>`.
        addr: String,
    },
    /// A first connection to a peer was established.
    PeerConnected {
        /// The peer's Accord ID.
        peer: String,
        /// The address of the connection.
        addr: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer's Accord ID.
        peer: String,
    },
    /// An invite arrived.
    InviteReceived {
        /// The invite id.
        invite_id: String,
        /// The inviter.
        peer: String,
        /// The inviter's note.
        note: String,
        /// The inviter's name (alias, else the name sealed in the invite), if known.
        #[serde(default)]
        name: Option<String>,
    },
    /// An invite we sent was accepted, or we accepted one: the pair is now connected.
    InviteAccepted {
        /// The invite id.
        invite_id: String,
        /// The other party.
        peer: String,
        /// The attestation id of the new connection.
        attestation_id: String,
    },
    /// An invite we received was withdrawn by its sender.
    InviteWithdrawn {
        /// The invite id.
        invite_id: String,
        /// The inviter.
        peer: String,
    },
    /// A connection was revoked, by us or by the other party.
    ConnectionRevoked {
        /// The other party.
        peer: String,
        /// The revoked attestation's id.
        attestation_id: String,
    },
    /// A message arrived from a connection.
    MessageReceived {
        /// The sender.
        peer: String,
        /// The sender's name (alias, else profile name), if known.
        #[serde(default)]
        name: Option<String>,
        /// The message id.
        message_id: String,
        /// The Markdown body.
        body: String,
        /// When the sender sent it (RFC 3339).
        sent_at: String,
    },
    /// A message we sent was acknowledged by the recipient's node.
    MessageDelivered {
        /// The recipient.
        peer: String,
        /// The message id.
        message_id: String,
    },
    /// A message we sent is held by a mailbox of the recipient (which answered after its
    /// flush); `message_delivered` follows when the recipient acknowledges it.
    MessageStored {
        /// The recipient.
        peer: String,
        /// The message id.
        message_id: String,
    },
    /// A message we sent was read.
    MessageRead {
        /// The recipient.
        peer: String,
        /// The message id.
        message_id: String,
    },
    /// This subscriber fell behind and missed events; it should re-read state it cares about.
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}
