//! The Connect actor's side of the store: what it loads for the core at start, and how each
//! [`StoreOp`] the core asks for maps onto the store handle. No decision is taken here.

use accord_handshake::QuotaPolicy;
use accord_identity::AccordId;
use accord_store::{LiveItem, StoreError, StoreHandle};

use super::core::io::{StoreAnswer, StoreOp};
use super::core::memory::Loaded;

/// Loads what the core keeps in memory (see `core/memory.rs`): the live index and the
/// records it names, every connection, the block list, the cool-downs with their peers'
/// unblocking times, the quota window, the clock mark and the next purge.
pub(super) async fn load(store: &StoreHandle, now_ms: u64) -> Result<Loaded, StoreError> {
    let live_entries = store.live_entries().await?;
    let mut loaded = Loaded::default();
    for entry in &live_entries {
        match entry.item {
            LiveItem::Outgoing(id) => loaded.outgoing.extend(store.outgoing(&id).await?),
            LiveItem::Incoming(id) => loaded.incoming.extend(store.incoming(&id).await?),
            // Every connection is loaded below.
            LiveItem::Revocation(_) => {}
        }
    }
    loaded.live_entries = live_entries;
    // Read once at start-up (the list grows only with accepted connections, never with what
    // strangers send); from then on every change passes through the core.
    loaded.connections = store.connections().await?;
    loaded.blocked = store
        .run(|s| s.blocked())
        .await?
        .into_iter()
        .map(|(peer, _)| peer)
        .collect();
    loaded.cooldowns = store.cooldowns().await?;
    for cooldown in loaded.cooldowns.iter().filter(|c| c.declined) {
        if let Some(at) = unblocked_at(store, &cooldown.peer).await? {
            loaded.unblocked_at.push((cooldown.peer, at));
        }
    }
    loaded.high_water_ms = store.clock_high_water_ms().await?;
    let window = QuotaPolicy::default().window_ms;
    let since = now_ms.max(loaded.high_water_ms).saturating_sub(window);
    loaded.sent_at = store.quota_sent_at(since).await?;
    loaded.next_purge_ms = store.next_purge_at().await?;
    loaded.shard_level = store
        .meta(SHARD_LEVEL_KEY)
        .await?
        .and_then(|bytes| bytes.first().copied());
    Ok(loaded)
}

/// The meta key under which the shard level is kept (one byte), so that a node that restarts
/// publishes and subscribes at the level it had, rather than starting at the lowest until it
/// has seen enough peers again.
pub(super) const SHARD_LEVEL_KEY: &str = "gossip/shard_level";

/// The meta key under which the last unblocking of `peer` is kept (8 bytes, big-endian Unix
/// ms): it ends the decline cool-down early. An ID is at most 52 base58 characters, so the
/// key fits the store's 64-byte limit on meta keys.
fn unblocked_key(peer: &AccordId) -> String {
    format!("unblocked/{peer}")
}

async fn unblocked_at(store: &StoreHandle, peer: &AccordId) -> Result<Option<u64>, StoreError> {
    let bytes = store.meta(&unblocked_key(peer)).await?;
    Ok(bytes
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes))
}

/// Runs one store operation for the core. Writes are durable when they answer (the store's
/// group commit), except the clock mark, which the store keeps on purpose without a flush of
/// its own.
pub(super) async fn run_store_op(
    store: &StoreHandle,
    op: StoreOp,
) -> Result<StoreAnswer, StoreError> {
    use StoreAnswer::Done;
    match op {
        StoreOp::PutOutgoing(record) => store.put_outgoing(&record).await.map(|()| Done),
        StoreOp::RecordSentInvite {
            record,
            high_water_ms,
        } => store
            .record_sent_invite(&record, high_water_ms)
            .await
            .map(|()| Done),
        StoreOp::PutIncoming(record) => store.put_incoming(&record).await.map(|()| Done),
        StoreOp::RemoveIncoming(id) => store.remove_incoming(&id).await.map(|_| Done),
        StoreOp::AcceptIncoming {
            record,
            connection,
            session,
        } => store
            .accept_incoming(&record, &connection, &session.0)
            .await
            .map(|()| Done),
        StoreOp::CompleteOutgoing {
            invite_id,
            connection,
            closed_at_ms,
            session,
        } => store
            .complete_outgoing(&invite_id, &connection, closed_at_ms, &session.0)
            .await
            .map(StoreAnswer::Completed),
        StoreOp::PutConnection(connection) => {
            store.put_connection(&connection).await.map(|()| Done)
        }
        StoreOp::RevokeConnection(connection) => {
            store.revoke_connection(&connection).await.map(|()| Done)
        }
        StoreOp::Block { peer, at_ms } => store.block(&peer, at_ms).await.map(|()| Done),
        StoreOp::Unblock { peer, at_ms } => {
            store.unblock(&peer).await?;
            store
                .set_meta(&unblocked_key(&peer), &at_ms.to_be_bytes())
                .await?;
            // The time ends the decline cool-down early; it must survive a crash like the
            // unblocking it goes with. The flush joins the group commit.
            store.flush().await.map(|()| Done)
        }
        StoreOp::NoteClock(at_ms) => store.note_clock(at_ms).await.map(|()| Done),
        StoreOp::RecordPeer { peer, addrs, at_ms } => {
            store.record_peer(peer, &addrs, at_ms).await.map(|_| Done)
        }
        StoreOp::Purge(now_ms) => {
            store.purge_due(now_ms).await?;
            store.next_purge_at().await.map(StoreAnswer::NextPurge)
        }
        StoreOp::ReadOutgoing(_) | StoreOp::ReadIncoming(_) | StoreOp::ReadInvites => {
            read(store, op).await
        }
    }
}

/// Runs one of the core's reads.
async fn read(store: &StoreHandle, op: StoreOp) -> Result<StoreAnswer, StoreError> {
    match op {
        StoreOp::ReadOutgoing(id) => store.outgoing(&id).await.map(StoreAnswer::Outgoing),
        StoreOp::ReadIncoming(id) => store.incoming(&id).await.map(StoreAnswer::Incoming),
        StoreOp::ReadInvites => Ok(StoreAnswer::Invites {
            incoming: store.incoming_invites().await?,
            outgoing: store.outgoing_invites().await?,
        }),
        // Every other operation is a write, run by `run_store_op`.
        write => Box::pin(run_store_op(store, write)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unblocked_key_fits_the_store_for_any_id() {
        let mut rng = crate::rng::os_rng();
        for _ in 0..100 {
            let id = accord_identity::Identity::generate(&mut rng).id();
            let key = unblocked_key(&id);
            assert!(key.len() <= 64, "{key} is {} bytes", key.len());
            assert!(key.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
}
