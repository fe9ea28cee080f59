//! What leaves for a connection, prepared on the store thread: our list's change log kept in
//! step with our connections, and the next frames owed to one connection, encrypted with its
//! ratchet state, which is advanced and written in the same job (the frames leave only once
//! that is durable, like every envelope).

use std::collections::BTreeSet;

use accord_channel::Session;
use accord_handshake::{Attestation, IntroductionNotice, ListUpdate, MAX_UPDATE_CHANGES, Profile};
use accord_identity::AccordId;
use accord_store::{PeopleSync, Store, StoreError};

use super::content::{ListChange, PeopleContent};
use super::sync::{self, Next, Own};
use crate::message::wire::{self, Content};
use crate::rng;

/// How many changes of our list the log keeps; a connection further behind gets the whole
/// list again.
const LOG_KEPT: u64 = 10_000;

/// What to record once the connection acknowledged every frame of a [`Plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OnAcknowledged {
    /// The connection's new marks.
    pub(crate) sync: Option<PeopleSync>,
    /// The owed introduction to drop.
    pub(crate) notice_slot: Option<Vec<u8>>,
}

/// Frames to send a connection, in order, and what their acknowledgement records.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) frames: Vec<Vec<u8>>,
    pub(crate) then: OnAcknowledged,
}

/// Brings our list's change log in step with our connections: each active connection is
/// published (when `share` is on), each other one is withdrawn, and a revoked connection's
/// own list and marks are forgotten. Returns whether our list changed.
pub(crate) fn reconcile(store: &Store, share: bool) -> Result<bool, StoreError> {
    let connections = store.connections()?;
    let mut current: Vec<(&[u8; 32], &[u8])> = Vec::new();
    for connection in &connections {
        if connection.revoked_at_ms.is_some() {
            store.forget_shared(&connection.peer)?;
        } else if share {
            current.push((&connection.attestation_id, &connection.attestation));
        }
    }
    let published: BTreeSet<[u8; 32]> = store.published_entries()?.into_iter().collect();
    let mut changed = false;
    for (id, bytes) in &current {
        if published.contains(*id) {
            continue;
        }
        // Our own attestations were verified when they were made; one that no longer
        // decodes is damaged and left out rather than shared.
        let Ok(attestation) = Attestation::decode(bytes) else {
            continue;
        };
        store.append_list_change(&ListChange::Added(Box::new(attestation)).encode(), LOG_KEPT)?;
        store.set_published(id, true)?;
        changed = true;
    }
    let current: BTreeSet<[u8; 32]> = current.iter().map(|(id, _)| **id).collect();
    for id in published.difference(&current) {
        let change = ListChange::Removed(accord_handshake::AttestationId(*id));
        store.append_list_change(&change.encode(), LOG_KEPT)?;
        store.set_published(id, false)?;
        changed = true;
    }
    Ok(changed)
}

/// The next frames owed to `peer`, if any can go now (an active, unblocked connection with
/// a channel).
pub(crate) fn prepare(
    store: &Store,
    me: AccordId,
    peer: AccordId,
) -> Result<Option<Plan>, StoreError> {
    let active = store
        .connection(&peer)?
        .is_some_and(|c| c.revoked_at_ms.is_none());
    if !active || store.is_blocked(&peer)? {
        return Ok(None);
    }
    let profile = store
        .own_profile()?
        .and_then(|bytes| Profile::decode(&bytes).ok());
    let own = Own {
        profile_version: profile.as_ref().map_or(0, |p| p.card.version),
        list_version: store.list_version()?,
    };
    let acked = store.people_sync(&peer)?;
    let (contents, then) = match (sync::next(own, acked), profile) {
        (Next::Profile, Some(profile)) => {
            let sync = PeopleSync {
                profile_acked: profile.card.version,
                ..acked
            };
            (vec![PeopleContent::Profile(profile)], with_sync(sync))
        }
        (Next::ListChanges { after }, _) => list_changes(store, me, after, acked)?,
        (Next::WholeList, _) => whole_list(store, me, own.list_version, acked)?,
        _ => match store.owed_notice(&peer)? {
            Some((slot, bytes)) => match IntroductionNotice::decode(&bytes) {
                Ok(notice) => (
                    vec![PeopleContent::Introduction(Box::new(notice))],
                    OnAcknowledged {
                        sync: None,
                        notice_slot: Some(slot),
                    },
                ),
                // A damaged queued notice is dropped, not sent.
                Err(_) => (
                    Vec::new(),
                    OnAcknowledged {
                        sync: None,
                        notice_slot: Some(slot),
                    },
                ),
            },
            None => return Ok(None),
        },
    };
    encrypt(store, peer, &contents, then)
}

fn with_sync(sync: PeopleSync) -> OnAcknowledged {
    OnAcknowledged {
        sync: Some(sync),
        notice_slot: None,
    }
}

/// The changes of our list after `after`, as one update; the whole list if the log no longer
/// reaches back that far.
fn list_changes(
    store: &Store,
    me: AccordId,
    after: u64,
    acked: PeopleSync,
) -> Result<(Vec<PeopleContent>, OnAcknowledged), StoreError> {
    let Some(changes) = store.list_changes_since(after, MAX_UPDATE_CHANGES)? else {
        return whole_list(store, me, store.list_version()?, acked);
    };
    let mut update = ListUpdate {
        owner: me,
        base: after,
        version: after,
        added: Vec::new(),
        removed: Vec::new(),
    };
    for (version, bytes) in changes {
        update.version = version;
        match ListChange::decode(&bytes) {
            Ok(ListChange::Added(attestation)) => update.added.push(*attestation),
            Ok(ListChange::Removed(id)) => update.removed.push(id),
            // A damaged log entry cannot be sent as a step: send the whole list instead.
            Err(_) => return whole_list(store, me, store.list_version()?, acked),
        }
    }
    let sync = PeopleSync {
        list_acked: update.version,
        ..acked
    };
    Ok((vec![PeopleContent::List(update)], with_sync(sync)))
}

/// Our whole published list, from scratch, in as many updates as it takes, ending at our
/// list version `version` so that later changes apply to it.
fn whole_list(
    store: &Store,
    me: AccordId,
    version: u64,
    acked: PeopleSync,
) -> Result<(Vec<PeopleContent>, OnAcknowledged), StoreError> {
    let published: BTreeSet<[u8; 32]> = store.published_entries()?.into_iter().collect();
    let entries: Vec<Attestation> = store
        .connections()?
        .into_iter()
        .filter(|c| c.revoked_at_ms.is_none() && published.contains(&c.attestation_id))
        .filter_map(|c| Attestation::decode(&c.attestation).ok())
        .collect();
    let chunks = entries.len().div_ceil(MAX_UPDATE_CHANGES).max(1) as u64;
    let first = version.saturating_add(1).saturating_sub(chunks).max(1);
    let updates = ListUpdate::full(me, &entries, first);
    let last = updates.last().map_or(version, |u| u.version);
    let sync = PeopleSync {
        list_acked: last,
        ..acked
    };
    let contents = updates.into_iter().map(PeopleContent::List).collect();
    Ok((contents, with_sync(sync)))
}

/// Encrypts `contents` for `peer` with its ratchet state and writes the advanced state.
fn encrypt(
    store: &Store,
    peer: AccordId,
    contents: &[PeopleContent],
    then: OnAcknowledged,
) -> Result<Option<Plan>, StoreError> {
    // No usable session: nothing goes now; it is owed until the channel is set up.
    let Some(state) = store.session(&peer)? else {
        return Ok(None);
    };
    let Ok(mut session) = Session::from_own_bytes(&state) else {
        return Ok(None);
    };
    let mut frames = Vec::with_capacity(contents.len());
    for content in contents {
        let plaintext = Content::People(content.encode()).encode();
        let Ok(envelope) = session.encrypt(&plaintext, &mut rng::os_rng()) else {
            return Ok(None);
        };
        let mut id = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut rng::os_rng(), &mut id);
        frames.push(wire::encode_request(&id, &envelope));
    }
    store.put_session(&peer, &session.to_bytes())?;
    Ok(Some(Plan { frames, then }))
}
