//! Encryption at rest: the records that hold secrets, private text or the social graph are
//! sealed with the store key before they reach the engine.
//!
//! # What is sealed
//!
//! The values of [`SEALED_TREES`]: `messages` (message bodies), `invites_out` and
//! `invites_in` (invite notes and the one-time x25519 secrets they hold), `sessions` (ratchet
//! states), and the social graph: `peers` (who the node met, and at which addresses),
//! `attestations` (connections, with their aliases), `conversations`, `blocked`, `outbox`
//! (the recipient of each waiting message) and `seen` (the message-id index). So are the names
//! and values the node sets in `meta` (`meta.rs`), since a name may hold an ID.
//!
//! No key holds a peer's Accord ID: a record about a peer is keyed by the peer's *slot*, a
//! keyed hash of the ID (`peer_slot.rs`). A record of [`PEER_RECORD_TREES`], which the
//! listings read back with its peer, carries the ID inside its sealed value.
//!
//! # What stays plain, and why
//!
//! - Slots in keys: they group one peer's records (a conversation's history is the range
//!   `slot ‖ sequence`) without naming the peer; and the recipient's slot in front of each
//!   `outbox` value, so that the per-peer walks of the outbox open only that peer's entries
//!   (it says no more than the `messages` keys).
//! - Invite ids, message ids and sequence numbers in keys (random or counters: the scans need
//!   their order).
//! - The times that order a key: the quota ledger (`created_at ‖ invite id`), the address
//!   book's eviction index `peers_seen` (`last_seen ‖ slot`) and the Connect index's deletion
//!   deadlines, which are read as ranges.
//! - The pending flag of a live Connect-index entry and the counters, so `status` scans
//!   nothing; the store's own `meta` bookkeeping (schema version, clock high-water mark,
//!   counts, markers; the key check is sealed); tree names; how many records there are and
//!   their sizes.
//!
//! None of these names a peer (not even the node itself), shows an alias or an address, or
//! says what was written; they show how much the node did and when. Scans that only need
//! keys (a history range, the quota window, eviction, the purge) cost no decryption.
//!
//! # Format
//!
//! A sealed value is `0xA1 ‖ nonce (24 bytes) ‖ XChaCha20-Poly1305(record) ‖ tag (16 bytes)`,
//! where the record is the plain value the tree's codec writes (starting with its own version
//! byte) and the associated data is `"accord/v1/store-record" ‖ 0x00 ‖ tree name ‖ 0x00 ‖
//! record key`. Binding the tree name and the key means a value copied to another slot or
//! another tree no longer opens: it is treated as a damaged record (logged, counted, skipped),
//! never misread as the record that belongs there. The nonce is 24 fresh bytes from the
//! operating system for every write; with XChaCha's 192-bit nonces random choice is safe for
//! any number of writes a store will ever make, and it needs no counter that a crash or a
//! restored backup could rewind.
//!
//! The key is [`StoreKey`], which the node derives from the identity key file
//! ([`accord_identity::Identity::store_key`]). One cipher is built when the store opens, so
//! the hot path costs one AEAD per record and no key derivation.
//!
//! # The key check
//!
//! `meta/store_key_check` holds a sealed constant. Opening the store verifies it before
//! anything else is read or written, so a store opened with another identity's key is
//! refused at once with [`StoreError::WrongKey`] instead of every record looking damaged.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use accord_identity::{AccordId, StoreKey};

use crate::error::StoreError;
use crate::lifecycle_record::CodecError;
use crate::{Store, trees};

/// The trees whose values are sealed.
pub(crate) const SEALED_TREES: [&str; 10] = [
    trees::MESSAGES,
    trees::INVITES_OUT,
    trees::INVITES_IN,
    trees::SESSIONS,
    trees::PEERS,
    trees::ATTESTATIONS,
    trees::CONVERSATIONS,
    trees::BLOCKED,
    trees::OUTBOX,
    trees::SEEN,
];

/// The sealed trees keyed by a peer's slot alone whose records are read back with the peer's
/// ID (the listings of peers, connections, conversations and blocked peers): their sealed
/// value is the peer's Accord ID bytes ([`PEER_ID_LEN`]) followed by the record, because a
/// slot cannot be turned back into an ID.
pub(crate) const PEER_RECORD_TREES: [&str; 4] = [
    trees::PEERS,
    trees::ATTESTATIONS,
    trees::CONVERSATIONS,
    trees::BLOCKED,
];

/// The length of the Accord ID bytes that start a record of [`PEER_RECORD_TREES`]: the binary
/// `PeerId` of an ed25519 key is always 38 bytes.
pub(crate) const PEER_ID_LEN: usize = 38;

/// The first byte of a sealed value (format 1).
const SEALED_V1: u8 = 0xA1;
/// The length of the XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// The length of the Poly1305 tag.
const TAG_LEN: usize = 16;
/// What sealing adds to a value: the format byte, the nonce and the tag.
pub(crate) const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// The label that starts the associated data, so a sealed store value can never be confused
/// with any other use of the same key.
const AAD_LABEL: &[u8] = b"accord/v1/store-record";

/// The `meta` key of the key check.
pub(crate) const KEY_CHECK_KEY: &str = "store_key_check";
/// The constant sealed in the key check.
const KEY_CHECK_PLAINTEXT: &[u8] = b"accord store key check v1";

/// The store's record cipher, keyed once when the store opens. The cipher wipes its key when
/// dropped.
pub(crate) struct RecordCipher {
    cipher: XChaCha20Poly1305,
}

impl RecordCipher {
    /// Builds the cipher for `key`.
    pub(crate) fn new(key: &StoreKey) -> Self {
        RecordCipher {
            cipher: XChaCha20Poly1305::new(&Key::from(*key.as_bytes())),
        }
    }

    /// Seals `plain`, the value stored under `key` in `tree`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Randomness`] when the operating system cannot supply a nonce;
    /// [`StoreError::BadRecord`] for a value beyond the cipher's length limit (256 GiB, far
    /// beyond anything the codecs accept).
    pub(crate) fn seal(
        &self,
        tree: &'static str,
        key: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Randomness(e.to_string()))?;
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plain.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &XNonce::from(nonce),
                &associated_data(tree, key),
                out[1 + NONCE_LEN..].as_mut().into(),
            )
            // Encryption fails only beyond the cipher's 256 GiB limit; no record comes close
            // (the codecs refuse anything over 1 MiB).
            .map_err(|_| StoreError::BadRecord {
                tree,
                reason: "the record is too large to encrypt".to_owned(),
            })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens a value read from `tree` under `key`, into a buffer wiped when dropped.
    ///
    /// # Errors
    ///
    /// [`CodecError::Unsealable`] when the value is not a sealed value, was damaged, was
    /// written under another key or in another slot, or was sealed with another store key.
    pub(crate) fn open(
        &self,
        tree: &str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let Some((&SEALED_V1, rest)) = sealed.split_first() else {
            return Err(CodecError::Unsealable);
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CodecError::Unsealable);
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CodecError::Unsealable)?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CodecError::Unsealable)?;
        let mut plain = Zeroizing::new(ciphertext.to_vec());
        self.cipher
            .decrypt_inout_detached(
                &XNonce::from(nonce),
                &associated_data(tree, key),
                plain.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| CodecError::Unsealable)?;
        Ok(plain)
    }
}

/// A stored value as the codecs read it: the engine's bytes for a plain tree, or the opened
/// record, in a buffer wiped when dropped, for a sealed one.
pub(crate) enum Readable<'a> {
    /// A value of a tree that is not sealed.
    Plain(&'a [u8]),
    /// The opened value of a sealed tree.
    Opened(Zeroizing<Vec<u8>>),
}

impl std::ops::Deref for Readable<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Readable::Plain(bytes) => bytes,
            Readable::Opened(bytes) => bytes,
        }
    }
}

impl Store {
    /// Seals `plain` for the slot `key` of the sealed tree `tree`.
    pub(crate) fn seal(
        &self,
        tree: &'static str,
        key: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.cipher.seal(tree, key, plain)
    }

    /// The slot of `peer`: the key (or key prefix) of every record about it (`peer_slot.rs`).
    pub(crate) fn slot(&self, peer: &AccordId) -> Vec<u8> {
        self.slots.slot(peer)
    }

    /// Seals the record `plain` of a [`PEER_RECORD_TREES`] tree for `peer`, stored under
    /// `slot` (`peer`'s slot): the peer's ID bytes, then the record.
    pub(crate) fn seal_peer_record(
        &self,
        tree: &'static str,
        slot: &[u8],
        peer: &AccordId,
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut record = Zeroizing::new(peer.to_bytes());
        record.extend_from_slice(plain);
        self.seal(tree, slot, &record)
    }

    /// Opens the value read from slot `key` of the sealed tree `tree`.
    pub(crate) fn open_sealed(
        &self,
        tree: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        self.cipher.open(tree, key, value)
    }

    /// The value read from slot `key` of `tree` as its codec reads it: opened when the tree is
    /// sealed, as it is otherwise.
    pub(crate) fn readable<'a>(
        &self,
        tree: &str,
        key: &[u8],
        value: &'a [u8],
    ) -> Result<Readable<'a>, CodecError> {
        if tree == trees::OUTBOX {
            // An outbox value is the recipient's slot in plain, then the sealed entry.
            let sealed = value
                .get(crate::peer_slot::SLOT_LEN..)
                .ok_or(CodecError::Unsealable)?;
            self.open_sealed(tree, key, sealed).map(Readable::Opened)
        } else if SEALED_TREES.contains(&tree) {
            self.open_sealed(tree, key, value).map(Readable::Opened)
        } else {
            Ok(Readable::Plain(value))
        }
    }
}

/// Splits an opened record of a [`PEER_RECORD_TREES`] tree into the peer's ID bytes and the
/// record itself.
///
/// # Errors
///
/// [`CodecError::BadPeer`] when the value is shorter than an ID.
pub(crate) fn split_peer_record(opened: &[u8]) -> Result<(&[u8], &[u8]), CodecError> {
    if opened.len() < PEER_ID_LEN {
        return Err(CodecError::BadPeer);
    }
    Ok(opened.split_at(PEER_ID_LEN))
}

/// The associated data of the value under `key` in `tree`. Tree names contain no zero byte,
/// so the separator makes the encoding unambiguous.
fn associated_data(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 2 + tree.len() + key.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(0);
    aad.extend_from_slice(tree.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

/// Verifies the key check in `meta`, or writes it if there is none (a fresh store, or one
/// written before the store was encrypted).
///
/// # Errors
///
/// [`StoreError::WrongKey`] when the check was sealed with another key (or is damaged);
/// [`StoreError::Db`] and [`StoreError::Randomness`] as usual.
pub(crate) fn verify_or_write_key_check(
    meta: &sled::Tree,
    cipher: &RecordCipher,
) -> Result<(), StoreError> {
    match meta.get(KEY_CHECK_KEY).map_err(StoreError::db)? {
        Some(stored) => {
            let opened = cipher
                .open(trees::META, KEY_CHECK_KEY.as_bytes(), &stored)
                .map_err(|_| StoreError::WrongKey)?;
            if opened.as_slice() != KEY_CHECK_PLAINTEXT {
                return Err(StoreError::WrongKey);
            }
            Ok(())
        }
        None => {
            let check = cipher.seal(trees::META, KEY_CHECK_KEY.as_bytes(), KEY_CHECK_PLAINTEXT)?;
            meta.insert(KEY_CHECK_KEY, check).map_err(StoreError::db)?;
            Ok(())
        }
    }
}

/// The store key the unit tests open their stores with.
#[cfg(test)]
pub(crate) fn test_key() -> StoreKey {
    StoreKey::from_bytes(Zeroizing::new([0x5a; 32]))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> RecordCipher {
        RecordCipher::new(&StoreKey::from_bytes(Zeroizing::new([byte; 32])))
    }

    #[test]
    fn sealed_value_opens_only_where_it_was_written() {
        let c = cipher(1);
        let sealed = c.seal(trees::MESSAGES, b"slot-1", b"\x01hello").unwrap();
        assert_eq!(sealed.len(), 6 + SEAL_OVERHEAD);
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        assert_eq!(
            c.open(trees::MESSAGES, b"slot-1", &sealed)
                .unwrap()
                .as_slice(),
            b"\x01hello"
        );
        // Another slot, another tree, another key: refused.
        assert_eq!(
            c.open(trees::MESSAGES, b"slot-2", &sealed),
            Err(CodecError::Unsealable)
        );
        assert_eq!(
            c.open(trees::SESSIONS, b"slot-1", &sealed),
            Err(CodecError::Unsealable)
        );
        assert_eq!(
            cipher(2).open(trees::MESSAGES, b"slot-1", &sealed),
            Err(CodecError::Unsealable)
        );
    }

    #[test]
    fn nonces_are_fresh_for_every_write() {
        let c = cipher(1);
        let a = c.seal(trees::SESSIONS, b"k", b"same").unwrap();
        let b = c.seal(trees::SESSIONS, b"k", b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn damaged_or_plain_values_do_not_open() {
        let c = cipher(1);
        let mut sealed = c.seal(trees::INVITES_IN, b"k", b"\x01note").unwrap();
        for i in 0..sealed.len() {
            sealed[i] ^= 0x40;
            assert_eq!(
                c.open(trees::INVITES_IN, b"k", &sealed),
                Err(CodecError::Unsealable),
                "a flip at byte {i} went unnoticed"
            );
            sealed[i] ^= 0x40;
        }
        for short in [
            &b""[..],
            b"\xa1",
            &[0xa1; SEAL_OVERHEAD - 1],
            b"\x01plain record",
        ] {
            assert_eq!(
                c.open(trees::INVITES_IN, b"k", short),
                Err(CodecError::Unsealable)
            );
        }
    }

    #[test]
    fn key_check_accepts_its_key_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let meta = db.open_tree(trees::META).unwrap();
        verify_or_write_key_check(&meta, &cipher(1)).unwrap();
        verify_or_write_key_check(&meta, &cipher(1)).unwrap();
        let err = verify_or_write_key_check(&meta, &cipher(2)).unwrap_err();
        assert!(matches!(err, StoreError::WrongKey));
        assert!(err.to_string().contains("another identity key"));
    }
}
