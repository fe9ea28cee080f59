//! Taking in a batch of `/accord/dm/1` requests, as one job on the store thread.
//!
//! Everything is checked in order, cheapest first: the frame, whether the sender is a
//! connection (before any decryption), whether the message was seen already, then decryption
//! on a copy of the ratchet state. Every request the actor had queued goes into one job, so
//! the batch costs one hop to the store thread and back, and everything it wrote shares the
//! next flush; the answers wait for that flush in the actor (see [`super::core`]).
//!
//! The job runs on the store thread, so reading a conversation's ratchet state, advancing it
//! and writing it back is one step that nothing else can interleave with.

use accord_api::Event;
use accord_channel::Session;
use accord_identity::AccordId;
use accord_store::{Direction, Incoming, MessageId, MessageState, Store};

use super::core::admission::{Admission, admit};
use super::core::{Dropped, Outcome, Request};
use super::wire::{self, Content};
use crate::Config;
use crate::hex::encode as hex;

fn dropped(reason: &'static str, detail: impl std::fmt::Display) -> Outcome {
    Outcome::Refused(Some(Dropped {
        reason,
        detail: detail.to_string(),
    }))
}

/// Takes in `requests`, in order. A message that came early is tried again once the rest of
/// the batch is in, so that messages which overtook each other inside one batch are stored in
/// sender order without a trip through the reorder buffer.
pub(super) fn receive_batch(
    store: &Store,
    config: &Config,
    requests: &[Request],
    now_ms: u64,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = requests
        .iter()
        .map(|request| receive_one(store, config, request, now_ms))
        .collect();
    loop {
        let mut progress = false;
        for (request, outcome) in requests.iter().zip(outcomes.iter_mut()) {
            if matches!(outcome, Outcome::Early { .. }) {
                *outcome = receive_one(store, config, request, now_ms);
                progress |= !matches!(outcome, Outcome::Early { .. });
            }
        }
        if !progress {
            return outcomes;
        }
    }
}

/// Takes in one request.
pub(super) fn receive_one(
    store: &Store,
    config: &Config,
    request: &Request,
    now_ms: u64,
) -> Outcome {
    let peer = request.peer;
    let (message_id, envelope) = match wire::decode_request(&request.data) {
        Ok(parts) => parts,
        Err(err) => return dropped("malformed", format_args!("{peer}: {err}")),
    };
    // One read answers the block check, the connection check, the duplicate check and the
    // state. A store error refuses the message, so damage cannot let a blocked peer through.
    let context = match store.incoming_context(&peer, &message_id) {
        Ok(context) => context,
        Err(err) => {
            tracing::warn!(%peer, %err, "cannot read the conversation of an incoming message");
            return Outcome::Refused(None);
        }
    };
    let state = match admit(context) {
        Admission::Drop(reason) => return dropped(reason, peer),
        // Acknowledged only once the original is certainly on disk: after the batch's flush.
        Admission::Duplicate => return Outcome::Duplicate,
        Admission::Decrypt(state) => state,
    };
    let Ok(mut session) = Session::from_own_bytes(&state) else {
        return dropped("unreadable_session", peer);
    };
    // The session decrypts on a copy of its state and keeps it only on success, so a forged
    // or replayed envelope leaves the conversation as it was. The skip limits were validated
    // when the config was loaded, so the fallback (the protocol's maximum) is never taken.
    let limits = config.limits.skip().unwrap_or_default();
    let plaintext = match session.decrypt_within(envelope, now_ms, limits) {
        Ok(plaintext) => plaintext,
        Err(err) => return dropped("undecryptable", format_args!("{peer}: {err}")),
    };
    match Content::decode(&plaintext) {
        Ok(content) => apply(store, config, peer, message_id, content, &session, now_ms),
        Err(err) => dropped("malformed_content", format_args!("{peer}: {err}")),
    }
}

fn apply(
    store: &Store,
    config: &Config,
    peer: AccordId,
    frame_id: MessageId,
    content: Content,
    session: &Session,
    now_ms: u64,
) -> Outcome {
    let state = session.to_bytes();
    match content {
        Content::People(bytes) => {
            // Taken in this job, with the ratchet state, so both share the flush the answer
            // waits for.
            let event = match crate::people::receive::apply(store, session.our_id(), &peer, &bytes)
            {
                Ok(event) => event,
                Err(reason) => return dropped(reason, peer),
            };
            if let Err(err) = store.put_session(&peer, &state) {
                tracing::warn!(%peer, %err, "cannot store the ratchet state of a people content");
                return Outcome::Refused(None);
            }
            Outcome::Taken {
                event: event.map(Box::new),
            }
        }
        Content::Mailboxes(bytes) => {
            // Stored in this job, with the ratchet state, so both share the flush the answer
            // waits for.
            if let Err(reason) = crate::mailbox::receive_announcement(store, &peer, &bytes) {
                return dropped(reason, peer);
            }
            if let Err(err) = store.put_session(&peer, &state) {
                tracing::warn!(%peer, %err, "cannot store the ratchet state of an announcement");
                return Outcome::Refused(None);
            }
            Outcome::Receipt {
                read: Vec::new(),
                delivered: Vec::new(),
            }
        }
        Content::Delivered { ids } => {
            if let Err(err) = store.put_session(&peer, &state) {
                tracing::warn!(%peer, %err, "cannot store the ratchet state of an acknowledgement");
                return Outcome::Refused(None);
            }
            Outcome::Receipt {
                read: Vec::new(),
                delivered: complete_ours(store, peer, ids),
            }
        }
        Content::Hello | Content::Read { .. } => {
            if let Err(err) = store.put_session(&peer, &state) {
                tracing::warn!(%peer, %err, "cannot store the ratchet state of a receipt");
                return Outcome::Refused(None);
            }
            let read = match content {
                Content::Read { ids } => mark_ours_read(store, peer, ids),
                _ => Vec::new(),
            };
            Outcome::Receipt {
                read,
                delivered: Vec::new(),
            }
        }
        Content::Text {
            message_id,
            sent_at_ms,
            sender_seq,
            reply_to,
            body,
        } => {
            if message_id != frame_id {
                return dropped("mismatched_id", peer);
            }
            let limit = usize::try_from(config.messages.max_bytes).unwrap_or(wire::MAX_BODY);
            if body.len() > limit {
                return dropped("oversize_body", peer);
            }
            let stored = store.record_incoming(
                &peer, &state, message_id, sender_seq, &body, reply_to, sent_at_ms, now_ms,
            );
            match stored {
                Ok(Incoming::New(record)) => Outcome::Stored {
                    sender_seq,
                    event: Box::new(Event::MessageReceived {
                        peer: peer.to_string(),
                        // Filled in for each subscriber at the control edge.
                        name: None,
                        message_id: hex(&record.message_id),
                        body: record.body,
                        sent_at: accord_api::format_rfc3339_ms(record.sent_at_ms),
                    }),
                },
                Ok(Incoming::Duplicate(_)) => Outcome::Duplicate,
                Ok(Incoming::Early { expected }) => {
                    tracing::debug!(%peer, sender_seq, expected, "a message came early");
                    Outcome::Early { sender_seq }
                }
                Err(err) => {
                    tracing::warn!(%peer, %err, "cannot store an incoming message");
                    Outcome::Refused(None)
                }
            }
        }
    }
}

/// Whether `id` is a message we sent to `peer`: an acknowledgement or a receipt speaks only
/// for those.
fn sent_by_us(store: &Store, peer: AccordId, id: &MessageId) -> bool {
    matches!(
        store.is_seen(&peer, id),
        Ok(Some(record)) if record.direction == Direction::Outgoing
    )
}

/// Completes the outbox entries of the messages an acknowledgement names, if they are ours
/// to that peer and still waiting; returns the ones completed.
fn complete_ours(store: &Store, peer: AccordId, ids: Vec<MessageId>) -> Vec<MessageId> {
    let mut delivered = Vec::new();
    for id in ids {
        if !sent_by_us(store, peer, &id) {
            continue;
        }
        match store.complete_outbox(&peer, &id, MessageState::Delivered) {
            Ok(Some(_)) => delivered.push(id),
            Ok(None) => {}
            Err(err) => tracing::warn!(%peer, %err, "cannot complete an acknowledged message"),
        }
    }
    delivered
}

/// Marks the messages a receipt names `read`, if they are ours to that peer (a receipt speaks
/// only for messages we sent it); returns the ones that changed.
fn mark_ours_read(store: &Store, peer: AccordId, ids: Vec<MessageId>) -> Vec<MessageId> {
    let mut read = Vec::new();
    for id in ids {
        if !sent_by_us(store, peer, &id) {
            continue;
        }
        match store.set_message_state(&peer, &id, MessageState::Read) {
            Ok(Some(_)) => read.push(id),
            Ok(None) => {}
            Err(err) => tracing::warn!(%peer, %err, "cannot mark a message read"),
        }
    }
    read
}
