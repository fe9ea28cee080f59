//! The people requests, answered on the store thread: profiles, degrees, suggestions and the
//! introductions list. Each takes the store and gives the API's type or a refusal the user
//! can act on.

use std::str::FromStr;

use accord_api::{
    ErrorCode, IntroductionInfo, MutualInfo, PersonInfo, ProfileInfo, ProfileSummary, RemoteError,
    SuggestionInfo,
};
use accord_handshake::{Degree, Invite, ProfileCard};
use accord_identity::AccordId;
use accord_store::{Store, StoreError};

use super::content::{self, Direction};
use super::network::{Snapshot, known_card, shown_name};
use crate::hex;

/// The most suggestions listed.
const MAX_SUGGESTIONS: usize = 100;
/// The most introductions listed.
const MAX_LISTED_INTRODUCTIONS: usize = 200;

pub(crate) fn invalid(message: impl Into<String>) -> RemoteError {
    RemoteError::new(ErrorCode::InvalidParams, message)
}

pub(crate) fn store_failed(err: StoreError) -> RemoteError {
    RemoteError::new(ErrorCode::Internal, err.to_string())
}

/// `text` as an Accord ID, or the connection with that alias.
pub(crate) fn resolve(store: &Store, text: &str) -> Result<AccordId, RemoteError> {
    let text = text.trim();
    if let Ok(id) = AccordId::from_str(text) {
        return Ok(id);
    }
    let connections = store.connections().map_err(store_failed)?;
    connections
        .into_iter()
        .find(|c| c.alias.as_deref() == Some(text))
        .map(|c| c.peer)
        .ok_or_else(|| {
            invalid(format!(
                "{text:?} is neither an Accord ID nor the alias of a connection"
            ))
        })
}

/// The card we know for `peer`: the one from their profile, else the one sealed in a
/// pending invite of theirs.
fn best_card(store: &Store, peer: &AccordId) -> Result<Option<ProfileCard>, StoreError> {
    if let Some(card) = known_card(store, peer)? {
        return Ok(Some(card));
    }
    Ok(store
        .incoming_invites()?
        .into_iter()
        .filter(|record| record.peer == *peer)
        .filter_map(|record| Invite::decode(&record.invite).ok())
        .filter_map(|invite| invite.presentation.card)
        .max_by_key(|card| card.version))
}

/// `profile` (ours) and `profile <ID|ALIAS>`.
pub(crate) fn profile(
    store: &Store,
    me: AccordId,
    peer: Option<&str>,
    with_avatar: bool,
) -> Result<ProfileInfo, RemoteError> {
    let target = match peer {
        Some(text) => resolve(store, text)?,
        None => me,
    };
    let (card, avatar) = if target == me {
        let profile = store
            .own_profile()
            .map_err(store_failed)?
            .and_then(|bytes| accord_handshake::Profile::decode(&bytes).ok());
        match profile {
            Some(profile) => (Some(profile.card), profile.avatar),
            None => (None, None),
        }
    } else {
        let avatar = store
            .peer_profile(&target)
            .map_err(store_failed)?
            .and_then(|record| record.avatar);
        (best_card(store, &target).map_err(store_failed)?, avatar)
    };
    Ok(profile_info(
        target,
        card.as_ref(),
        avatar.as_deref(),
        with_avatar,
    ))
}

/// The API's view of a card and avatar.
pub(crate) fn profile_info(
    id: AccordId,
    card: Option<&ProfileCard>,
    avatar: Option<&[u8]>,
    with_avatar: bool,
) -> ProfileInfo {
    ProfileInfo {
        id: id.to_string(),
        name: card.map(|c| c.name.clone()),
        headline: card.map(|c| c.headline.clone()),
        version: card.map_or(0, |c| c.version),
        avatar_bytes: avatar.map_or(0, |a| a.len() as u64),
        avatar_hex: with_avatar.then(|| avatar.map(hex::encode).unwrap_or_default()),
    }
}

/// `people <ID|ALIAS>`.
pub(crate) fn person(store: &Store, me: AccordId, peer: &str) -> Result<PersonInfo, RemoteError> {
    let target = resolve(store, peer)?;
    if target == me {
        return Err(invalid(
            "that is you: `accord profile` shows your own profile",
        ));
    }
    let snapshot = Snapshot::read(store).map_err(store_failed)?;
    let standing = snapshot.standing(me, &target);
    let mut mutual = Vec::with_capacity(standing.mutual.len());
    for id in &standing.mutual {
        mutual.push(MutualInfo {
            id: id.to_string(),
            name: shown_name(store, id).map_err(store_failed)?,
        });
    }
    let profile = best_card(store, &target)
        .map_err(store_failed)?
        .map(|card| ProfileSummary {
            name: card.name,
            headline: card.headline,
            version: card.version,
        });
    Ok(PersonInfo {
        id: target.to_string(),
        degree: standing.degree.number(),
        mutual,
        profile,
    })
}

/// `suggestions`: second-degree people, most mutual connections first.
pub(crate) fn suggestions(store: &Store, me: AccordId) -> Result<Vec<SuggestionInfo>, RemoteError> {
    let snapshot = Snapshot::read(store).map_err(store_failed)?;
    let network = snapshot.network(me);
    let blocked = |id: &AccordId| store.is_blocked(id).unwrap_or(false);
    let mut list = Vec::new();
    for (id, mutual) in network.suggestions().into_iter().take(MAX_SUGGESTIONS) {
        if blocked(&id) || network.standing(&id).degree != Degree::Second {
            continue;
        }
        list.push(SuggestionInfo {
            id: id.to_string(),
            name: shown_name(store, &id).map_err(store_failed)?,
            mutual: mutual as u64,
        });
    }
    Ok(list)
}

/// `introductions`: the ones we made and received, newest first.
pub(crate) fn introductions(
    store: &Store,
    me: AccordId,
) -> Result<Vec<IntroductionInfo>, RemoteError> {
    let records = store
        .introductions(MAX_LISTED_INTRODUCTIONS)
        .map_err(store_failed)?;
    let mut list = Vec::with_capacity(records.len());
    for bytes in records {
        // A damaged record is skipped; the others still list.
        let Ok((direction, notice)) = content::decode_introduction(&bytes) else {
            continue;
        };
        let introduction = &notice.introduction;
        let (peer, other) = match direction {
            Direction::Made => (introduction.first, Some(introduction.second.to_string())),
            Direction::Received => match introduction.other_than(&me) {
                Some(peer) => (peer, None),
                None => continue,
            },
        };
        let card = notice.other_card.as_ref().filter(|card| card.id == peer);
        list.push(IntroductionInfo {
            introducer: introduction.introducer.to_string(),
            introducer_name: shown_name(store, &introduction.introducer).map_err(store_failed)?,
            peer: peer.to_string(),
            name: card.map(|c| c.name.clone()),
            headline: card.map(|c| c.headline.clone()),
            other,
            note: introduction.note.as_str().to_owned(),
            created_at: accord_api::format_rfc3339_ms(introduction.created_at_ms),
        });
    }
    Ok(list)
}
