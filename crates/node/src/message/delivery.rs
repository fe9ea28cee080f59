//! The outbox's I/O: reading what is queued, handing it to the swarm, and writing what the
//! answers mean. Every decision (the window, the back-off, the retry on connect, what an
//! answer means) is [`Outbox`](super::core::outbox::Outbox)'s; this file only carries them out.

use std::future::Future;
use std::pin::Pin;

use accord_api::Event;
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetError};
use accord_store::{MessageId, MessageRecord, MessageState, OutboxEntry, StoreError};
use futures::stream::FuturesUnordered;

use super::MessageMessage;
use super::actor::MessageActor;
use super::core::outbox::{Answered, FIRST_RETRY_MS, WINDOW};
use super::wire::{self, Status};
use crate::clock;
use crate::hex::encode as hex;

/// The answer to one delivery attempt: the peer, the message, the swarm's result and the
/// request (kept to send it again by another route if the swarm could not dial the peer).
pub(super) type DeliveryAnswer = (AccordId, MessageId, Result<Vec<u8>, NetError>, Vec<u8>);

/// The answers of the deliveries under way. The actor polls them itself, so an answer costs
/// no task and no hop through its queue. `Sync` as well as `Send`, so that the actor, which
/// holds these, can still be borrowed across an await.
pub(super) type Deliveries =
    FuturesUnordered<Pin<Box<dyn Future<Output = DeliveryAnswer> + Send + Sync>>>;

/// What the outcome of a batch of delivery answers asks of the store.
type DeliveryWrites = (Vec<(AccordId, MessageId)>, Vec<OutboxEntry>);

/// What the store answered to [`DeliveryWrites`].
type DeliveryWritten = (
    Vec<Result<Option<MessageRecord>, StoreError>>,
    Vec<Result<bool, StoreError>>,
);

impl MessageActor {
    /// Fills every peer's window with what is due, answers held messages that waited too
    /// long, and sets the next deadline.
    pub(super) async fn pump_due(&mut self) {
        let expired = self
            .reorder
            .expire(clock::now_ms())
            .into_iter()
            .map(|channel| (channel, Status::Early))
            .collect();
        self.responder.send(expired).await;
        if let Some(at) = self.reorder.next_expiry_ms() {
            self.outbox.note_retry(at);
        }
        let peers = match self.store.outbox_peers().await {
            Ok(peers) => peers,
            Err(err) => {
                // Tried again at the next retry.
                self.note_store_failure("store_failed_outbox_read", &err);
                self.outbox
                    .note_retry(clock::now_ms().saturating_add(FIRST_RETRY_MS));
                return;
            }
        };
        for peer in peers {
            self.fill_window(peer, false).await;
        }
    }

    /// Makes `peer`'s queue due now (it connected, or its channel changed) and sends it.
    /// Returns how many messages left.
    pub(super) async fn retry_now(&mut self, peer: AccordId) -> usize {
        self.fill_window(peer, true).await
    }

    /// Sends `peer`'s oldest outbox entries that are not in flight yet, up to the window, in
    /// order. Without `now`, it stops at the first entry still waiting for its back-off, so
    /// that nothing overtakes it; with `now`, the back-off is cut short. Returns how many
    /// entries it sent.
    pub(super) async fn fill_window(&mut self, peer: AccordId, now: bool) -> usize {
        if !self.outbox.has_room(&peer) {
            return 0;
        }
        // `None`: kept, but never sent to someone who is no longer a connection, nor while the
        // peer is blocked (unblocking sends it at once: the Connect actor signals `ChannelChanged`).
        let head = match self.store.active_outbox_head(&peer, WINDOW).await {
            Ok(Some(head)) => head,
            Ok(None) => return 0,
            Err(err) => {
                // Tried again at the next retry.
                self.note_store_failure("store_failed_outbox_read", &err);
                self.outbox
                    .note_retry(clock::now_ms().saturating_add(FIRST_RETRY_MS));
                return 0;
            }
        };
        let chosen = self.outbox.fill(peer, head, clock::now_ms(), now);
        let sent = chosen.len();
        for entry in chosen {
            self.send_entry(entry).await;
        }
        sent
    }

    /// Sends one outbox entry; its answer comes back through [`MessageActor::deliveries`].
    ///
    /// The request is queued to the swarm here, in the actor, so that a window of messages
    /// leaves in order.
    async fn send_entry(&mut self, entry: OutboxEntry) {
        let (peer, message_id, envelope) = (entry.peer, entry.message_id, entry.envelope);
        let started = self
            .net
            .start_direct(DirectProtocol::Dm, peer.peer_id(), envelope.clone())
            .await;
        self.deliveries.push(Box::pin(async move {
            let answer = match started {
                Ok(response) => response.wait().await,
                Err(err) => Err(err),
            };
            (peer, message_id, answer, envelope)
        }));
    }

    /// Answers from the swarm. One that could not reach the peer with what the swarm knows is
    /// sent once more by another route (the address book's cached addresses, or a Kademlia
    /// lookup; see [`crate::reach`]) in a task of its own, which reports back through the
    /// queue; the rest are handled together.
    pub(super) async fn on_delivery_answers(&mut self, answers: Vec<DeliveryAnswer>) {
        let mut results = Vec::with_capacity(answers.len());
        for (peer, message_id, answer, envelope) in answers {
            let result = match answer {
                Ok(answer) => wire::decode_status(&answer).map_err(|err| err.to_string()),
                Err(NetError::Dial { .. }) => {
                    let (net, store, tx) = (self.net.clone(), self.store.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let result = crate::reach::send_dm(&net, &store, peer, envelope)
                            .await
                            .and_then(|answer| {
                                wire::decode_status(&answer).map_err(|err| err.to_string())
                            });
                        let _ = tx
                            .send(MessageMessage::Delivered {
                                peer,
                                message_id,
                                result,
                            })
                            .await;
                    });
                    continue;
                }
                Err(err) => Err(err.to_string()),
            };
            results.push((peer, message_id, result));
        }
        if !results.is_empty() {
            self.on_delivered_batch(results).await;
        }
    }

    /// The answers to deliveries: done, sent again after the earlier ones, or retried later.
    /// The completions and the new schedules go to the store as one job.
    pub(super) async fn on_delivered_batch(
        &mut self,
        results: Vec<(AccordId, MessageId, Result<Status, String>)>,
    ) {
        let mut completed = Vec::new();
        let mut rescheduled = Vec::new();
        let mut refill = Vec::new();
        let now = clock::now_ms();
        for (peer, message_id, result) in results {
            let answered = self.outbox.on_answer(peer, message_id, &result, now);
            if answered != Answered::Unknown {
                self.note_outcome(peer, &result);
            }
            match answered {
                Answered::Unknown | Answered::Wait => {}
                Answered::Completed => {
                    completed.push((peer, message_id));
                    if !refill.contains(&peer) {
                        refill.push(peer);
                    }
                }
                Answered::Refill => {
                    if !refill.contains(&peer) {
                        refill.push(peer);
                    }
                }
                Answered::Reschedule(schedule) => {
                    tracing::debug!(
                        %peer,
                        ?result,
                        "delivery failed (attempt {}); will retry",
                        schedule.attempts
                    );
                    rescheduled.push(*schedule);
                }
            }
        }
        if !completed.is_empty() || !rescheduled.is_empty() {
            self.write_delivery_outcomes((completed, rescheduled)).await;
        }
        for peer in refill {
            self.fill_window(peer, false).await;
        }
    }

    /// Completes the delivered outbox entries and stores the new schedules, in one job, and
    /// tells subscribers of each delivery. Neither is flushed on its own: a completion lost in
    /// a crash only sends the message again (the recipient answers that it has it), and a lost
    /// schedule only an earlier retry.
    async fn write_delivery_outcomes(&mut self, writes: DeliveryWrites) {
        let job = self
            .store
            .run(move |store| {
                let (completed, rescheduled) = &writes;
                let written: DeliveryWritten = (
                    completed
                        .iter()
                        .map(|(peer, id)| store.complete_outbox(peer, id, MessageState::Delivered))
                        .collect(),
                    rescheduled
                        .iter()
                        .map(|entry| store.update_outbox(entry))
                        .collect(),
                );
                Ok((writes, written))
            })
            .await;
        let ((completed, _), (done, schedules)) = match job {
            Ok(answer) => answer,
            Err(err) => {
                // The entries stay in the outbox: they go out again, and the recipient
                // answers that it has them.
                self.note_store_failure("store_failed_outbox_update", &err);
                return;
            }
        };
        for ((peer, message_id), done) in completed.into_iter().zip(done) {
            match done {
                Ok(Some(_)) => {
                    self.outbox.dequeued(&peer);
                    self.emit(Event::MessageDelivered {
                        peer: peer.to_string(),
                        message_id: hex(&message_id),
                    });
                }
                Ok(None) => {}
                Err(err) => self.note_store_failure("store_failed_outbox_update", &err),
            }
        }
        for schedule in schedules {
            if let Err(err) = schedule {
                self.note_store_failure("store_failed_outbox_update", &err);
            }
        }
    }
}
