//! The mailbox half of the API (design §11, §14): which of our connections hold our mail
//! while we are offline, and what we hold for others. Requests are variants of
//! [`crate::Request`]; these are their results.

use serde::{Deserialize, Serialize};

use crate::Client;
use crate::error::ClientError;
use crate::types::Request;

/// What `accord mailbox --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxInfo {
    /// Our mailboxes (at most two).
    pub mine: Vec<OwnMailboxInfo>,
    /// What we hold for our connections.
    pub serving: ServingInfo,
    /// How many of our connections have acknowledged our current list of mailboxes (and so
    /// know where to leave our mail).
    #[serde(default)]
    pub announced: u64,
}

/// One of our mailboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnMailboxInfo {
    /// The connection's Accord ID.
    pub id: String,
    /// `reachable` (it took our registration the last time we asked), `unreachable` (we
    /// could not reach it the last time we tried), `refusing` (it does not serve as a
    /// mailbox) or `unknown` (not tried since the daemon started).
    pub state: String,
    /// When we last reached it (RFC 3339), or null if never.
    pub last_reached: Option<String>,
    /// Chosen with `accord mailbox use` (true) or automatically (false).
    #[serde(default)]
    pub pinned: bool,
}

/// What this node holds as a mailbox for others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingInfo {
    /// Connections with mail held here.
    pub recipients: u64,
    /// Items held.
    pub messages: u64,
    /// Bytes held.
    pub bytes: u64,
}

impl Client {
    /// `accord mailbox`.
    pub async fn mailbox(&mut self) -> Result<MailboxInfo, ClientError> {
        self.call_typed(Request::Mailbox).await
    }

    /// `accord mailbox use <ID|ALIAS>`.
    pub async fn mailbox_use(&mut self, peer: &str) -> Result<MailboxInfo, ClientError> {
        self.call_typed(Request::MailboxUse {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord mailbox drop <ID|ALIAS>`.
    pub async fn mailbox_drop(&mut self, peer: &str) -> Result<MailboxInfo, ClientError> {
        self.call_typed(Request::MailboxDrop {
            peer: peer.to_owned(),
        })
        .await
    }
}
