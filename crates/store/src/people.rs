//! The people records (design §12): our own profile, what we know of others' profiles, the
//! connection lists our connections shared with us, our own list's change log, what each
//! connection has acknowledged of ours, and introductions.
//!
//! All live in the one tree [`trees::PEOPLE`], under a one-byte kind prefix. The store does
//! not interpret the bytes it is given (the node encodes and verifies them with
//! `accord-handshake`); it keys, seals and bounds them. Records about a peer are keyed by the
//! peer's slot (a keyed hash of its ID, see `peer_slot.rs`), never by its ID, so a copied
//! database does not show whose profiles and lists it holds; a list's owner is kept inside its
//! sealed value. Values that say who someone knows or
//! what they wrote are sealed like the other private records (see [`crate::at_rest`]):
//! profiles, lists, the change log and introductions. The version marks are plain numbers.
//!
//! | key | value |
//! |---|---|
//! | `O` | sealed(our encoded profile) |
//! | `P` ‖ peer slot | sealed(`0x01` ‖ card length `u16` BE ‖ encoded card ‖ avatar bytes, re-encoded by us) |
//! | `L` ‖ owner slot | sealed(owner ID bytes (38) ‖ the owner's shared list as the node encodes it) |
//! | `V` | our list version, `u64` BE |
//! | `G` ‖ list version `u64` BE | sealed(one change of our list, as the node encodes it) |
//! | `S` ‖ peer slot | profile version acknowledged `u64` BE ‖ list version acknowledged `u64` BE |
//! | `I` ‖ created at `u64` BE ‖ 8 random bytes | sealed(an introduction record, as the node encodes it) |
//! | `Q` ‖ peer slot ‖ created at `u64` BE ‖ 8 random bytes | sealed(an introduction owed to that peer, until it acknowledges it) |
//! | `A` ‖ attestation id (32) | empty: this connection is in our shared list as published |

use accord_identity::AccordId;

use crate::error::StoreError;
use crate::{Store, trees};

const OWN_PROFILE: u8 = b'O';
const PROFILE: u8 = b'P';
const LIST: u8 = b'L';
const LIST_VERSION: u8 = b'V';
const LIST_LOG: u8 = b'G';
const SYNC: u8 = b'S';
const INTRODUCTION: u8 = b'I';
const OWED_NOTICE: u8 = b'Q';
const PUBLISHED: u8 = b'A';
/// The version byte of a peer profile record.
const PROFILE_RECORD_V1: u8 = 1;

/// Changes of our list, each with the list version it made, oldest first.
pub type ListChanges = Vec<(u64, Vec<u8>)>;

/// What we know of someone's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerProfile {
    /// Their signed card, encoded.
    pub card: Vec<u8>,
    /// Their avatar as our node re-encoded it (so never their bytes), if any.
    pub avatar: Option<Vec<u8>>,
}

/// What a connection has acknowledged of ours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeopleSync {
    /// The version of our profile it stored (0: none yet).
    pub profile_acked: u64,
    /// The version of our shared list its copy is at (0: none yet).
    pub list_acked: u64,
}

/// The owner's ID and the list, from a stored list value (an ID is 38 bytes).
fn split_owner(plain: &[u8]) -> Option<(AccordId, &[u8])> {
    let (owner, list) = plain.split_at_checked(38)?;
    Some((AccordId::from_bytes(owner).ok()?, list))
}

fn key(kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(kind);
    key.extend_from_slice(rest);
    key
}

impl Store {
    fn people(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(trees::PEOPLE).map_err(StoreError::db)
    }

    fn put_sealed_person(&self, key: &[u8], plain: &[u8]) -> Result<(), StoreError> {
        let sealed = self.seal(trees::PEOPLE, key, plain)?;
        self.people()?.insert(key, sealed).map_err(StoreError::db)?;
        Ok(())
    }

    /// The opened value under `key`, or `None` (a damaged value is logged, counted and read
    /// as absent, like every damaged record).
    fn get_sealed_person(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(value) = self.people()?.get(key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.open_sealed(trees::PEOPLE, key, &value) {
            Ok(plain) => Ok(Some(plain.to_vec())),
            Err(err) => {
                self.note_skipped(trees::PEOPLE, key, &err);
                Ok(None)
            }
        }
    }

    /// Our own profile, encoded, if one was set.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn own_profile(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_sealed_person(&[OWN_PROFILE])
    }

    /// Replaces our own profile.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_own_profile(&self, encoded: &[u8]) -> Result<(), StoreError> {
        self.put_sealed_person(&[OWN_PROFILE], encoded)
    }

    /// What we know of `peer`'s profile.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn peer_profile(&self, peer: &AccordId) -> Result<Option<PeerProfile>, StoreError> {
        let key = key(PROFILE, &self.slots.slot(peer));
        let Some(plain) = self.get_sealed_person(&key)? else {
            return Ok(None);
        };
        let parsed = match plain.as_slice() {
            [PROFILE_RECORD_V1, hi, lo, rest @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                (len <= rest.len()).then(|| {
                    let (card, avatar) = rest.split_at(len);
                    PeerProfile {
                        card: card.to_vec(),
                        avatar: (!avatar.is_empty()).then(|| avatar.to_vec()),
                    }
                })
            }
            _ => None,
        };
        if parsed.is_none() {
            self.note_skipped(
                trees::PEOPLE,
                &key,
                &StoreError::InvalidConfig("profile record"),
            );
        }
        Ok(parsed)
    }

    /// Stores what we know of `peer`'s profile (the caller checked that it is newer).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`], [`StoreError::InvalidConfig`] for a
    /// card over 64 KiB (which no valid card is).
    pub fn put_peer_profile(
        &self,
        peer: &AccordId,
        profile: &PeerProfile,
    ) -> Result<(), StoreError> {
        let len = u16::try_from(profile.card.len())
            .map_err(|_| StoreError::InvalidConfig("a profile card over 64 KiB"))?;
        let avatar = profile.avatar.as_deref().unwrap_or_default();
        let mut plain = Vec::with_capacity(3 + profile.card.len() + avatar.len());
        plain.push(PROFILE_RECORD_V1);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(&profile.card);
        plain.extend_from_slice(avatar);
        self.put_sealed_person(&key(PROFILE, &self.slots.slot(peer)), &plain)
    }

    /// The list `owner` shared with us, as the node encoded it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn shared_list(&self, owner: &AccordId) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.get_sealed_person(&key(LIST, &self.slots.slot(owner)))?;
        Ok(value.and_then(|plain| split_owner(&plain).map(|(_, list)| list.to_vec())))
    }

    /// Every shared list we hold, by owner (undecodable owner keys are skipped).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn shared_lists(&self) -> Result<Vec<(AccordId, Vec<u8>)>, StoreError> {
        let mut lists = Vec::new();
        for item in self.people()?.scan_prefix([LIST]) {
            let (key, _) = item.map_err(StoreError::db)?;
            let Some(plain) = self.get_sealed_person(&key)? else {
                continue;
            };
            if let Some((owner, list)) = split_owner(&plain) {
                lists.push((owner, list.to_vec()));
            }
        }
        Ok(lists)
    }

    /// Replaces the list `owner` shared with us.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_shared_list(&self, owner: &AccordId, encoded: &[u8]) -> Result<(), StoreError> {
        let plain = [owner.to_bytes().as_slice(), encoded].concat();
        self.put_sealed_person(&key(LIST, &self.slots.slot(owner)), &plain)
    }

    /// Forgets what `peer` shared and what it acknowledged of ours (the connection ended):
    /// its list no longer proves anything, and a new connection starts from scratch.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn forget_shared(&self, peer: &AccordId) -> Result<(), StoreError> {
        let tree = self.people()?;
        tree.remove(key(LIST, &self.slots.slot(peer)))
            .map_err(StoreError::db)?;
        tree.remove(key(SYNC, &self.slots.slot(peer)))
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Our own list's version (0 before the first change).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn list_version(&self) -> Result<u64, StoreError> {
        let value = self.people()?.get([LIST_VERSION]).map_err(StoreError::db)?;
        Ok(value
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Appends one change to our list's log at the next version and returns that version.
    /// Keeps at most `keep` log entries: older ones are dropped, and a connection whose copy
    /// is older than the log then gets the whole list again.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn append_list_change(&self, change: &[u8], keep: u64) -> Result<u64, StoreError> {
        let version = self.list_version()?.saturating_add(1);
        self.put_sealed_person(&key(LIST_LOG, &version.to_be_bytes()), change)?;
        let tree = self.people()?;
        tree.insert([LIST_VERSION], &version.to_be_bytes())
            .map_err(StoreError::db)?;
        if let Some(oldest) = version.checked_sub(keep) {
            tree.remove(key(LIST_LOG, &oldest.to_be_bytes()))
                .map_err(StoreError::db)?;
        }
        Ok(version)
    }

    /// The changes of our list after version `after`, oldest first, at most `max`; `None` if
    /// the log no longer reaches back to `after` + 1.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn list_changes_since(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Option<ListChanges>, StoreError> {
        let mut changes = Vec::new();
        let start = key(LIST_LOG, &after.saturating_add(1).to_be_bytes());
        let end = key(LIST_LOG, &u64::MAX.to_be_bytes());
        for item in self.people()?.range(start..=end).take(max) {
            let (key, _) = item.map_err(StoreError::db)?;
            let Ok(version) = <[u8; 8]>::try_from(&key[1..]) else {
                continue;
            };
            let version = u64::from_be_bytes(version);
            if changes.is_empty() && version != after.saturating_add(1) {
                return Ok(None);
            }
            match self.get_sealed_person(&key)? {
                Some(change) => changes.push((version, change)),
                None => return Ok(None),
            }
        }
        Ok(Some(changes))
    }

    /// What `peer` acknowledged of ours.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn people_sync(&self, peer: &AccordId) -> Result<PeopleSync, StoreError> {
        let value = self
            .people()?
            .get(key(SYNC, &self.slots.slot(peer)))
            .map_err(StoreError::db)?;
        Ok(match value.as_deref() {
            Some(bytes) if bytes.len() == 16 => {
                let mut profile = [0u8; 8];
                let mut list = [0u8; 8];
                profile.copy_from_slice(&bytes[..8]);
                list.copy_from_slice(&bytes[8..]);
                PeopleSync {
                    profile_acked: u64::from_be_bytes(profile),
                    list_acked: u64::from_be_bytes(list),
                }
            }
            _ => PeopleSync::default(),
        })
    }

    /// Records what `peer` acknowledged of ours.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn put_people_sync(&self, peer: &AccordId, sync: PeopleSync) -> Result<(), StoreError> {
        let mut value = [0u8; 16];
        value[..8].copy_from_slice(&sync.profile_acked.to_be_bytes());
        value[8..].copy_from_slice(&sync.list_acked.to_be_bytes());
        self.people()?
            .insert(key(SYNC, &self.slots.slot(peer)), &value)
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Stores an introduction record made at `created_at_ms`, keeping at most `keep` (the
    /// oldest go first). Returns whether the record is new: a resend under the same time and
    /// nonce overwrites itself and returns `false`, so that it is announced only once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_introduction(
        &self,
        created_at_ms: u64,
        nonce: [u8; 8],
        record: &[u8],
        keep: usize,
    ) -> Result<bool, StoreError> {
        let mut rest = created_at_ms.to_be_bytes().to_vec();
        rest.extend_from_slice(&nonce);
        let record_key = key(INTRODUCTION, &rest);
        let new = !self
            .people()?
            .contains_key(&record_key)
            .map_err(StoreError::db)?;
        self.put_sealed_person(&record_key, record)?;
        let tree = self.people()?;
        let count = tree.scan_prefix([INTRODUCTION]).count();
        for item in tree
            .scan_prefix([INTRODUCTION])
            .take(count.saturating_sub(keep))
        {
            let (old, _) = item.map_err(StoreError::db)?;
            tree.remove(old).map_err(StoreError::db)?;
        }
        Ok(new)
    }

    /// Introduction records, newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn introductions(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut records = Vec::new();
        for item in self.people()?.scan_prefix([INTRODUCTION]).rev().take(limit) {
            let (key, _) = item.map_err(StoreError::db)?;
            if let Some(record) = self.get_sealed_person(&key)? {
                records.push(record);
            }
        }
        Ok(records)
    }
}

/// An introduction owed to a peer: the key to remove once it is acknowledged, and the bytes.
pub type OwedNotice = (Vec<u8>, Vec<u8>);

impl Store {
    /// Queues an introduction notice for `peer` until it acknowledges it; at most `keep` are
    /// queued per peer (the oldest go first).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_owed_notice(
        &self,
        peer: &AccordId,
        created_at_ms: u64,
        nonce: [u8; 8],
        notice: &[u8],
        keep: usize,
    ) -> Result<(), StoreError> {
        let prefix = key(OWED_NOTICE, &self.slots.slot(peer));
        let mut slot = prefix.clone();
        slot.extend_from_slice(&created_at_ms.to_be_bytes());
        slot.extend_from_slice(&nonce);
        self.put_sealed_person(&slot, notice)?;
        let tree = self.people()?;
        let count = tree.scan_prefix(&prefix).count();
        for item in tree.scan_prefix(&prefix).take(count.saturating_sub(keep)) {
            let (old, _) = item.map_err(StoreError::db)?;
            tree.remove(old).map_err(StoreError::db)?;
        }
        Ok(())
    }

    /// The oldest introduction owed to `peer`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn owed_notice(&self, peer: &AccordId) -> Result<Option<OwedNotice>, StoreError> {
        let prefix = key(OWED_NOTICE, &self.slots.slot(peer));
        for item in self.people()?.scan_prefix(&prefix) {
            let (slot, _) = item.map_err(StoreError::db)?;
            if let Some(notice) = self.get_sealed_person(&slot)? {
                return Ok(Some((slot.to_vec(), notice)));
            }
        }
        Ok(None)
    }

    /// Removes an owed introduction (it was acknowledged), by the key [`Store::owed_notice`]
    /// gave.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn remove_owed_notice(&self, slot: &[u8]) -> Result<(), StoreError> {
        if slot.first() == Some(&OWED_NOTICE) {
            self.people()?.remove(slot).map_err(StoreError::db)?;
        }
        Ok(())
    }

    /// The attestation ids published in our shared list.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn published_entries(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut ids = Vec::new();
        for item in self.people()?.scan_prefix([PUBLISHED]) {
            let (key, _) = item.map_err(StoreError::db)?;
            if let Ok(id) = <[u8; 32]>::try_from(&key[1..]) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Marks an attestation id published in our shared list, or not.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn set_published(&self, id: &[u8; 32], published: bool) -> Result<(), StoreError> {
        let tree = self.people()?;
        let slot = key(PUBLISHED, id);
        if published {
            tree.insert(slot, &[]).map_err(StoreError::db)?;
        } else {
            tree.remove(slot).map_err(StoreError::db)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::StoreConfig;
    use crate::at_rest::test_key;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("db"), &StoreConfig::default(), &test_key()).unwrap();
        (dir, store)
    }

    fn peer(seed: u8) -> AccordId {
        accord_identity::Identity::from_seed(crate::Zeroizing::new([seed; 32])).id()
    }

    #[test]
    fn profiles_round_trip_and_are_sealed() {
        let (_dir, store) = store();
        assert_eq!(store.own_profile().unwrap(), None);
        store.put_own_profile(b"my profile").unwrap();
        assert_eq!(
            store.own_profile().unwrap().as_deref(),
            Some(&b"my profile"[..])
        );
        let p = peer(1);
        let record = PeerProfile {
            card: b"card".to_vec(),
            avatar: Some(b"png".to_vec()),
        };
        store.put_peer_profile(&p, &record).unwrap();
        assert_eq!(store.peer_profile(&p).unwrap(), Some(record));
        // Nothing readable in the engine: the value is sealed, and the key is the peer's
        // slot, not its ID.
        assert!(
            store
                .people()
                .unwrap()
                .get(key(PROFILE, &p.to_bytes()))
                .unwrap()
                .is_none()
        );
        let raw = store
            .people()
            .unwrap()
            .get(key(PROFILE, &store.slots.slot(&p)))
            .unwrap()
            .unwrap();
        assert!(!raw.windows(4).any(|w| w == b"card"));
    }

    #[test]
    fn the_list_log_reaches_back_or_says_it_does_not() {
        let (_dir, store) = store();
        assert_eq!(store.list_version().unwrap(), 0);
        for n in 1..=5u8 {
            assert_eq!(store.append_list_change(&[n], 3).unwrap(), u64::from(n));
        }
        // Versions 3..=5 are kept.
        assert_eq!(
            store.list_changes_since(2, 10).unwrap(),
            Some(vec![(3, vec![3]), (4, vec![4]), (5, vec![5])])
        );
        assert_eq!(
            store.list_changes_since(4, 1).unwrap(),
            Some(vec![(5, vec![5])])
        );
        assert_eq!(store.list_changes_since(5, 10).unwrap(), Some(vec![]));
        assert_eq!(store.list_changes_since(0, 10).unwrap(), None);
    }

    #[test]
    fn lists_sync_marks_and_introductions() {
        let (_dir, store) = store();
        let (a, b) = (peer(2), peer(3));
        store.put_shared_list(&a, b"list a").unwrap();
        store.put_shared_list(&b, b"list b").unwrap();
        assert_eq!(store.shared_lists().unwrap().len(), 2);
        let sync = PeopleSync {
            profile_acked: 7,
            list_acked: 9,
        };
        store.put_people_sync(&a, sync).unwrap();
        assert_eq!(store.people_sync(&a).unwrap(), sync);
        store.forget_shared(&a).unwrap();
        assert_eq!(store.shared_list(&a).unwrap(), None);
        assert_eq!(store.people_sync(&a).unwrap(), PeopleSync::default());
        for n in 0..5u8 {
            let new = store
                .put_introduction(u64::from(n), [n; 8], &[n], 3)
                .unwrap();
            assert!(new);
        }
        // The same time and nonce again is the same record: not new, and not a second copy.
        assert!(!store.put_introduction(4, [4; 8], &[4], 3).unwrap());
        assert_eq!(
            store.introductions(10).unwrap(),
            vec![vec![4], vec![3], vec![2]]
        );
    }

    #[test]
    fn owed_notices_and_published_entries() {
        let (_dir, store) = store();
        let (a, b) = (peer(4), peer(5));
        assert_eq!(store.owed_notice(&a).unwrap(), None);
        store.put_owed_notice(&a, 2, [0; 8], b"second", 8).unwrap();
        store.put_owed_notice(&a, 1, [0; 8], b"first", 8).unwrap();
        store.put_owed_notice(&b, 1, [0; 8], b"other", 8).unwrap();
        let (slot, notice) = store.owed_notice(&a).unwrap().unwrap();
        assert_eq!(notice, b"first");
        store.remove_owed_notice(&slot).unwrap();
        assert_eq!(store.owed_notice(&a).unwrap().unwrap().1, b"second");
        store.set_published(&[1; 32], true).unwrap();
        store.set_published(&[2; 32], true).unwrap();
        store.set_published(&[1; 32], false).unwrap();
        assert_eq!(store.published_entries().unwrap(), vec![[2; 32]]);
    }
}
