//! What waits for the disk: answers held back until the store's group commit that holds what
//! they speak of, and the `accord send` answers that wait for their peers' windows.
//!
//! The store answers a job at once and hands the actor a flush ticket that resolves after the
//! group commit covering it. The core names the wait ([`MessageOutput::AwaitFlush`]) and keeps
//! what is to happen then here; the actor goes on with the next batch meanwhile, so that
//! messages arriving together share one fsync. Tickets resolve in the order their writes were
//! queued, and the actor hands them back in that order, so acknowledgements and events leave in
//! the order the messages were recorded.

use std::collections::HashSet;

use accord_api::{ErrorCode, Event, RemoteError, SendInfo};
use accord_identity::AccordId;
use accord_store::{MessageId, MessageState, StoreError};

use super::output::Fill;
use super::{FlushId, MessageCore, MessageOutput, ReplyToken, ResponseToken};
use crate::message::MessageReply;
use crate::message::wire::Status;

/// A message the user sent, recorded and waiting for its flush.
#[derive(Debug)]
pub(super) struct Sent {
    pub(super) reply: ReplyToken,
    pub(super) info: SendInfo,
    pub(super) peer: AccordId,
    pub(super) message_id: MessageId,
}

/// A request from a peer, answered once what it wrote is durable.
#[derive(Debug)]
pub(super) struct Received {
    pub(super) token: ResponseToken,
    pub(super) status: Status,
    /// What to tell subscribers once it is durable.
    pub(super) events: Vec<Event>,
}

/// What to do once a job's writes are durable.
#[derive(Debug)]
pub(super) enum AfterFlush {
    /// Messages the user sent were recorded: deliver them, then answer the `send` requests.
    Sent(Vec<Sent>),
    /// Requests from peers were recorded: acknowledge them, and tell subscribers.
    Received(Vec<Received>),
    /// Messages from this peer were marked read: send the receipts now owed.
    ReadMarked(AccordId),
    /// A read receipt was made with a ratchet state now written: send it.
    Receipt {
        peer: AccordId,
        frame: Vec<u8>,
        up_to: u64,
    },
}

impl AfterFlush {
    fn answers(&self) -> usize {
        match self {
            AfterFlush::Sent(sent) => sent.len(),
            AfterFlush::Received(received) => received.len(),
            AfterFlush::ReadMarked(_) | AfterFlush::Receipt { .. } => 1,
        }
    }
}

/// Durable sends whose answers wait: for the outbox heads of their peers to be read and their
/// windows filled (`heads` is how many reads are still to come), then, if one of them went to
/// a connection, for the swarm to say whether it is still live.
#[derive(Debug)]
pub(super) struct SentBatch {
    sent: Vec<Sent>,
    heads: usize,
}

impl MessageCore {
    /// The job whose result is being handled wrote what `then` needs durable.
    pub(super) fn await_flush(&mut self, then: AfterFlush) {
        let id = FlushId(self.next_id());
        self.awaiting_answers += then.answers();
        self.awaiting.insert(id, then);
        self.out.push(MessageOutput::AwaitFlush(id));
    }

    /// A job's writes became durable (or could not be made so): send what waited for them.
    pub(super) fn on_flushed(&mut self, id: FlushId, flushed: Result<(), StoreError>) {
        let Some(then) = self.awaiting.remove(&id) else {
            return;
        };
        self.awaiting_answers = self.awaiting_answers.saturating_sub(then.answers());
        match (then, flushed) {
            (AfterFlush::Sent(sent), Ok(())) => self.on_sent_flushed(sent),
            (AfterFlush::Sent(sent), Err(err)) => self.on_sent_lost(sent, &err),
            (AfterFlush::Received(received), Ok(())) => {
                for received in received {
                    for event in received.events {
                        self.emit(event);
                    }
                    self.respond(received.token, received.status);
                }
            }
            (AfterFlush::Received(received), Err(err)) => {
                tracing::warn!(%err, "incoming messages could not be made durable");
                for received in received {
                    self.respond(received.token, Status::Refused);
                }
            }
            (AfterFlush::ReadMarked(peer), Ok(())) => self.send_owed_receipts(peer),
            (AfterFlush::ReadMarked(_), Err(err)) => {
                // The receipts stay owed; they go out with the next read or connection.
                self.note_store_failure("store_failed_mark_read", &err);
            }
            (AfterFlush::Receipt { peer, frame, up_to }, Ok(())) => {
                self.out.push(MessageOutput::SendReceipt {
                    peer,
                    frame,
                    up_to_local_seq: up_to,
                });
            }
            (AfterFlush::Receipt { peer, .. }, Err(err)) => {
                self.receipts.answered(&peer);
                self.note_store_failure("store_failed_receipts", &err);
            }
        }
    }

    /// Sent messages could not be made durable: the outbox on disk may lack what the store
    /// answered for, so delivery stops until a restart, and the users are told.
    fn on_sent_lost(&mut self, sent: Vec<Sent>, err: &StoreError) {
        if self.outbox.halt() {
            tracing::error!(
                "delivery stopped: the outbox may hold messages that are not on disk; \
                 free space (or fix the disk) and restart the daemon"
            );
        }
        tracing::error!(%err, "sent messages could not be made durable");
        for sent in sent {
            self.outbox.flushed(&sent.message_id);
            self.reply(
                sent.reply,
                Err(RemoteError::new(
                    ErrorCode::Internal,
                    format!("the message could not be saved: {err}"),
                )),
            );
        }
    }

    /// Sent messages are durable: hand them to their peers' connections first, so that the
    /// answers can say `sent`, then answer the users (see [`SentBatch`]).
    fn on_sent_flushed(&mut self, sent: Vec<Sent>) {
        let mut peers = Vec::new();
        for sent in &sent {
            self.outbox.flushed(&sent.message_id);
            if !peers.contains(&sent.peer) {
                peers.push(sent.peer);
            }
        }
        let batch = self.next_id();
        let mut heads = 0;
        for peer in peers {
            if self.fill_window(peer, Fill::AfterSend(batch)) {
                heads += 1;
            }
        }
        self.answering.insert(batch, SentBatch { sent, heads });
        if heads == 0 {
            self.check_sent(batch);
        }
    }

    /// One outbox head a batch of sends waited for was read and its window filled.
    pub(super) fn sent_head_read(&mut self, batch: u64) {
        let Some(waiting) = self.answering.get_mut(&batch) else {
            return;
        };
        waiting.heads = waiting.heads.saturating_sub(1);
        if waiting.heads == 0 {
            self.check_sent(batch);
        }
    }

    /// Every window of the batch is filled. The actor learns of a closed connection by an
    /// event that may still be on its way, so if a message went to a connection, the swarm is
    /// asked whether it is still live before the answer says `sent`; otherwise the users are
    /// answered now.
    fn check_sent(&mut self, batch: u64) {
        let Some(waiting) = self.answering.get(&batch) else {
            return;
        };
        let mut peers = Vec::new();
        for sent in &waiting.sent {
            if self.outbox.is_sent(&sent.peer, &sent.message_id) && !peers.contains(&sent.peer) {
                peers.push(sent.peer);
            }
        }
        if peers.is_empty() {
            self.on_connected_checked(batch, &[]);
        } else {
            self.out
                .push(MessageOutput::CheckConnected { batch, peers });
        }
    }

    /// The swarm said which peers are live: forget the connections of the others, and answer
    /// the batch's sends, `sent` for those on a live connection.
    pub(super) fn on_connected_checked(&mut self, batch: u64, live: &[AccordId]) {
        let Some(waiting) = self.answering.remove(&batch) else {
            return;
        };
        let live: HashSet<AccordId> = live.iter().copied().collect();
        for sent in &waiting.sent {
            if !live.contains(&sent.peer) && self.outbox.is_sent(&sent.peer, &sent.message_id) {
                self.outbox.disconnected(&sent.peer);
            }
        }
        for Sent {
            reply,
            mut info,
            peer,
            message_id,
        } in waiting.sent
        {
            if live.contains(&peer) && self.outbox.is_sent(&peer, &message_id) {
                info.state = MessageState::Sent.to_string();
                info.reason = None;
            }
            self.reply(reply, Ok(MessageReply::Sent(info)));
        }
    }
}
