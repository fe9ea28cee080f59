//! What we sign: our profile, introductions we make, and what our invites present.

use accord_api::{IntroductionInfo, ProfileInfo, RemoteError};
use accord_handshake::{
    Introduction, IntroductionNotice, Note, Presentation, Profile, ProfileCard,
};
use accord_identity::{AccordId, Identity};
use accord_store::Store;

use super::commands::{invalid, profile_info, resolve, store_failed};
use super::content::{self, Direction};
use super::network::known_card;
use super::receive::{INTRODUCTIONS_KEPT, nonce_of};
use super::sync::next_profile_version;

/// The most introductions queued for one connection until it acknowledges them.
const NOTICES_QUEUED: usize = 32;

/// The largest avatar, as hex, that is worth decoding (the image checks come after).
const AVATAR_HEX_MAX: usize = 2 * accord_handshake::profile::AVATAR_MAX_BYTES;

/// What `profile set` asks for.
pub(crate) struct ProfileChange {
    pub(crate) name: String,
    pub(crate) headline: Option<String>,
    pub(crate) avatar_hex: Option<String>,
}

/// Our own profile, if set.
fn own_profile(store: &Store) -> Result<Option<Profile>, RemoteError> {
    Ok(store
        .own_profile()
        .map_err(store_failed)?
        .and_then(|bytes| Profile::decode(&bytes).ok()))
}

/// `profile set`: a new version of our profile, signed and stored. The headline and avatar
/// not given are kept.
pub(crate) fn set_profile(
    store: &Store,
    identity: &Identity,
    change: ProfileChange,
    now_ms: u64,
) -> Result<ProfileInfo, RemoteError> {
    let previous = own_profile(store)?;
    let version = next_profile_version(previous.as_ref().map_or(0, |p| p.card.version), now_ms);
    let headline = change
        .headline
        .or_else(|| previous.as_ref().map(|p| p.card.headline.clone()))
        .unwrap_or_default();
    let profile = match change.avatar_hex {
        Some(text) => {
            if text.len() > AVATAR_HEX_MAX {
                return Err(invalid("the avatar is larger than 64 KiB"));
            }
            let file = decode_hex(&text).ok_or_else(|| invalid("the avatar is not hex"))?;
            Profile::create(identity, version, &change.name, &headline, Some(&file))
        }
        None => {
            // Keep our own earlier encoding as it is: encoding it again would only lose
            // quality (JPEG) for nothing.
            let avatar = previous.and_then(|p| p.avatar);
            ProfileCard::create(
                identity,
                version,
                &change.name,
                &headline,
                avatar.as_deref(),
            )
            .map(|card| Profile { card, avatar })
        }
    }
    .map_err(|err| invalid(err.to_string()))?;
    store
        .put_own_profile(&profile.encode())
        .map_err(store_failed)?;
    Ok(profile_info(
        identity.id(),
        Some(&profile.card),
        profile.avatar.as_deref(),
        false,
    ))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An active connection named by `text`, or a refusal that says why not.
fn connection(store: &Store, me: AccordId, text: &str) -> Result<AccordId, RemoteError> {
    let id = resolve(store, text)?;
    if id == me {
        return Err(invalid("you cannot introduce yourself"));
    }
    let active = store
        .connection(&id)
        .map_err(store_failed)?
        .is_some_and(|c| c.revoked_at_ms.is_none());
    if !active {
        return Err(invalid(format!("{id} is not one of your connections")));
    }
    Ok(id)
}

/// `introduce A B`: signs an introduction and queues it for both, each with the other's
/// card. Returns the introduction and the two people to send it to.
pub(crate) fn introduce(
    store: &Store,
    identity: &Identity,
    (first, second, note): (&str, &str, &str),
    now_ms: u64,
) -> Result<(IntroductionInfo, [AccordId; 2]), RemoteError> {
    let me = identity.id();
    let first = connection(store, me, first)?;
    let second = connection(store, me, second)?;
    if first == second {
        return Err(invalid("introduce two different connections"));
    }
    let note =
        Note::new(note, Note::MAX_CHARS).map_err(|err| invalid(format!("invalid note: {err}")))?;
    let introduction = Introduction::create(identity, first, second, note, now_ms)
        .map_err(|err| invalid(err.to_string()))?;
    let nonce = nonce_of(&introduction.signature.to_bytes());
    for (to, other) in [(first, second), (second, first)] {
        let notice = IntroductionNotice {
            introduction: introduction.clone(),
            other_card: known_card(store, &other).map_err(store_failed)?,
        };
        store
            .put_owed_notice(&to, now_ms, nonce, &notice.encode(), NOTICES_QUEUED)
            .map_err(store_failed)?;
    }
    let record = IntroductionNotice {
        introduction: introduction.clone(),
        other_card: None,
    };
    store
        .put_introduction(
            now_ms,
            nonce,
            &content::encode_introduction(Direction::Made, &record),
            INTRODUCTIONS_KEPT,
        )
        .map_err(store_failed)?;
    let info = IntroductionInfo {
        introducer: me.to_string(),
        introducer_name: own_profile(store)?.map(|p| p.card.name),
        peer: first.to_string(),
        name: known_card(store, &first)
            .map_err(store_failed)?
            .map(|c| c.name),
        headline: None,
        other: Some(second.to_string()),
        note: introduction.note.as_str().to_owned(),
        created_at: accord_api::format_rfc3339_ms(now_ms),
    };
    Ok((info, [first, second]))
}

/// What an invite from us to `invitee` presents: our profile card, and with `via`, the
/// introduction that connection made of us and the invitee.
pub(crate) fn presentation(
    store: &Store,
    me: AccordId,
    invitee: &AccordId,
    via: Option<&str>,
) -> Result<Presentation, RemoteError> {
    let card = own_profile(store)?.map(|p| p.card);
    let introduction = match via {
        None => None,
        Some(text) => Some(received_introduction(store, me, invitee, text)?),
    };
    Ok(Presentation { card, introduction })
}

/// The newest introduction the connection `introducer` sent us of `invitee`.
fn received_introduction(
    store: &Store,
    me: AccordId,
    invitee: &AccordId,
    introducer: &str,
) -> Result<Introduction, RemoteError> {
    let introducer = resolve(store, introducer)?;
    let records = store
        .introductions(INTRODUCTIONS_KEPT)
        .map_err(store_failed)?;
    records
        .iter()
        .filter_map(|bytes| content::decode_introduction(bytes).ok())
        .filter(|(direction, _)| *direction == Direction::Received)
        .map(|(_, notice)| notice.introduction)
        .find(|i| i.introducer == introducer && i.introduces(&me, invitee))
        .ok_or_else(|| {
            invalid(format!(
                "{introducer} has not introduced you to {invitee}; see `accord introductions`"
            ))
        })
}
