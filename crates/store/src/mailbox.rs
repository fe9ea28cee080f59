//! Mailboxes (design §11): the mail this node holds for its connections, and what it knows of
//! its own mailboxes and of its connections' mailboxes.
//!
//! Everything lives in the one tree [`trees::MAILBOX`], under a one-byte kind prefix, opened on
//! first use (so a store written before it existed needs no migration). The store decides
//! nothing about who may deposit or fetch: the node checks that. It keys, seals and bounds.
//!
//! | key | value |
//! |---|---|
//! | `R` ‖ token hash (32) | owner slot (32): a deposit token its owner registered with us |
//! | `T` ‖ owner slot ‖ token hash | empty: the owner's registered hashes, to replace them |
//! | `H` ‖ owner slot ‖ sequence `u64` BE | sealed(token hash (32) ‖ deposited at `u64` BE ‖ padded item) |
//! | `D` ‖ owner slot ‖ SHA-256(item) | sequence `u64` BE: a deposit repeated is stored once |
//! | `U` ‖ owner slot | items `u64` BE ‖ bytes `u64` BE ‖ next sequence `u64` BE |
//! | `M` ‖ mailbox slot | sealed(mailbox ID bytes ‖ chosen by the user `u8` ‖ last reached `u64` BE) |
//! | `V` | the version of our mailbox announcement, `u64` BE |
//! | `X` | `0x01` once the user chose or dropped a mailbox (the automatic choice then stops) |
//! | `K` ‖ peer slot | the announcement version that connection acknowledged, `u64` BE |
//! | `I` ‖ token hash | sealed(the Accord ID bytes of the connection we issued that token to) |
//! | `A` ‖ peer slot | sealed(a connection's announcement: version `u64` BE ‖ token (32) ‖ count `u8` ‖ count × (length `u8` ‖ ID bytes)) |
//!
//! No key or plain value holds an Accord ID, a message or a depositor: held items are keyed
//! by the owner's slot, and the item itself is the sender's end-to-end encrypted envelope,
//! padded, sealed once more at rest. Who deposited an item is not recorded at all; the token
//! hash inside the sealed value tells only the owner which of its connections it came from.

use accord_identity::AccordId;
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;
use crate::{Store, trees};

mod own;

const REGISTERED: u8 = b'R';
const OWNER_TOKENS: u8 = b'T';
const HELD: u8 = b'H';
const DIGEST: u8 = b'D';
const USAGE: u8 = b'U';
const MINE: u8 = b'M';
const VERSION: u8 = b'V';
const ACKED: u8 = b'K';
const ISSUED: u8 = b'I';
const ANNOUNCED: u8 = b'A';
const MANUAL: u8 = b'X';

/// What precedes a connection's ID in the keyed hash that makes its deposit token, so that a
/// token never equals a peer slot.
const TOKEN_LABEL: &[u8] = b"accord/v1/mailbox-token\0";

/// The most token hashes one owner may register (one per connection of the owner).
pub const MAX_TOKENS_PER_OWNER: usize = 5_000;

/// One item held for an owner, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    /// Its sequence among the owner's items (the deposit order).
    pub seq: u64,
    /// The hash of the token it was deposited with.
    pub token_hash: [u8; 32],
    /// The padded item, as deposited.
    pub item: Vec<u8>,
}

/// Why a deposit was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositRefusal {
    /// No owner registered this token.
    UnknownToken,
    /// Taking it would exceed the mailbox's budget or the owner's share of it.
    Full,
}

/// The budget a mailbox keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// The most bytes held for everyone together.
    pub max_bytes: u64,
    /// The most bytes held for one owner.
    pub max_bytes_per_owner: u64,
    /// How long an item is kept, in milliseconds.
    pub max_age_ms: u64,
}

/// What a mailbox holds in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServingTotals {
    /// Owners with at least one item.
    pub recipients: u64,
    /// Items.
    pub messages: u64,
    /// Bytes of items.
    pub bytes: u64,
}

/// One of our own mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnMailbox {
    /// The connection that holds our mail.
    pub id: AccordId,
    /// Chosen by the user (`accord mailbox use`) rather than automatically.
    pub pinned: bool,
    /// When we last reached it (unix ms), if ever.
    pub last_reached_ms: Option<u64>,
}

/// What a connection told us of its mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Its version; only a newer one replaces a stored one.
    pub version: u64,
    /// The token to deposit with.
    pub token: [u8; 32],
    /// Its mailboxes, at most two.
    pub mailboxes: Vec<AccordId>,
}

/// Per-owner usage: items, bytes, next sequence.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    items: u64,
    bytes: u64,
    next_seq: u64,
}

impl Usage {
    fn decode(bytes: &[u8]) -> Usage {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes)
        };
        Usage {
            items: word(0),
            bytes: word(1),
            next_seq: word(2),
        }
    }

    fn encode(self) -> Vec<u8> {
        [self.items, self.bytes, self.next_seq]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect()
    }
}

fn key(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![kind];
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

fn u64_of(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// SHA-256 of a deposit token: what owners register and mailboxes keep.
pub fn token_hash(token: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Store {
    fn mailbox_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(trees::MAILBOX).map_err(StoreError::db)
    }

    fn get_sealed_mail(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(value) = self.mailbox_tree()?.get(key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self.open_sealed(trees::MAILBOX, key, &value) {
            Ok(plain) => Ok(Some(plain.to_vec())),
            Err(err) => {
                self.note_skipped(trees::MAILBOX, key, &err);
                Ok(None)
            }
        }
    }

    // ----- serving: the mail we hold for our connections -----

    /// Replaces (with `replace`) or extends the token hashes `owner` registered with us.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`]; [`StoreError::InvalidConfig`] above [`MAX_TOKENS_PER_OWNER`].
    pub fn register_tokens(
        &self,
        owner: &AccordId,
        hashes: &[[u8; 32]],
        replace: bool,
    ) -> Result<(), StoreError> {
        let tree = self.mailbox_tree()?;
        let slot = self.slot(owner);
        let prefix = key(OWNER_TOKENS, &[&slot]);
        let mut batch = sled::Batch::default();
        let mut kept = 0usize;
        for entry in tree.scan_prefix(&prefix).keys() {
            let old = entry.map_err(StoreError::db)?;
            if replace {
                batch.remove(old.clone());
                if let Some(hash) = old.get(prefix.len()..) {
                    batch.remove(key(REGISTERED, &[hash]));
                }
            } else {
                kept += 1;
            }
        }
        if kept + hashes.len() > MAX_TOKENS_PER_OWNER {
            return Err(StoreError::InvalidConfig("too many mailbox tokens"));
        }
        for hash in hashes {
            batch.insert(key(REGISTERED, &[hash]), slot.clone());
            batch.insert(key(OWNER_TOKENS, &[&slot, hash]), Vec::new());
        }
        tree.apply_batch(batch).map_err(StoreError::db)
    }

    /// Takes a deposit made with a token whose hash is `hash`, at `now_ms`: stores `item` for
    /// the token's owner (once: the same item again answers its first sequence).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn deposit(
        &self,
        hash: &[u8; 32],
        item: &[u8],
        limits: &MailboxLimits,
        now_ms: u64,
    ) -> Result<Result<u64, DepositRefusal>, StoreError> {
        let tree = self.mailbox_tree()?;
        let Some(slot) = tree.get(key(REGISTERED, &[hash])).map_err(StoreError::db)? else {
            return Ok(Err(DepositRefusal::UnknownToken));
        };
        self.expire_held(&tree, &slot, limits.max_age_ms, now_ms)?;
        let digest: [u8; 32] = Sha256::digest(item).into();
        let digest_key = key(DIGEST, &[&slot, &digest]);
        if let Some(seq) = tree.get(&digest_key).map_err(StoreError::db)? {
            return Ok(Ok(u64_of(&seq).unwrap_or_default()));
        }
        let usage_key = key(USAGE, &[&slot]);
        let mut usage = tree
            .get(&usage_key)
            .map_err(StoreError::db)?
            .map_or_else(Usage::default, |v| Usage::decode(&v));
        let size = item.len() as u64;
        let total = self.serving_totals()?.bytes;
        if usage.bytes + size > limits.max_bytes_per_owner || total + size > limits.max_bytes {
            return Ok(Err(DepositRefusal::Full));
        }
        let seq = usage.next_seq.max(1);
        let held_key = key(HELD, &[&slot, &seq.to_be_bytes()]);
        let mut plain = Vec::with_capacity(40 + item.len());
        plain.extend_from_slice(hash);
        plain.extend_from_slice(&now_ms.to_be_bytes());
        plain.extend_from_slice(item);
        let sealed = self.seal(trees::MAILBOX, &held_key, &plain)?;
        usage.items += 1;
        usage.bytes += size;
        usage.next_seq = seq + 1;
        let mut batch = sled::Batch::default();
        batch.insert(held_key, sealed);
        batch.insert(digest_key, seq.to_be_bytes().to_vec());
        batch.insert(usage_key, usage.encode());
        tree.apply_batch(batch).map_err(StoreError::db)?;
        Ok(Ok(seq))
    }

    /// The items held for `owner` after sequence `after`, oldest first, at most `max_bytes` of
    /// items (but at least one); items past `max_age_ms` are deleted first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn held_for(
        &self,
        owner: &AccordId,
        after: u64,
        max_bytes: usize,
        max_age_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<HeldItem>, StoreError> {
        let tree = self.mailbox_tree()?;
        let slot = self.slot(owner);
        self.expire_held(&tree, &slot, max_age_ms, now_ms)?;
        let start = key(HELD, &[&slot, &after.saturating_add(1).to_be_bytes()]);
        let end = key(HELD, &[&slot, &u64::MAX.to_be_bytes()]);
        let mut items = Vec::new();
        let mut bytes = 0usize;
        for entry in tree.range(start..=end) {
            let (k, v) = entry.map_err(StoreError::db)?;
            let Some(seq) = k.get(33..).and_then(u64_of) else {
                continue;
            };
            let plain = match self.open_sealed(trees::MAILBOX, &k, &v) {
                Ok(plain) => plain,
                Err(err) => {
                    self.note_skipped(trees::MAILBOX, &k, &err);
                    continue;
                }
            };
            let (Some(hash), Some(item)) = (plain.get(..32), plain.get(40..)) else {
                continue;
            };
            if !items.is_empty() && bytes + item.len() > max_bytes {
                break;
            }
            bytes += item.len();
            items.push(HeldItem {
                seq,
                token_hash: <[u8; 32]>::try_from(hash).unwrap_or_default(),
                item: item.to_vec(),
            });
        }
        Ok(items)
    }

    /// Deletes the items `seqs` held for `owner` (the owner fetched them); returns how many
    /// were there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn delete_held(&self, owner: &AccordId, seqs: &[u64]) -> Result<usize, StoreError> {
        let tree = self.mailbox_tree()?;
        let slot = self.slot(owner);
        let keys: Vec<Vec<u8>> = seqs
            .iter()
            .map(|seq| key(HELD, &[&slot, &seq.to_be_bytes()]))
            .collect();
        self.remove_held(&tree, &slot, &keys)
    }

    /// Removes the held items at `keys` of the owner `slot`, with their digests and usage.
    fn remove_held(
        &self,
        tree: &sled::Tree,
        slot: &[u8],
        keys: &[Vec<u8>],
    ) -> Result<usize, StoreError> {
        let usage_key = key(USAGE, &[slot]);
        let mut usage = tree
            .get(&usage_key)
            .map_err(StoreError::db)?
            .map_or_else(Usage::default, |v| Usage::decode(&v));
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for held_key in keys {
            let Some(value) = tree.get(held_key).map_err(StoreError::db)? else {
                continue;
            };
            if let Ok(plain) = self.open_sealed(trees::MAILBOX, held_key, &value)
                && let Some(item) = plain.get(40..)
            {
                let digest: [u8; 32] = Sha256::digest(item).into();
                batch.remove(key(DIGEST, &[slot, &digest]));
                usage.bytes = usage.bytes.saturating_sub(item.len() as u64);
            }
            usage.items = usage.items.saturating_sub(1);
            batch.remove(held_key.clone());
            removed += 1;
        }
        if removed > 0 {
            batch.insert(usage_key, usage.encode());
            tree.apply_batch(batch).map_err(StoreError::db)?;
        }
        Ok(removed)
    }

    /// Deletes the owner's items deposited more than `max_age_ms` before `now_ms`.
    fn expire_held(
        &self,
        tree: &sled::Tree,
        slot: &[u8],
        max_age_ms: u64,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let mut expired = Vec::new();
        for entry in tree.scan_prefix(key(HELD, &[slot])) {
            let (k, v) = entry.map_err(StoreError::db)?;
            let deposited = self
                .open_sealed(trees::MAILBOX, &k, &v)
                .ok()
                .and_then(|plain| plain.get(32..40).and_then(u64_of));
            match deposited {
                Some(at) if at.saturating_add(max_age_ms) >= now_ms => break,
                _ => expired.push(k.to_vec()),
            }
        }
        self.remove_held(tree, slot, &expired)
    }

    /// Deletes every owner's items older than `max_age_ms`; returns how many went.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn expire_all_held(&self, max_age_ms: u64, now_ms: u64) -> Result<usize, StoreError> {
        let tree = self.mailbox_tree()?;
        let mut removed = 0;
        let owners: Vec<Vec<u8>> = tree
            .scan_prefix([USAGE])
            .keys()
            .filter_map(Result::ok)
            .filter_map(|k| k.get(1..).map(<[u8]>::to_vec))
            .collect();
        for slot in owners {
            removed += self.expire_held(&tree, &slot, max_age_ms, now_ms)?;
        }
        Ok(removed)
    }

    /// What we hold for others, in all.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn serving_totals(&self) -> Result<ServingTotals, StoreError> {
        let mut totals = ServingTotals::default();
        for entry in self.mailbox_tree()?.scan_prefix([USAGE]).values() {
            let usage = Usage::decode(&entry.map_err(StoreError::db)?);
            if usage.items > 0 {
                totals.recipients += 1;
            }
            totals.messages += usage.items;
            totals.bytes += usage.bytes;
        }
        Ok(totals)
    }
}
