//! Recording a batch of `accord send`s, as one job on the store thread.
//!
//! Each send is checked (a connection, not blocked, the body and the outbox within their
//! limits), encrypted with the conversation's ratchet state and recorded with the new state,
//! its history entry and its outbox entry in one transaction. Every send the actor had queued
//! goes into one job, so the batch costs one hop to the store thread and back and shares one
//! flush; the answers and the envelopes wait for that flush in the actor.
//!
//! The job runs on the store thread, so reading a conversation's ratchet state, advancing it
//! and writing it back is one step that nothing else can interleave with, and two sends to
//! the same peer in one batch each see the state the one before left.

use std::collections::HashMap;
use std::str::FromStr;

use accord_api::{ErrorCode, RemoteError};
use accord_channel::Session;
use accord_identity::AccordId;
use accord_store::{Connection, MessageId, MessageRecord, OutboxEntry, Store};

use super::command::SendCommand;
use super::core::SendsRecorded;

use super::wire::{self, Content, MAX_BODY};
use crate::Config;
use crate::remote_error::{internal, refused};
use crate::rng;

/// Resolves an Accord ID or an alias to a connection (revoked ones included).
pub(super) fn resolve(
    store: &Store,
    text: &str,
) -> Result<(AccordId, Option<Connection>), RemoteError> {
    if let Ok(id) = AccordId::from_str(text.trim()) {
        let connection = store.connection(&id).map_err(internal)?;
        return Ok((id, connection));
    }
    let connections = store.connections().map_err(internal)?;
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
pub(super) fn active(store: &Store, text: &str) -> Result<Connection, RemoteError> {
    active_of(resolve(store, text)?)
}

/// The connection of a resolved recipient if it is active, or the refusal the CLI contract
/// words.
pub(super) fn active_of(
    resolved: (AccordId, Option<Connection>),
) -> Result<Connection, RemoteError> {
    match resolved {
        (_, Some(connection)) if connection.revoked_at_ms.is_none() => Ok(connection),
        (id, _) => Err(refused(format!(
            "{id} is not a connection; send an invite with: accord connect {id}"
        ))),
    }
}

/// Records every send of `commands`, in order, each under a fresh random message id. `queued`
/// is how many messages wait for each peer as far as the core knows (see
/// [`Outbox`](super::core::outbox::Outbox)); it comes back brought up to date.
pub(super) fn record_batch(
    store: &Store,
    config: &Config,
    commands: &[SendCommand],
    mut queued: HashMap<AccordId, usize>,
    now_ms: u64,
) -> SendsRecorded {
    let results = commands
        .iter()
        .map(|command| record_one(store, config, command, random_id(), &mut queued, now_ms))
        .collect();
    (results, queued)
}

/// A fresh random message id.
pub(crate) fn random_id() -> MessageId {
    let mut id = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rng::os_rng(), &mut id);
    id
}

/// Checks the body against `messages.max_bytes` and parses the message it replies to.
fn checked_input(
    config: &Config,
    command: &SendCommand,
) -> Result<Option<accord_store::MessageId>, RemoteError> {
    let limit = usize::try_from(config.messages.max_bytes)
        .unwrap_or(MAX_BODY)
        .min(MAX_BODY);
    let body = &command.body;
    if body.len() > limit {
        return Err(RemoteError::new(
            ErrorCode::InvalidParams,
            format!(
                "the message is {} bytes; the limit is {limit} (messages.max_bytes)",
                body.len()
            ),
        ));
    }
    match &command.reply_to {
        Some(text) => Ok(Some(crate::hex::decode::<16>(text).ok_or_else(|| {
            RemoteError::new(
                ErrorCode::InvalidParams,
                format!("{text:?} is not a message id"),
            )
        })?)),
        None => Ok(None),
    }
}

/// Checks, encrypts and records one send.
fn record_one(
    store: &Store,
    config: &Config,
    command: &SendCommand,
    message_id: MessageId,
    queued: &mut HashMap<AccordId, usize>,
    now_ms: u64,
) -> Result<(MessageRecord, OutboxEntry), RemoteError> {
    let connection = match command.id {
        Some(id) => active_of((id, store.connection(&id).map_err(internal)?))?,
        None => active(store, &command.peer)?,
    };
    let peer = connection.peer;
    let reply_to = checked_input(config, command)?;
    let body = &command.body;
    let outbox_limit = usize::try_from(config.limits.outbox_per_peer).unwrap_or(usize::MAX);
    // The outbox is walked to count it only when the count is not known, or says the bound is
    // reached (it may be too high; see `Outbox`).
    let known = queued.get(&peer).copied().filter(|&n| n < outbox_limit);
    let mut context = store
        .sending_context(&peer, if known.is_some() { 0 } else { outbox_limit })
        .map_err(internal)?;
    if let Some(known) = known {
        context.queued = known;
    }
    queued.insert(peer, context.queued);
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
    let state = context.session.ok_or_else(|| {
        refused(format!(
            "the channel with {peer} is not set up yet; try again shortly"
        ))
    })?;
    let mut session = Session::from_own_bytes(&state).map_err(internal)?;
    let content = Content::Text {
        message_id,
        sent_at_ms: now_ms,
        sender_seq: context.next_sender_seq,
        reply_to,
        body: body.clone(),
    };
    let envelope = session
        .encrypt(&content.encode(), &mut rng::os_rng())
        .map_err(internal)?;
    let frame = wire::encode_request(&message_id, &envelope);
    let recorded = store
        .record_outgoing(
            &peer,
            &session.to_bytes(),
            message_id,
            body,
            reply_to,
            now_ms,
            &frame,
            now_ms,
        )
        .map_err(internal)?;
    queued.insert(peer, context.queued.saturating_add(1));
    Ok(recorded)
}
