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
    /// The inviter confirmed our acceptance of its invite: the connection, which awaited
    /// confirmation since we accepted, is now complete on both sides, and messages queued for
    /// the peer go out.
    InviteConfirmed {
        /// The invite id.
        invite_id: String,
        /// The inviter.
        peer: String,
        /// The attestation id of the connection.
        attestation_id: String,
    },
    /// The inviter refused our acceptance of its invite, or we learnt it had withdrawn it:
    /// it was withdrawn or had expired before our acceptance reached it. The connection that
    /// awaited confirmation is dropped with its channel; the invite is now `withdrawn` or
    /// `expired`.
    InviteRefused {
        /// The invite id.
        invite_id: String,
        /// The inviter.
        peer: String,
        /// The attestation id of the dropped connection.
        attestation_id: String,
        /// Why: `withdrawn` or `expired`.
        reason: String,
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
    /// A profile arrived or changed: a connection's, taken in over the end-to-end channel
    /// (only a newer version than the one held; an older or equal one is acknowledged and
    /// dropped without an event), or our own, set with `profile set`.
    ProfileUpdated {
        /// Whose profile it is (an Accord ID; our own when we set ours).
        peer: String,
        /// The name in the profile (not the local alias).
        name: String,
        /// The headline (may be empty).
        headline: String,
        /// The profile's version, which only grows.
        version: u64,
        /// The avatar's size in bytes; 0 when there is none.
        avatar_bytes: u64,
    },
    /// A connection introduced us to someone.
    IntroductionReceived {
        /// The connection who made the introduction.
        introducer: String,
        /// The introducer's name (alias, else profile name), if known.
        introducer_name: Option<String>,
        /// The person introduced to us.
        peer: String,
        /// That person's name, from the profile card sent along, if any.
        name: Option<String>,
        /// The introducer's note.
        note: String,
    },
    /// A connection's shared connection list changed (degrees and mutual connections may
    /// have changed with it).
    SharedListUpdated {
        /// The connection whose list it is.
        peer: String,
        /// The list's version after the change.
        version: u64,
        /// How many connections the list now names.
        entries: u64,
    },
    /// This subscriber fell behind and missed events; it should re-read state it cares about.
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}
