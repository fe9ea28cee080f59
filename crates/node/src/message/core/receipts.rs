//! When a read receipt goes out, without I/O.
//!
//! Reading a conversation marks its incoming messages read; a receipt naming them is then owed
//! to the sender until its node answers `stored`. What is owed lives in the store (the
//! conversation's acknowledged-receipts mark); what lives here is which peers have a receipt on
//! its way, so that there is one at a time per peer, and the rule for what to do with what is
//! owed.

use std::collections::HashSet;

use accord_identity::AccordId;

/// What to do with the receipts owed to a peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Owed {
    /// Nothing now: the peer is blocked (what it is owed stays owed until it is unblocked).
    Nothing,
    /// Nothing to send: move the acknowledged mark up to this local sequence (nothing was
    /// owed, or receipts are off and the mark just moves on).
    Acknowledge(u64),
    /// Send a receipt naming the owed messages, acknowledged up to this local sequence.
    Send(u64),
}

/// What to do with `owed` messages read up to `up_to`, for a peer that is `blocked` or not,
/// with receipts on or off.
pub(crate) fn decide(blocked: bool, owed: usize, up_to: u64, receipts_on: bool) -> Owed {
    if blocked {
        Owed::Nothing
    } else if owed == 0 || !receipts_on {
        Owed::Acknowledge(up_to)
    } else {
        Owed::Send(up_to)
    }
}

/// The peers with a receipt on its way.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    in_flight: HashSet<AccordId>,
}

impl Receipts {
    /// Whether a receipt is on its way to `peer` (then the next waits for its answer).
    pub(crate) fn busy(&self, peer: &AccordId) -> bool {
        self.in_flight.contains(peer)
    }

    /// A receipt is on its way to `peer` (from when it is made until it is answered).
    pub(crate) fn sent(&mut self, peer: AccordId) {
        self.in_flight.insert(peer);
    }

    /// `peer` answered its receipt (or did not, or it never left): the next one may go.
    pub(crate) fn answered(&mut self, peer: &AccordId) {
        self.in_flight.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_identity::Identity;
    use zeroize::Zeroizing;

    fn peer(n: u8) -> AccordId {
        Identity::from_seed(Zeroizing::new([n; 32])).id()
    }

    #[test]
    fn one_receipt_at_a_time_per_peer() {
        let mut receipts = Receipts::default();
        let (a, b) = (peer(1), peer(2));
        assert!(!receipts.busy(&a));
        receipts.sent(a);
        assert!(receipts.busy(&a));
        assert!(!receipts.busy(&b));
        receipts.answered(&a);
        assert!(!receipts.busy(&a));
    }

    #[test]
    fn owed_receipts_go_out_only_when_on_owed_and_not_blocked() {
        assert_eq!(decide(false, 3, 9, true), Owed::Send(9));
        assert_eq!(decide(false, 3, 9, false), Owed::Acknowledge(9));
        assert_eq!(decide(false, 0, 9, true), Owed::Acknowledge(9));
        assert_eq!(decide(true, 3, 9, true), Owed::Nothing);
        assert_eq!(decide(true, 0, 9, false), Owed::Nothing);
    }
}
