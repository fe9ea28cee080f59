//! Accord's control API: the contract between the `accord` CLI (or any other local program)
//! and a running node daemon.
//!
//! The daemon listens on a Unix socket at `<data-dir>/accord.sock`. Each side writes one JSON
//! document per line (newline-delimited JSON-RPC 2.0, see [`frame`]). A connection carries any
//! number of requests; after a [`Request::Subscribe`] it instead streams [`Event`]s until either
//! side hangs up. The full specification lives in `docs/control-api.md`.
//!
//! This crate holds only the types, the framing and a small async [`Client`], so that client
//! programs need neither libp2p nor the store.
//!
//! ```no_run
//! # async fn demo() -> Result<(), accord_api::ClientError> {
//! use accord_api::Client;
//! let mut client = Client::connect("/home/me/.local/share/accord/accord.sock").await?;
//! let status = client.status().await?;
//! println!("{} peers connected", status.peers);
//! # Ok(()) }
//! ```

mod client;
mod connect;
mod error;
mod events;
pub mod frame;
mod mailbox;
mod people;
mod time;
mod types;

pub use client::{Client, EventStream};
pub use connect::{
    AttestationText, BlockInfo, ConnectionInfo, DeclinedInfo, InviteDirection, InviteInfo,
    InviteSummary,
};
pub use error::{ClientError, ErrorCode, RemoteError};
pub use events::Event;
pub use mailbox::{MailboxInfo, OwnMailboxInfo, ServingInfo};
pub use people::{
    IntroductionInfo, MutualInfo, PersonInfo, ProfileInfo, ProfileSummary, SuggestionInfo,
};
pub use time::format_rfc3339_ms;
pub use types::{
    AliasInfo, ClockInfo, ConversationInfo, IdInfo, LookupInfo, LookupSource, MessageInfo,
    PeerInfo, QueuedInfo, Reachability, RelayInfo, Request, SafetyNumberInfo, SendInfo,
    ShutdownInfo, StatsInfo, StatusInfo, UiRevoked, UiUrl, Via,
};

/// The file name of the control socket inside a data dir.
pub const SOCKET_FILE_NAME: &str = "accord.sock";
