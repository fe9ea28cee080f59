//! The outbox entries the core already holds, so that a message the user sent can leave as
//! soon as its flush resolves, without reading the outbox back from the store.
//!
//! A peer's tail is *known* when every entry of its outbox on disk is either in flight or held
//! here. It becomes known when a read of the outbox head returns less than a window (so the
//! read saw the whole outbox) and left behind only entries that are due (the ones behind an
//! entry not yet flushed, or beyond a full window). From then on, every send recorded for the
//! peer adds its entry here, and filling the window after the send's flush takes from here.
//! Whatever puts an entry back on disk alone forgets the tail (a failed or early delivery, a
//! channel change, a read that found the peer inactive), and the next read of the head
//! rebuilds it. An entry completed behind the core's back (by a read receipt) can only be sent
//! once more, which the recipient answers as a duplicate.

use std::collections::{BTreeMap, HashMap};

use accord_identity::AccordId;
use accord_store::OutboxEntry;

use super::outbox::WINDOW;

/// The most entries held for one peer; past it the tail is forgotten and the store is read
/// again, so a slow peer cannot make the core hold its whole outbox.
pub(crate) const MAX_TAIL_PER_PEER: usize = 2 * WINDOW;

/// The most peers with a known tail; past it every tail is forgotten (and rebuilt on demand).
pub(crate) const MAX_TAIL_PEERS: usize = 1024;

/// The known tails, by peer (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Tails {
    known: HashMap<AccordId, BTreeMap<u64, OutboxEntry>>,
}

impl Tails {
    /// `peer`'s tail, if it is known.
    pub(crate) fn known_mut(&mut self, peer: &AccordId) -> Option<&mut BTreeMap<u64, OutboxEntry>> {
        self.known.get_mut(peer)
    }

    /// A send to `entry.peer` was recorded: held if the peer's tail is known.
    pub(crate) fn recorded(&mut self, entry: OutboxEntry) {
        let peer = entry.peer;
        if let Some(tail) = self.known.get_mut(&peer) {
            if tail.len() >= MAX_TAIL_PER_PEER {
                self.known.remove(&peer);
            } else {
                tail.insert(entry.local_seq, entry);
            }
        }
    }

    /// A read of `peer`'s outbox head returned `head_len` entries, of which the window fill
    /// left `left` behind, at `now_ms`: the tail is known from it if the read saw the whole
    /// outbox and everything left behind is due.
    pub(crate) fn read(
        &mut self,
        peer: AccordId,
        head_len: usize,
        left: Vec<OutboxEntry>,
        now_ms: u64,
    ) {
        let whole = head_len < WINDOW && left.len() <= MAX_TAIL_PER_PEER;
        if !whole || left.iter().any(|e| e.next_attempt_at_ms > now_ms) {
            self.known.remove(&peer);
            return;
        }
        if self.known.len() >= MAX_TAIL_PEERS && !self.known.contains_key(&peer) {
            self.known.clear();
        }
        let tail = left.into_iter().map(|e| (e.local_seq, e)).collect();
        self.known.insert(peer, tail);
    }

    /// Something about `peer`'s outbox happened that the tail does not follow: forget it.
    pub(crate) fn forget(&mut self, peer: &AccordId) {
        self.known.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_identity::Identity;
    use zeroize::Zeroizing;

    fn entry(peer: AccordId, n: u64, due: u64) -> OutboxEntry {
        OutboxEntry {
            outbox_seq: n,
            peer,
            message_id: [u8::try_from(n).unwrap_or_default(); 16],
            local_seq: n,
            envelope: vec![1],
            attempts: 0,
            next_attempt_at_ms: due,
        }
    }

    #[test]
    fn a_tail_is_known_only_from_a_whole_read_with_everything_due() {
        let a = Identity::from_seed(Zeroizing::new([1; 32])).id();
        let mut tails = Tails::default();
        tails.recorded(entry(a, 1, 0));
        assert!(tails.known_mut(&a).is_none(), "unknown until read");
        tails.read(a, WINDOW, Vec::new(), 0);
        assert!(tails.known_mut(&a).is_none(), "a full window may hide more");
        tails.read(a, 2, vec![entry(a, 2, 50)], 10);
        assert!(tails.known_mut(&a).is_none(), "one waits for its back-off");
        tails.read(a, 2, vec![entry(a, 2, 0)], 10);
        tails.recorded(entry(a, 3, 10));
        let seqs: Vec<u64> = tails
            .known_mut(&a)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default();
        assert_eq!(seqs, vec![2, 3]);
        for n in 4..=(MAX_TAIL_PER_PEER as u64 + 2) {
            tails.recorded(entry(a, n, 10));
        }
        assert!(
            tails.known_mut(&a).is_none(),
            "past its bound the tail is forgotten"
        );
    }
}
