//! The outbox: delivering queued messages, a window of them at a time per peer, with back-off.
//!
//! Up to [`WINDOW`] messages per peer are in flight at once, each a separate `/accord/dm/1`
//! request, so that throughput is not one message per round trip. They leave in the order they
//! were sent, and the recipient takes them only in that order (by sender sequence): one that
//! overtakes an earlier message is answered `early` and sent again once the earlier one is in.
//! A message that failed waits for its back-off, and the ones behind it wait with it, so the
//! order holds across failures too.

use accord_api::Event;
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetError};
use accord_store::{MessageId, MessageState, OutboxEntry};

use super::MessageMessage;
use super::actor::MessageActor;
use super::wire::{self, Status};
use crate::clock;
use crate::hex::encode as hex;

/// The most messages in flight to one peer. Enough to keep a loopback or LAN link busy while
/// the recipient's group commit batches them; small enough that a retransmitted window stays
/// cheap.
pub(super) const WINDOW: usize = 32;

/// The first retry after a failed delivery; each next waits twice as long up to the cap.
const FIRST_RETRY_MS: u64 = 1_000;

/// The longest wait between two delivery attempts while a peer stays unreachable. A peer
/// that connects is tried at once, whatever the schedule says.
const MAX_RETRY_MS: u64 = 60_000;

fn retry_delay(attempts: u32) -> u64 {
    let factor = 1u64
        .checked_shl(attempts.saturating_sub(1).min(16))
        .unwrap_or(u64::MAX);
    FIRST_RETRY_MS.saturating_mul(factor).min(MAX_RETRY_MS)
}

/// What the actor remembers of a delivery under way: enough to reschedule it without reading
/// the outbox again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flight {
    outbox_seq: u64,
    local_seq: u64,
    attempts: u32,
    /// Handed to a live connection to the peer (the message shows as `sent`).
    on_connection: bool,
}

impl MessageActor {
    /// Fills every peer's window with what is due, answers held messages that waited too
    /// long, and sets the next deadline.
    pub(super) async fn pump_due(&mut self) {
        for channel in self.reorder.expire(clock::now_ms()) {
            self.respond(channel, Status::Early).await;
        }
        if let Some(at) = self.reorder.next_expiry_ms() {
            self.note_retry(at);
        }
        let Ok(peers) = self.store.outbox_peers().await else {
            return;
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

    /// Whether our message `message_id` to `peer` is `sent`: handed to a live connection to
    /// the peer and not answered yet. Kept in memory only: after a restart an unanswered
    /// message is `queued` again until it is handed to a connection anew.
    pub(super) fn is_sent(&self, peer: &AccordId, message_id: &MessageId) -> bool {
        self.connected.contains(peer)
            && self
                .in_flight
                .get(peer)
                .and_then(|flights| flights.get(message_id))
                .is_some_and(|flight| flight.on_connection)
    }

    pub(super) fn note_retry(&mut self, at_ms: u64) {
        self.next_retry_ms = Some(self.next_retry_ms.map_or(at_ms, |t| t.min(at_ms)));
    }

    /// Sends `peer`'s oldest outbox entries that are not in flight yet, up to the window, in
    /// order. Without `now`, it stops at the first entry still waiting for its back-off, so
    /// that nothing overtakes it; with `now`, the back-off is cut short. Returns how many
    /// entries it sent.
    pub(super) async fn fill_window(&mut self, peer: AccordId, now: bool) -> usize {
        if self.delivery_halted {
            return 0;
        }
        let flying = self.in_flight.get(&peer).map_or(0, |f| f.len());
        if flying >= WINDOW {
            return 0;
        }
        // `None`: kept, but never sent to someone who is no longer a connection, nor while the
        // peer is blocked (unblocking sends it at once: the Connect actor signals `ChannelChanged`).
        let Ok(Some(head)) = self.store.active_outbox_head(&peer, WINDOW).await else {
            return 0;
        };
        let at = clock::now_ms();
        // The swarm sends a request to a connected peer over that connection at once.
        let on_connection = self.connected.contains(&peer);
        let mut sent = 0;
        for entry in head {
            let flights = self.in_flight.entry(peer).or_default();
            if flights.contains_key(&entry.message_id) {
                continue;
            }
            // Not on disk yet: it leaves once its flush resolves (which fills the window
            // again), and nothing behind it may overtake it.
            if self.unflushed.contains(&entry.message_id) {
                break;
            }
            if flights.len() >= WINDOW {
                break;
            }
            if !now && entry.next_attempt_at_ms > at {
                self.note_retry(entry.next_attempt_at_ms);
                break;
            }
            flights.insert(
                entry.message_id,
                Flight {
                    outbox_seq: entry.outbox_seq,
                    local_seq: entry.local_seq,
                    attempts: entry.attempts,
                    on_connection,
                },
            );
            self.send_entry(entry).await;
            sent += 1;
        }
        sent
    }

    /// Sends one outbox entry; the answer comes back as [`MessageMessage::Delivered`].
    ///
    /// The request is queued to the swarm here, in the actor, so that a window of messages
    /// leaves in order; only the wait for the answer runs in a task of its own. If the swarm
    /// cannot reach the peer with what it knows, that task finds a route (see
    /// [`crate::reach`]) and sends once more.
    async fn send_entry(&self, entry: OutboxEntry) {
        let (net, store, tx) = (self.net.clone(), self.store.clone(), self.tx.clone());
        let (peer, message_id, envelope) = (entry.peer, entry.message_id, entry.envelope);
        let started = self
            .net
            .start_direct(DirectProtocol::Dm, peer.peer_id(), envelope.clone())
            .await;
        tokio::spawn(async move {
            let first = match started {
                Ok(response) => response.wait().await,
                Err(err) => Err(err),
            };
            let result = match first {
                Ok(answer) => Ok(answer),
                // Not reachable with what the swarm knows: find a route (the address book's
                // cached addresses, or a Kademlia lookup) and try once more.
                Err(NetError::Dial { .. }) => {
                    crate::reach::send_dm(&net, &store, peer, envelope).await
                }
                Err(err) => Err(err.to_string()),
            }
            .and_then(|answer| wire::decode_status(&answer).map_err(|err| err.to_string()));
            let _ = tx
                .send(MessageMessage::Delivered {
                    peer,
                    message_id,
                    result,
                })
                .await;
        });
    }

    /// The answer to a delivery: done, sent again after the earlier ones, or retried later.
    pub(super) async fn on_delivered(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        result: Result<Status, String>,
    ) {
        let Some(flight) = self
            .in_flight
            .get_mut(&peer)
            .and_then(|flights| flights.remove(&message_id))
        else {
            return;
        };
        self.note_outcome(peer, &result);
        match result {
            Ok(Status::Stored | Status::Duplicate) => {
                // Not flushed on its own: if this is lost in a crash, the message goes out
                // again and the recipient answers that it has it.
                let done = self
                    .store
                    .complete_outbox(&peer, &message_id, MessageState::Delivered)
                    .await;
                if let Ok(Some(_)) = done {
                    self.emit(Event::MessageDelivered {
                        peer: peer.to_string(),
                        message_id: hex(&message_id),
                    });
                }
                self.fill_window(peer, false).await;
            }
            Ok(Status::Early) => {
                // An earlier message is still on its way; its answer refills the window. If
                // none is, the earlier one was answered first and this one can go again now.
                let earlier_in_flight = self
                    .in_flight
                    .get(&peer)
                    .is_some_and(|f| f.values().any(|e| e.local_seq < flight.local_seq));
                if !earlier_in_flight {
                    self.fill_window(peer, false).await;
                }
            }
            Ok(Status::Refused) | Err(_) => {
                let reason = match &result {
                    Err(err) => err.clone(),
                    _ => "refused".to_owned(),
                };
                let attempts = flight.attempts.saturating_add(1);
                tracing::debug!(%peer, %reason, "delivery failed (attempt {attempts}); will retry");
                let next_attempt_at_ms = clock::now_ms() + retry_delay(attempts);
                let schedule = OutboxEntry {
                    outbox_seq: flight.outbox_seq,
                    peer,
                    message_id,
                    local_seq: flight.local_seq,
                    // Ignored: only the schedule is updated; the stored envelope is kept.
                    envelope: Vec::new(),
                    attempts,
                    next_attempt_at_ms,
                };
                let _ = self.store.update_outbox(&schedule).await;
                self.note_retry(next_attempt_at_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_cap() {
        assert_eq!(retry_delay(1), 1_000);
        assert_eq!(retry_delay(2), 2_000);
        assert_eq!(retry_delay(6), 32_000);
        assert_eq!(retry_delay(7), MAX_RETRY_MS);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_MS);
    }
}
