//! Taking in a people content from a connection, on the store thread, inside the Message
//! actor's job that decrypted it: what it writes shares that job's flush with the new ratchet
//! state, and the sender is answered `stored` only after both are durable.
//!
//! Every content is checked before anything is written: a profile must be the sender's own
//! and verify; a list update must be the sender's list, every attestation in it must verify
//! and name the sender, and it must apply to our copy; an introduction must be signed by the
//! sender and name us. A resend of something already taken is acknowledged without being
//! applied twice, and without an event: only a content that changed something is announced
//! (`profile_updated`, `shared_list_updated`, `introduction_received`), after the flush.

use accord_api::Event;
use accord_handshake::profile::reencode_avatar;
use accord_handshake::{IntroductionNotice, ListError, ListUpdate, Profile};
use accord_identity::AccordId;
use accord_store::{PeerProfile, Store};

use super::content::{self, Direction, PeopleContent};
use super::network::shown_name;

/// The most introductions kept (made and received together).
pub(crate) const INTRODUCTIONS_KEPT: usize = 500;

/// Why a people content was refused: a reason counted in `accord stats`.
pub(crate) type Refusal = &'static str;

/// Checks and stores a people content that `peer` sent us (`me`). `Ok` means "acknowledge
/// it" (taken, or already taken), with the event to announce once it is durable if it
/// changed something; `Err` names why it was refused.
pub(crate) fn apply(
    store: &Store,
    me: AccordId,
    peer: &AccordId,
    bytes: &[u8],
) -> Result<Option<Event>, Refusal> {
    match PeopleContent::decode(bytes).map_err(|_| "people_malformed")? {
        PeopleContent::Profile(profile) => take_profile(store, peer, &profile),
        PeopleContent::List(update) => take_list(store, peer, &update),
        PeopleContent::Introduction(notice) => take_introduction(store, me, peer, &notice),
    }
}

fn take_profile(
    store: &Store,
    peer: &AccordId,
    profile: &Profile,
) -> Result<Option<Event>, Refusal> {
    if profile.card.id != *peer {
        return Err("people_not_senders_profile");
    }
    profile.verify().map_err(|_| "people_bad_profile")?;
    let stored = store
        .peer_profile(peer)
        .map_err(|_| "store_failed_people")?;
    if let Some(stored) = stored
        && let Ok(card) = accord_handshake::ProfileCard::decode(&stored.card)
        && !profile.card.supersedes(&card)
    {
        // An older or the same version: acknowledged, never applied, not announced.
        return Ok(None);
    }
    // The avatar is decoded and encoded again here: what we keep and ever show or write out
    // is our encoding, never the sender's bytes.
    let avatar = match &profile.avatar {
        Some(bytes) => Some(reencode_avatar(bytes).map_err(|_| "people_bad_avatar")?),
        None => None,
    };
    let avatar_bytes = avatar.as_ref().map_or(0, |a| a.len() as u64);
    let record = PeerProfile {
        card: profile.card.encode(),
        avatar,
    };
    store
        .put_peer_profile(peer, &record)
        .map_err(|_| "store_failed_people")?;
    Ok(Some(Event::ProfileUpdated {
        peer: peer.to_string(),
        name: profile.card.name.clone(),
        headline: profile.card.headline.clone(),
        version: profile.card.version,
        avatar_bytes,
    }))
}

fn take_list(
    store: &Store,
    peer: &AccordId,
    update: &ListUpdate,
) -> Result<Option<Event>, Refusal> {
    if update.owner != *peer {
        return Err("people_not_senders_list");
    }
    update.verify().map_err(|_| "people_bad_list")?;
    let mut copy = match store.shared_list(peer).map_err(|_| "store_failed_people")? {
        Some(bytes) => content::decode_list(&bytes).unwrap_or_default(),
        None => accord_handshake::SharedList::default(),
    };
    match copy.apply(update) {
        Ok(()) => {}
        // A step our copy already took (a resend after a lost answer): acknowledged as is.
        Err(ListError::WrongBase { base, have }) if base < have && update.version <= have => {
            return Ok(None);
        }
        Err(ListError::TooManyEntries) => return Err("people_list_too_long"),
        Err(_) => return Err("people_list_out_of_step"),
    }
    store
        .put_shared_list(peer, &content::encode_list(&copy))
        .map_err(|_| "store_failed_people")?;
    Ok(Some(Event::SharedListUpdated {
        peer: peer.to_string(),
        version: copy.version,
        entries: copy.entries.len() as u64,
    }))
}

fn take_introduction(
    store: &Store,
    me: AccordId,
    peer: &AccordId,
    notice: &IntroductionNotice,
) -> Result<Option<Event>, Refusal> {
    let introduction = &notice.introduction;
    if introduction.introducer != *peer {
        return Err("people_not_senders_introduction");
    }
    // An introduction of two other people is none of our business: it would only take room
    // among the introductions we keep.
    let Some(introduced) = introduction.other_than(&me) else {
        return Err("people_not_our_introduction");
    };
    introduction
        .verify()
        .map_err(|_| "people_bad_introduction")?;
    // The card sent along must be the other person's, and verify.
    if let Some(card) = &notice.other_card
        && (card.id != introduced || card.verify().is_err())
    {
        return Err("people_bad_introduction");
    }
    let record = content::encode_introduction(Direction::Received, notice);
    // Keyed by the introduction's own time and signature, so a resend overwrites itself.
    let nonce = nonce_of(&introduction.signature.to_bytes());
    let new = store
        .put_introduction(
            introduction.created_at_ms,
            nonce,
            &record,
            INTRODUCTIONS_KEPT,
        )
        .map_err(|_| "store_failed_people")?;
    if !new {
        return Ok(None);
    }
    let introducer_name = shown_name(store, peer).map_err(|_| "store_failed_people")?;
    Ok(Some(Event::IntroductionReceived {
        introducer: peer.to_string(),
        introducer_name,
        peer: introduced.to_string(),
        name: notice.other_card.as_ref().map(|card| card.name.clone()),
        note: introduction.note.as_str().to_owned(),
    }))
}

/// Eight bytes that tell two introductions stored at the same millisecond apart.
pub(crate) fn nonce_of(signature: &[u8]) -> [u8; 8] {
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&signature[..8]);
    nonce
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use accord_handshake::{ListUpdate, Note, Profile};
    use accord_identity::Identity;
    use accord_store::StoreConfig;
    use zeroize::Zeroizing;

    fn identity(n: u8) -> Identity {
        Identity::from_seed(Zeroizing::new([n; 32]))
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let key = identity(99).store_key();
        let store = Store::open(&dir.path().join("db"), &StoreConfig::default(), &key).unwrap();
        (dir, store)
    }

    fn stored_name(store: &Store, peer: &AccordId) -> String {
        let record = store.peer_profile(peer).unwrap().unwrap();
        accord_handshake::ProfileCard::decode(&record.card)
            .unwrap()
            .name
    }

    /// Who receives in these tests.
    fn me() -> AccordId {
        identity(100).id()
    }

    #[test]
    fn an_older_profile_never_replaces_a_newer_one() {
        let (_dir, store) = store();
        let ada = identity(1);
        let old = Profile::create(&ada, 5, "Ada", "", None).unwrap();
        let new = Profile::create(&ada, 6, "Ada L.", "", None).unwrap();
        let content = |p: &Profile| PeopleContent::Profile(p.clone()).encode();
        let event = apply(&store, me(), &ada.id(), &content(&new)).unwrap();
        assert_eq!(
            event,
            Some(Event::ProfileUpdated {
                peer: ada.id().to_string(),
                name: "Ada L.".to_owned(),
                headline: String::new(),
                version: 6,
                avatar_bytes: 0,
            })
        );
        // The older one arrives late, and the same one again: acknowledged, not applied,
        // not announced.
        assert_eq!(apply(&store, me(), &ada.id(), &content(&old)), Ok(None));
        assert_eq!(apply(&store, me(), &ada.id(), &content(&new)), Ok(None));
        assert_eq!(stored_name(&store, &ada.id()), "Ada L.");
        // Someone else's profile sent by Ada is refused and changes nothing.
        let bob = Profile::create(&identity(2), 9, "Bob", "", None).unwrap();
        assert_eq!(
            apply(&store, me(), &ada.id(), &content(&bob)),
            Err("people_not_senders_profile")
        );
        assert_eq!(store.peer_profile(&identity(2).id()).unwrap(), None);
    }

    #[test]
    fn list_steps_apply_once_and_out_of_step_ones_are_refused() {
        let (_dir, store) = store();
        let owner = identity(3);
        let first = ListUpdate {
            owner: owner.id(),
            base: 0,
            version: 4,
            added: vec![],
            removed: vec![],
        };
        let bytes = |u: &ListUpdate| PeopleContent::List(u.clone()).encode();
        let event = apply(&store, me(), &owner.id(), &bytes(&first)).unwrap();
        assert!(matches!(
            event,
            Some(Event::SharedListUpdated {
                version: 4,
                entries: 0,
                ..
            })
        ));
        let next = ListUpdate {
            base: 4,
            version: 5,
            ..first.clone()
        };
        assert!(
            apply(&store, me(), &owner.id(), &bytes(&next))
                .unwrap()
                .is_some()
        );
        // A resend of a step already taken is acknowledged without applying it again.
        assert_eq!(apply(&store, me(), &owner.id(), &bytes(&next)), Ok(None));
        let list = content::decode_list(&store.shared_list(&owner.id()).unwrap().unwrap()).unwrap();
        assert_eq!(list.version, 5);
        let gap = ListUpdate {
            base: 7,
            version: 8,
            ..first.clone()
        };
        assert_eq!(
            apply(&store, me(), &owner.id(), &bytes(&gap)),
            Err("people_list_out_of_step")
        );
        // A list sent by someone else in the owner's name is refused.
        assert_eq!(
            apply(&store, me(), &identity(4).id(), &bytes(&first)),
            Err("people_not_senders_list")
        );
    }

    #[test]
    fn introductions_must_come_from_their_introducer() {
        let (_dir, store) = store();
        let (a, b, c) = (identity(5), identity(6), identity(7));
        let introduction =
            accord_handshake::Introduction::create(&b, a.id(), c.id(), Note::empty(), 1).unwrap();
        let notice = IntroductionNotice {
            introduction,
            other_card: None,
        };
        let bytes = PeopleContent::Introduction(Box::new(notice)).encode();
        assert_eq!(
            apply(&store, a.id(), &c.id(), &bytes),
            Err("people_not_senders_introduction")
        );
        let event = apply(&store, a.id(), &b.id(), &bytes).unwrap();
        let Some(Event::IntroductionReceived {
            introducer, peer, ..
        }) = event
        else {
            panic!("no introduction_received: {event:?}");
        };
        assert_eq!((introducer, peer), (b.id().to_string(), c.id().to_string()));
        // A resend is kept once and announced once.
        assert_eq!(apply(&store, a.id(), &b.id(), &bytes), Ok(None));
        assert_eq!(store.introductions(10).unwrap().len(), 1);
        // An introduction that does not name the receiver is refused.
        assert_eq!(
            apply(&store, identity(8).id(), &b.id(), &bytes),
            Err("people_not_our_introduction")
        );
    }
}
