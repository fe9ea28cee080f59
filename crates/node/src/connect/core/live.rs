//! The Connect actor's decisions, without I/O: what is due, what is pending for whom, which
//! cool-down holds, when a peer's arrival may pull the schedule forward.
//!
//! [`LiveIndex`] is the in-memory copy of the store's live index (`accord_store::LiveEntry`):
//! every invite that is pending or has a republication scheduled, and every connection whose
//! revocation is republished, plus the decline and withdrawal cool-downs. It is loaded once
//! when the actor starts and kept in step with every write the actor makes (it is the only
//! writer of those records), so no hot path — a frame, a command, a peer connecting — reads a
//! whole tree. Time comes in as an argument, so every decision is tested on a fixed clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::super::delivery::republish_delay;
use accord_handshake::InviteState;
use accord_identity::AccordId;
use accord_store::{
    Connection, CoolDown, IncomingInvite, InviteId, LiveEntry, LiveItem, OutgoingInvite,
    live_connection, live_incoming, live_outgoing,
};

/// A peer's arrival pulls due republications to this many ms from now: enough for gossip to
/// learn the newcomer's subscriptions.
pub(super) const NUDGE_DELAY_MS: u64 = 2_000;

/// At most one pull-forward per this many ms.
pub(super) const NUDGE_INTERVAL_MS: u64 = 5_000;

/// The most live items one timer tick handles; the rest are due at once and handled by the
/// next tick, so a backlog never holds the actor for long.
pub(super) const MAX_DUE_PER_TICK: usize = 256;

/// Whether a peer's arrival at `now` may pull the schedule forward, given the last time one
/// did.
pub(super) fn nudge_allowed(last_nudge_ms: u64, now: u64) -> bool {
    now.saturating_sub(last_nudge_ms) >= NUDGE_INTERVAL_MS
}

/// What to do with an item whose republication is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RepublishStep {
    /// Stop republishing it: it expired, or it was sent as often as it may be.
    Stop,
    /// Publish it now, as its `count`th publication, and again at `next_at_ms`.
    Publish { count: u32, next_at_ms: u64 },
}

/// The republish schedule with back-off: an item published `publish_count` times so far,
/// expiring at `expires_at_ms` and allowed at most `max_publishes` publications (if bounded),
/// is published now and again after a delay that doubles with each publication, up to a cap
/// (`republish_delay`), until it expires.
pub(super) fn republish_step(
    publish_count: u32,
    expires_at_ms: u64,
    max_publishes: Option<u32>,
    now: u64,
) -> RepublishStep {
    if expires_at_ms <= now || max_publishes.is_some_and(|max| publish_count >= max) {
        return RepublishStep::Stop;
    }
    let count = publish_count.saturating_add(1);
    RepublishStep::Publish {
        count,
        next_at_ms: now.saturating_add(republish_delay(count)),
    }
}

/// The in-memory live index (see the module docs).
#[derive(Debug, Default)]
pub(super) struct LiveIndex {
    entries: BTreeMap<LiveItem, LiveEntry>,
    /// The latest decline of an invite from each peer.
    declined: HashMap<AccordId, u64>,
    /// The latest withdrawal of an invite to each peer.
    withdrawn: HashMap<AccordId, u64>,
    /// When the store next has a closed record or cool-down to delete.
    next_purge_ms: Option<u64>,
    /// The peers we hold an unrevoked connection with: the network layer never trims their
    /// libp2p connections.
    connected: BTreeSet<AccordId>,
    /// Whether `connected` changed since the network layer was last told.
    connected_changed: bool,
}

impl LiveIndex {
    /// Builds the index from what the store loaded.
    pub(super) fn load(
        entries: Vec<LiveEntry>,
        cooldowns: Vec<CoolDown>,
        next_purge_ms: Option<u64>,
    ) -> Self {
        let mut index = LiveIndex {
            next_purge_ms,
            ..LiveIndex::default()
        };
        for entry in entries {
            index.entries.insert(entry.item, entry);
        }
        for cooldown in cooldowns {
            index.note_cooldown(cooldown.peer, cooldown.declined, cooldown.closed_at_ms);
        }
        index
    }

    fn note_cooldown(&mut self, peer: AccordId, declined: bool, closed_at_ms: u64) {
        let map = if declined {
            &mut self.declined
        } else {
            &mut self.withdrawn
        };
        let at = map.entry(peer).or_insert(closed_at_ms);
        *at = (*at).max(closed_at_ms);
    }

    fn set(&mut self, item: LiveItem, entry: Option<LiveEntry>) {
        match entry {
            Some(entry) => self.entries.insert(item, entry),
            None => self.entries.remove(&item),
        };
    }

    /// Records what was just stored for an outgoing invite.
    pub(super) fn note_outgoing(&mut self, invite: &OutgoingInvite) {
        self.set(LiveItem::Outgoing(invite.invite_id), live_outgoing(invite));
        if invite.state == InviteState::Withdrawn
            && let Some(at) = invite.closed_at_ms
        {
            self.note_cooldown(invite.peer, false, at);
        }
    }

    /// Records what was just stored for an incoming invite.
    pub(super) fn note_incoming(&mut self, invite: &IncomingInvite) {
        self.set(LiveItem::Incoming(invite.invite_id), live_incoming(invite));
        if invite.state == InviteState::Declined
            && let Some(at) = invite.closed_at_ms
        {
            self.note_cooldown(invite.peer, true, at);
        }
    }

    /// Records what was just stored for a connection.
    pub(super) fn note_connection(&mut self, connection: &Connection) {
        let changed = if connection.revoked_at_ms.is_none() {
            self.connected.insert(connection.peer)
        } else {
            self.connected.remove(&connection.peer)
        };
        self.connected_changed |= changed;
        self.set(
            LiveItem::Revocation(connection.peer),
            live_connection(connection),
        );
    }

    /// The peers to keep connected, when they changed since the last call (and once at
    /// start-up): the actor hands them to the network layer, so that trimming never closes a
    /// connection to one of our connections.
    pub(super) fn take_kept_peers(&mut self) -> Option<Vec<AccordId>> {
        std::mem::take(&mut self.connected_changed)
            .then(|| self.connected.iter().copied().collect())
    }

    /// Whether we hold an unrevoked connection with `peer`.
    pub(super) fn is_connected(&self, peer: &AccordId) -> bool {
        self.connected.contains(peer)
    }

    /// Forgets an item that was deleted (or found missing) in the store.
    pub(super) fn forget(&mut self, item: &LiveItem) {
        self.entries.remove(item);
    }

    /// Sets when the store next has something to delete.
    pub(super) fn set_next_purge(&mut self, at: Option<u64>) {
        self.next_purge_ms = at;
    }

    /// Whether the store has something to delete at `now`.
    pub(super) fn purge_due(&self, now: u64) -> bool {
        self.next_purge_ms.is_some_and(|at| at <= now)
    }

    /// The next time something is due: a republication, a pending invite's expiry or a purge.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        let live = self.entries.values().filter_map(|entry| {
            let expiry = (entry.state == InviteState::Pending).then_some(entry.expires_at_ms);
            match (entry.next_publish_at_ms, expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        });
        live.chain(self.next_purge_ms).min()
    }

    /// Pending invites whose expiry has come, at most [`MAX_DUE_PER_TICK`].
    pub(super) fn expired(&self, now: u64) -> Vec<LiveItem> {
        self.entries
            .values()
            .filter(|e| e.state == InviteState::Pending && e.expires_at_ms <= now)
            .map(|e| e.item)
            .take(MAX_DUE_PER_TICK)
            .collect()
    }

    /// Items whose republication is due at `now`, at most [`MAX_DUE_PER_TICK`].
    pub(super) fn publish_due(&self, now: u64) -> Vec<LiveItem> {
        self.entries
            .values()
            .filter(|e| e.next_publish_at_ms.is_some_and(|at| at <= now))
            .map(|e| e.item)
            .take(MAX_DUE_PER_TICK)
            .collect()
    }

    /// Items scheduled later than `at`: the ones a nudge pulls forward.
    pub(super) fn scheduled_after(&self, at: u64) -> Vec<LiveItem> {
        self.entries
            .values()
            .filter(|e| e.next_publish_at_ms.is_some_and(|due| due > at))
            .map(|e| e.item)
            .collect()
    }

    /// Items scheduled for `peer`: what to hand it when it connects.
    pub(super) fn scheduled_for(&self, peer: &AccordId) -> Vec<LiveItem> {
        self.entries
            .values()
            .filter(|e| e.peer == *peer && e.next_publish_at_ms.is_some())
            .map(|e| e.item)
            .collect()
    }

    fn pending_with(&self, peer: &AccordId, now: u64, outgoing: bool) -> Option<InviteId> {
        self.entries.values().find_map(|e| match e.item {
            LiveItem::Outgoing(id) | LiveItem::Incoming(id)
                if matches!(e.item, LiveItem::Outgoing(_)) == outgoing
                    && e.peer == *peer
                    && e.state == InviteState::Pending
                    && e.expires_at_ms > now =>
            {
                Some(id)
            }
            _ => None,
        })
    }

    /// Our unexpired pending invite to `peer`, if any.
    pub(super) fn pending_outgoing_to(&self, peer: &AccordId, now: u64) -> Option<InviteId> {
        self.pending_with(peer, now, true)
    }

    /// Their unexpired pending invite to us, if any.
    pub(super) fn pending_incoming_from(&self, peer: &AccordId, now: u64) -> Option<InviteId> {
        self.pending_with(peer, now, false)
    }

    /// Every pending invite from `peer`, expired or not (blocking declines them all).
    pub(super) fn all_pending_incoming_from(&self, peer: &AccordId) -> Vec<InviteId> {
        self.entries
            .values()
            .filter_map(|e| match e.item {
                LiveItem::Incoming(id) if e.peer == *peer && e.state == InviteState::Pending => {
                    Some(id)
                }
                _ => None,
            })
            .collect()
    }

    /// Every pending incoming invite, as the handshake's admission rule sees it.
    pub(super) fn pending_incoming(&self) -> Vec<accord_handshake::IncomingInvite> {
        self.entries
            .values()
            .filter_map(|e| match e.item {
                LiveItem::Incoming(invite_id) if e.state == InviteState::Pending => {
                    Some(accord_handshake::IncomingInvite {
                        invite_id,
                        inviter: e.peer,
                        created_at_ms: e.created_at_ms,
                        expires_at_ms: e.expires_at_ms,
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Our pending invites that have not expired: what the outstanding limit counts.
    pub(super) fn outstanding(&self, now: u64) -> u32 {
        let count = self
            .entries
            .values()
            .filter(|e| {
                matches!(e.item, LiveItem::Outgoing(_))
                    && e.state == InviteState::Pending
                    && e.expires_at_ms > now
            })
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// When we last declined an invite from `peer`, if at all after `unblocked_at`.
    pub(super) fn last_decline(&self, peer: &AccordId, unblocked_at: Option<u64>) -> Option<u64> {
        self.declined
            .get(peer)
            .copied()
            .filter(|at| unblocked_at.is_none_or(|unblocked| *at > unblocked))
    }

    /// When a re-invite cool-down with `peer` last started: our latest withdrawal of an
    /// invite to them or decline of one from them.
    pub(super) fn last_closing(&self, peer: &AccordId) -> Option<u64> {
        let declined = self.declined.get(peer).copied();
        let withdrawn = self.withdrawn.get(peer).copied();
        declined.max(withdrawn)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;
    use accord_identity::Identity;
    use accord_store::Zeroizing;

    const NOW: u64 = 1_700_000_000_000;

    fn peer(n: u8) -> AccordId {
        Identity::from_seed(Zeroizing::new([n; 32])).id()
    }

    fn incoming(n: u8, state: InviteState, expires: u64) -> IncomingInvite {
        IncomingInvite {
            invite_id: [n; 16],
            peer: peer(n),
            invite: Vec::new(),
            note: String::new(),
            state,
            created_at_ms: NOW - 10,
            expires_at_ms: expires,
            received_at_ms: NOW - 5,
            closed_at_ms: (state != InviteState::Pending).then_some(NOW - 1),
            acceptance: None,
            ephemeral_secret: None,
            next_publish_at_ms: None,
            publish_count: 0,
        }
    }

    fn outgoing(n: u8, state: InviteState, next_publish: Option<u64>) -> OutgoingInvite {
        OutgoingInvite {
            invite_id: [n; 16],
            peer: peer(n),
            invite: Vec::new(),
            one_time_secret: None,
            state,
            note: String::new(),
            created_at_ms: NOW - 10,
            expires_at_ms: NOW + 1_000_000,
            closed_at_ms: (state != InviteState::Pending).then_some(NOW - 1),
            next_publish_at_ms: next_publish,
            publish_count: 0,
        }
    }

    #[test]
    fn republication_backs_off_and_stops_at_expiry_or_its_bound() {
        let first = republish_step(0, NOW + 1_000_000, None, NOW);
        let second = republish_step(1, NOW + 1_000_000, None, NOW);
        let (
            RepublishStep::Publish {
                count: 1,
                next_at_ms: a,
            },
            RepublishStep::Publish {
                count: 2,
                next_at_ms: b,
            },
        ) = (first, second)
        else {
            panic!("expected two publications, got {first:?} and {second:?}");
        };
        assert!(b - NOW > a - NOW, "the delay did not grow: {a} then {b}");
        assert_eq!(
            republish_step(40, u64::MAX, None, NOW),
            RepublishStep::Publish {
                count: 41,
                next_at_ms: NOW + republish_delay(41),
            }
        );
        assert_eq!(republish_step(3, NOW, None, NOW), RepublishStep::Stop);
        assert_eq!(
            republish_step(30, u64::MAX, Some(30), NOW),
            RepublishStep::Stop
        );
        assert!(matches!(
            republish_step(29, u64::MAX, Some(30), NOW),
            RepublishStep::Publish { count: 30, .. }
        ));
    }

    #[test]
    fn the_next_deadline_is_the_earliest_publish_expiry_or_purge() {
        let mut index = LiveIndex::default();
        assert_eq!(index.next_deadline(), None);
        index.note_outgoing(&outgoing(1, InviteState::Pending, Some(NOW + 500)));
        assert_eq!(index.next_deadline(), Some(NOW + 500));
        index.note_incoming(&incoming(2, InviteState::Pending, NOW + 100));
        assert_eq!(index.next_deadline(), Some(NOW + 100));
        index.set_next_purge(Some(NOW + 50));
        assert_eq!(index.next_deadline(), Some(NOW + 50));
        assert!(!index.purge_due(NOW) && index.purge_due(NOW + 50));
    }

    #[test]
    fn closed_unscheduled_records_leave_the_index() {
        let mut index = LiveIndex::default();
        index.note_incoming(&incoming(1, InviteState::Pending, NOW + 100));
        assert_eq!(index.pending_incoming().len(), 1);
        index.note_incoming(&incoming(1, InviteState::Expired, NOW + 100));
        assert!(index.pending_incoming().is_empty());
        assert_eq!(index.next_deadline(), None);
    }

    #[test]
    fn expiry_and_republication_are_due_only_when_their_time_comes() {
        let mut index = LiveIndex::default();
        index.note_incoming(&incoming(1, InviteState::Pending, NOW + 100));
        index.note_outgoing(&outgoing(2, InviteState::Withdrawn, Some(NOW + 10)));
        assert!(index.expired(NOW + 99).is_empty());
        assert_eq!(index.expired(NOW + 100), vec![LiveItem::Incoming([1; 16])]);
        assert!(index.publish_due(NOW + 9).is_empty());
        assert_eq!(
            index.publish_due(NOW + 10),
            vec![LiveItem::Outgoing([2; 16])]
        );
        // A withdrawn invite is never expired again, only republished.
        assert!(
            !index
                .expired(NOW + 10_000_000)
                .contains(&LiveItem::Outgoing([2; 16]))
        );
    }

    #[test]
    fn pending_lookups_are_by_peer_direction_and_expiry() {
        let mut index = LiveIndex::default();
        index.note_outgoing(&outgoing(1, InviteState::Pending, None));
        index.note_incoming(&incoming(2, InviteState::Pending, NOW + 100));
        assert_eq!(index.pending_outgoing_to(&peer(1), NOW), Some([1; 16]));
        assert_eq!(index.pending_incoming_from(&peer(1), NOW), None);
        assert_eq!(index.pending_incoming_from(&peer(2), NOW), Some([2; 16]));
        assert_eq!(index.pending_incoming_from(&peer(2), NOW + 100), None);
        assert_eq!(index.all_pending_incoming_from(&peer(2)), vec![[2; 16]]);
        assert_eq!(index.outstanding(NOW), 1);
    }

    #[test]
    fn cool_downs_keep_the_latest_and_unblocking_clears_declines() {
        let mut index = LiveIndex::load(
            Vec::new(),
            vec![
                CoolDown {
                    peer: peer(1),
                    declined: true,
                    closed_at_ms: NOW - 100,
                },
                CoolDown {
                    peer: peer(1),
                    declined: true,
                    closed_at_ms: NOW - 50,
                },
            ],
            None,
        );
        assert_eq!(index.last_decline(&peer(1), None), Some(NOW - 50));
        assert_eq!(index.last_decline(&peer(1), Some(NOW - 50)), None);
        assert_eq!(index.last_decline(&peer(1), Some(NOW - 60)), Some(NOW - 50));
        index.note_outgoing(&outgoing(1, InviteState::Withdrawn, None));
        assert_eq!(index.last_closing(&peer(1)), Some(NOW - 1));
        assert_eq!(index.last_closing(&peer(2)), None);
    }

    #[test]
    fn a_nudge_waits_for_its_interval_and_pulls_only_later_items() {
        assert!(nudge_allowed(0, NOW));
        assert!(!nudge_allowed(NOW, NOW + NUDGE_INTERVAL_MS - 1));
        assert!(nudge_allowed(NOW, NOW + NUDGE_INTERVAL_MS));
        let mut index = LiveIndex::default();
        index.note_outgoing(&outgoing(1, InviteState::Pending, Some(NOW + 10)));
        index.note_outgoing(&outgoing(2, InviteState::Pending, Some(NOW + 10_000)));
        let at = NOW + NUDGE_DELAY_MS;
        assert_eq!(index.scheduled_after(at), vec![LiveItem::Outgoing([2; 16])]);
        assert_eq!(
            index.scheduled_for(&peer(1)),
            vec![LiveItem::Outgoing([1; 16])]
        );
    }

    #[test]
    fn revocations_are_scheduled_until_their_publishing_stops() {
        let mut index = LiveIndex::default();
        let mut connection = Connection {
            peer: peer(3),
            attestation: Vec::new(),
            attestation_id: [0; 32],
            since_ms: NOW,
            alias: None,
            revoked_at_ms: Some(NOW),
            revocation: Some(vec![1]),
            next_publish_at_ms: Some(NOW + 5),
            publish_count: 1,
            awaiting_confirmation: false,
        };
        index.note_connection(&connection);
        assert_eq!(
            index.publish_due(NOW + 5),
            vec![LiveItem::Revocation(peer(3))]
        );
        connection.next_publish_at_ms = None;
        index.note_connection(&connection);
        assert_eq!(index.next_deadline(), None);
    }

    #[test]
    fn kept_peers_follow_connections_and_are_told_only_on_change() {
        let mut index = LiveIndex::default();
        assert_eq!(index.take_kept_peers(), None);
        let mut connection = Connection {
            peer: peer(4),
            attestation: Vec::new(),
            attestation_id: [0; 32],
            since_ms: NOW,
            alias: None,
            revoked_at_ms: None,
            revocation: None,
            next_publish_at_ms: None,
            publish_count: 0,
            awaiting_confirmation: false,
        };
        index.note_connection(&connection);
        assert_eq!(index.take_kept_peers(), Some(vec![peer(4)]));
        // The same connection stored again (an alias, say) changes nothing to tell.
        index.note_connection(&connection);
        assert_eq!(index.take_kept_peers(), None);
        connection.revoked_at_ms = Some(NOW + 1);
        index.note_connection(&connection);
        assert_eq!(index.take_kept_peers(), Some(Vec::new()));
    }
}
