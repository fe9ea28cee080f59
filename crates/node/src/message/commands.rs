//! User commands: `accord send`, `history`, `inbox`, `alias` and `verify`.

use std::str::FromStr;
use std::sync::Arc;

use accord_api::{
    AliasInfo, ConversationInfo, ErrorCode, MessageInfo, RemoteError, SafetyNumberInfo, SendInfo,
    format_rfc3339_ms as rfc3339,
};
use accord_identity::{AccordId, safety_number};
use accord_store::{Connection, Direction, MessageId, MessageRecord, Store};

use super::actor::{MessageActor, Reply};
use super::durable::{AfterFlush, Sent};
use super::send_step::{self, SendCommand};
use crate::hex::encode as hex;
use crate::remote_error::internal;
use crate::{clock, rng};

/// `accord history` without `--limit` shows this many of the newest messages.
const DEFAULT_HISTORY: usize = 50;
/// The most messages one history request returns.
const MAX_HISTORY: usize = 1000;
/// The longest alias, in characters.
const MAX_ALIAS_CHARS: usize = 64;
/// The longest preview in `accord inbox`, in characters.
const PREVIEW_CHARS: usize = 60;

impl MessageActor {
    /// Resolves an Accord ID or an alias to a connection (revoked ones included).
    pub(super) async fn resolve(
        &self,
        text: &str,
    ) -> Result<(AccordId, Option<Connection>), RemoteError> {
        let text = text.to_owned();
        self.store
            .run(move |store| Ok(send_step::resolve(store, &text)))
            .await
            .map_err(internal)?
    }

    /// The active connection with `text`, or the refusal the CLI contract words.
    pub(super) async fn active(&self, text: &str) -> Result<Connection, RemoteError> {
        let text = text.to_owned();
        self.store
            .run(move |store| Ok(send_step::active(store, &text)))
            .await
            .map_err(internal)?
    }

    /// `accord send`, every one queued at once: encrypted and recorded with the new ratchet
    /// states in one store job. The users are answered, and the envelopes leave, once that
    /// job's flush resolves; the actor goes on meanwhile.
    pub(super) async fn on_send_batch(&mut self, sends: Vec<(SendCommand, Reply)>) {
        let (commands, replies): (Vec<_>, Vec<_>) = sends.into_iter().unzip();
        let ids: Vec<MessageId> = commands.iter().map(|_| random_id()).collect();
        let config = Arc::clone(&self.config);
        let queued = self.outbox.queued();
        let now = clock::now_ms();
        let job = self
            .store
            .run_with_ticket(
                move |store| {
                    Ok(send_step::record_batch(
                        store, &config, &commands, &ids, queued, now,
                    ))
                },
                |(results, _)| results.iter().any(Result::is_ok),
            )
            .await;
        let ((results, queued), ticket) = match job {
            Ok(answer) => answer,
            Err(err) => {
                self.note_store_failure("store_failed_send", &err);
                for reply in replies {
                    let _ = reply.send(Err(internal(&err)));
                }
                return;
            }
        };
        for (peer, count) in queued {
            self.outbox.set_queued(peer, count);
        }
        let mut recorded = Vec::new();
        for (result, reply) in results.into_iter().zip(replies) {
            match result {
                Ok(record) => {
                    // Its outbox entry is readable at once, but its envelope must not leave
                    // before the ratchet state it was made with is on disk (see [`Outbox`](super::core::outbox::Outbox)).
                    self.outbox.recorded(record.message_id);
                    recorded.push(Sent {
                        reply,
                        info: SendInfo {
                            message_id: hex(&record.message_id),
                            state: record.state.to_string(),
                            reason: self.queued_reason(&record),
                        },
                        peer: record.peer,
                        message_id: record.message_id,
                    });
                }
                Err(err) => {
                    let _ = reply.send(Err(err));
                }
            }
        }
        if !recorded.is_empty() {
            self.after_flush(ticket, AfterFlush::Sent(recorded));
        }
    }

    /// `accord history`: the newest messages, oldest first. Opening a conversation reads it.
    pub(super) async fn history(
        &mut self,
        peer: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<Vec<MessageInfo>, RemoteError> {
        let (peer, _) = self.resolve(peer).await?;
        let limit = limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
        let before = before
            .map(|text| {
                crate::hex::decode::<16>(text).ok_or_else(|| {
                    RemoteError::new(
                        ErrorCode::InvalidParams,
                        format!("{text:?} is not a message id (32 hex digits)"),
                    )
                })
            })
            .transpose()?;
        let records = match before {
            None => self.store.history(&peer, limit, None).await.map(Some),
            Some(id) => self.store.history_before(&peer, limit, id).await,
        }
        .map_err(internal)?
        .ok_or_else(|| {
            RemoteError::new(
                ErrorCode::InvalidParams,
                "no message with that id in this conversation",
            )
        })?;
        // Only the newest page is what the user reads now; an older page is scrolling back.
        if before.is_none()
            && let Some(last) = records.last()
        {
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
            // Filled in at the control edge (`people::names`).
            name: None,
        }
    }

    /// `accord inbox`: one store job for the whole list.
    pub(super) async fn inbox(&mut self) -> Result<Vec<ConversationInfo>, RemoteError> {
        self.store
            .run(|store| Ok(inbox_in(store)))
            .await
            .map_err(internal)?
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
        // Like a note, an alias may not reorder how it is shown (a "bob\u{202E}gpj.exe").
        if name
            .chars()
            .any(accord_handshake::is_directional_formatting)
        {
            return Err(invalid(
                "it must not contain bidirectional formatting characters",
            ));
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

/// The conversations, newest first as the store lists them, with their aliases and previews.
fn inbox_in(store: &Store) -> Result<Vec<ConversationInfo>, RemoteError> {
    let conversations = store.conversations().map_err(internal)?;
    let mut list = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let alias = store
            .connection(&conversation.peer)
            .map_err(internal)?
            .and_then(|connection| connection.alias);
        let last = store
            .history(&conversation.peer, 1, None)
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
            // Filled in at the control edge (`people::names`).
            name: None,
        });
    }
    Ok(list)
}
