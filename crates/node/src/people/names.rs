//! Names in every view: the API's lists and events carry the name we show for each peer (the
//! local alias first, then the name in their profile or, for an inviter, the one sealed in
//! their invite), and incoming invites carry the headline, the mutual connections and the
//! introducer. Filled in at the control-socket edge, in one store job per answer.

use std::str::FromStr;

use accord_api::{
    ConnectionInfo, ConversationInfo, Event, InviteDirection, InviteInfo, MessageInfo,
};
use accord_handshake::Invite;
use accord_identity::AccordId;
use accord_store::{Store, StoreError};

use super::network::{Snapshot, known_card, shown_name};
use crate::hex;

fn id_of(text: &str) -> Option<AccordId> {
    AccordId::from_str(text).ok()
}

/// The name of `text` (an Accord ID), or of ourselves from our own profile.
fn name_of(store: &Store, me: AccordId, text: &str) -> Result<Option<String>, StoreError> {
    let Some(id) = id_of(text) else {
        return Ok(None);
    };
    if id == me {
        return Ok(store
            .own_profile()?
            .and_then(|bytes| accord_handshake::Profile::decode(&bytes).ok())
            .map(|p| p.card.name));
    }
    shown_name(store, &id)
}

/// Names, headlines, mutual connections and introducers on invites.
pub(crate) fn invites(
    store: &Store,
    me: AccordId,
    list: &mut [InviteInfo],
) -> Result<(), StoreError> {
    let snapshot = Snapshot::read(store)?;
    for info in list.iter_mut() {
        let Some(peer) = id_of(&info.peer) else {
            continue;
        };
        info.mutual = snapshot
            .standing(me, &peer)
            .mutual
            .iter()
            .map(ToString::to_string)
            .collect();
        let card = known_card(store, &peer)?;
        info.headline = card.as_ref().map(|c| c.headline.clone());
        info.name = shown_name(store, &peer)?;
        if info.direction == InviteDirection::Incoming {
            present_incoming(store, &snapshot, info)?;
        }
    }
    Ok(())
}

/// What an incoming invite itself presents: the inviter's card (unless we know a newer
/// profile) and an introduction by one of our connections (it verified when the invite
/// arrived; that the introducer is our connection is checked here, now).
fn present_incoming(
    store: &Store,
    snapshot: &Snapshot,
    info: &mut InviteInfo,
) -> Result<(), StoreError> {
    let Some(invite_id) = hex::decode::<16>(&info.invite_id) else {
        return Ok(());
    };
    let Some(record) = store.incoming(&invite_id)? else {
        return Ok(());
    };
    let Ok(invite) = Invite::decode(&record.invite) else {
        return Ok(());
    };
    let known_version = known_card(store, &record.peer)?.map_or(0, |c| c.version);
    if let Some(card) = invite.presentation.card
        && card.version > known_version
    {
        let alias = store.connection(&record.peer)?.and_then(|c| c.alias);
        info.name = alias.or(Some(card.name));
        info.headline = Some(card.headline);
    }
    info.introduced_by = invite
        .presentation
        .introduction
        .filter(|i| snapshot.connections.contains(&i.introducer))
        .map(|i| i.introducer.to_string());
    Ok(())
}

/// Names on connections. The alias is read back from the store too: it is set through the
/// Message half (`alias`), so the Connect core's own copy of the record can be older.
pub(crate) fn connections(store: &Store, list: &mut [ConnectionInfo]) -> Result<(), StoreError> {
    for info in list.iter_mut() {
        if let Some(peer) = id_of(&info.peer) {
            if let Some(connection) = store.connection(&peer)? {
                info.alias = connection.alias;
            }
            info.name = shown_name(store, &peer)?;
        }
    }
    Ok(())
}

/// Names on conversations.
pub(crate) fn conversations(
    store: &Store,
    list: &mut [ConversationInfo],
) -> Result<(), StoreError> {
    for info in list.iter_mut() {
        if let Some(peer) = id_of(&info.peer) {
            info.name = shown_name(store, &peer)?;
        }
    }
    Ok(())
}

/// The sender's name on each message of a conversation.
pub(crate) fn messages(
    store: &Store,
    me: AccordId,
    list: &mut [MessageInfo],
) -> Result<(), StoreError> {
    // A conversation has two senders: look each up once.
    let mut known: Vec<(String, Option<String>)> = Vec::with_capacity(2);
    for info in list.iter_mut() {
        if let Some((_, name)) = known.iter().find(|(from, _)| *from == info.from) {
            info.name = name.clone();
            continue;
        }
        let name = name_of(store, me, &info.from)?;
        known.push((info.from.clone(), name.clone()));
        info.name = name;
    }
    Ok(())
}

/// The name on an event about a peer.
pub(crate) fn event(store: &Store, event: &mut Event) -> Result<(), StoreError> {
    match event {
        Event::InviteReceived {
            invite_id,
            peer,
            name,
            ..
        } => {
            let mut info = [InviteInfo {
                invite_id: invite_id.clone(),
                direction: InviteDirection::Incoming,
                peer: peer.clone(),
                note: String::new(),
                state: String::new(),
                created_at: String::new(),
                expires_at: String::new(),
                name: None,
                headline: None,
                mutual: Vec::new(),
                introduced_by: None,
            }];
            if let Some(id) = id_of(peer) {
                info[0].name = shown_name(store, &id)?;
                present_incoming(store, &Snapshot::default(), &mut info[0])?;
            }
            let [info] = info;
            *name = info.name;
        }
        Event::MessageReceived { peer, name, .. } => {
            if let Some(id) = id_of(peer) {
                *name = shown_name(store, &id)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// [`event`] in a store job; an event the store cannot name goes out as it is.
pub(crate) async fn named_event(store: &accord_store::StoreHandle, mut event: Event) -> Event {
    if !matches!(
        event,
        Event::InviteReceived { .. } | Event::MessageReceived { .. }
    ) {
        return event;
    }
    let original = event.clone();
    match store
        .run(move |s| {
            self::event(s, &mut event)?;
            Ok(event)
        })
        .await
    {
        Ok(named) => named,
        Err(_) => original,
    }
}
