//! The Message actor's typed commands and replies. The control API's JSON stays at the edge:
//! `requests.rs` turns a [`Request`] into a [`MessageCommand`] and the [`MessageReply`] back
//! into JSON; inside the node nothing else sees either.

use std::collections::BTreeMap;

use accord_api::{
    AliasInfo, ConversationInfo, ErrorCode, MessageInfo, QueuedInfo, RemoteError, Request,
    SafetyNumberInfo, SendInfo,
};

use accord_identity::AccordId;

/// A user command for the Message actor.
#[derive(Debug)]
pub(crate) enum MessageCommand {
    /// `accord send` (boxed: it carries the parsed ID, and the other commands are small).
    Send(Box<SendCommand>),
    /// `accord history`: the newest `limit` messages with `peer` (an ID or an alias).
    History {
        peer: String,
        limit: Option<usize>,
        before: Option<String>,
    },
    /// `accord inbox`.
    Inbox,
    /// `accord alias`: name a connection.
    Alias { peer: String, name: String },
    /// `accord verify`: the safety number with a peer.
    Verify { peer: String },
    /// The peers whose last delivery failed, and why (part of `accord status`).
    Status,
    /// The inbound messages dropped and store calls failed, by reason (part of `accord stats`).
    Stats,
}

/// The Message actor's answer to a [`MessageCommand`], one variant per command.
#[derive(Debug)]
pub(crate) enum MessageReply {
    Sent(SendInfo),
    History(Vec<MessageInfo>),
    Inbox(Vec<ConversationInfo>),
    Alias(AliasInfo),
    Verify(SafetyNumberInfo),
    Status(Vec<QueuedInfo>),
    Stats(BTreeMap<&'static str, u64>),
}

impl MessageCommand {
    /// The command a control request asks for, if it is one of the Message actor's.
    pub(crate) fn from_request(request: Request) -> Result<MessageCommand, RemoteError> {
        Ok(match request {
            Request::Send {
                peer,
                body,
                reply_to,
            } => MessageCommand::Send(Box::new(SendCommand {
                peer,
                id: None,
                body,
                reply_to,
            })),
            Request::History {
                peer,
                limit,
                before,
            } => MessageCommand::History {
                peer,
                limit,
                before,
            },
            Request::Inbox => MessageCommand::Inbox,
            Request::Alias { peer, name } => MessageCommand::Alias { peer, name },
            Request::Verify { peer } => MessageCommand::Verify { peer },
            Request::Status => MessageCommand::Status,
            Request::Stats => MessageCommand::Stats,
            other => {
                return Err(RemoteError::new(
                    ErrorCode::Internal,
                    format!("{} is not a Message command", other.method()),
                ));
            }
        })
    }
}

/// One `accord send`, as the user gave it.
#[derive(Debug)]
pub(crate) struct SendCommand {
    /// The recipient: an Accord ID or an alias.
    pub(crate) peer: String,
    /// `peer` parsed as an Accord ID, if it is one (parsed by the actor, which remembers
    /// the IDs it has seen: parsing decompresses a public key).
    pub(crate) id: Option<AccordId>,
    /// The text.
    pub(crate) body: String,
    /// The message this one answers, as hex.
    pub(crate) reply_to: Option<String>,
}
