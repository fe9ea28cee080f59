//! Deposits at the recipient's mailboxes: when a delivery fails because the recipient cannot
//! be reached, its envelope is handed to one of the recipient's mailboxes, and so is every
//! other message of the recipient's outbox, not only the window in flight: the outbox is
//! swept a page of [`DEPOSIT_PAGE`] at a time, the next page read once every deposit of the
//! previous one was answered. Each message is deposited once while the daemon runs; one whose
//! deposit failed (no mailbox took it, or a mailbox's share is used up) is tried again by the
//! sweep after the next failed delivery, and a failed deposit ends the sweep, so that a full
//! mailbox is not asked for the rest of the outbox. A message becomes `stored` once a mailbox
//! answered that it holds it. The outbox entry stays either way: only the recipient's
//! acknowledgement ends it, so a mailbox that loses the message costs time, never the message.

use std::collections::{HashMap, HashSet};

use accord_api::Event;
use accord_identity::AccordId;
use accord_store::{MessageId, StoreError};

use super::output::StoreJob;
use super::{MessageCore, MessageOutput};
use crate::hex::encode as hex;

/// The most messages remembered as deposited (a bound on memory; a message forgotten here is
/// at worst deposited again, which the mailbox recognises and stores once).
pub(crate) const MAX_DEPOSITED: usize = 65_536;

/// The most outbox entries a sweep reads, and deposits at once, per round.
pub(crate) const DEPOSIT_PAGE: usize = 64;

/// The most recipients whose outboxes are swept at once; a recipient past it is swept after
/// its next failed delivery.
pub(crate) const MAX_SWEEPS: usize = 256;

/// A sweep of one recipient's outbox, depositing every message of it.
#[derive(Debug, Default)]
struct Sweep {
    /// The last outbox entry read (`None`: none yet, start from the first).
    after: Option<u64>,
    /// The deposits of the current page not answered yet.
    pending: HashSet<MessageId>,
    /// Whether the last page read was full, so that more may follow it.
    more: bool,
    /// Whether a deposit of the current page failed: the sweep ends with the page.
    failed: bool,
    /// Whether another delivery failed while the sweep was under way: messages recorded
    /// after it read its last page would be missed, so it reads on from where it is.
    again: bool,
}

/// The messages handed to a mailbox (or being handed) since the daemon started, and the
/// sweeps under way.
#[derive(Debug, Default)]
pub(crate) struct Deposited {
    ids: HashSet<MessageId>,
    sweeps: HashMap<AccordId, Sweep>,
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

    /// Starts sweeping `peer`'s outbox; `false` if one is under way already or too many are.
    fn begin_sweep(&mut self, peer: AccordId) -> bool {
        if self.sweeps.contains_key(&peer) || self.sweeps.len() >= MAX_SWEEPS {
            return false;
        }
        self.sweeps.insert(peer, Sweep::default());
        true
    }

    /// `peer` answered a delivery: it is reachable, so its sweep (if any) ends.
    pub(crate) fn reached(&mut self, peer: &AccordId) {
        self.sweeps.remove(peer);
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
        if !unreachable {
            return;
        }
        if self.deposited.start(message_id) {
            self.out.push(MessageOutput::Deposit { peer, message_id });
        }
        // The rest of the outbox waits behind this one's back-off: deposit it too.
        if self.deposited.begin_sweep(peer) {
            self.next_deposit_page(peer, None);
        } else if let Some(sweep) = self.deposited.sweeps.get_mut(&peer) {
            sweep.again = true;
        }
    }

    fn next_deposit_page(&mut self, peer: AccordId, after: Option<u64>) {
        self.store(StoreJob::DepositPage {
            peer,
            after,
            limit: DEPOSIT_PAGE,
        });
    }

    /// A page of `peer`'s outbox was read for its sweep: deposit what was not deposited yet,
    /// and go on to the next page once those deposits are answered (at once if none is new).
    pub(super) fn on_deposit_page(
        &mut self,
        peer: AccordId,
        result: Result<Vec<(u64, MessageId)>, StoreError>,
    ) {
        let page = match result {
            Ok(page) => page,
            Err(err) => {
                // Swept again after the next failed delivery.
                self.note_store_failure("store_failed_outbox_read", &err);
                self.deposited.sweeps.remove(&peer);
                return;
            }
        };
        let Some(sweep) = self.deposited.sweeps.get_mut(&peer) else {
            // The recipient answered meanwhile.
            return;
        };
        sweep.more = page.len() >= DEPOSIT_PAGE;
        sweep.after = page.last().map(|(seq, _)| *seq).or(sweep.after);
        let mut fresh = Vec::new();
        for (_, message_id) in page {
            if self.deposited.start(message_id) {
                fresh.push(message_id);
            }
        }
        if let Some(sweep) = self.deposited.sweeps.get_mut(&peer) {
            sweep.pending.extend(fresh.iter().copied());
        }
        for message_id in fresh {
            self.out.push(MessageOutput::Deposit { peer, message_id });
        }
        self.sweep_on(peer);
    }

    /// Once every deposit of the current page is answered: the next page, or the end of the
    /// sweep (the outbox was read to its end, or a deposit failed).
    fn sweep_on(&mut self, peer: AccordId) {
        let Some(sweep) = self.deposited.sweeps.get(&peer) else {
            return;
        };
        if !sweep.pending.is_empty() {
            return;
        }
        if sweep.failed || !(sweep.more || sweep.again) {
            self.deposited.sweeps.remove(&peer);
            return;
        }
        let after = sweep.after;
        if !sweep.more
            && let Some(sweep) = self.deposited.sweeps.get_mut(&peer)
        {
            // At the end of the outbox, read on once for what was sent meanwhile.
            sweep.again = false;
        }
        self.next_deposit_page(peer, after);
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
                if let Some(sweep) = self.deposited.sweeps.get_mut(&peer) {
                    sweep.failed |= sweep.pending.contains(&message_id);
                }
            }
        }
        let answered = self
            .deposited
            .sweeps
            .get_mut(&peer)
            .is_some_and(|sweep| sweep.pending.remove(&message_id));
        if answered {
            self.sweep_on(peer);
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
