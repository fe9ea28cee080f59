//! The Connect index: what the invite lifecycle needs to decide without reading whole trees.
//!
//! Every write of an invite or a connection updates, in the same sled transaction as the
//! record, the entries of the `connect_index` tree ([`trees::CONNECT_INDEX`]) that describe it:
//!
//! - **Live entries** (`L`): one per record that is pending or has a republication scheduled,
//!   holding a sealed [`LiveEntry`] (peer, state, times). The node loads them once at start
//!   ([`Store::live_entries`]) and keeps them in memory; there are few of them (pending
//!   invites are bounded by the quota and the incoming limit), however many closed records
//!   the store holds.
//! - **Cool-downs** (`K`): the compacted form of a declined incoming or withdrawn outgoing
//!   invite, sealed: who and when. They outlive the full record, which is deleted a day after
//!   the invite could no longer be used, and are themselves deleted once the longest
//!   cool-down the node allows ([`COOLDOWN_RETENTION_MS`]) has passed.
//! - **Deadlines** (`D`): when a closed record or a cool-down is to be deleted, ordered by
//!   time, so [`Store::purge_due`] reads only what is due.
//! - **Counters** (`N`): pending incoming, pending outgoing and active connections, so
//!   `accord status` counts nothing.
//!
//! Keys reveal no peer: live and cool-down keys carry the invite id (already the key of the
//! invite trees) or, for a connection, the peer's slot (already the key of `attestations`);
//! deadline keys carry a time and an invite id, like the quota ledger's keys. Peers, states
//! and every other time are sealed. The one thing a key adds is whether a record is live,
//! which its plain flag byte (pending or not) also shows.
//!
//! A store written before the index existed is indexed once when it is opened (a scan of the
//! three record trees), after which a marker in `meta` says the index is complete and no later
//! open scans anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use accord_identity::AccordId;

use crate::InviteState;
use crate::invites::{Connection, IncomingInvite, InviteId, OutgoingInvite};
use crate::lifecycle_record::{self as codec, CodecError};
use crate::{Store, StoreError, trees};

/// How long a closed (declined, expired or withdrawn) invite's full record is kept after the
/// invite could no longer be used, so that `accord invites` still shows how it ended.
pub const CLOSED_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// How long a cool-down entry is kept after the decline or withdrawal it records: the
/// longest re-invite cool-down the node's configuration accepts (365 days).
pub const COOLDOWN_RETENTION_MS: u64 = 365 * 24 * 3600 * 1000;

/// The `meta` key marking the index as complete (its value is the index format, `1`).
pub(crate) const BUILT_KEY: &str = "connect_index_built";

/// The most deadline entries one [`Store::purge_due`] call handles, so that a backlog is
/// worked off in bounded steps between other requests.
pub const PURGE_BATCH: usize = 256;

pub(crate) const LIVE: u8 = b'L';
const COOLDOWN: u8 = b'K';
pub(crate) const DEADLINE: u8 = b'D';
const COUNTER: u8 = b'N';

/// Which record an index entry describes.
#[allow(
    clippy::large_enum_variant,
    reason = "items are compared and copied as map keys; a box would cost an allocation each"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LiveItem {
    /// An invite we sent.
    Outgoing(InviteId),
    /// An invite we received.
    Incoming(InviteId),
    /// A connection whose revocation is being republished.
    Revocation(AccordId),
}

/// What the node keeps in memory about a live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEntry {
    /// The record.
    pub item: LiveItem,
    /// The other side.
    pub peer: AccordId,
    /// The invite's state ([`InviteState::Accepted`] for a revocation).
    pub state: InviteState,
    /// When the invite was made (0 for a revocation).
    pub created_at_ms: u64,
    /// When the invite expires (`u64::MAX` for a revocation).
    pub expires_at_ms: u64,
    /// When it is next republished, if it is.
    pub next_publish_at_ms: Option<u64>,
}

/// A compacted decline or withdrawal: what the re-invite cool-down still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolDown {
    /// The other side.
    pub peer: AccordId,
    /// Whether we declined their invite (`true`) or withdrew ours (`false`).
    pub declined: bool,
    /// When the invite was closed, in unix milliseconds.
    pub closed_at_ms: u64,
}

/// The counters kept by the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexCounts {
    /// Pending incoming invites.
    pub pending_incoming: u64,
    /// Pending outgoing invites.
    pub pending_outgoing: u64,
    /// Connections not revoked.
    pub connections: u64,
}

/// The sealed body of a live entry.
#[derive(Serialize, Deserialize)]
struct LiveV1 {
    peer: Vec<u8>,
    state: u8,
    created_at_ms: u64,
    expires_at_ms: u64,
    next_publish_at_ms: Option<u64>,
}

/// The sealed body of a cool-down entry.
#[derive(Serialize, Deserialize)]
struct CoolDownV1 {
    peer: Vec<u8>,
    declined: bool,
    closed_at_ms: u64,
}

impl LiveItem {
    fn tag(&self) -> u8 {
        match self {
            LiveItem::Outgoing(_) => b'o',
            LiveItem::Incoming(_) => b'i',
            LiveItem::Revocation(_) => b'c',
        }
    }

    /// The live entry's key; a connection's names its peer by slot (`peer_slot.rs`).
    fn key(&self, store: &Store) -> Vec<u8> {
        let mut key = vec![LIVE, self.tag()];
        match self {
            LiveItem::Outgoing(id) | LiveItem::Incoming(id) => key.extend_from_slice(id),
            LiveItem::Revocation(peer) => key.extend_from_slice(&store.slot(peer)),
        }
        key
    }

    /// The item a live key names; a connection's peer, which its key names only by slot, is
    /// the one in the entry's sealed body.
    fn from_key(key: &[u8], peer: AccordId) -> Result<LiveItem, CodecError> {
        let (&tag, rest) = key
            .get(1..)
            .and_then(<[u8]>::split_first)
            .ok_or(CodecError::BadKey)?;
        let id =
            || -> Result<InviteId, CodecError> { rest.try_into().map_err(|_| CodecError::BadKey) };
        match tag {
            b'o' => Ok(LiveItem::Outgoing(id()?)),
            b'i' => Ok(LiveItem::Incoming(id()?)),
            b'c' => Ok(LiveItem::Revocation(peer)),
            _ => Err(CodecError::BadKey),
        }
    }
}

/// The live entry of an outgoing invite, if it is live.
pub fn live_outgoing(i: &OutgoingInvite) -> Option<LiveEntry> {
    (i.state == InviteState::Pending || i.next_publish_at_ms.is_some()).then_some(LiveEntry {
        item: LiveItem::Outgoing(i.invite_id),
        peer: i.peer,
        state: i.state,
        created_at_ms: i.created_at_ms,
        expires_at_ms: i.expires_at_ms,
        next_publish_at_ms: i.next_publish_at_ms,
    })
}

/// The live entry of an incoming invite, if it is live.
pub fn live_incoming(i: &IncomingInvite) -> Option<LiveEntry> {
    (i.state == InviteState::Pending || i.next_publish_at_ms.is_some()).then_some(LiveEntry {
        item: LiveItem::Incoming(i.invite_id),
        peer: i.peer,
        state: i.state,
        created_at_ms: i.created_at_ms,
        expires_at_ms: i.expires_at_ms,
        next_publish_at_ms: i.next_publish_at_ms,
    })
}

/// The live entry of a connection, if its revocation is being republished.
pub fn live_connection(c: &Connection) -> Option<LiveEntry> {
    c.next_publish_at_ms.map(|at| LiveEntry {
        item: LiveItem::Revocation(c.peer),
        peer: c.peer,
        state: InviteState::Accepted,
        created_at_ms: 0,
        expires_at_ms: u64::MAX,
        next_publish_at_ms: Some(at),
    })
}

/// Whether a state is one whose full record is deleted after [`CLOSED_RETENTION_MS`].
fn purged_when_closed(state: InviteState) -> bool {
    matches!(
        state,
        InviteState::Declined | InviteState::Expired | InviteState::Withdrawn
    )
}

/// The deadline key: `D ‖ at BE ‖ what ‖ invite id`.
fn deadline_key(at_ms: u64, what: u8, id: &InviteId) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 8 + 1 + 16);
    key.push(DEADLINE);
    key.extend_from_slice(&at_ms.to_be_bytes());
    key.push(what);
    key.extend_from_slice(id);
    key
}

pub(crate) fn cooldown_key(what: u8, id: &[u8]) -> Vec<u8> {
    let mut key = vec![COOLDOWN, what];
    key.extend_from_slice(id);
    key
}

fn counter_key(what: u8) -> [u8; 2] {
    [COUNTER, what]
}

/// The index writes that go with one record write, prepared (and sealed) before the
/// transaction so that the transaction body only moves bytes.
pub(crate) struct IndexUpdate {
    live_key: Vec<u8>,
    /// The new live value (`pending flag ‖ sealed body`), or `None` to remove it.
    live_value: Option<Vec<u8>>,
    pending: bool,
    counter: Option<u8>,
    /// Deadline and cool-down entries to insert: `(key, value)`.
    extra: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Store {
    fn seal_live(&self, key: &[u8], entry: &LiveEntry) -> Result<Vec<u8>, StoreError> {
        let body = LiveV1 {
            peer: entry.peer.to_bytes(),
            state: codec::state_code(entry.state),
            created_at_ms: entry.created_at_ms,
            expires_at_ms: entry.expires_at_ms,
            next_publish_at_ms: entry.next_publish_at_ms,
        };
        let plain = codec::encode_versioned(&body, 64, codec::MAX_RECORD_LEN)
            .map_err(crate::invites::bad_record(trees::CONNECT_INDEX))?;
        let mut value = vec![u8::from(entry.state == InviteState::Pending)];
        value.extend(self.seal(trees::CONNECT_INDEX, key, &plain)?);
        Ok(value)
    }

    fn update_for(
        &self,
        item: LiveItem,
        live: Option<LiveEntry>,
        counter: Option<u8>,
    ) -> Result<IndexUpdate, StoreError> {
        let live_key = item.key(self);
        let pending = live
            .as_ref()
            .is_some_and(|l| l.state == InviteState::Pending);
        let live_value = live.map(|l| self.seal_live(&live_key, &l)).transpose()?;
        Ok(IndexUpdate {
            live_key,
            live_value,
            pending,
            counter,
            extra: Vec::new(),
        })
    }

    /// Adds the deadline (and, for a decline or withdrawal, the cool-down) of a closed invite.
    fn add_closing(
        &self,
        update: &mut IndexUpdate,
        what: u8,
        id: &InviteId,
        peer: AccordId,
        state: InviteState,
        (expires_at_ms, closed_at_ms): (u64, Option<u64>),
    ) -> Result<(), StoreError> {
        if !purged_when_closed(state) {
            return Ok(());
        }
        let closed_at = closed_at_ms.unwrap_or(expires_at_ms);
        let purge_at = expires_at_ms
            .max(closed_at)
            .saturating_add(CLOSED_RETENTION_MS);
        update
            .extra
            .push((deadline_key(purge_at, what, id), Vec::new()));
        // Only our own closings start a cool-down: a decline of an invite we received, or a
        // withdrawal of one we sent. An incoming invite its sender withdrew is closed too, but
        // it does not stop us from inviting that sender.
        let declined = what == b'i' && state == InviteState::Declined;
        let withdrawn = what == b'o' && state == InviteState::Withdrawn;
        if declined || withdrawn {
            let what = what.to_ascii_uppercase();
            let key = cooldown_key(what, id);
            let body = CoolDownV1 {
                peer: peer.to_bytes(),
                declined,
                closed_at_ms: closed_at,
            };
            let plain = codec::encode_versioned(&body, 64, codec::MAX_RECORD_LEN)
                .map_err(crate::invites::bad_record(trees::CONNECT_INDEX))?;
            let value = self.seal(trees::CONNECT_INDEX, &key, &plain)?;
            update.extra.push((key, value));
            let until = closed_at.saturating_add(COOLDOWN_RETENTION_MS);
            update
                .extra
                .push((deadline_key(until, what, id), Vec::new()));
        }
        Ok(())
    }

    /// The index writes for an outgoing invite.
    pub(crate) fn index_outgoing(&self, i: &OutgoingInvite) -> Result<IndexUpdate, StoreError> {
        let item = LiveItem::Outgoing(i.invite_id);
        let mut update = self.update_for(item, live_outgoing(i), Some(b'o'))?;
        self.add_closing(
            &mut update,
            b'o',
            &i.invite_id,
            i.peer,
            i.state,
            (i.expires_at_ms, i.closed_at_ms),
        )?;
        Ok(update)
    }

    /// The index writes for an incoming invite.
    pub(crate) fn index_incoming(&self, i: &IncomingInvite) -> Result<IndexUpdate, StoreError> {
        let item = LiveItem::Incoming(i.invite_id);
        let mut update = self.update_for(item, live_incoming(i), Some(b'i'))?;
        self.add_closing(
            &mut update,
            b'i',
            &i.invite_id,
            i.peer,
            i.state,
            (i.expires_at_ms, i.closed_at_ms),
        )?;
        Ok(update)
    }

    /// The index writes for a record that is deleted: its live entry goes.
    pub(crate) fn index_removed(&self, item: LiveItem, counter: u8) -> IndexUpdate {
        IndexUpdate {
            live_key: item.key(self),
            live_value: None,
            pending: false,
            counter: Some(counter),
            extra: Vec::new(),
        }
    }

    /// The index writes for a connection (its counter is kept by [`apply_connection_count`]).
    pub(crate) fn index_connection(&self, c: &Connection) -> Result<IndexUpdate, StoreError> {
        self.update_for(LiveItem::Revocation(c.peer), live_connection(c), None)
    }

    /// Every live entry, for the node to keep in memory. Damaged entries are skipped.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn live_entries(&self) -> Result<Vec<LiveEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.connect_index.scan_prefix([LIVE]) {
            let (key, value) = entry.map_err(StoreError::db)?;
            match self.decode_live(&key, &value) {
                Ok(live) => out.push(live),
                Err(e) => self.note_skipped(trees::CONNECT_INDEX, &key, &e),
            }
        }
        Ok(out)
    }

    fn decode_live(&self, key: &[u8], value: &[u8]) -> Result<LiveEntry, CodecError> {
        let sealed = value.get(1..).ok_or(CodecError::Empty)?;
        let plain = self.open_sealed(trees::CONNECT_INDEX, key, sealed)?;
        let body: LiveV1 = codec::decode_versioned(&plain, codec::MAX_RECORD_LEN)?;
        let peer = codec::peer_from(&body.peer)?;
        Ok(LiveEntry {
            item: LiveItem::from_key(key, peer)?,
            peer,
            state: codec::state_from_code(body.state)?,
            created_at_ms: body.created_at_ms,
            expires_at_ms: body.expires_at_ms,
            next_publish_at_ms: body.next_publish_at_ms,
        })
    }

    /// Every cool-down entry (at most one a decline or withdrawal in the last year), for the
    /// node to keep in memory. Damaged entries are skipped.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn cooldowns(&self) -> Result<Vec<CoolDown>, StoreError> {
        let mut out = Vec::new();
        for entry in self.connect_index.scan_prefix([COOLDOWN]) {
            let (key, value) = entry.map_err(StoreError::db)?;
            let decoded = self
                .open_sealed(trees::CONNECT_INDEX, &key, &value)
                .and_then(|plain| codec::decode_versioned::<CoolDownV1>(&plain, 4096))
                .and_then(|body| {
                    Ok(CoolDown {
                        peer: codec::peer_from(&body.peer)?,
                        declined: body.declined,
                        closed_at_ms: body.closed_at_ms,
                    })
                });
            match decoded {
                Ok(cooldown) => out.push(cooldown),
                Err(e) => self.note_skipped(trees::CONNECT_INDEX, &key, &e),
            }
        }
        Ok(out)
    }

    /// The index's counters.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn index_counts(&self) -> Result<IndexCounts, StoreError> {
        let read = |what: u8| -> Result<u64, StoreError> {
            let raw = self
                .connect_index
                .get(counter_key(what))
                .map_err(StoreError::db)?;
            Ok(raw
                .as_deref()
                .and_then(|r| codec::decode_u64(r).ok())
                .unwrap_or(0))
        };
        Ok(IndexCounts {
            pending_incoming: read(b'i')?,
            pending_outgoing: read(b'o')?,
            connections: read(b'c')?,
        })
    }
}

/// Applies `update` inside a transaction on the index tree. Reads the old live entry's pending
/// flag to keep the pending counters exact.
pub(crate) fn apply(
    index: &TransactionalTree,
    update: &IndexUpdate,
) -> crate::invites::TxResult<()> {
    let was_pending = index
        .get(&update.live_key)?
        .is_some_and(|old| old.first() == Some(&1));
    match &update.live_value {
        Some(value) => index.insert(&update.live_key[..], &value[..])?,
        None => index.remove(&update.live_key[..])?,
    };
    for (key, value) in &update.extra {
        index.insert(&key[..], &value[..])?;
    }
    if let Some(what) = update.counter
        && was_pending != update.pending
    {
        add_to_counter(index, what, update.pending)?;
    }
    Ok(())
}

/// Keeps the active-connection counter exact when a connection record is replaced by `new`
/// (`was_active`: whether the stored record it replaces, if any, was active; the caller opens
/// it, since the record is sealed).
pub(crate) fn apply_connection_count(
    index: &TransactionalTree,
    was_active: bool,
    new: &Connection,
) -> crate::invites::TxResult<()> {
    let is_active = new.revoked_at_ms.is_none();
    if was_active != is_active {
        add_to_counter(index, b'c', is_active)?;
    }
    Ok(())
}

fn add_to_counter(index: &TransactionalTree, what: u8, up: bool) -> crate::invites::TxResult<()> {
    let key = counter_key(what);
    let current = index
        .get(key)?
        .and_then(|raw| codec::decode_u64(&raw).ok())
        .unwrap_or(0);
    let next = if up {
        current.saturating_add(1)
    } else {
        current.saturating_sub(1)
    };
    index.insert(&key[..], &next.to_be_bytes()[..])?;
    Ok(())
}

/// Builds the index of a store written before it existed: one scan of the record trees, then
/// the marker. Returns whether it had to build (a store already indexed is not read).
pub(crate) fn ensure_built(store: &Store) -> Result<bool, StoreError> {
    if store.meta.get(BUILT_KEY).map_err(StoreError::db)?.is_some() {
        return Ok(false);
    }
    store.connect_index.clear().map_err(StoreError::db)?;
    let mut counts: BTreeMap<u8, u64> = BTreeMap::new();
    let mut batch = sled::Batch::default();
    let mut add = |update: IndexUpdate, batch: &mut sled::Batch| {
        if let Some(value) = update.live_value {
            batch.insert(update.live_key, value);
        }
        for (key, value) in update.extra {
            batch.insert(key, value);
        }
        if update.pending
            && let Some(what) = update.counter
        {
            *counts.entry(what).or_default() += 1;
        }
    };
    for invite in store.outgoing_invites()? {
        add(store.index_outgoing(&invite)?, &mut batch);
    }
    for invite in store.incoming_invites()? {
        add(store.index_incoming(&invite)?, &mut batch);
    }
    let mut active_connections: u64 = 0;
    for connection in store.connections()? {
        active_connections += u64::from(connection.revoked_at_ms.is_none());
        add(store.index_connection(&connection)?, &mut batch);
    }
    counts.insert(b'c', active_connections);
    for (what, count) in counts {
        batch.insert(&counter_key(what)[..], &count.to_be_bytes()[..]);
    }
    store
        .connect_index
        .apply_batch(batch)
        .map_err(StoreError::db)?;
    store
        .meta
        .insert(BUILT_KEY, &[1][..])
        .map_err(StoreError::db)?;
    store.flush()?;
    Ok(true)
}
