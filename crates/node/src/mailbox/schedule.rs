//! The mailbox decisions, without I/O: when to fetch from each of our mailboxes, what state
//! each is in, and which connection to choose automatically. Time comes in as an argument,
//! so every decision is testable on a fixed clock; the actor sleeps until [`Schedule::wake_at`]
//! and polls nothing.

use std::collections::{BTreeMap, HashMap};

use accord_identity::AccordId;

/// After a fetch that found mail still waiting for an earlier message, the next one.
pub(crate) const EARLY_RETRY_MS: u64 = 5_000;

/// The first wait after a fetch that reached the mailbox and found nothing more, or that
/// could not reach it; each next waits twice as long, up to [`MAX_FETCH_WAIT_MS`].
pub(crate) const FIRST_FETCH_WAIT_MS: u64 = 30_000;

/// The longest wait between two fetches (a mailbox that connects is fetched from at once).
pub(crate) const MAX_FETCH_WAIT_MS: u64 = 30 * 60_000;

/// How long a connection must have been seen online before it is chosen automatically.
pub(crate) const MIN_UPTIME_MS: u64 = 10 * 60_000;

/// The most mailboxes a node uses.
pub(crate) const MAX_OWN: usize = 2;

/// What we know of a mailbox's reachability since the daemon started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Not tried yet.
    Unknown,
    /// It answered the last time.
    Reachable,
    /// It could not be reached the last time.
    Unreachable,
    /// It answered that it does not serve as a mailbox.
    Refusing,
}

impl Reach {
    /// The name `accord mailbox` shows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reach::Unknown => "unknown",
            Reach::Reachable => "reachable",
            Reach::Unreachable => "unreachable",
            Reach::Refusing => "refusing",
        }
    }
}

/// How a fetch round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// The mailbox answered; `early`: some mail waits for an earlier message.
    Reached { early: bool },
    /// It could not be reached.
    Unreachable,
    /// It does not serve.
    Refusing,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    reach: Reach,
    next_fetch_ms: u64,
    waits: u32,
    busy: bool,
}

/// Observed time online of one connection.
#[derive(Debug, Clone, Copy, Default)]
struct Uptime {
    since_ms: Option<u64>,
    total_ms: u64,
}

/// The fetch schedule of our mailboxes and the uptime observed of our connections.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    mailboxes: BTreeMap<AccordId, Entry>,
    uptime: HashMap<AccordId, Uptime>,
}

/// The most connections whose uptime is tracked (the rest are simply not candidates).
const MAX_TRACKED: usize = 4096;

fn wait_after(waits: u32) -> u64 {
    let factor = 1u64.checked_shl(waits.min(16)).unwrap_or(u64::MAX);
    FIRST_FETCH_WAIT_MS
        .saturating_mul(factor)
        .min(MAX_FETCH_WAIT_MS)
}

impl Schedule {
    /// Our mailboxes are now `ids`: new ones are fetched from at once, dropped ones forgotten.
    pub(crate) fn set_mailboxes(&mut self, ids: &[AccordId], now_ms: u64) {
        self.mailboxes.retain(|id, _| ids.contains(id));
        for id in ids {
            self.mailboxes.entry(*id).or_insert(Entry {
                reach: Reach::Unknown,
                next_fetch_ms: now_ms,
                waits: 0,
                busy: false,
            });
        }
    }

    /// The mailboxes due for a fetch at `now_ms`, now marked busy until [`Schedule::fetched`].
    pub(crate) fn due(&mut self, now_ms: u64) -> Vec<AccordId> {
        let mut due = Vec::new();
        for (id, entry) in &mut self.mailboxes {
            if !entry.busy && entry.next_fetch_ms <= now_ms {
                entry.busy = true;
                due.push(*id);
            }
        }
        due
    }

    /// A fetch round from `id` ended.
    pub(crate) fn fetched(&mut self, id: &AccordId, outcome: Fetched, now_ms: u64) {
        let Some(entry) = self.mailboxes.get_mut(id) else {
            return;
        };
        entry.busy = false;
        let wait = match outcome {
            Fetched::Reached { early: true } => {
                entry.reach = Reach::Reachable;
                entry.waits = 0;
                EARLY_RETRY_MS
            }
            Fetched::Reached { early: false } => {
                // Mail comes here only while we cannot be reached, so a quiet mailbox is
                // asked less and less often.
                let wait = if entry.reach == Reach::Reachable {
                    wait_after(entry.waits)
                } else {
                    FIRST_FETCH_WAIT_MS
                };
                entry.reach = Reach::Reachable;
                entry.waits = entry.waits.saturating_add(1);
                wait
            }
            Fetched::Unreachable => {
                entry.reach = Reach::Unreachable;
                let wait = wait_after(entry.waits);
                entry.waits = entry.waits.saturating_add(1);
                wait
            }
            Fetched::Refusing => {
                entry.reach = Reach::Refusing;
                MAX_FETCH_WAIT_MS
            }
        };
        entry.next_fetch_ms = now_ms.saturating_add(wait);
    }

    /// A peer connected: a mailbox among them is fetched from at once. Returns whether it is
    /// one of ours.
    pub(crate) fn connected(&mut self, id: AccordId, now_ms: u64) -> bool {
        if self.uptime.len() < MAX_TRACKED || self.uptime.contains_key(&id) {
            let uptime = self.uptime.entry(id).or_default();
            uptime.since_ms.get_or_insert(now_ms);
        }
        match self.mailboxes.get_mut(&id) {
            Some(entry) => {
                entry.next_fetch_ms = now_ms;
                entry.waits = 0;
                true
            }
            None => false,
        }
    }

    /// Fetches (and so registers) from every mailbox not under way at once: our
    /// connections changed.
    pub(crate) fn refresh_all(&mut self, now_ms: u64) {
        for entry in self.mailboxes.values_mut() {
            entry.next_fetch_ms = entry.next_fetch_ms.min(now_ms);
        }
    }

    /// A peer's last connection closed.
    pub(crate) fn disconnected(&mut self, id: &AccordId, now_ms: u64) {
        if let Some(uptime) = self.uptime.get_mut(id)
            && let Some(since) = uptime.since_ms.take()
        {
            uptime.total_ms = uptime.total_ms.saturating_add(now_ms.saturating_sub(since));
        }
    }

    /// When the actor should wake next: the earliest fetch due that is not under way.
    pub(crate) fn wake_at(&self) -> Option<u64> {
        self.mailboxes
            .values()
            .filter(|e| !e.busy)
            .map(|e| e.next_fetch_ms)
            .min()
    }

    /// How many mailboxes we have.
    pub(crate) fn mailbox_count(&self) -> usize {
        self.mailboxes.len()
    }

    /// When a connection online now will have been seen online for [`MIN_UPTIME_MS`] (the
    /// next moment the automatic choice could change), if that is after `now_ms` and we have
    /// room for a mailbox.
    pub(crate) fn auto_check_at(&self, now_ms: u64) -> Option<u64> {
        if self.mailboxes.len() >= MAX_OWN {
            return None;
        }
        self.uptime
            .values()
            .filter_map(|u| {
                let since = u.since_ms?;
                let at = since.saturating_add(MIN_UPTIME_MS.checked_sub(u.total_ms)?);
                (at > now_ms).then_some(at)
            })
            .min()
    }

    /// What we know of `id`'s reachability.
    pub(crate) fn reach(&self, id: &AccordId) -> Reach {
        self.mailboxes.get(id).map_or(Reach::Unknown, |e| e.reach)
    }

    /// The connection to choose automatically, if one should be: while we have fewer than
    /// [`MAX_OWN`] mailboxes, the connection among `connections` seen online the longest (at
    /// least [`MIN_UPTIME_MS`]) that is online now and not one of ours or refusing.
    pub(crate) fn auto_candidate(
        &self,
        connections: &[AccordId],
        refusing: &[AccordId],
        now_ms: u64,
    ) -> Option<AccordId> {
        if self.mailboxes.len() >= MAX_OWN {
            return None;
        }
        connections
            .iter()
            .filter(|id| !self.mailboxes.contains_key(id) && !refusing.contains(id))
            .filter_map(|id| {
                let uptime = self.uptime.get(id)?;
                let since = uptime.since_ms?;
                let total = uptime.total_ms.saturating_add(now_ms.saturating_sub(since));
                (total >= MIN_UPTIME_MS).then_some((total, *id))
            })
            .max()
            .map(|(_, id)| id)
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
    fn a_new_mailbox_is_fetched_at_once_then_less_often_while_quiet() {
        let (mut s, m) = (Schedule::default(), peer(1));
        s.set_mailboxes(&[m], 1_000);
        assert_eq!(s.wake_at(), Some(1_000));
        assert_eq!(s.due(1_000), vec![m]);
        assert_eq!(s.wake_at(), None, "no wake-up while a round is under way");
        assert!(s.due(1_000).is_empty());
        s.fetched(&m, Fetched::Reached { early: false }, 2_000);
        assert_eq!(s.reach(&m), Reach::Reachable);
        assert_eq!(s.wake_at(), Some(2_000 + FIRST_FETCH_WAIT_MS));
        s.due(100_000);
        s.fetched(&m, Fetched::Reached { early: false }, 100_000);
        assert_eq!(s.wake_at(), Some(100_000 + 2 * FIRST_FETCH_WAIT_MS));
        // Mail held back for an earlier message is asked for again soon.
        s.due(200_000);
        s.fetched(&m, Fetched::Reached { early: true }, 200_000);
        assert_eq!(s.wake_at(), Some(200_000 + EARLY_RETRY_MS));
    }

    #[test]
    fn an_unreachable_mailbox_backs_off_to_the_cap_and_connecting_cuts_it_short() {
        let (mut s, m) = (Schedule::default(), peer(1));
        s.set_mailboxes(&[m], 0);
        for _ in 0..20 {
            s.due(u64::MAX / 2);
            s.fetched(&m, Fetched::Unreachable, 0);
        }
        assert_eq!(s.reach(&m), Reach::Unreachable);
        assert_eq!(s.wake_at(), Some(MAX_FETCH_WAIT_MS));
        assert!(s.connected(m, 5));
        assert_eq!(s.wake_at(), Some(5));
        assert!(!s.connected(peer(2), 5), "not one of ours");
        s.set_mailboxes(&[], 6);
        assert_eq!(s.wake_at(), None);
    }

    #[test]
    fn the_automatic_choice_takes_the_longest_online_connection() {
        let mut s = Schedule::default();
        let (a, b, c) = (peer(1), peer(2), peer(3));
        s.connected(a, 0);
        s.connected(b, 0);
        s.disconnected(&b, MIN_UPTIME_MS * 3);
        s.connected(b, MIN_UPTIME_MS * 4);
        s.connected(c, MIN_UPTIME_MS * 4 + 1);
        let now = MIN_UPTIME_MS * 5;
        // a: 5 periods online; b: 3 + 1; c: just under one, too short.
        assert_eq!(s.auto_candidate(&[a, b, c], &[], now), Some(a));
        assert_eq!(s.auto_candidate(&[a, b, c], &[a], now), Some(b));
        // Offline connections are not chosen, nor anything once two are ours.
        s.disconnected(&a, now);
        s.set_mailboxes(&[b], now);
        assert_eq!(s.auto_candidate(&[a, b, c], &[], now), None);
        assert_eq!(s.auto_candidate(&[a, c], &[], now + MIN_UPTIME_MS), Some(c));
        s.set_mailboxes(&[b, c], now);
        assert_eq!(s.auto_candidate(&[a], &[], now * 9), None);
        assert_eq!(s.auto_check_at(now), None, "no room");
    }

    #[test]
    fn the_automatic_check_wakes_when_a_connection_reaches_the_uptime() {
        let mut s = Schedule::default();
        s.connected(peer(1), 1_000);
        assert_eq!(s.auto_check_at(1_000), Some(1_000 + MIN_UPTIME_MS));
        // Past it, nothing more to wake for (the tick at that moment considered it).
        assert_eq!(s.auto_check_at(1_000 + MIN_UPTIME_MS), None);
    }
}
