//! The reorder buffer: incoming messages that overtook an earlier one of their conversation.
//!
//! A sender keeps a window of messages in flight, each on its own stream, and streams do not
//! always arrive in the order they were opened. The store takes a conversation's messages only
//! in sender order, so a message that comes early is held here, unanswered, and handed back as
//! soon as the one before it is stored. It is answered `early` (and the sender sends it again
//! later) only when the buffer is full or it waited longer than [`HOLD_MS`], which happens
//! when the earlier message was lost rather than late.

use std::collections::{BTreeMap, HashMap};

use accord_identity::AccordId;

/// How long a held message may wait for the one before it.
pub(crate) const HOLD_MS: u64 = 3_000;

/// The most messages held for one peer: twice the sender's window.
pub(crate) const MAX_HELD_PER_PEER: usize = 2 * super::outbox::WINDOW;

/// The most messages held for all peers together (each request is at most 128 KiB).
pub(crate) const MAX_HELD: usize = 256;

/// A request held until the gap before it is filled. `C` is where its answer goes (the
/// response channel; generic so that the buffer can be tested without a network).
#[derive(Debug)]
pub(crate) struct Held<C> {
    /// The request as it arrived; it is decrypted again when its turn comes.
    pub(crate) data: Vec<u8>,
    /// Where its answer goes.
    pub(crate) channel: C,
    /// When it arrived (unix ms).
    since_ms: u64,
}

/// The held requests, per peer, by sender sequence.
#[derive(Debug)]
pub(crate) struct ReorderBuffer<C> {
    held: HashMap<AccordId, BTreeMap<u64, Held<C>>>,
    count: usize,
}

impl<C> Default for ReorderBuffer<C> {
    fn default() -> Self {
        ReorderBuffer {
            held: HashMap::new(),
            count: 0,
        }
    }
}

impl<C> ReorderBuffer<C> {
    /// Holds a request with sender sequence `sender_seq`. Returns the channel of a request
    /// that must be answered `early` now instead: this one if there is no room, or an older
    /// copy of the same message, which this one replaces.
    pub(crate) fn hold(
        &mut self,
        peer: AccordId,
        sender_seq: u64,
        data: Vec<u8>,
        channel: C,
        now_ms: u64,
    ) -> Option<C> {
        let held = self.held.entry(peer).or_default();
        let replacing = held.contains_key(&sender_seq);
        if !replacing && (held.len() >= MAX_HELD_PER_PEER || self.count >= MAX_HELD) {
            return Some(channel);
        }
        let old = held.insert(
            sender_seq,
            Held {
                data,
                channel,
                since_ms: now_ms,
            },
        );
        match old {
            Some(old) => Some(old.channel),
            None => {
                self.count += 1;
                None
            }
        }
    }

    /// Takes the held request with `sender_seq` from `peer`, if there is one.
    pub(crate) fn take(&mut self, peer: &AccordId, sender_seq: u64) -> Option<Held<C>> {
        let held = self.held.get_mut(peer)?;
        let found = held.remove(&sender_seq)?;
        self.count -= 1;
        if held.is_empty() {
            self.held.remove(peer);
        }
        Some(found)
    }

    /// Removes the requests that waited longer than [`HOLD_MS`] and returns their channels,
    /// to be answered `early`.
    pub(crate) fn expire(&mut self, now_ms: u64) -> Vec<C> {
        let mut expired = Vec::new();
        for held in self.held.values_mut() {
            let stale: Vec<u64> = held
                .iter()
                .filter(|(_, h)| h.since_ms.saturating_add(HOLD_MS) <= now_ms)
                .map(|(seq, _)| *seq)
                .collect();
            for seq in stale {
                if let Some(h) = held.remove(&seq) {
                    expired.push(h.channel);
                }
            }
        }
        self.count -= expired.len();
        self.held.retain(|_, held| !held.is_empty());
        expired
    }

    /// When the oldest held request expires (unix ms), if any is held.
    pub(crate) fn next_expiry_ms(&self) -> Option<u64> {
        self.held
            .values()
            .flat_map(|held| held.values())
            .map(|h| h.since_ms.saturating_add(HOLD_MS))
            .min()
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
    fn holds_hands_back_in_order_and_expires() {
        let mut buffer = ReorderBuffer::<u32>::default();
        let (a, b) = (peer(1), peer(2));
        assert_eq!(buffer.hold(a, 3, vec![3], 30, 1_000), None);
        assert_eq!(buffer.hold(a, 4, vec![4], 40, 1_001), None);
        assert_eq!(buffer.hold(b, 9, vec![9], 90, 1_002), None);
        // A retransmission replaces the held copy; the old one is answered.
        assert_eq!(buffer.hold(a, 4, vec![4], 41, 1_003), Some(40));
        assert!(buffer.take(&a, 2).is_none());
        assert_eq!(buffer.take(&a, 3).map(|h| h.channel), Some(30));
        assert_eq!(
            buffer.take(&a, 4).map(|h| (h.data, h.channel)),
            Some((vec![4], 41))
        );
        assert!(buffer.take(&a, 4).is_none());
        assert_eq!(buffer.next_expiry_ms(), Some(1_002 + HOLD_MS));
        assert!(buffer.expire(1_002 + HOLD_MS - 1).is_empty());
        assert_eq!(buffer.expire(1_002 + HOLD_MS), vec![90]);
        assert_eq!(buffer.next_expiry_ms(), None);
    }

    #[test]
    fn a_full_buffer_refuses_the_newcomer() {
        let mut buffer = ReorderBuffer::<u64>::default();
        let a = peer(1);
        for seq in 0..MAX_HELD_PER_PEER as u64 {
            assert_eq!(buffer.hold(a, seq + 10, vec![], seq, 0), None);
        }
        assert_eq!(buffer.hold(a, 5, vec![], 999, 0), Some(999));
        // Other peers still have room until the global bound.
        let mut held = MAX_HELD_PER_PEER;
        let mut n = 2u8;
        while held < MAX_HELD {
            let p = peer(n);
            for seq in 0..MAX_HELD_PER_PEER as u64 {
                if held == MAX_HELD {
                    break;
                }
                assert_eq!(buffer.hold(p, seq, vec![], seq, 0), None);
                held += 1;
            }
            n += 1;
        }
        assert_eq!(buffer.hold(peer(200), 1, vec![], 7, 0), Some(7));
    }
}
