//! What the Connect core keeps in memory so that no decision waits for the disk: the live
//! index, the full records of live invites, every connection, the block list, the unblocking
//! times that end decline cool-downs, the quota window and the clock high-water mark.
//!
//! All of it is bounded: live incoming invites by `limits.pending_invites`, live outgoing ones
//! by the weekly quota, connections and blocks by what the user did (never by what strangers
//! send), the quota window by the weekly limit. It is loaded once at start ([`Loaded`]) and
//! kept in step with every write the core asks for (the Connect actor is the only writer of
//! these records). Only records that are no longer live — closed and not republished — are
//! read from the store, by the few decisions that need them.

use std::collections::{HashMap, HashSet};

use accord_identity::AccordId;
use accord_store::{
    Connection, CoolDown, IncomingInvite, InviteId, LiveEntry, LiveItem, OutgoingInvite,
    live_incoming, live_outgoing,
};

use super::live::LiveIndex;

/// What the actor loads from the store when it starts.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The live index's entries.
    pub(crate) live_entries: Vec<LiveEntry>,
    /// The full records of the live outgoing invites.
    pub(crate) outgoing: Vec<OutgoingInvite>,
    /// The full records of the live incoming invites.
    pub(crate) incoming: Vec<IncomingInvite>,
    /// Every connection, revoked or not.
    pub(crate) connections: Vec<Connection>,
    /// The decline and withdrawal cool-downs.
    pub(crate) cooldowns: Vec<CoolDown>,
    /// Blocked peers.
    pub(crate) blocked: Vec<AccordId>,
    /// When peers with a decline cool-down were last unblocked.
    pub(crate) unblocked_at: Vec<(AccordId, u64)>,
    /// The quota ledger's send times within the rolling window.
    pub(crate) sent_at: Vec<u64>,
    /// The clock high-water mark.
    pub(crate) high_water_ms: u64,
    /// When the store next has something to purge.
    pub(crate) next_purge_ms: Option<u64>,
    /// The shard level of the last run, if it recorded one.
    pub(crate) shard_level: Option<u8>,
}

/// The in-memory state (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    pub(super) live: LiveIndex,
    outgoing: HashMap<InviteId, OutgoingInvite>,
    incoming: HashMap<InviteId, IncomingInvite>,
    connections: HashMap<AccordId, Connection>,
    blocked: HashSet<AccordId>,
    unblocked_at: HashMap<AccordId, u64>,
    sent_at: Vec<u64>,
    high_water_ms: u64,
}

impl Memory {
    /// Builds the memory from what the actor loaded.
    pub(crate) fn load(loaded: Loaded) -> Self {
        let mut memory = Memory {
            live: LiveIndex::load(loaded.live_entries, loaded.cooldowns, loaded.next_purge_ms),
            blocked: loaded.blocked.into_iter().collect(),
            unblocked_at: loaded.unblocked_at.into_iter().collect(),
            sent_at: loaded.sent_at,
            high_water_ms: loaded.high_water_ms,
            ..Memory::default()
        };
        for record in loaded.outgoing {
            memory.note_outgoing(record);
        }
        for record in loaded.incoming {
            memory.note_incoming(record);
        }
        for connection in loaded.connections {
            memory.note_connection(connection);
        }
        memory
    }

    /// Keeps what was just stored for an outgoing invite.
    pub(crate) fn note_outgoing(&mut self, record: OutgoingInvite) {
        self.live.note_outgoing(&record);
        if live_outgoing(&record).is_some() {
            self.outgoing.insert(record.invite_id, record);
        } else {
            self.outgoing.remove(&record.invite_id);
        }
    }

    /// Keeps what was just stored for an incoming invite.
    pub(crate) fn note_incoming(&mut self, record: IncomingInvite) {
        self.live.note_incoming(&record);
        if live_incoming(&record).is_some() {
            self.incoming.insert(record.invite_id, record);
        } else {
            self.incoming.remove(&record.invite_id);
        }
    }

    /// Forgets an incoming invite that was deleted.
    pub(crate) fn forget_incoming(&mut self, id: &InviteId) {
        self.live.forget(&LiveItem::Incoming(*id));
        self.incoming.remove(id);
    }

    /// Keeps what was just stored for a connection.
    pub(crate) fn note_connection(&mut self, connection: Connection) {
        self.live.note_connection(&connection);
        self.connections.insert(connection.peer, connection);
    }

    /// A live outgoing invite.
    pub(crate) fn outgoing(&self, id: &InviteId) -> Option<&OutgoingInvite> {
        self.outgoing.get(id)
    }

    /// A live incoming invite.
    pub(crate) fn incoming(&self, id: &InviteId) -> Option<&IncomingInvite> {
        self.incoming.get(id)
    }

    /// The connection with `peer`, revoked or not.
    pub(crate) fn connection(&self, peer: &AccordId) -> Option<&Connection> {
        self.connections.get(peer)
    }

    /// Every connection, revoked or not, in no particular order.
    pub(crate) fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.connections.values()
    }

    /// Whether `peer` is blocked.
    pub(crate) fn is_blocked(&self, peer: &AccordId) -> bool {
        self.blocked.contains(peer)
    }

    /// Records a block (`true`) or an unblocking at `at_ms` (`false`).
    pub(crate) fn set_blocked(&mut self, peer: AccordId, blocked: bool, at_ms: u64) {
        if blocked {
            self.blocked.insert(peer);
        } else {
            self.blocked.remove(&peer);
            self.unblocked_at.insert(peer, at_ms);
        }
    }

    /// When `peer` was last unblocked, if that is known to matter (see [`Loaded`]).
    pub(crate) fn unblocked_at(&self, peer: &AccordId) -> Option<u64> {
        self.unblocked_at.get(peer).copied()
    }

    /// The clock high-water mark.
    pub(crate) fn high_water_ms(&self) -> u64 {
        self.high_water_ms
    }

    /// Raises the clock high-water mark.
    pub(crate) fn note_clock(&mut self, at_ms: u64) {
        self.high_water_ms = self.high_water_ms.max(at_ms);
    }

    /// Records a sent invite in the quota window as the store does: at the clock mark, so
    /// that a clock set back cannot free a slot early and one far ahead (beyond the bounded
    /// mark) cannot hold the window shut. Entries older than `window_ms` before it are
    /// forgotten.
    pub(crate) fn note_sent(&mut self, high_water_ms: u64, window_ms: u64) {
        let at = self.high_water_ms.max(high_water_ms);
        self.note_clock(at);
        let since = at.saturating_sub(window_ms);
        self.sent_at.retain(|sent| *sent >= since);
        self.sent_at.push(at);
    }

    /// The send times in the quota window.
    pub(crate) fn sent_at(&self) -> &[u64] {
        &self.sent_at
    }
}
