//! Why queued messages are still queued: the reason of the last failed delivery per peer,
//! shown by `accord status` and on queued messages in `accord history`. Kept in memory only:
//! after a restart the next attempt says again.

use accord_api::QueuedInfo;
use accord_identity::AccordId;
use accord_store::{Direction, MessageRecord, MessageState};

use super::actor::MessageActor;
use super::wire::Status;

impl MessageActor {
    /// Records the outcome of a delivery attempt to `peer`.
    pub(super) fn note_outcome(&mut self, peer: AccordId, result: &Result<Status, String>) {
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
    /// [`Outbox::is_sent`](super::core::outbox::Outbox::is_sent)). `sent` is never stored.
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
