//! The sending side of the core: recording `accord send`s, filling the peers' windows from
//! their outbox heads, the answers to deliveries, the retry timer, and why deliveries failed.

use accord_api::{Event, QueuedInfo, RemoteError, SendInfo};
use accord_identity::AccordId;
use accord_store::{Direction, MessageId, MessageRecord, MessageState, OutboxEntry, StoreError};

use super::flush::{AfterFlush, Sent};
use super::input::{DeliveriesWritten, DeliveryAnswer, OutboxHead, SendsRecorded};
use super::outbox::{Answered, FIRST_RETRY_MS, WINDOW};
use super::output::{Fill, StoreJob};
use super::{MessageCore, MessageOutput, ReplyToken};
use crate::hex::encode as hex;
use crate::message::command::SendCommand;
use crate::message::wire::Status;
use crate::remote_error::internal;

impl MessageCore {
    /// `accord send`, every one queued at once: checked, encrypted and recorded with the new
    /// ratchet states in one store job.
    pub(super) fn on_sends(&mut self, sends: Vec<(ReplyToken, SendCommand)>, now_ms: u64) {
        let (replies, mut sends): (Vec<_>, Vec<_>) = sends.into_iter().unzip();
        for send in &mut sends {
            send.id = self.known.parse(&send.peer);
        }
        let queued = self.outbox.queued();
        self.store(StoreJob::RecordSends {
            replies,
            sends,
            queued,
            now_ms,
        });
    }

    /// The sends are recorded: the users are answered, and the envelopes leave, once the flush
    /// that holds them resolves.
    pub(super) fn on_sends_recorded(
        &mut self,
        replies: Vec<ReplyToken>,
        result: Result<SendsRecorded, StoreError>,
    ) {
        let (results, queued) = match result {
            Ok(recorded) => recorded,
            Err(err) => {
                self.note_store_failure("store_failed_send", &err);
                for reply in replies {
                    self.reply(reply, Err(internal(&err)));
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
                Ok((record, entry)) => {
                    self.tails.recorded(entry);
                    // Its outbox entry is readable at once, but its envelope must not leave
                    // before the ratchet state it was made with is on disk (see `Outbox`).
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
                Err(err) => self.reply(reply, Err::<_, RemoteError>(err)),
            }
        }
        if !recorded.is_empty() {
            self.await_flush(AfterFlush::Sent(recorded));
        }
    }

    /// Fills `peer`'s window, if it has room: after a send, from the entries already held if
    /// the peer's tail is known (see [`Tails`](super::outbox_tail::Tails)); otherwise by asking
    /// for its outbox head. Returns whether it asked.
    pub(super) fn fill_window(&mut self, peer: AccordId, fill: Fill) -> bool {
        if !self.outbox.has_room(&peer) {
            return false;
        }
        if let Fill::AfterSend(_) = fill
            && let Some(tail) = self.tails.known_mut(&peer)
        {
            for entry in self.outbox.take_ready(peer, tail) {
                self.deliver(entry);
            }
            return false;
        }
        self.store(StoreJob::OutboxHead { peer, fill });
        true
    }

    fn deliver(&mut self, entry: OutboxEntry) {
        self.out.push(MessageOutput::Deliver {
            peer: entry.peer,
            message_id: entry.message_id,
            frame: entry.envelope,
        });
    }

    /// `peer`'s outbox head: send its oldest entries not in flight yet, up to the window, in
    /// order (see [`Outbox::fill`](super::outbox::Outbox::fill)).
    pub(super) fn on_outbox_head(
        &mut self,
        peer: AccordId,
        fill: Fill,
        result: OutboxHead,
        now_ms: u64,
    ) {
        match result {
            Ok(Some(head)) => {
                let head_len = head.len();
                let (chosen, left) =
                    self.outbox
                        .fill_split(peer, head, now_ms, fill.cuts_backoff());
                self.tails.read(peer, head_len, left, now_ms);
                if fill == Fill::Connected && !chosen.is_empty() {
                    // Says that delivery is driven by the connection, not by the back-off
                    // timer (a test reads it).
                    tracing::info!(
                        "outbox: {peer} connected; retrying {} queued message(s) now",
                        chosen.len()
                    );
                }
                for entry in chosen {
                    self.deliver(entry);
                }
            }
            // Kept, but never sent to someone who is no longer a connection, nor while the
            // peer is blocked (unblocking sends it at once: the Connect actor signals
            // `ChannelChanged`).
            Ok(None) => self.tails.forget(&peer),
            Err(err) => {
                self.tails.forget(&peer);
                // Tried again at the next retry.
                self.note_store_failure("store_failed_outbox_read", &err);
                self.outbox
                    .note_retry(now_ms.saturating_add(FIRST_RETRY_MS));
            }
        }
        if let Fill::AfterSend(batch) = fill {
            self.sent_head_read(batch);
        }
    }

    /// The timer came: answer held messages that waited too long `early`, and fill every
    /// peer's window with what is due.
    pub(super) fn on_tick(&mut self, now_ms: u64) {
        self.outbox.take_retry();
        for token in self.reorder.expire(now_ms) {
            self.respond(token, Status::Early);
        }
        self.store(StoreJob::OutboxPeers);
    }

    /// The peers with something in their outbox.
    pub(super) fn on_outbox_peers(
        &mut self,
        result: Result<Vec<AccordId>, StoreError>,
        now_ms: u64,
    ) {
        match result {
            Ok(peers) => {
                for peer in peers {
                    self.fill_window(peer, Fill::Due);
                }
            }
            Err(err) => {
                // Tried again at the next retry.
                self.note_store_failure("store_failed_outbox_read", &err);
                self.outbox
                    .note_retry(now_ms.saturating_add(FIRST_RETRY_MS));
            }
        }
    }

    /// The answers to deliveries: done, sent again after the earlier ones, or retried later.
    /// A delivery is announced as soon as it is answered; its completion, the new schedules
    /// and the reads of the outbox heads to refill the windows go to the store as one job.
    pub(super) fn on_answers(&mut self, answers: Vec<DeliveryAnswer>, now_ms: u64) {
        let mut completed = Vec::new();
        let mut rescheduled = Vec::new();
        let mut refill = Vec::new();
        for (peer, message_id, result) in answers {
            let answered = self.outbox.on_answer(peer, message_id, &result, now_ms);
            if answered != Answered::Unknown {
                self.note_outcome(peer, &result);
            }
            if !matches!(answered, Answered::Unknown | Answered::Completed) {
                // The entry is back on disk alone, where the next read finds it.
                self.tails.forget(&peer);
            }
            match answered {
                Answered::Unknown | Answered::Wait => continue,
                Answered::Completed => {
                    self.on_delivered(peer, &message_id);
                    completed.push((peer, message_id));
                }
                Answered::Refill => {}
                Answered::Reschedule(schedule) => {
                    self.maybe_deposit(peer, message_id, result.is_err());
                    tracing::debug!(
                        %peer,
                        ?result,
                        "delivery failed (attempt {}); will retry",
                        schedule.attempts
                    );
                    rescheduled.push(*schedule);
                    continue;
                }
            }
            if !refill.contains(&peer) && self.outbox.has_room(&peer) {
                refill.push(peer);
            }
        }
        if !completed.is_empty() || !rescheduled.is_empty() || !refill.is_empty() {
            self.store(StoreJob::WriteDeliveries {
                completed,
                rescheduled,
                refill,
            });
        }
    }

    /// The peer answered that it has our message (it answers only once the message is durable
    /// on its side): tell subscribers now, ahead of our own write of the completion.
    fn on_delivered(&mut self, peer: AccordId, message_id: &MessageId) {
        self.outbox.dequeued(&peer);
        self.deposited.done(message_id);
        // It answered: whatever waits for it goes to it, not to its mailboxes.
        self.deposited.reached(&peer);
        self.emit(Event::MessageDelivered {
            peer: peer.to_string(),
            message_id: hex(message_id),
        });
    }

    /// The completions and schedules are written (or not: the entries stay in the outbox,
    /// go out again, and the recipient answers that it has them), and the heads to refill
    /// are read.
    pub(super) fn on_deliveries_written(
        &mut self,
        result: Result<DeliveriesWritten, StoreError>,
        now_ms: u64,
    ) {
        let written = match result {
            Ok(written) => written,
            Err(err) => {
                self.note_store_failure("store_failed_outbox_update", &err);
                // The windows are filled again at the next retry.
                self.outbox
                    .note_retry(now_ms.saturating_add(FIRST_RETRY_MS));
                return;
            }
        };
        let failures = written
            .completed
            .into_iter()
            .filter_map(Result::err)
            .chain(written.rescheduled.into_iter().filter_map(Result::err));
        for err in failures.collect::<Vec<_>>() {
            self.note_store_failure("store_failed_outbox_update", &err);
        }
        for (peer, head) in written.heads {
            self.on_outbox_head(peer, Fill::Due, head, now_ms);
        }
    }

    /// Records the outcome of a delivery attempt to `peer`.
    fn note_outcome(&mut self, peer: AccordId, result: &Result<Status, String>) {
        match result {
            // An early message reached the peer: it is only waiting for an earlier one.
            Ok(Status::Stored | Status::Duplicate | Status::Early) => {
                self.undelivered.remove(&peer);
            }
            Ok(Status::Refused) => {
                self.undelivered
                    .insert(peer, "refused by the peer".to_owned());
            }
            Err(reason) => {
                self.undelivered.insert(peer, reason.clone());
            }
        }
    }

    /// Every peer with a failed last attempt, and why.
    pub(super) fn undelivered_reasons(&self) -> Vec<QueuedInfo> {
        self.undelivered
            .iter()
            .map(|(peer, reason)| QueuedInfo {
                peer: peer.to_string(),
                reason: reason.clone(),
            })
            .collect()
    }

    /// The reason shown on a message in history: only for our own messages still queued.
    pub(super) fn queued_reason(&self, record: &MessageRecord) -> Option<String> {
        (self.shown_state(record) == MessageState::Queued)
            .then(|| self.undelivered.get(&record.peer).cloned())
            .flatten()
    }

    /// The state shown for a message: the stored one, except that one of ours stored as
    /// `queued` is `sent` while it is handed to a live connection and not answered (see
    /// [`Outbox::is_sent`](super::outbox::Outbox::is_sent)). `sent` is never stored.
    pub(super) fn shown_state(&self, record: &MessageRecord) -> MessageState {
        if record.direction == Direction::Outgoing
            && record.state == MessageState::Queued
            && self.outbox.is_sent(&record.peer, &record.message_id)
        {
            MessageState::Sent
        } else {
            record.state
        }
    }
}

/// The window is a fixed number of messages per peer; the reorder buffer's bound follows it.
const _: () = assert!(super::reorder::MAX_HELD_PER_PEER >= WINDOW);
