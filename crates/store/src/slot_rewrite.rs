//! The record conversion of the rewrite to schema 3: every record of a schema-1 or schema-2
//! store as schema 3 stores it.
//!
//! Schema 3 keys every record about a peer by the peer's slot (`peer_slot.rs`) instead of its
//! Accord ID, seals the values that schema 2 left plain, and stores the `meta` names set
//! through [`Store::set_meta`](crate::Store::set_meta) by keyed hash with a sealed value
//! (`meta.rs`). The rewrite itself (a fresh directory that replaces the old one, so no old
//! plain value is left in the engine's files) is `sealing_rewrite.rs`.
//!
//! A record that cannot be converted (a key that is not an ID where one belongs, a sealed
//! value that does not open) is copied as it is: it was damaged before and stays so, read
//! as damaged (logged, counted, skipped) like any other. Nothing is dropped.

use crate::at_rest::{PEER_ID_LEN, RecordCipher};
use crate::error::StoreError;
use crate::message_record::outbox_peer_bytes;
use crate::meta::STORE_MANAGED;
use crate::peer_slot::{PeerSlots, SLOT_LEN};
use crate::{invite_index, trees};
use zeroize::Zeroizing;

/// The trees schema 2 sealed, with the same associated data as schema 3.
const SEALED_IN_SCHEMA_2: [&str; 4] = [
    trees::MESSAGES,
    trees::INVITES_OUT,
    trees::INVITES_IN,
    trees::SESSIONS,
];

/// What a conversion needs: the store's cipher and slots, and the schema being converted.
pub(crate) struct Conversion<'a> {
    /// Seals (and, for schema 2, opens) the values.
    pub(crate) cipher: &'a RecordCipher,
    /// Turns Accord IDs and `meta` names into their keyed hashes.
    pub(crate) slots: &'a PeerSlots,
    /// The schema of the store being rewritten: 1 (plain) or 2 (partly sealed).
    pub(crate) from: u32,
}

/// A converted record: the new key and value.
type Converted = (Vec<u8>, Vec<u8>);

impl Conversion<'_> {
    /// The schema-3 form of the record (`key`, `value`) of `tree`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Randomness`] when no nonce can be drawn for a sealed value.
    pub(crate) fn convert(
        &self,
        tree: &'static str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Converted, StoreError> {
        // The plain record: schema 2 sealed some trees already.
        let plain = if self.from >= 2 && SEALED_IN_SCHEMA_2.contains(&tree) {
            match self.cipher.open(tree, key, value) {
                Ok(plain) => plain,
                Err(_) => return Ok(self.damaged(tree, key, value)),
            }
        } else {
            Zeroizing::new(value.to_vec())
        };
        match tree {
            trees::PEERS | trees::ATTESTATIONS | trees::CONVERSATIONS | trees::BLOCKED => {
                self.peer_record(tree, key, value, &plain)
            }
            trees::SESSIONS | trees::MESSAGES | trees::SEEN => {
                self.peer_prefixed(tree, key, value, &plain)
            }
            trees::OUTBOX => self.outbox_entry(key, &plain),
            trees::PEERS_SEEN => Ok(match key.split_at_checked(8) {
                Some((time, id)) if id.len() == PEER_ID_LEN => (
                    [time, &self.slots.slot_of_bytes(id)].concat(),
                    value.to_vec(),
                ),
                _ => (key.to_vec(), value.to_vec()),
            }),
            trees::CONNECT_INDEX => self.convert_index_entry(key, value),
            trees::META => self.convert_meta(key, value),
            // The invite trees are keyed by invite id (schema 1 had them plain); the quota
            // ledger by time and invite id; anything else is copied.
            trees::INVITES_OUT | trees::INVITES_IN if self.from < 2 => {
                Ok((key.to_vec(), self.cipher.seal(tree, key, &plain)?))
            }
            _ => Ok((key.to_vec(), value.to_vec())),
        }
    }

    /// A record keyed by the peer's ID alone: keyed by its slot, sealed with the ID in front.
    fn peer_record(
        &self,
        tree: &'static str,
        key: &[u8],
        value: &[u8],
        plain: &[u8],
    ) -> Result<Converted, StoreError> {
        if key.len() != PEER_ID_LEN {
            return Ok((key.to_vec(), value.to_vec()));
        }
        let slot = self.slots.slot_of_bytes(key);
        let mut record = Zeroizing::new(key.to_vec());
        record.extend_from_slice(plain);
        let sealed = self.cipher.seal(tree, &slot, &record)?;
        Ok((slot, sealed))
    }

    /// A record keyed by the peer's ID and more (a sequence, a message id): the ID replaced
    /// by the slot, the record sealed.
    fn peer_prefixed(
        &self,
        tree: &'static str,
        key: &[u8],
        value: &[u8],
        plain: &[u8],
    ) -> Result<Converted, StoreError> {
        let Some(new_key) = self.slotted_key(key) else {
            return Ok((key.to_vec(), value.to_vec()));
        };
        let sealed = self.cipher.seal(tree, &new_key, plain)?;
        Ok((new_key, sealed))
    }

    /// `key` with the Accord ID that starts it replaced by its slot; `None` for a key too short
    /// to hold one.
    fn slotted_key(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (id, rest) = key.split_at_checked(PEER_ID_LEN)?;
        Some([&self.slots.slot_of_bytes(id)[..], rest].concat())
    }

    /// An outbox entry: the recipient's slot in front of the sealed entry.
    fn outbox_entry(&self, key: &[u8], plain: &[u8]) -> Result<Converted, StoreError> {
        let slot = outbox_peer_bytes(plain)
            .map(|id| self.slots.slot_of_bytes(id))
            // An entry whose peer cannot be read is damaged; a zero slot matches no peer, and
            // the full scans skip it as they did before.
            .unwrap_or_else(|_| vec![0; SLOT_LEN]);
        let sealed = self.cipher.seal(trees::OUTBOX, key, plain)?;
        Ok((key.to_vec(), [slot, sealed].concat()))
    }

    /// A record of a sealed tree whose value does not open: its key is still converted where
    /// it names a peer (so the record stays in its conversation), its value is kept.
    fn damaged(&self, tree: &'static str, key: &[u8], value: &[u8]) -> Converted {
        let new_key = match tree {
            trees::SESSIONS | trees::MESSAGES => self.slotted_key(key),
            _ => None,
        };
        (new_key.unwrap_or_else(|| key.to_vec()), value.to_vec())
    }

    /// A `connect_index` entry: a connection's live entry (`L c` ‖ peer ID) is moved to the
    /// peer's slot, its sealed body sealed again for the new key; the other entries are keyed
    /// by invite ids, times and counter names and are copied.
    fn convert_index_entry(&self, key: &[u8], value: &[u8]) -> Result<Converted, StoreError> {
        let unchanged = || Ok((key.to_vec(), value.to_vec()));
        let Some((prefix, id)) = key.split_at_checked(2) else {
            return unchanged();
        };
        if prefix != [invite_index::LIVE, b'c'] || id.len() != PEER_ID_LEN {
            return unchanged();
        }
        let mut new_key = prefix.to_vec();
        new_key.extend(self.slots.slot_of_bytes(id));
        let Some((&flag, sealed)) = value.split_first() else {
            return Ok((new_key, value.to_vec()));
        };
        let Ok(body) = self.cipher.open(trees::CONNECT_INDEX, key, sealed) else {
            return Ok((new_key, value.to_vec()));
        };
        let mut new_value = vec![flag];
        new_value.extend(self.cipher.seal(trees::CONNECT_INDEX, &new_key, &body)?);
        Ok((new_key, new_value))
    }

    /// A `meta` entry: the store's own names are copied; a name set through `set_meta` is
    /// replaced by its keyed hash and its value sealed.
    fn convert_meta(&self, key: &[u8], value: &[u8]) -> Result<Converted, StoreError> {
        if STORE_MANAGED.iter().any(|name| name.as_bytes() == key) {
            return Ok((key.to_vec(), value.to_vec()));
        }
        let new_key = self.slots.meta_name(key);
        let sealed = self.cipher.seal(trees::META, &new_key, value)?;
        Ok((new_key, sealed))
    }
}
