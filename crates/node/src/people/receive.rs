//! Taking in a people content from a connection, on the store thread, inside the Message
//! actor's job that decrypted it: what it writes shares that job's flush with the new ratchet
//! state, and the sender is answered `stored` only after both are durable.
//!
//! Every content is checked before anything is written: a profile must be the sender's own
//! and verify; a list update must be the sender's list, every attestation in it must verify
//! and name the sender, and it must apply to our copy; an introduction must be signed by the
//! sender and name us. A resend of something already taken is acknowledged without being
//! applied twice.

use accord_handshake::profile::reencode_avatar;
use accord_handshake::{IntroductionNotice, ListError, ListUpdate, Profile};
use accord_identity::AccordId;
use accord_store::{PeerProfile, Store};

use super::content::{self, Direction, PeopleContent};

/// The most introductions kept (made and received together).
pub(crate) const INTRODUCTIONS_KEPT: usize = 500;

/// Why a people content was refused: a reason counted in `accord stats`.
pub(crate) type Refusal = &'static str;

/// Checks and stores a people content from `peer`. `Ok` means "acknowledge it" (taken, or
/// already taken); `Err` names why it was refused.
pub(crate) fn apply(store: &Store, peer: &AccordId, bytes: &[u8]) -> Result<(), Refusal> {
    match PeopleContent::decode(bytes).map_err(|_| "people_malformed")? {
        PeopleContent::Profile(profile) => take_profile(store, peer, &profile),
        PeopleContent::List(update) => take_list(store, peer, &update),
        PeopleContent::Introduction(notice) => take_introduction(store, peer, &notice),
    }
}

fn take_profile(store: &Store, peer: &AccordId, profile: &Profile) -> Result<(), Refusal> {
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
        // An older or the same version: acknowledged, never applied.
        return Ok(());
    }
    // The avatar is decoded and encoded again here: what we keep and ever show or write out
    // is our encoding, never the sender's bytes.
    let avatar = match &profile.avatar {
        Some(bytes) => Some(reencode_avatar(bytes).map_err(|_| "people_bad_avatar")?),
        None => None,
    };
    let record = PeerProfile {
        card: profile.card.encode(),
        avatar,
    };
    store
        .put_peer_profile(peer, &record)
        .map_err(|_| "store_failed_people")
}

fn take_list(store: &Store, peer: &AccordId, update: &ListUpdate) -> Result<(), Refusal> {
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
            return Ok(());
        }
        Err(ListError::TooManyEntries) => return Err("people_list_too_long"),
        Err(_) => return Err("people_list_out_of_step"),
    }
    store
        .put_shared_list(peer, &content::encode_list(&copy))
        .map_err(|_| "store_failed_people")
}

fn take_introduction(
    store: &Store,
    peer: &AccordId,
    notice: &IntroductionNotice,
) -> Result<(), Refusal> {
    let introduction = &notice.introduction;
    if introduction.introducer != *peer {
        return Err("people_not_senders_introduction");
    }
    introduction
        .verify()
        .map_err(|_| "people_bad_introduction")?;
    // The card sent along must be one of the two introduced, and verify.
    if let Some(card) = &notice.other_card
        && ((card.id != introduction.first && card.id != introduction.second)
            || card.verify().is_err())
    {
        return Err("people_bad_introduction");
    }
    let record = content::encode_introduction(Direction::Received, notice);
    // Keyed by the introduction's own time and signature, so a resend overwrites itself.
    let nonce = nonce_of(&introduction.signature.to_bytes());
    store
        .put_introduction(
            introduction.created_at_ms,
            nonce,
            &record,
            INTRODUCTIONS_KEPT,
        )
        .map_err(|_| "store_failed_people")
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

    #[test]
    fn an_older_profile_never_replaces_a_newer_one() {
        let (_dir, store) = store();
        let ada = identity(1);
        let old = Profile::create(&ada, 5, "Ada", "", None).unwrap();
        let new = Profile::create(&ada, 6, "Ada L.", "", None).unwrap();
        let content = |p: &Profile| PeopleContent::Profile(p.clone()).encode();
        apply(&store, &ada.id(), &content(&new)).unwrap();
        // The older one arrives late: acknowledged, not applied.
        apply(&store, &ada.id(), &content(&old)).unwrap();
        assert_eq!(stored_name(&store, &ada.id()), "Ada L.");
        // Someone else's profile sent by Ada is refused and changes nothing.
        let bob = Profile::create(&identity(2), 9, "Bob", "", None).unwrap();
        assert_eq!(
            apply(&store, &ada.id(), &content(&bob)),
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
        apply(&store, &owner.id(), &bytes(&first)).unwrap();
        let next = ListUpdate {
            base: 4,
            version: 5,
            ..first.clone()
        };
        apply(&store, &owner.id(), &bytes(&next)).unwrap();
        // A resend of a step already taken is acknowledged without applying it again.
        apply(&store, &owner.id(), &bytes(&next)).unwrap();
        let list = content::decode_list(&store.shared_list(&owner.id()).unwrap().unwrap()).unwrap();
        assert_eq!(list.version, 5);
        let gap = ListUpdate {
            base: 7,
            version: 8,
            ..first.clone()
        };
        assert_eq!(
            apply(&store, &owner.id(), &bytes(&gap)),
            Err("people_list_out_of_step")
        );
        // A list sent by someone else in the owner's name is refused.
        assert_eq!(
            apply(&store, &identity(4).id(), &bytes(&first)),
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
            apply(&store, &c.id(), &bytes),
            Err("people_not_senders_introduction")
        );
        apply(&store, &b.id(), &bytes).unwrap();
        apply(&store, &b.id(), &bytes).unwrap();
        assert_eq!(store.introductions(10).unwrap().len(), 1);
    }
}
