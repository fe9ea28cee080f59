//! The outbox's decisions, without I/O: which queued messages go out and when, what each
//! answer means, and when a message counts as `sent`.
//!
//! Up to [`WINDOW`] messages per peer are in flight at once, each a separate `/accord/dm/1`
//! request, so that throughput is not one message per round trip. They leave in the order they
//! were sent, and the recipient takes them only in that order (by sender sequence): one that
//! overtakes an earlier message is answered `early` and sent again once the earlier one is in.
//! A message that failed waits for its back-off, and the ones behind it wait with it, so the
//! order holds across failures too. A peer that connects is tried at once, whatever the
//! schedule says.
//!
//! The actor reads the head of a peer's outbox from the store, asks [`Outbox::fill`] which
//! entries to send, sends them, and hands each answer to [`Outbox::on_answer`], which says
//! what to write. Time comes in as an argument, so every decision is testable on a fixed clock.

use std::collections::{BTreeMap, HashMap, HashSet};

use accord_identity::AccordId;
use accord_store::{MessageId, OutboxEntry};

use crate::message::wire::Status;

/// The most messages in flight to one peer. Enough to keep a loopback or LAN link busy while
/// the recipient's group commit batches them; small enough that a retransmitted window stays
/// cheap.
pub(crate) const WINDOW: usize = 32;

/// The first retry after a failed delivery; each next waits twice as long up to the cap.
pub(crate) const FIRST_RETRY_MS: u64 = 1_000;

/// The longest wait between two delivery attempts while a peer stays unreachable. A peer
/// that connects is tried at once, whatever the schedule says.
pub(crate) const MAX_RETRY_MS: u64 = 60_000;

/// How long to wait before attempt `attempts + 1`, after `attempts` failed ones.
pub(crate) fn retry_delay(attempts: u32) -> u64 {
    let factor = 1u64
        .checked_shl(attempts.saturating_sub(1).min(16))
        .unwrap_or(u64::MAX);
    FIRST_RETRY_MS.saturating_mul(factor).min(MAX_RETRY_MS)
}

/// What the outbox remembers of a delivery under way: enough to reschedule it without reading
/// the outbox again.
#[derive(Debug, Clone, Copy)]
struct Flight {
    outbox_seq: u64,
    local_seq: u64,
    attempts: u32,
    /// Handed to a live connection to the peer (the message shows as `sent`).
    on_connection: bool,
}

impl Flight {
    fn of(entry: &OutboxEntry, on_connection: bool) -> Flight {
        Flight {
            outbox_seq: entry.outbox_seq,
            local_seq: entry.local_seq,
            attempts: entry.attempts,
            on_connection,
        }
    }
}

/// What an answer to a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answered {
    /// Not a delivery under way (answered already, or from before a restart): nothing.
    Unknown,
    /// The peer has it: complete the outbox entry, tell subscribers, refill the window.
    Completed,
    /// It came early and nothing earlier is still on its way: refill the window (which sends
    /// it again behind the earlier one).
    Refill,
    /// It came early behind a message still on its way, whose answer refills the window.
    Wait,
    /// It failed: store this schedule (the envelope is left as stored) and retry then.
    /// Boxed: the other answers carry nothing.
    Reschedule(Box<OutboxEntry>),
}

/// The outbox's state in memory: what is in flight, to whom we are connected, what is not on
/// disk yet, and when the next retry is due.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// The deliveries under way, per peer, by message id (at most [`WINDOW`] per peer).
    in_flight: HashMap<AccordId, HashMap<MessageId, Flight>>,
    /// The peers with a live libp2p connection, as the swarm last reported.
    connected: HashSet<AccordId>,
    /// Messages the user sent whose record is not known to be on disk yet. The outbox shows
    /// them as soon as they are written, but their envelopes stay home until the flush: if the
    /// daemon crashed after one left, the ratchet state it was made with would be lost and its
    /// keys used again for the next message.
    unflushed: HashSet<MessageId>,
    /// Set once a sent message could not be made durable (the disk is full or failing). The
    /// outbox on disk may then lack entries the store answered for, so nothing more is
    /// delivered until the daemon restarts and reads back what the disk really holds.
    halted: bool,
    /// When the earliest retry is due (unix ms).
    next_retry_ms: Option<u64>,
    /// How many messages wait in each peer's outbox, as far as this actor knows: counted by
    /// the store once, then kept up to date here, so that a send need not walk the outbox to
    /// check its bound. It may only be too high (an entry a read receipt completed is not
    /// subtracted), so a send that finds the bound reached counts again before refusing.
    queued: HashMap<AccordId, usize>,
}

impl Outbox {
    /// Whether the window of `peer` has room, so that reading its outbox head is worth it.
    pub(crate) fn has_room(&self, peer: &AccordId) -> bool {
        !self.halted && self.in_flight.get(peer).map_or(0, HashMap::len) < WINDOW
    }

    /// Picks, from `head` (the oldest entries of `peer`'s outbox, in order), the ones to send
    /// now and marks them in flight. Stops at an entry not yet on disk, and, unless
    /// `cut_backoff`, at the first entry still waiting for its back-off (noting when it is
    /// due), so that nothing overtakes either.
    #[cfg(test)]
    pub(crate) fn fill(
        &mut self,
        peer: AccordId,
        head: Vec<OutboxEntry>,
        now_ms: u64,
        cut_backoff: bool,
    ) -> Vec<OutboxEntry> {
        self.fill_split(peer, head, now_ms, cut_backoff).0
    }

    /// [`Outbox::fill`], which also returns the entries of `head` it left behind (neither
    /// chosen nor in flight already), in order.
    pub(crate) fn fill_split(
        &mut self,
        peer: AccordId,
        head: Vec<OutboxEntry>,
        now_ms: u64,
        cut_backoff: bool,
    ) -> (Vec<OutboxEntry>, Vec<OutboxEntry>) {
        if self.halted {
            return (Vec::new(), Vec::new());
        }
        // The swarm sends a request to a connected peer over that connection at once.
        let on_connection = self.connected.contains(&peer);
        let (mut chosen, mut left) = (Vec::new(), Vec::new());
        let mut due = None;
        let flights = self.in_flight.entry(peer).or_default();
        for entry in head {
            if flights.contains_key(&entry.message_id) {
                continue;
            }
            let stop = !left.is_empty()
                || self.unflushed.contains(&entry.message_id)
                || flights.len() >= WINDOW
                || (!cut_backoff && entry.next_attempt_at_ms > now_ms);
            if stop {
                if left.is_empty() && !cut_backoff && entry.next_attempt_at_ms > now_ms {
                    due = Some(entry.next_attempt_at_ms);
                }
                left.push(entry);
                continue;
            }
            flights.insert(entry.message_id, Flight::of(&entry, on_connection));
            chosen.push(entry);
        }
        if flights.is_empty() {
            self.in_flight.remove(&peer);
        }
        if let Some(at) = due {
            self.note_retry(at);
        }
        (chosen, left)
    }

    /// Takes from `tail` (entries of `peer`'s outbox the core holds, by local sequence, all due)
    /// the ones to send now, in order, and marks them in flight: as [`Outbox::fill`] with the
    /// back-off cut short, without reading the outbox back from the store.
    pub(crate) fn take_ready(
        &mut self,
        peer: AccordId,
        tail: &mut BTreeMap<u64, OutboxEntry>,
    ) -> Vec<OutboxEntry> {
        if self.halted {
            return Vec::new();
        }
        let on_connection = self.connected.contains(&peer);
        let mut chosen = Vec::new();
        let flights = self.in_flight.entry(peer).or_default();
        while let Some(next) = tail.first_entry() {
            let message_id = next.get().message_id;
            if flights.contains_key(&message_id) {
                next.remove();
                continue;
            }
            if self.unflushed.contains(&message_id) || flights.len() >= WINDOW {
                break;
            }
            let entry = next.remove();
            flights.insert(message_id, Flight::of(&entry, on_connection));
            chosen.push(entry);
        }
        if flights.is_empty() {
            self.in_flight.remove(&peer);
        }
        chosen
    }

    /// The answer to the delivery of `message_id` to `peer`, at `now_ms`.
    pub(crate) fn on_answer(
        &mut self,
        peer: AccordId,
        message_id: MessageId,
        result: &Result<Status, String>,
        now_ms: u64,
    ) -> Answered {
        let Some(flights) = self.in_flight.get_mut(&peer) else {
            return Answered::Unknown;
        };
        let Some(flight) = flights.remove(&message_id) else {
            return Answered::Unknown;
        };
        let earlier_in_flight = flights.values().any(|f| f.local_seq < flight.local_seq);
        if flights.is_empty() {
            self.in_flight.remove(&peer);
        }
        match result {
            Ok(Status::Stored | Status::Duplicate) => Answered::Completed,
            Ok(Status::Early) if earlier_in_flight => Answered::Wait,
            Ok(Status::Early) => Answered::Refill,
            Ok(Status::Refused) | Err(_) => {
                let attempts = flight.attempts.saturating_add(1);
                let next_attempt_at_ms = now_ms.saturating_add(retry_delay(attempts));
                self.note_retry(next_attempt_at_ms);
                Answered::Reschedule(Box::new(OutboxEntry {
                    outbox_seq: flight.outbox_seq,
                    peer,
                    message_id,
                    local_seq: flight.local_seq,
                    // Ignored: only the schedule is updated; the stored envelope is kept.
                    envelope: Vec::new(),
                    attempts,
                    next_attempt_at_ms,
                }))
            }
        }
    }

    /// Whether our message `message_id` to `peer` is `sent`: handed to a live connection to
    /// the peer and not answered yet. Kept in memory only: after a restart an unanswered
    /// message is `queued` again until it is handed to a connection anew.
    pub(crate) fn is_sent(&self, peer: &AccordId, message_id: &MessageId) -> bool {
        self.connected.contains(peer)
            && self
                .in_flight
                .get(peer)
                .and_then(|flights| flights.get(message_id))
                .is_some_and(|flight| flight.on_connection)
    }

    /// A peer connected (its queue is then filled with the back-off cut short).
    pub(crate) fn connected(&mut self, peer: AccordId) {
        self.connected.insert(peer);
    }

    /// A peer's last connection closed: what was handed to it is no longer `sent`.
    pub(crate) fn disconnected(&mut self, peer: &AccordId) {
        self.connected.remove(peer);
    }

    /// A message was recorded; its envelope waits for the flush.
    pub(crate) fn recorded(&mut self, message_id: MessageId) {
        self.unflushed.insert(message_id);
    }

    /// A recorded message's flush resolved (either way): it no longer holds the queue back.
    pub(crate) fn flushed(&mut self, message_id: &MessageId) {
        self.unflushed.remove(message_id);
    }

    /// A sent message could not be made durable: delivery stops until a restart. Returns
    /// whether this is the first time (to say so once).
    pub(crate) fn halt(&mut self) -> bool {
        !std::mem::replace(&mut self.halted, true)
    }

    /// The queue lengths known so far, per peer (see the `queued` field).
    pub(crate) fn queued(&self) -> HashMap<AccordId, usize> {
        self.queued.clone()
    }

    /// The store says `count` messages now wait for `peer`.
    pub(crate) fn set_queued(&mut self, peer: AccordId, count: usize) {
        self.queued.insert(peer, count);
    }

    /// A message to `peer` left the outbox.
    pub(crate) fn dequeued(&mut self, peer: &AccordId) {
        if let Some(count) = self.queued.get_mut(peer) {
            *count = count.saturating_sub(1);
        }
    }

    /// Asks for a wake-up at `at_ms` (the earliest one asked for wins).
    pub(crate) fn note_retry(&mut self, at_ms: u64) {
        self.next_retry_ms = Some(self.next_retry_ms.map_or(at_ms, |t| t.min(at_ms)));
    }

    /// When the actor should wake up next, if at all.
    pub(crate) fn next_retry_ms(&self) -> Option<u64> {
        self.next_retry_ms
    }

    /// The wake-up came: forget it (filling the windows notes the next one).
    pub(crate) fn take_retry(&mut self) {
        self.next_retry_ms = None;
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

    fn id(n: u64) -> MessageId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_be_bytes());
        id
    }

    /// `count` entries for `peer` from local sequence `first`, due at `due_ms`.
    fn head(peer: AccordId, first: u64, count: u64, due_ms: u64) -> Vec<OutboxEntry> {
        (first..first + count)
            .map(|n| OutboxEntry {
                outbox_seq: n,
                peer,
                message_id: id(n),
                local_seq: n,
                envelope: vec![n as u8],
                attempts: 0,
                next_attempt_at_ms: due_ms,
            })
            .collect()
    }

    fn seqs(entries: &[OutboxEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.local_seq).collect()
    }

    #[test]
    fn retries_back_off_to_the_cap() {
        assert_eq!(retry_delay(1), 1_000);
        assert_eq!(retry_delay(2), 2_000);
        assert_eq!(retry_delay(6), 32_000);
        assert_eq!(retry_delay(7), MAX_RETRY_MS);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_MS);
    }

    #[test]
    fn the_window_holds_at_most_its_size_in_flight_and_refills_in_order() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        let window = WINDOW as u64;
        let sent = outbox.fill(a, head(a, 1, window + 8, 0), 1_000, false);
        assert_eq!(seqs(&sent), (1..=window).collect::<Vec<_>>());
        assert!(!outbox.has_room(&a));
        // Nothing more while the window is full, even if asked.
        assert!(
            outbox
                .fill(a, head(a, 1, window + 8, 0), 1_000, true)
                .is_empty()
        );
        assert_eq!(
            outbox.on_answer(a, id(1), &Ok(Status::Stored), 1_001),
            Answered::Completed
        );
        assert!(outbox.has_room(&a));
        // The head read again starts after the completed one; in-flight entries are skipped.
        let sent = outbox.fill(a, head(a, 2, window + 7, 0), 1_002, false);
        assert_eq!(seqs(&sent), vec![window + 1]);
        // Another peer has a window of its own.
        let b = peer(2);
        assert_eq!(outbox.fill(b, head(b, 1, 3, 0), 1_002, false).len(), 3);
    }

    #[test]
    fn a_failure_backs_off_and_holds_the_ones_behind_it() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        outbox.fill(a, head(a, 1, 1, 0), 10_000, false);
        let Answered::Reschedule(schedule) =
            outbox.on_answer(a, id(1), &Err("dial failed".into()), 10_000)
        else {
            panic!("a failure must be rescheduled");
        };
        assert_eq!(schedule.attempts, 1);
        assert_eq!(schedule.next_attempt_at_ms, 11_000);
        assert_eq!(outbox.next_retry_ms(), Some(11_000));
        // Before it is due, neither it nor anything behind it leaves.
        let mut waiting = head(a, 1, 3, 0);
        waiting[0].attempts = 1;
        waiting[0].next_attempt_at_ms = 11_000;
        outbox.take_retry();
        assert!(outbox.fill(a, waiting.clone(), 10_500, false).is_empty());
        assert_eq!(outbox.next_retry_ms(), Some(11_000));
        // Once due, all three leave in order; a second failure waits twice as long.
        assert_eq!(seqs(&outbox.fill(a, waiting, 11_000, false)), vec![1, 2, 3]);
        let Answered::Reschedule(schedule) =
            outbox.on_answer(a, id(1), &Ok(Status::Refused), 11_000)
        else {
            panic!("a refusal must be rescheduled");
        };
        assert_eq!(
            (schedule.attempts, schedule.next_attempt_at_ms),
            (2, 13_000)
        );
    }

    #[test]
    fn a_peer_that_connects_is_retried_at_once() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        let mut waiting = head(a, 1, 2, 70_000);
        waiting[0].attempts = 9;
        assert!(outbox.fill(a, waiting.clone(), 10_000, false).is_empty());
        outbox.connected(a);
        // Connecting fills with the back-off cut short.
        assert_eq!(seqs(&outbox.fill(a, waiting, 10_000, true)), vec![1, 2]);
        assert!(outbox.is_sent(&a, &id(1)));
    }

    #[test]
    fn sent_means_handed_to_a_live_connection_and_unanswered() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        // Handed over while not connected: queued, not sent.
        outbox.fill(a, head(a, 1, 1, 0), 0, false);
        assert!(!outbox.is_sent(&a, &id(1)));
        outbox.connected(a);
        outbox.fill(a, head(a, 2, 1, 0), 0, false);
        assert!(outbox.is_sent(&a, &id(2)));
        // The connection closed: no longer sent.
        outbox.disconnected(&a);
        assert!(!outbox.is_sent(&a, &id(2)));
        outbox.connected(a);
        assert!(outbox.is_sent(&a, &id(2)));
        // Answered: no longer in flight, so not sent either (the store says delivered).
        outbox.on_answer(a, id(2), &Ok(Status::Stored), 0);
        assert!(!outbox.is_sent(&a, &id(2)));
    }

    #[test]
    fn an_early_answer_waits_for_an_earlier_message_in_flight() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        outbox.fill(a, head(a, 1, 3, 0), 0, false);
        assert_eq!(
            outbox.on_answer(a, id(3), &Ok(Status::Early), 0),
            Answered::Wait
        );
        assert_eq!(
            outbox.on_answer(a, id(1), &Ok(Status::Stored), 0),
            Answered::Completed
        );
        assert_eq!(
            outbox.on_answer(a, id(2), &Ok(Status::Early), 0),
            Answered::Refill
        );
        // An answer for something not in flight changes nothing.
        assert_eq!(
            outbox.on_answer(a, id(2), &Ok(Status::Stored), 0),
            Answered::Unknown
        );
    }

    #[test]
    fn an_unflushed_message_holds_back_itself_and_everything_behind_it() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        outbox.recorded(id(2));
        assert_eq!(seqs(&outbox.fill(a, head(a, 1, 3, 0), 0, true)), vec![1]);
        outbox.flushed(&id(2));
        assert_eq!(seqs(&outbox.fill(a, head(a, 1, 3, 0), 0, true)), vec![2, 3]);
    }

    #[test]
    fn queue_lengths_are_kept_once_known() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        assert!(outbox.queued().is_empty(), "unknown until the store counts");
        outbox.set_queued(a, 2);
        outbox.dequeued(&a);
        assert_eq!(outbox.queued().get(&a), Some(&1));
        outbox.dequeued(&a);
        outbox.dequeued(&a);
        assert_eq!(outbox.queued().get(&a), Some(&0));
        outbox.dequeued(&peer(2));
        assert_eq!(outbox.queued().get(&peer(2)), None);
    }

    #[test]
    fn a_failed_flush_halts_delivery() {
        let (mut outbox, a) = (Outbox::default(), peer(1));
        assert!(outbox.halt());
        assert!(!outbox.halt(), "said once");
        assert!(!outbox.has_room(&a));
        assert!(outbox.fill(a, head(a, 1, 3, 0), 0, true).is_empty());
    }
}
