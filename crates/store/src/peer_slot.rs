//! Peer slots: the keyed hash that stands in for a peer's Accord ID in every store key.
//!
//! A record about a peer (its address-book entry, connection, session, conversation,
//! messages, message-id index entries, block) is stored under the peer's *slot*:
//! HMAC-SHA256 of the peer's Accord ID bytes under the *slot key*, which is
//! HKDF-SHA256(salt none, ikm = the store key, info [`SLOT_KEY_LABEL`]). Whoever copies `db/`
//! without the key file therefore sees 32 pseudo-random bytes per peer, the same for every
//! record of that peer (which is what keeps one conversation's messages a contiguous range
//! scan: `slot ‖ sequence`), but cannot tell which peer they stand for, nor test a guess.
//!
//! The slot key is derived with its own label rather than reusing the store key, so the
//! keyed hash and the record cipher never share a key. A slot costs one HMAC of 38 bytes
//! (two SHA-256 compressions, the keyed state being built once when the store opens); it is
//! computed afresh each time, since a profile has not shown it to matter next to the AEAD
//! and the engine's own work per record.
//!
//! A slot cannot be turned back into an Accord ID, so every record whose ID was read from its
//! key carries the ID inside its sealed value instead (`at_rest.rs`, [`PEER_RECORD_TREES`]).
//!
//! [`PEER_RECORD_TREES`]: crate::at_rest::PEER_RECORD_TREES

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use accord_identity::{AccordId, StoreKey};

/// The HKDF info label of the slot key. Part of the on-disk format: changing it orphans every
/// record keyed by a slot.
const SLOT_KEY_LABEL: &[u8] = b"accord/v1/store-peer-slot";

/// What precedes a `meta` name in its keyed hash. An Accord ID's bytes start with `0x00 0x24`,
/// so no ID can be hashed to the same input.
const META_NAME_LABEL: &[u8] = b"accord/v1/meta-name\0";

/// The length of a slot, the full HMAC-SHA256 output: wide enough that two peers never share
/// one, and fixed, so a `slot ‖ sequence` key has exactly one reading.
pub(crate) const SLOT_LEN: usize = 32;

/// Computes peer slots; keyed once when the store opens.
pub(crate) struct PeerSlots {
    /// The HMAC state keyed with the slot key, cloned for each slot. `hmac`'s `zeroize`
    /// feature wipes it when dropped.
    keyed: Hmac<Sha256>,
}

impl PeerSlots {
    /// Derives the slot key from `key` and keys the HMAC with it.
    pub(crate) fn new(key: &StoreKey) -> Self {
        let mut slot_key = Zeroizing::new([0u8; 32]);
        // `expand` fails only when asked for more than 255 hash lengths; 32 bytes is one, so
        // the error branch cannot be reached.
        let derived = Hkdf::<Sha256>::new(None, key.as_bytes())
            .expand(SLOT_KEY_LABEL, slot_key.as_mut_slice());
        debug_assert!(
            derived.is_ok(),
            "32 bytes is a valid HKDF-SHA256 output length"
        );
        // HMAC pads a key shorter than its 64-byte block with zeros; doing so here keys it
        // through the infallible constructor, with the same result as the 32-byte key.
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(slot_key.as_slice());
        PeerSlots {
            keyed: <Hmac<Sha256> as KeyInit>::new(&(*block).into()),
        }
    }

    /// The slot of `peer`: the key (or key prefix) of every record about it.
    pub(crate) fn slot(&self, peer: &AccordId) -> Vec<u8> {
        self.slot_of_bytes(&peer.to_bytes())
    }

    /// The engine's key for the `meta` name `name` set through
    /// [`Store::set_meta`](crate::Store::set_meta): `0x00` ‖ HMAC of a label and the name. The
    /// label keeps a name's hash apart from every peer's slot; the leading zero byte keeps the
    /// key apart from the store's own (printable ASCII) names.
    pub(crate) fn meta_name(&self, name: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed.clone();
        mac.update(META_NAME_LABEL);
        mac.update(name);
        let mut key = Vec::with_capacity(1 + SLOT_LEN);
        key.push(0);
        key.extend_from_slice(&mac.finalize().into_bytes());
        key
    }

    /// The slot of the Accord ID bytes `id` (as stored by older schemas), for the rewrite
    /// that replaces IDs by slots.
    pub(crate) fn slot_of_bytes(&self, id: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed.clone();
        mac.update(id);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
mod tests {
    use super::*;

    fn peer(seed: u8) -> AccordId {
        accord_identity::Identity::from_seed(Zeroizing::new([seed; 32])).id()
    }

    fn slots(byte: u8) -> PeerSlots {
        PeerSlots::new(&StoreKey::from_bytes(Zeroizing::new([byte; 32])))
    }

    #[test]
    fn a_slot_is_a_keyed_hash_of_the_id_that_does_not_contain_it() {
        let (a, b) = (peer(1), peer(2));
        let s = slots(9);
        let slot = s.slot(&a);
        assert_eq!(slot.len(), SLOT_LEN);
        assert_eq!(slot, s.slot(&a), "the same peer always has the same slot");
        assert_ne!(slot, s.slot(&b), "two peers have two slots");
        assert_ne!(
            slot,
            slots(10).slot(&a),
            "another store key gives another slot"
        );
        let id = a.to_bytes();
        let key = a.to_bytes()[6..].to_vec();
        assert!(!slot.windows(8).any(|w| id.windows(8).any(|i| i == w)));
        assert!(!slot.windows(8).any(|w| key.windows(8).any(|k| k == w)));
    }

    #[test]
    fn matches_hmac_under_the_hkdf_derived_slot_key() {
        // An independent computation of the documented derivation.
        let store_key = [9u8; 32];
        let mut slot_key = [0u8; 32];
        Hkdf::<Sha256>::new(None, &store_key)
            .expand(SLOT_KEY_LABEL, &mut slot_key)
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&slot_key).unwrap();
        let id = peer(3).to_bytes();
        mac.update(&id);
        assert_eq!(
            slots(9).slot(&peer(3)),
            mac.finalize().into_bytes().to_vec()
        );
    }
}
