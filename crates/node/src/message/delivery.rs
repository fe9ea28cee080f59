//! The outbox: delivering queued messages, one at a time per peer, with back-off.

use accord_api::Event;
use accord_identity::AccordId;
use accord_store::{MessageId, MessageState, OutboxEntry};

use super::MessageMessage;
use super::actor::MessageActor;
use super::wire::{self, Status};
use crate::clock;
use crate::connect::hex;

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

impl MessageActor {
    /// Attempts every peer whose next outbox entry is due, and sets the next deadline.
    pub(super) async fn pump_due(&mut self) {
        let now = clock::now_ms();
        let Ok(outbox) = self.store.outbox().await else {
            return;
        };
        let mut first_per_peer: Vec<OutboxEntry> = Vec::new();
        for entry in outbox {
            if !first_per_peer.iter().any(|e| e.peer == entry.peer) {
                first_per_peer.push(entry);
            }
        }
        for entry in first_per_peer {
            if entry.next_attempt_at_ms <= now {
                self.attempt(entry).await;
            } else {
                self.note_retry(entry.next_attempt_at_ms);
            }
        }
    }

    /// Makes `peer`'s queue due now (it connected, or its channel changed) and attempts it.
    pub(super) async fn retry_now(&mut self, peer: AccordId) {
        if self.in_flight.contains(&peer) {
            // The delivery under way picks up the next message when it is answered.
            return;
        }
        let Ok(Some(mut first)) = self.store.next_outbox_for(&peer).await else {
            return;
        };
        let now = clock::now_ms();
        if first.next_attempt_at_ms > now {
            first.next_attempt_at_ms = now;
            let _ = self.store.update_outbox(&first).await;
        }
        self.attempt(first).await;
    }

    fn note_retry(&mut self, at_ms: u64) {
        self.next_retry_ms = Some(self.next_retry_ms.map_or(at_ms, |t| t.min(at_ms)));
    }

    /// Sends one outbox entry unless that peer already has one in flight.
    async fn attempt(&mut self, entry: OutboxEntry) {
        if self.in_flight.contains(&entry.peer) {
            return;
        }
        let active = matches!(
            self.store.connection(&entry.peer).await,
            Ok(Some(connection)) if connection.revoked_at_ms.is_none()
        );
        if !active {
            // Kept, but never sent to someone who is no longer a connection.
            return;
        }
        self.in_flight.insert(entry.peer);
        let net = self.net.clone();
        let store = self.store.clone();
        let tx = self.tx.clone();
        let (peer, message_id) = (entry.peer, entry.message_id);
        tokio::spawn(async move {
            // Finds a route first (connected, cached addresses, or a Kademlia lookup).
            let result = crate::reach::send_dm(&net, &store, peer, entry.envelope)
                .await
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

    /// The answer to a delivery: done, or schedule a retry.
    pub(super) async fn on_delivered(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        result: Result<Status, String>,
    ) {
        self.in_flight.remove(&peer);
        self.note_outcome(peer, &result);
        match result {
            Ok(Status::Stored | Status::Duplicate) => {
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
                // The next message for this peer, if any.
                if let Ok(Some(next)) = self.store.next_outbox_for(&peer).await {
                    self.attempt(next).await;
                }
            }
            Ok(Status::Refused) | Err(_) => {
                let reason = match &result {
                    Err(err) => err.clone(),
                    _ => "refused".to_owned(),
                };
                tracing::debug!(%peer, %reason, "delivery failed; will retry");
                if let Ok(entries) = self.store.outbox_for(&peer).await
                    && let Some(mut entry) =
                        entries.into_iter().find(|e| e.message_id == message_id)
                {
                    entry.attempts = entry.attempts.saturating_add(1);
                    entry.next_attempt_at_ms = clock::now_ms() + retry_delay(entry.attempts);
                    let _ = self.store.update_outbox(&entry).await;
                    self.note_retry(entry.next_attempt_at_ms);
                }
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
