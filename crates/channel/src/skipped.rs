//! The skipped-message-key store: keys of messages that have not arrived yet (out-of-order
//! delivery), bounded in number, in chains and in age.
//!
//! - at most [`MAX_SKIPPED_KEYS`] keys in all; adding one more evicts the oldest (first added);
//! - keys of at most [`MAX_SKIPPED_CHAINS`] receiving chains; keys of a sixth chain evict all
//!   keys of the chain remembered longest;
//! - a key older than [`SKIPPED_KEY_TTL_MS`] (by the `now_ms` passed in) is deleted.
//!
//! (The bound of [`crate::MAX_SKIP`] keys per header is checked by the ratchet, before any key
//! is derived.) Each key sits in its own heap box, so growing the queue moves only pointers
//! and never leaves a stale copy of a key in freed memory; every key is wiped when dropped.

use std::collections::VecDeque;
use std::fmt;

use crate::message_key::MessageKey;

/// The most skipped message keys a session keeps.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// The most receiving chains whose skipped keys a session keeps.
pub const MAX_SKIPPED_CHAINS: usize = 5;
/// How long a skipped message key is kept: 7 days, in milliseconds.
pub const SKIPPED_KEY_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// One stored key: for message `number` of the chain of the peer's ratchet key `chain`.
#[derive(Clone)]
pub(crate) struct SkippedKey {
    pub(crate) chain: [u8; 32],
    pub(crate) number: u32,
    pub(crate) key: Box<MessageKey>,
    pub(crate) created_ms: u64,
}

/// The store. Invariants (checked when a serialised state is loaded): every entry's chain is
/// in `chains`, every chain in `chains` has an entry, no chain or (chain, number) repeats, and
/// the bounds above hold.
#[derive(Clone, Default)]
pub(crate) struct SkippedKeys {
    /// The peer ratchet keys of the remembered chains, oldest first.
    pub(crate) chains: VecDeque<[u8; 32]>,
    /// The keys, oldest (first added) first.
    pub(crate) entries: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the key of message `number` of chain `chain` is stored.
    pub(crate) fn contains(&self, chain: &[u8; 32], number: u32) -> bool {
        self.entries
            .iter()
            .any(|e| &e.chain == chain && e.number == number)
    }

    /// Removes and returns the key of message `number` of chain `chain`, if stored.
    pub(crate) fn take(&mut self, chain: &[u8; 32], number: u32) -> Option<MessageKey> {
        let index = self
            .entries
            .iter()
            .position(|e| &e.chain == chain && e.number == number)?;
        let entry = self.entries.remove(index)?;
        self.forget_chain_if_empty(chain);
        Some((*entry.key).clone())
    }

    /// Stores a key, evicting the oldest chain or keys if a bound would be exceeded: at most
    /// `max_keys` keys are kept (the caller passes at most [`MAX_SKIPPED_KEYS`]).
    pub(crate) fn insert(
        &mut self,
        chain: [u8; 32],
        number: u32,
        key: MessageKey,
        now_ms: u64,
        max_keys: usize,
    ) {
        if !self.chains.contains(&chain) {
            if self.chains.len() == MAX_SKIPPED_CHAINS
                && let Some(oldest) = self.chains.pop_front()
            {
                self.entries.retain(|e| e.chain != oldest);
            }
            self.chains.push_back(chain);
        }
        self.entries.push_back(SkippedKey {
            chain,
            number,
            key: Box::new(key),
            created_ms: now_ms,
        });
        while self.entries.len() > max_keys.min(MAX_SKIPPED_KEYS) {
            if let Some(evicted) = self.entries.pop_front() {
                self.forget_chain_if_empty(&evicted.chain);
            }
        }
    }

    /// Deletes every key created [`SKIPPED_KEY_TTL_MS`] or more before `now_ms`. A key
    /// "created in the future" (the clock moved back) is kept until it is that old.
    pub(crate) fn purge_expired(&mut self, now_ms: u64) {
        let before = self.entries.len();
        self.entries
            .retain(|e| now_ms.saturating_sub(e.created_ms) < SKIPPED_KEY_TTL_MS);
        if self.entries.len() != before {
            let entries = &self.entries;
            self.chains
                .retain(|chain| entries.iter().any(|e| &e.chain == chain));
        }
    }

    fn forget_chain_if_empty(&mut self, chain: &[u8; 32]) {
        if !self.entries.iter().any(|e| &e.chain == chain) {
            self.chains.retain(|c| c != chain);
        }
    }
}

impl fmt::Debug for SkippedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkippedKeys")
            .field("keys", &self.entries.len())
            .field("chains", &self.chains.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    fn key(n: u32) -> MessageKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        MessageKey::from_bytes(bytes)
    }

    #[test]
    fn take_removes_and_forgets_empty_chains() {
        let mut store = SkippedKeys::default();
        store.insert([1; 32], 0, key(0), 10, MAX_SKIPPED_KEYS);
        store.insert([1; 32], 1, key(1), 10, MAX_SKIPPED_KEYS);
        assert_eq!(
            store.take(&[1; 32], 0).unwrap().as_bytes(),
            key(0).as_bytes()
        );
        assert!(store.take(&[1; 32], 0).is_none());
        assert!(store.take(&[2; 32], 1).is_none());
        assert_eq!(store.chains.len(), 1);
        assert!(store.take(&[1; 32], 1).is_some());
        assert_eq!(store.len(), 0);
        assert!(store.chains.is_empty());
    }

    #[test]
    fn bounded_in_keys_oldest_evicted() {
        let mut store = SkippedKeys::default();
        for n in 0..(MAX_SKIPPED_KEYS as u32 + 10) {
            store.insert([1; 32], n, key(n), 0, MAX_SKIPPED_KEYS);
        }
        assert_eq!(store.len(), MAX_SKIPPED_KEYS);
        assert!(store.take(&[1; 32], 9).is_none());
        assert!(store.take(&[1; 32], 10).is_some());
        assert!(store.take(&[1; 32], MAX_SKIPPED_KEYS as u32 + 9).is_some());
    }

    #[test]
    fn bounded_in_chains_oldest_chain_evicted() {
        let mut store = SkippedKeys::default();
        for chain in 0..=MAX_SKIPPED_CHAINS as u8 {
            store.insert([chain; 32], 0, key(0), 0, MAX_SKIPPED_KEYS);
            store.insert([chain; 32], 1, key(1), 0, MAX_SKIPPED_KEYS);
        }
        assert_eq!(store.chains.len(), MAX_SKIPPED_CHAINS);
        assert_eq!(store.len(), 2 * MAX_SKIPPED_CHAINS);
        assert!(store.take(&[0; 32], 0).is_none());
        assert!(store.take(&[1; 32], 0).is_some());
        assert!(store.take(&[MAX_SKIPPED_CHAINS as u8; 32], 1).is_some());
    }

    #[test]
    fn expires_after_seven_days() {
        let mut store = SkippedKeys::default();
        store.insert([1; 32], 0, key(0), 1_000, MAX_SKIPPED_KEYS);
        store.insert([2; 32], 0, key(0), 5_000, MAX_SKIPPED_KEYS);
        store.purge_expired(1_000 + SKIPPED_KEY_TTL_MS - 1);
        assert_eq!(store.len(), 2);
        store.purge_expired(1_000 + SKIPPED_KEY_TTL_MS);
        assert_eq!(store.len(), 1);
        assert_eq!(store.chains.len(), 1);
        // A clock that moved backwards does not expire anything.
        store.purge_expired(0);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn debug_shows_counts_only() {
        let mut store = SkippedKeys::default();
        store.insert(
            [1; 32],
            0,
            MessageKey::from_bytes([0xAB; 32]),
            0,
            MAX_SKIPPED_KEYS,
        );
        let shown = format!("{store:?}");
        assert_eq!(shown, "SkippedKeys { keys: 1, chains: 1 }");
    }
}
