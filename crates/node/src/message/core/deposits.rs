//! Deposits at the recipient's mailboxes: when a delivery fails because the recipient cannot
//! be reached, its envelope is handed to one of the recipient's mailboxes (once per message
//! while the daemon runs), and the message becomes `stored` once a mailbox answered that it
//! holds it. The outbox entry stays either way: only the recipient's acknowledgement ends it,
//! so a mailbox that loses the message costs time, never the message.

use std::collections::HashSet;

use accord_api::Event;
use accord_identity::AccordId;
use accord_store::{MessageId, StoreError};

use super::output::StoreJob;
use super::{MessageCore, MessageOutput};
use crate::hex::encode as hex;

/// The most messages remembered as deposited (a bound on memory; a message forgotten here is
/// at worst deposited again, which the mailbox recognises and stores once).
pub(crate) const MAX_DEPOSITED: usize = 65_536;

/// The messages handed to a mailbox (or being handed) since the daemon started.
#[derive(Debug, Default)]
pub(crate) struct Deposited {
    ids: HashSet<MessageId>,
}

impl Deposited {
    /// Whether `id` should be deposited now; if so it is remembered as deposited.
    pub(crate) fn start(&mut self, id: MessageId) -> bool {
        if self.ids.len() >= MAX_DEPOSITED {
            self.ids.clear();
        }
        self.ids.insert(id)
    }

    /// The deposit failed: it may be tried again after the next failed delivery.
    pub(crate) fn failed(&mut self, id: &MessageId) {
        self.ids.remove(id);
    }

    /// The message left the outbox.
    pub(crate) fn done(&mut self, id: &MessageId) {
        self.ids.remove(id);
    }
}

impl MessageCore {
    /// A delivery of `message_id` to `peer` failed with `result`: if the peer could not be
    /// reached (rather than answering), deposit it at a mailbox of the peer's, once.
    pub(super) fn maybe_deposit(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        unreachable: bool,
    ) {
        if unreachable && self.deposited.start(message_id) {
            self.out.push(MessageOutput::Deposit { peer, message_id });
        }
    }

    /// A deposit was answered: held by a mailbox, the message becomes `stored`.
    pub(super) fn on_deposited(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        result: Result<(), String>,
    ) {
        match result {
            Ok(()) => {
                self.store(StoreJob::MarkStored { peer, message_id });
            }
            Err(reason) => {
                tracing::debug!(%peer, %reason, "no mailbox of the recipient took the message");
                self.deposited.failed(&message_id);
            }
        }
    }

    /// Our message `id` to `peer` was acknowledged through one of our mailboxes (its outbox
    /// entry is completed in the same job): the copies held in memory are forgotten.
    pub(super) fn acknowledged_elsewhere(&mut self, peer: AccordId, id: &MessageId) {
        self.outbox.dequeued(&peer);
        self.deposited.done(id);
        self.tails.forget(&peer);
    }

    /// The message was marked `stored` (or was already further along).
    pub(super) fn on_marked_stored(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        result: Result<bool, StoreError>,
    ) {
        match result {
            Ok(true) => self.emit(Event::MessageStored {
                peer: peer.to_string(),
                message_id: hex(&message_id),
            }),
            Ok(false) => {}
            Err(err) => self.note_store_failure("store_failed_mark_stored", &err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_deposited_once_until_a_deposit_fails() {
        let mut deposited = Deposited::default();
        assert!(deposited.start([1; 16]));
        assert!(!deposited.start([1; 16]), "once");
        deposited.failed(&[1; 16]);
        assert!(deposited.start([1; 16]), "again after a failure");
        deposited.done(&[1; 16]);
        assert!(deposited.start([1; 16]));
    }
}
