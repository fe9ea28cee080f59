//! When to send a mailbox announcement again that a connection did not take, without I/O.
//!
//! The announcement sent right when an invite is accepted can reach the other side before
//! it holds the connection itself, which then refuses it as a stranger's; and a connection
//! may be out of reach for a moment. Rather than waiting for the next time it connects or our
//! mailboxes change, the announcement is tried again after a short back-off, a bounded number
//! of times: [`FIRST_ANNOUNCE_RETRY_MS`], doubling, at most [`MAX_ANNOUNCE_ATTEMPTS`] tries in
//! all. Past that, the next connect or mailbox change sends it, as before.

use std::collections::HashMap;

use accord_identity::AccordId;

/// The wait before the first retry; each next waits twice as long.
pub(crate) const FIRST_ANNOUNCE_RETRY_MS: u64 = 1_000;

/// The most announcement attempts in a row, the first one included, before giving up until
/// the next connect or mailbox change (which then start again from the first retry).
pub(crate) const MAX_ANNOUNCE_ATTEMPTS: u32 = 5;

/// The most connections with a retry pending; a failure past it is not retried.
pub(crate) const MAX_ANNOUNCE_RETRIES: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Retry {
    /// The attempts that failed in a row.
    failed: u32,
    /// When the next is due (unix ms); `None` while one is under way.
    due_ms: Option<u64>,
}

/// The pending announcement retries, by connection.
#[derive(Debug, Default)]
pub(crate) struct AnnounceRetries {
    retries: HashMap<AccordId, Retry>,
}

impl AnnounceRetries {
    /// The announcement to `peer` was not taken at `now_ms`: schedules the next attempt, if
    /// the attempts are not used up. Returns whether one was scheduled.
    pub(crate) fn failed(&mut self, peer: AccordId, now_ms: u64) -> bool {
        if !self.retries.contains_key(&peer) && self.retries.len() >= MAX_ANNOUNCE_RETRIES {
            return false;
        }
        let retry = self.retries.entry(peer).or_insert(Retry {
            failed: 0,
            due_ms: None,
        });
        retry.failed = retry.failed.saturating_add(1);
        if retry.failed >= MAX_ANNOUNCE_ATTEMPTS {
            self.retries.remove(&peer);
            return false;
        }
        let factor = 1u64 << (retry.failed - 1).min(16);
        retry.due_ms = Some(now_ms.saturating_add(FIRST_ANNOUNCE_RETRY_MS.saturating_mul(factor)));
        true
    }

    /// The announcement to `peer` was taken (or there was nothing to announce): no retry.
    pub(crate) fn settled(&mut self, peer: &AccordId) {
        self.retries.remove(peer);
    }

    /// The connections whose retry is due at `now_ms`, now marked under way.
    pub(crate) fn due(&mut self, now_ms: u64) -> Vec<AccordId> {
        let mut due = Vec::new();
        for (peer, retry) in &mut self.retries {
            if retry.due_ms.is_some_and(|at| at <= now_ms) {
                retry.due_ms = None;
                due.push(*peer);
            }
        }
        due
    }

    /// When the earliest retry is due, if any.
    pub(crate) fn wake_at(&self) -> Option<u64> {
        self.retries.values().filter_map(|r| r.due_ms).min()
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
    fn a_refused_announcement_is_retried_after_a_doubling_back_off_a_bounded_number_of_times() {
        let (mut retries, a) = (AnnounceRetries::default(), peer(1));
        assert_eq!(retries.wake_at(), None);
        let mut now = 10_000;
        let mut waits = Vec::new();
        while retries.failed(a, now) {
            let due = retries
                .wake_at()
                .unwrap_or_else(|| panic!("a retry is due"));
            assert!(retries.due(due - 1).is_empty(), "not before it is due");
            assert_eq!(retries.due(due), vec![a]);
            assert_eq!(retries.wake_at(), None, "no wake-up while it is under way");
            waits.push(due - now);
            now = due;
        }
        assert_eq!(waits, vec![1_000, 2_000, 4_000, 8_000]);
        assert_eq!(
            waits.len() + 1,
            MAX_ANNOUNCE_ATTEMPTS as usize,
            "tries in all"
        );
        assert_eq!(retries.wake_at(), None, "given up");
        // A later failure (the next connect) starts again; a taken one ends the retries.
        assert!(retries.failed(a, now));
        assert_eq!(retries.wake_at(), Some(now + FIRST_ANNOUNCE_RETRY_MS));
        retries.settled(&a);
        assert_eq!(retries.wake_at(), None);
    }

    #[test]
    fn pending_retries_are_bounded() {
        let mut retries = AnnounceRetries::default();
        for n in 0..MAX_ANNOUNCE_RETRIES {
            let seed = u8::try_from(n % 256).unwrap_or_default();
            let mut bytes = [seed; 32];
            bytes[0] = u8::try_from(n / 256).unwrap_or_default();
            let id = Identity::from_seed(Zeroizing::new(bytes)).id();
            assert!(retries.failed(id, 0));
        }
        assert!(!retries.failed(peer(200), 0), "past the bound, not retried");
        assert_eq!(retries.retries.len(), MAX_ANNOUNCE_RETRIES);
    }
}
