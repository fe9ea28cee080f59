//! Messages that arrive over `/accord/dm/1`. Everything is checked in order, cheapest first:
//! the frame, whether the sender is a connection (before any decryption), whether the message
//! was seen already, then decryption on a copy of the ratchet state. The answer is sent only
//! once the message and the new state are durable.

use accord_api::Event;
use accord_channel::Session;
use accord_identity::AccordId;
use accord_net::{PeerId, ResponseChannel};
use accord_store::{Direction, FlushTicket, Incoming, MessageState};

use super::actor::MessageActor;
use super::durable::AfterFlush;
use super::wire::{self, Content, Status};
use crate::clock;
use crate::hex::encode as hex;

/// How to answer a request: at once, once what it wrote is durable, or once the messages
/// before it have arrived.
enum Answer {
    /// Nothing waits for the disk.
    Now(Status),
    /// A duplicate: answered once the ticket resolves (the original is then durable).
    WhenDurable(FlushTicket, Status),
    /// A new text message, stored with this sender sequence: answered, and announced, once
    /// the ticket resolves.
    Stored {
        ticket: FlushTicket,
        event: Box<Event>,
        sender_seq: u64,
    },
    /// A text message that overtook an earlier one: held until the gap is filled.
    Hold { sender_seq: u64 },
}

impl MessageActor {
    /// Handles a `/accord/dm/1` request, and then every held request it lets through.
    pub(super) async fn on_incoming(
        &mut self,
        from: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let Ok(peer) = AccordId::from_peer_id(from) else {
            self.drop_message("not_an_accord_id", &from);
            self.respond(channel, Status::Refused).await;
            return;
        };
        let mut next = Some((data, channel));
        while let Some((data, channel)) = next.take() {
            match self.receive(peer, &data).await {
                Answer::Now(status) => self.respond(channel, status).await,
                Answer::WhenDurable(ticket, status) => self.after_flush(
                    ticket,
                    AfterFlush::Received {
                        channel,
                        status,
                        event: None,
                    },
                ),
                Answer::Stored {
                    ticket,
                    event,
                    sender_seq,
                } => {
                    self.after_flush(
                        ticket,
                        AfterFlush::Received {
                            channel,
                            status: Status::Stored,
                            event: Some(event),
                        },
                    );
                    next = self
                        .reorder
                        .take(&peer, sender_seq.saturating_add(1))
                        .map(|held| (held.data, held.channel));
                }
                Answer::Hold { sender_seq } => {
                    let now = clock::now_ms();
                    if let Some(refused) = self.reorder.hold(peer, sender_seq, data, channel, now) {
                        self.respond(refused, Status::Early).await;
                    }
                    if let Some(at) = self.reorder.next_expiry_ms() {
                        self.note_retry(at);
                    }
                }
            }
        }
    }

    async fn receive(&mut self, peer: AccordId, data: &[u8]) -> Answer {
        let (message_id, envelope) = match wire::decode_request(data) {
            Ok(parts) => parts,
            Err(err) => {
                self.drop_message("malformed", &format_args!("{peer}: {err}"));
                return Answer::Now(Status::Refused);
            }
        };
        // One store call answers the block check, checks 3 and 4, and reads the state for 5.
        // A store error refuses the message, so damage cannot let a blocked peer through.
        let context = match self.store.incoming_context(&peer, &message_id).await {
            Ok(context) => context,
            Err(err) => {
                tracing::warn!(%peer, %err, "cannot read the conversation of an incoming message");
                return Answer::Now(Status::Refused);
            }
        };
        // Everything from a blocked ID is dropped before any decryption.
        if context.blocked {
            self.drop_message("blocked", &peer);
            return Answer::Now(Status::Refused);
        }
        if !context.active {
            self.drop_message("not_a_connection", &peer);
            return Answer::Now(Status::Refused);
        }
        if context.seen {
            // Acknowledge a retransmission only once the original is certainly on disk, like
            // any answer: through the next group commit, without waiting for it here.
            return match self.store.flush_ticket().await {
                Ok(ticket) => Answer::WhenDurable(ticket, Status::Duplicate),
                Err(_) => Answer::Now(Status::Refused),
            };
        }
        let Some(state) = context.session else {
            self.drop_message("no_session", &peer);
            return Answer::Now(Status::Refused);
        };
        let Ok(mut session) = Session::from_own_bytes(&state) else {
            self.drop_message("unreadable_session", &peer);
            return Answer::Now(Status::Refused);
        };
        let now = clock::now_ms();
        // The session decrypts on a copy of its state and keeps it only on success, so a
        // forged or replayed envelope leaves the conversation as it was.
        // Validated when the config was loaded, so the fallback (the protocol's maximum,
        // the same bounds as before the key existed) is never taken.
        let limits = self.config.limits.skip().unwrap_or_default();
        let plaintext = match session.decrypt_within(envelope, now, limits) {
            Ok(plaintext) => plaintext,
            Err(err) => {
                self.drop_message("undecryptable", &format_args!("{peer}: {err}"));
                return Answer::Now(Status::Refused);
            }
        };
        match Content::decode(&plaintext) {
            Ok(content) => self.apply(peer, message_id, content, &session, now).await,
            Err(err) => {
                self.drop_message("malformed_content", &format_args!("{peer}: {err}"));
                Answer::Now(Status::Refused)
            }
        }
    }

    async fn apply(
        &mut self,
        peer: AccordId,
        frame_id: accord_store::MessageId,
        content: Content,
        session: &Session,
        now: u64,
    ) -> Answer {
        let state = session.to_bytes();
        match content {
            Content::Hello | Content::Read { .. } => {
                if self.store.put_session(&peer, &state).await.is_err() {
                    return Answer::Now(Status::Refused);
                }
                if let Content::Read { ids } = content {
                    for id in ids {
                        // A receipt speaks only for messages we sent to that peer.
                        let ours = matches!(
                            self.store.is_seen(&peer, &id).await,
                            Ok(Some(record)) if record.direction == Direction::Outgoing
                        );
                        if !ours {
                            continue;
                        }
                        let marked = self
                            .store
                            .set_message_state(&peer, &id, MessageState::Read)
                            .await;
                        if let Ok(Some(_)) = marked {
                            self.emit(Event::MessageRead {
                                peer: peer.to_string(),
                                message_id: hex(&id),
                            });
                        }
                    }
                }
                Answer::Now(Status::Stored)
            }
            Content::Text {
                message_id,
                sent_at_ms,
                sender_seq,
                reply_to,
                body,
            } => {
                if message_id != frame_id {
                    self.drop_message("mismatched_id", &peer);
                    return Answer::Now(Status::Refused);
                }
                let limit =
                    usize::try_from(self.config.messages.max_bytes).unwrap_or(wire::MAX_BODY);
                if body.len() > limit {
                    self.drop_message("oversize_body", &peer);
                    return Answer::Now(Status::Refused);
                }
                let stored = self
                    .store
                    .record_incoming(
                        &peer, &state, message_id, sender_seq, &body, reply_to, sent_at_ms, now,
                    )
                    .await;
                match stored {
                    Ok((Incoming::New(record), ticket)) => {
                        let event = Event::MessageReceived {
                            peer: peer.to_string(),
                            message_id: hex(&record.message_id),
                            body: record.body,
                            sent_at: accord_api::format_rfc3339_ms(record.sent_at_ms),
                        };
                        Answer::Stored {
                            ticket,
                            event: Box::new(event),
                            sender_seq,
                        }
                    }
                    Ok((Incoming::Duplicate(_), ticket)) => {
                        Answer::WhenDurable(ticket, Status::Duplicate)
                    }
                    Ok((Incoming::Early { expected }, _ticket)) => {
                        tracing::debug!(%peer, sender_seq, expected, "a message came early");
                        Answer::Hold { sender_seq }
                    }
                    Err(err) => {
                        tracing::warn!(%peer, %err, "cannot store an incoming message");
                        Answer::Now(Status::Refused)
                    }
                }
            }
        }
    }
}
