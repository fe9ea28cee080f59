//! Shared connection lists: a node tells its connections who its own connections are, as the
//! attestations themselves, so that each entry is a claim anyone can check offline: both
//! people signed it.
//!
//! A list is sent as [`ListUpdate`]s, each taking the receiver's copy from one list version
//! (`base`) to the next (`version`): the first update of a list (and any resend from scratch)
//! has base 0 and starts from the empty list. Updates travel over the end-to-end channel,
//! which delivers them exactly once and in order, so the receiver's copy follows the owner's.
//! An update that does not apply to the receiver's copy is refused whole, never half-applied.

use std::collections::BTreeMap;

use accord_identity::AccordId;

use crate::attestation::{Attestation, AttestationId};
use crate::codec::{self, DecodeError, ID_LEN, Reader, Writer};

/// The most entries a shared list may hold.
pub const MAX_LIST_ENTRIES: usize = 5_000;
/// The most changes (additions and removals together) in one update, so that one update
/// stays well within one channel message (at most [`ListUpdate::MAX_LEN`] bytes).
pub const MAX_UPDATE_CHANGES: usize = 200;
/// The encoded length of the longest attestation (version 2; a version-1 one is shorter).
const ATTESTATION_LEN: usize = Attestation::MAX_LEN;

/// Why a list update is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The update does not move the version forward (`version` ≤ `base`).
    #[error("a list update must move the version forward")]
    VersionNotForward,
    /// The update starts from another version than the receiver's copy.
    #[error("the update applies to list version {base}, but the copy is at version {have}")]
    WrongBase {
        /// The version the update applies to.
        base: u64,
        /// The version of the receiver's copy.
        have: u64,
    },
    /// An added attestation does not verify.
    #[error("an attestation in the list does not verify")]
    BadAttestation,
    /// An added attestation is not one of the owner's own connections.
    #[error("an attestation in the list does not involve the list's owner")]
    NotOwners,
    /// More changes in one update than [`MAX_UPDATE_CHANGES`].
    #[error("a list update holds at most {MAX_UPDATE_CHANGES} changes")]
    TooManyChanges,
    /// The list would hold more than [`MAX_LIST_ENTRIES`] entries.
    #[error("a shared list holds at most {MAX_LIST_ENTRIES} entries")]
    TooManyEntries,
}

/// One step of a shared list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUpdate {
    /// Whose list this is: every added attestation names them.
    pub owner: AccordId,
    /// The list version this update applies to; 0 means "from the empty list".
    pub base: u64,
    /// The version after this update (greater than `base`).
    pub version: u64,
    /// Connections added.
    pub added: Vec<Attestation>,
    /// Connections removed, by attestation id.
    pub removed: Vec<AttestationId>,
}

impl ListUpdate {
    /// The format version.
    pub const VERSION: u8 = 1;
    /// The longest encoded update: 54,059 bytes (every entry a version-2 attestation).
    pub const MAX_LEN: usize = 1 + ID_LEN + 8 + 8 + 2 + 2 + MAX_UPDATE_CHANGES * ATTESTATION_LEN;

    /// Checks what can be checked without the receiver's copy: the version moves forward,
    /// the number of changes is bounded, and every added attestation verifies and is one of
    /// the owner's.
    ///
    /// # Errors
    ///
    /// [`ListError::VersionNotForward`], [`ListError::TooManyChanges`],
    /// [`ListError::BadAttestation`], [`ListError::NotOwners`].
    pub fn verify(&self) -> Result<(), ListError> {
        if self.version <= self.base {
            return Err(ListError::VersionNotForward);
        }
        if self.added.len() + self.removed.len() > MAX_UPDATE_CHANGES {
            return Err(ListError::TooManyChanges);
        }
        for attestation in &self.added {
            attestation
                .verify()
                .map_err(|_| ListError::BadAttestation)?;
            let s = &attestation.statement;
            if s.inviter != self.owner && s.invitee != self.owner {
                return Err(ListError::NotOwners);
            }
        }
        Ok(())
    }

    /// The updates that send `entries` (the owner's whole list) from scratch, at list
    /// versions 1, 2, …: the first has base 0. An empty list is one update with no change,
    /// so the receiver still learns it is empty.
    pub fn full(owner: AccordId, entries: &[Attestation], first_version: u64) -> Vec<Self> {
        let first = first_version.max(1);
        if entries.is_empty() {
            return vec![Self {
                owner,
                base: 0,
                version: first,
                added: Vec::new(),
                removed: Vec::new(),
            }];
        }
        (first..)
            .zip(entries.chunks(MAX_UPDATE_CHANGES))
            .map(|(version, chunk)| Self {
                owner,
                // The first starts from the empty list; each next one from the one before.
                base: if version == first { 0 } else { version - 1 },
                version,
                added: chunk.to_vec(),
                removed: Vec::new(),
            })
            .collect()
    }

    /// version ‖ owner ‖ base (u64) ‖ list version (u64) ‖ added count (u16) ‖ removed count
    /// (u16) ‖ added attestations (each as long as its version byte says) ‖ removed attestation ids (32 each).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            1 + ID_LEN + 20 + self.added.len() * ATTESTATION_LEN + self.removed.len() * 32,
        );
        // Both counts are at most MAX_UPDATE_CHANGES for any update that verifies; a larger
        // one is encoded with a saturated count and refused by every decoder.
        let added = u16::try_from(self.added.len()).unwrap_or(u16::MAX);
        let removed = u16::try_from(self.removed.len()).unwrap_or(u16::MAX);
        w.u8(Self::VERSION)
            .id(&self.owner)
            .u64(self.base)
            .u64(self.version)
            .u16(added)
            .u16(removed);
        for attestation in &self.added {
            w.bytes(&attestation.encode());
        }
        for id in &self.removed {
            w.bytes(id.as_bytes());
        }
        w.into_bytes()
    }

    /// Parses [`ListUpdate::encode`] (does not verify).
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, Self::MAX_LEN)?;
        let mut r = Reader::new(bytes);
        r.version(Self::VERSION)?;
        let owner = r.id()?;
        let base = r.u64()?;
        let version = r.u64()?;
        let added_count = usize::from(r.u16()?);
        let removed_count = usize::from(r.u16()?);
        if added_count + removed_count > MAX_UPDATE_CHANGES {
            return Err(DecodeError::InvalidField("too many list changes"));
        }
        let mut added = Vec::with_capacity(added_count);
        for _ in 0..added_count {
            // Attestations carry no length prefix: their version byte says how long they are.
            let version = *r.bytes(1)?.first().ok_or(DecodeError::Truncated)?;
            let len = Attestation::len_of_version(version)
                .ok_or(DecodeError::UnsupportedVersion(version))?;
            let mut entry = Vec::with_capacity(len);
            entry.push(version);
            entry.extend_from_slice(r.bytes(len - 1)?);
            added.push(Attestation::decode(&entry)?);
        }
        let mut removed = Vec::with_capacity(removed_count);
        for _ in 0..removed_count {
            removed.push(AttestationId(r.array()?));
        }
        r.finish()?;
        Ok(Self {
            owner,
            base,
            version,
            added,
            removed,
        })
    }
}

/// A receiver's copy of one connection's shared list: its version and, for each attestation
/// in it, the other party (the owner's connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedList {
    /// The list version this copy is at (0: nothing received yet).
    pub version: u64,
    /// Each entry: attestation id → the owner's connection it attests.
    pub entries: BTreeMap<AttestationId, AccordId>,
}

impl SharedList {
    /// The bytes of one stored entry: the attestation id and the other party's ID.
    pub const ENTRY_LEN: usize = 32 + ID_LEN;

    /// The receiver's storage form: version (u64) ‖ count (u16) ‖ count × (attestation id
    /// (32) ‖ the other party's ID (38)). The attestations themselves verified on arrival
    /// and are not kept: 70 bytes an entry instead of 230.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(10 + self.entries.len() * Self::ENTRY_LEN);
        // A list holds at most MAX_LIST_ENTRIES (5,000) entries, so the count fits a u16.
        let count = u16::try_from(self.entries.len()).unwrap_or(u16::MAX);
        w.u64(self.version).u16(count);
        for (id, peer) in &self.entries {
            w.bytes(id.as_bytes()).id(peer);
        }
        w.into_bytes()
    }

    /// Parses [`SharedList::encode`].
    ///
    /// # Errors
    ///
    /// See [`DecodeError`]; more than [`MAX_LIST_ENTRIES`] entries is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::check_max_len(bytes, 10 + MAX_LIST_ENTRIES * Self::ENTRY_LEN)?;
        let mut r = Reader::new(bytes);
        let version = r.u64()?;
        let count = r.u16()?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let id = AttestationId(r.array()?);
            if entries.insert(id, r.id()?).is_some() {
                return Err(DecodeError::InvalidField("a list entry twice"));
            }
        }
        r.finish()?;
        Ok(Self { version, entries })
    }

    /// Applies a verified `update` ([`ListUpdate::verify`]) to this copy, or changes nothing.
    ///
    /// # Errors
    ///
    /// [`ListError::WrongBase`] if the update does not start from this copy (base 0 always
    /// does: it starts over), [`ListError::TooManyEntries`] if the result would be too long.
    pub fn apply(&mut self, update: &ListUpdate) -> Result<(), ListError> {
        let mut next = if update.base == 0 {
            BTreeMap::new()
        } else if update.base == self.version {
            self.entries.clone()
        } else {
            return Err(ListError::WrongBase {
                base: update.base,
                have: self.version,
            });
        };
        for id in &update.removed {
            next.remove(id);
        }
        for attestation in &update.added {
            let s = &attestation.statement;
            let other = if s.inviter == update.owner {
                s.invitee
            } else {
                s.inviter
            };
            next.insert(attestation.id(), other);
        }
        if next.len() > MAX_LIST_ENTRIES {
            return Err(ListError::TooManyEntries);
        }
        self.entries = next;
        self.version = update.version;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
