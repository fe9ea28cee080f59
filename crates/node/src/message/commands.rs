//! User commands: `accord send`, `history`, `inbox`, `alias` and `verify`.

use std::str::FromStr;

use accord_api::{
    AliasInfo, ConversationInfo, ErrorCode, MessageInfo, RemoteError, SafetyNumberInfo, SendInfo,
    format_rfc3339_ms as rfc3339,
};
use accord_channel::Session;
use accord_identity::{AccordId, safety_number};
use accord_store::{Connection, Direction, FlushTicket, MessageId, MessageRecord};

use super::actor::MessageActor;
use super::wire::{self, Content, MAX_BODY};
use crate::hex::encode as hex;
use crate::remote_error::{internal, refused};
use crate::{clock, rng};

/// `accord history` without `--limit` shows this many of the newest messages.
const DEFAULT_HISTORY: usize = 50;
/// The most messages one history request returns.
const MAX_HISTORY: usize = 1000;
/// The longest alias, in characters.
const MAX_ALIAS_CHARS: usize = 64;
/// The longest preview in `accord inbox`, in characters.
const PREVIEW_CHARS: usize = 60;

/// A message `send` recorded, not yet known to be on disk.
pub(super) struct Recorded {
    /// What to answer the user once it is durable.
    pub(super) info: SendInfo,
    /// Resolves once it is durable.
    pub(super) ticket: FlushTicket,
    /// The recipient.
    pub(super) peer: AccordId,
    /// The message's id, held back from delivery until the ticket resolves.
    pub(super) message_id: MessageId,
}

impl MessageActor {
    /// Resolves an Accord ID or an alias to a connection (revoked ones included).
    pub(super) async fn resolve(
        &self,
        text: &str,
    ) -> Result<(AccordId, Option<Connection>), RemoteError> {
        if let Ok(id) = AccordId::from_str(text.trim()) {
            let connection = self.store.connection(&id).await.map_err(internal)?;
            return Ok((id, connection));
        }
        let connections = self.store.connections().await.map_err(internal)?;
        connections
            .into_iter()
            .find(|c| c.alias.as_deref() == Some(text.trim()))
            .map(|c| (c.peer, Some(c)))
            .ok_or_else(|| {
                RemoteError::new(
                    ErrorCode::InvalidParams,
                    format!("{text:?} is neither an Accord ID nor an alias of a connection"),
                )
            })
    }

    /// The active connection with `text`, or the refusal the CLI contract words.
    pub(super) async fn active(&self, text: &str) -> Result<Connection, RemoteError> {
        match self.resolve(text).await? {
            (_, Some(connection)) if connection.revoked_at_ms.is_none() => Ok(connection),
            (id, _) => Err(refused(format!(
                "{id} is not a connection; send an invite with: accord connect {id}"
            ))),
        }
    }

    /// `accord send`: encrypt now and record with the new ratchet state. The answer comes with
    /// the ticket of the store's flush: the caller answers the user and delivers from the
    /// outbox once it resolves.
    pub(super) async fn send(
        &mut self,
        peer: &str,
        body: String,
        reply_to: Option<&str>,
    ) -> Result<Recorded, RemoteError> {
        let connection = self.active(peer).await?;
        let peer = connection.peer;
        let limit = usize::try_from(self.config.messages.max_bytes)
            .unwrap_or(MAX_BODY)
            .min(MAX_BODY);
        if body.len() > limit {
            return Err(RemoteError::new(
                ErrorCode::InvalidParams,
                format!(
                    "the message is {} bytes; the limit is {limit} (messages.max_bytes)",
                    body.len()
                ),
            ));
        }
        let reply_to = match reply_to {
            Some(text) => Some(crate::hex::decode::<16>(text).ok_or_else(|| {
                RemoteError::new(
                    ErrorCode::InvalidParams,
                    format!("{text:?} is not a message id"),
                )
            })?),
            None => None,
        };
        let outbox_limit =
            usize::try_from(self.config.limits.outbox_per_peer).unwrap_or(usize::MAX);
        let context = self
            .store
            .sending_context(&peer, outbox_limit)
            .await
            .map_err(internal)?;
        if context.blocked {
            return Err(refused(format!(
                "{peer} is blocked; unblock it with: accord unblock {peer}"
            )));
        }
        if context.queued >= outbox_limit {
            // Refused before anything is encrypted or written: the ratchet does not move and
            // every queued message stays as it was.
            return Err(refused(format!(
                "the outbox for {peer} is full: {} messages are waiting for delivery \
                 (limits.outbox_per_peer); nothing was queued. Send again once some have \
                 been delivered",
                context.queued
            )));
        }
        let sender_seq = context.next_sender_seq;
        let state = context.session.ok_or_else(|| {
            refused(format!(
                "the channel with {peer} is not set up yet; try again shortly"
            ))
        })?;
        let mut session = Session::from_own_bytes(&state).map_err(internal)?;
        let now = clock::now_ms();
        let message_id = random_id();
        let content = Content::Text {
            message_id,
            sent_at_ms: now,
            sender_seq,
            reply_to,
            body: body.clone(),
        };
        let envelope = session
            .encrypt(&content.encode(), &mut rng::os_rng())
            .map_err(internal)?;
        let frame = wire::encode_request(&message_id, &envelope);
        let ((record, _entry), ticket) = self
            .store
            .record_outgoing(
                &peer,
                &session.to_bytes(),
                message_id,
                &body,
                reply_to,
                now,
                &frame,
                now,
            )
            .await
            .map_err(internal)?;
        let info = SendInfo {
            message_id: hex(&record.message_id),
            state: record.state.to_string(),
            reason: self.queued_reason(&record),
        };
        Ok(Recorded {
            info,
            ticket,
            peer,
            message_id: record.message_id,
        })
    }

    /// `accord history`: the newest messages, oldest first. Opening a conversation reads it.
    pub(super) async fn history(
        &mut self,
        peer: &str,
        limit: Option<usize>,
    ) -> Result<Vec<MessageInfo>, RemoteError> {
        let (peer, _) = self.resolve(peer).await?;
        let limit = limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
        let records = self
            .store
            .history(&peer, limit, None)
            .await
            .map_err(internal)?;
        if let Some(last) = records.last() {
            self.mark_read(peer, last.local_seq).await;
        }
        // Base58 of an ID is costly enough to matter on a page: render both once.
        let names = (self.me.to_string(), peer.to_string());
        Ok(records
            .iter()
            .map(|r| self.message_info(r, &names))
            .collect())
    }

    /// The API form of a stored message; `names` are our ID and the peer's, as text.
    fn message_info(&self, record: &MessageRecord, names: &(String, String)) -> MessageInfo {
        let (me, peer) = names;
        let (from, to) = match record.direction {
            Direction::Outgoing => (me, peer),
            Direction::Incoming => (peer, me),
        };
        MessageInfo {
            message_id: hex(&record.message_id),
            from: from.clone(),
            to: to.clone(),
            body: record.body.clone(),
            sent_at: rfc3339(record.sent_at_ms),
            received_at: record.received_at_ms.map(rfc3339),
            state: self.shown_state(record).to_string(),
            reason: self.queued_reason(record),
        }
    }

    /// `accord inbox`.
    pub(super) async fn inbox(&mut self) -> Result<Vec<ConversationInfo>, RemoteError> {
        let conversations = self.store.conversations().await.map_err(internal)?;
        let mut list = Vec::with_capacity(conversations.len());
        for conversation in conversations {
            let alias = match self.store.connection(&conversation.peer).await {
                Ok(Some(connection)) => connection.alias,
                _ => None,
            };
            let last = self
                .store
                .history(&conversation.peer, 1, None)
                .await
                .map_err(internal)?;
            let preview: String = last
                .first()
                .map(|m| m.body.chars().take(PREVIEW_CHARS).collect())
                .unwrap_or_default();
            list.push(ConversationInfo {
                peer: conversation.peer.to_string(),
                alias,
                unread: conversation.unread,
                last_message_at: rfc3339(conversation.last_message_at_ms),
                preview,
            });
        }
        Ok(list)
    }

    /// `accord alias`.
    pub(super) async fn alias(&mut self, peer: &str, name: &str) -> Result<AliasInfo, RemoteError> {
        let invalid =
            |why: &str| RemoteError::new(ErrorCode::InvalidParams, format!("invalid alias: {why}"));
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_ALIAS_CHARS {
            return Err(invalid("it must be 1 to 64 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("it must not contain control characters"));
        }
        if AccordId::from_str(name).is_ok() {
            return Err(invalid("it must not look like an Accord ID"));
        }
        let mut connection = self.active(peer).await?;
        let connections = self.store.connections().await.map_err(internal)?;
        if connections
            .iter()
            .any(|c| c.peer != connection.peer && c.alias.as_deref() == Some(name))
        {
            return Err(invalid("another connection already has it"));
        }
        connection.alias = Some(name.to_owned());
        self.store
            .put_connection(&connection)
            .await
            .map_err(internal)?;
        Ok(AliasInfo {
            peer: connection.peer.to_string(),
            alias: name.to_owned(),
        })
    }

    /// `accord verify`: the safety number of the pair.
    pub(super) async fn verify(&mut self, peer: &str) -> Result<SafetyNumberInfo, RemoteError> {
        let (peer, _) = self.resolve(peer).await?;
        Ok(SafetyNumberInfo {
            peer: peer.to_string(),
            safety_number: safety_number(&self.me, &peer).to_string(),
        })
    }
}

/// A fresh random message id.
pub(super) fn random_id() -> MessageId {
    let mut id = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rng::os_rng(), &mut id);
    id
}
