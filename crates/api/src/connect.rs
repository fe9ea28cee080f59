//! The Connect half of the API's results (design §3, §7): invites, their answers, blocks,
//! connections and attestations. Requests are variants of [`crate::Request`]; these are their
//! results.

use serde::{Deserialize, Serialize};

/// Which way an invite travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteDirection {
    /// Sent to us.
    Incoming,
    /// Sent by us.
    Outgoing,
}

/// What `accord connect`, `accept`, `decline` and `withdraw` print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteSummary {
    /// The invite id, 32 hex digits.
    pub invite_id: String,
    /// The other party's Accord ID.
    pub peer: String,
    /// `pending`, `accepted`, `declined`, `withdrawn` or `expired`.
    pub state: String,
    /// When the invite expires (RFC 3339, UTC, milliseconds).
    pub expires_at: String,
}

/// One invite, as `accord invites` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    /// The invite id, 32 hex digits.
    pub invite_id: String,
    /// Incoming or outgoing.
    pub direction: InviteDirection,
    /// The other party's Accord ID.
    pub peer: String,
    /// The inviter's note.
    pub note: String,
    /// `pending`, `accepted`, `declined`, `withdrawn` or `expired`.
    pub state: String,
    /// When the invite was made (RFC 3339, UTC, milliseconds).
    pub created_at: String,
    /// When it expires (RFC 3339, UTC, milliseconds).
    pub expires_at: String,
    /// The other party's name: the local alias, else their profile's name (for an incoming
    /// invite, the one sealed inside it), else null.
    #[serde(default)]
    pub name: Option<String>,
    /// The other party's headline, if known.
    #[serde(default)]
    pub headline: Option<String>,
    /// Our connections who are also the other party's, each proven by two attestations.
    #[serde(default)]
    pub mutual: Vec<String>,
    /// Who introduced us, if the invite carries an introduction that verified.
    #[serde(default)]
    pub introduced_by: Option<String>,
}

/// The result of `accord decline --all-from-strangers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclinedInfo {
    /// How many pending invites were declined.
    pub declined: u64,
}

/// The result of `accord block` and `accord unblock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The Accord ID.
    pub peer: String,
    /// Whether it is blocked now.
    pub blocked: bool,
}

/// One connection, as `accord connections` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The connection's Accord ID.
    pub peer: String,
    /// The local name given with `accord alias`, if any.
    pub alias: Option<String>,
    /// The attestation id, 64 hex digits.
    pub attestation_id: String,
    /// When the connection was made (RFC 3339, UTC, milliseconds).
    pub since: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The name shown: the alias, else the profile's name, else null.
    #[serde(default)]
    pub name: Option<String>,
    /// `connected`; `awaiting_confirmation` while we accepted the peer's invite and its
    /// inviter has not confirmed it yet (messages to it are queued, not sent); `revoked` in
    /// the answer to `accord disconnect`. Absent from older daemons' answers (read as
    /// `connected`).
    #[serde(default = "connected_state")]
    pub state: String,
}

/// The state of a connection an older daemon listed: it knew no other.
fn connected_state() -> String {
    "connected".to_owned()
}

/// The result of [`Request::Attestation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationText {
    /// The connection's Accord ID.
    pub peer: String,
    /// The attestation id, 64 hex digits.
    pub attestation_id: String,
    /// The portable text form, verifiable offline with `accord verify-attestation`.
    pub text: String,
}
