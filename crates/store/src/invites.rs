//! The invite lifecycle's persistence: the record types, and invites sent and received.
//! Connections are in `connections.rs`, the quota ledger, the clock and the block list in
//! `blocks.rs`, the index that keeps hot paths off whole-tree reads in `invite_index.rs`.
//!
//! Records are encoded by [`crate::lifecycle_record`]. Every write runs in one sled
//! transaction with its index entries ([`crate::invite_index`]), and operations that touch
//! several records are one transaction too, so a crash leaves either all of their writes or
//! none: [`Store::record_sent_invite`] (invite, ledger entry, clock mark),
//! [`Store::complete_outgoing`] (invite closed and its one-time key deleted, connection saved)
//! and [`Store::accept_incoming`] (invite and connection).
//!
//! # Durability
//!
//! The methods here do not flush. [`crate::StoreHandle`] answers the ones that change state
//! only after the group commit that holds them (`call_durable`), so a state change the user
//! was shown survives a crash without each one paying an fsync on the store thread.
//!
//! # Damaged records
//!
//! A value that cannot be decoded is logged, counted ([`Store::skipped_records`]) and skipped:
//! lookups report it as absent, listings and counts leave it out. Reads never delete anything.

use std::convert::Infallible;
use std::fmt;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use zeroize::Zeroizing;

use accord_identity::AccordId;

use crate::blocks::CLOCK_HIGH_WATER_KEY;
use crate::invite_index;
use crate::lifecycle_record::{self as codec, CodecError};
use crate::{InviteState, Store, StoreError, trees};

/// The 16 random bytes that name an invite.
pub type InviteId = [u8; 16];

/// An invite we sent (tree `invites_out`, keyed by the invite id).
///
/// `Debug` redacts [`OutgoingInvite::one_time_secret`] and prints only the length of the
/// encoded invite.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingInvite {
    /// The invite's id.
    pub invite_id: InviteId,
    /// Whom the invite is for.
    pub peer: AccordId,
    /// The encoded, signed invite (opaque to the store).
    pub invite: Vec<u8>,
    /// The private half of the invite's one-time x25519 key. Deleted when the invite closes.
    pub one_time_secret: Option<Zeroizing<[u8; 32]>>,
    /// Where the invite is in its lifecycle.
    pub state: InviteState,
    /// The note sent with the invite.
    pub note: String,
    /// When the invite was made, in unix milliseconds (also its quota ledger time).
    pub created_at_ms: u64,
    /// When the invite expires, in unix milliseconds.
    pub expires_at_ms: u64,
    /// When the invite left the pending state, in unix milliseconds.
    pub closed_at_ms: Option<u64>,
    /// When to publish the invite again, in unix milliseconds; `None` when it is not
    /// republished any more.
    pub next_publish_at_ms: Option<u64>,
    /// How many times the invite has been published.
    pub publish_count: u32,
}

/// An invite we received (tree `invites_in`, keyed by the invite id).
///
/// `Debug` redacts [`IncomingInvite::ephemeral_secret`] and prints only the lengths of the
/// encoded invite and acceptance.
#[derive(Clone, PartialEq, Eq)]
pub struct IncomingInvite {
    /// The invite's id.
    pub invite_id: InviteId,
    /// Who sent the invite.
    pub peer: AccordId,
    /// The encoded, signed invite (opaque to the store).
    pub invite: Vec<u8>,
    /// The note that came with the invite.
    pub note: String,
    /// Where the invite is in its lifecycle.
    pub state: InviteState,
    /// When the inviter made the invite, in unix milliseconds.
    pub created_at_ms: u64,
    /// When the invite expires, in unix milliseconds.
    pub expires_at_ms: u64,
    /// When we received the invite, in unix milliseconds.
    pub received_at_ms: u64,
    /// When the invite left the pending state, in unix milliseconds.
    pub closed_at_ms: Option<u64>,
    /// Our encoded acceptance once we accepted, republished until the inviter answers.
    pub acceptance: Option<Vec<u8>>,
    /// The private half of our ephemeral x25519 key for the acceptance, kept for the channel.
    pub ephemeral_secret: Option<Zeroizing<[u8; 32]>>,
    /// When to publish the acceptance again, in unix milliseconds; `None` when it is not
    /// republished.
    pub next_publish_at_ms: Option<u64>,
    /// How many times the acceptance has been published.
    pub publish_count: u32,
}

/// A connection: the signed mutual attestation with a peer (tree `attestations`, keyed by
/// the peer's Accord ID bytes).
///
/// `Debug` prints only the lengths of the encoded attestation and revocation.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The other side.
    pub peer: AccordId,
    /// The encoded attestation (statement and both signatures; opaque to the store).
    pub attestation: Vec<u8>,
    /// The attestation's id.
    pub attestation_id: [u8; 32],
    /// When the connection was made, in unix milliseconds.
    pub since_ms: u64,
    /// A local name the user gave the peer.
    pub alias: Option<String>,
    /// When the connection was revoked (by either side), in unix milliseconds.
    pub revoked_at_ms: Option<u64>,
    /// The encoded revocation, ours or theirs, republished until answered.
    pub revocation: Option<Vec<u8>>,
    /// When to publish the revocation again, in unix milliseconds; `None` when it is not
    /// republished.
    pub next_publish_at_ms: Option<u64>,
    /// How many times the revocation has been published.
    pub publish_count: u32,
    /// Whether we accepted the peer's invite and still wait for the inviter's settlement
    /// (its confirmation, or its refusal). Messages to the peer are queued but not sent
    /// meanwhile ([`crate::Store::active_outbox_head`]).
    pub awaiting_confirmation: bool,
}

/// Prints a byte string's length only.
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// Prints whether a secret is present, never the secret.
struct Redacted(bool);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "Some(<redacted>)" } else { "None" })
    }
}

/// Prints an optional byte string's length only.
fn opt_len(bytes: Option<&Vec<u8>>) -> Option<Len> {
    bytes.map(|b| Len(b.len()))
}

/// Renders bytes as lowercase hex, for ids in `Debug` output.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex(self.0))
    }
}

impl fmt::Debug for OutgoingInvite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingInvite")
            .field("invite_id", &Hex(&self.invite_id))
            .field("peer", &self.peer)
            .field("invite", &Len(self.invite.len()))
            .field("one_time_secret", &Redacted(self.one_time_secret.is_some()))
            .field("state", &self.state)
            .field("note", &self.note)
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("closed_at_ms", &self.closed_at_ms)
            .field("next_publish_at_ms", &self.next_publish_at_ms)
            .field("publish_count", &self.publish_count)
            .finish()
    }
}

impl fmt::Debug for IncomingInvite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingInvite")
            .field("invite_id", &Hex(&self.invite_id))
            .field("peer", &self.peer)
            .field("invite", &Len(self.invite.len()))
            .field("note", &self.note)
            .field("state", &self.state)
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("received_at_ms", &self.received_at_ms)
            .field("closed_at_ms", &self.closed_at_ms)
            .field("acceptance", &opt_len(self.acceptance.as_ref()))
            .field(
                "ephemeral_secret",
                &Redacted(self.ephemeral_secret.is_some()),
            )
            .field("next_publish_at_ms", &self.next_publish_at_ms)
            .field("publish_count", &self.publish_count)
            .finish()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("attestation", &Len(self.attestation.len()))
            .field("attestation_id", &Hex(&self.attestation_id))
            .field("since_ms", &self.since_ms)
            .field("alias", &self.alias)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .field("revocation", &opt_len(self.revocation.as_ref()))
            .field("next_publish_at_ms", &self.next_publish_at_ms)
            .field("publish_count", &self.publish_count)
            .field("awaiting_confirmation", &self.awaiting_confirmation)
            .finish()
    }
}

/// Turns a failed encode into the error callers see.
pub(crate) fn bad_record(tree: &'static str) -> impl Fn(CodecError) -> StoreError {
    move |e| StoreError::BadRecord {
        tree,
        reason: e.to_string(),
    }
}

/// Turns a failed transaction into the error callers see.
pub(crate) fn tx_error(e: TransactionError<Infallible>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::db(e),
        TransactionError::Abort(never) => match never {},
    }
}

/// Result type of the closures given to sled transactions.
pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<Infallible>>;

impl Store {
    /// Reads and decodes every entry of `tree`, skipping (and logging and counting) the
    /// entries that cannot be decoded.
    pub(crate) fn decode_all<T>(
        &self,
        name: &'static str,
        tree: &sled::Tree,
        decode: impl Fn(&[u8], &[u8]) -> Result<T, CodecError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry.map_err(StoreError::db)?;
            match self
                .readable(name, &key, &value)
                .and_then(|value| self.decode_logical(name, &key, &value, &decode))
            {
                Ok(record) => out.push(record),
                Err(e) => self.note_skipped(name, &key, &e),
            }
        }
        Ok(out)
    }

    /// Hands a readable record to its decoder with its *logical* key: for a tree of
    /// [`PEER_RECORD_TREES`](crate::at_rest::PEER_RECORD_TREES) the peer's ID bytes that
    /// start the sealed value (the engine's key is only the peer's slot) and the record after
    /// them; for any other tree the key and the value as they are.
    fn decode_logical<T>(
        &self,
        name: &str,
        key: &[u8],
        value: &[u8],
        decode: &impl Fn(&[u8], &[u8]) -> Result<T, CodecError>,
    ) -> Result<T, CodecError> {
        if crate::at_rest::PEER_RECORD_TREES.contains(&name) {
            let (id, record) = crate::at_rest::split_peer_record(value)?;
            decode(id, record)
        } else {
            decode(key, value)
        }
    }

    /// Reads and decodes one entry; a damaged one is reported as absent (and logged and
    /// counted).
    pub(crate) fn decode_one<T>(
        &self,
        name: &'static str,
        tree: &sled::Tree,
        key: &[u8],
        decode: impl Fn(&[u8], &[u8]) -> Result<T, CodecError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(value) = tree.get(key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self
            .readable(name, key, &value)
            .and_then(|value| self.decode_logical(name, key, &value, &decode))
        {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                self.note_skipped(name, key, &e);
                Ok(None)
            }
        }
    }

    // ----- invites we sent -----

    /// Stores an outgoing invite, replacing any with the same id, with its index entries.
    ///
    /// This does not touch the quota ledger; sending a new invite goes through
    /// [`Store::record_sent_invite`]. Use this to update an invite's state or publish schedule.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is larger than the store accepts (64 KiB
    /// encoded); [`StoreError::Db`] when the write fails.
    pub fn put_outgoing(&self, invite: &OutgoingInvite) -> Result<(), StoreError> {
        let plain = codec::encode_outgoing(invite).map_err(bad_record(trees::INVITES_OUT))?;
        let value = self.seal(trees::INVITES_OUT, &invite.invite_id, &plain)?;
        let update = self.index_outgoing(invite)?;
        (&self.invites_out, &self.connect_index)
            .transaction(|(out, index)| -> TxResult<()> {
                out.insert(&invite.invite_id[..], &value[..])?;
                invite_index::apply(index, &update)
            })
            .map_err(tx_error)
    }

    /// Looks up an outgoing invite.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged record is reported as absent.
    pub fn outgoing(&self, id: &InviteId) -> Result<Option<OutgoingInvite>, StoreError> {
        self.decode_one(
            trees::INVITES_OUT,
            &self.invites_out,
            id,
            codec::decode_outgoing,
        )
    }

    /// Every outgoing invite, newest created first (ties broken by invite id).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged records are skipped.
    pub fn outgoing_invites(&self) -> Result<Vec<OutgoingInvite>, StoreError> {
        let mut out = self.decode_all(
            trees::INVITES_OUT,
            &self.invites_out,
            codec::decode_outgoing,
        )?;
        out.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then_with(|| a.invite_id.cmp(&b.invite_id))
        });
        Ok(out)
    }

    /// Records a newly sent invite, atomically: the invite goes into `invites_out`, its
    /// ledger entry into `quota` and the clock high-water mark is raised to `high_water_ms`
    /// if that is higher. The ledger entry is stamped max(`created_at_ms`, high-water mark) ‖
    /// invite id, so a clock set back cannot date a send early. The index entries go in the
    /// same transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// transaction fails, in which case nothing was written.
    pub fn record_sent_invite(
        &self,
        invite: &OutgoingInvite,
        high_water_ms: u64,
    ) -> Result<(), StoreError> {
        let plain = codec::encode_outgoing(invite).map_err(bad_record(trees::INVITES_OUT))?;
        let value = self.seal(trees::INVITES_OUT, &invite.invite_id, &plain)?;
        let update = self.index_outgoing(invite)?;
        let damaged_mark = (
            &self.invites_out,
            &self.quota,
            &self.meta,
            &self.connect_index,
        )
            .transaction(
                |(out, quota, meta, index)| -> TxResult<Option<CodecError>> {
                    let (current, damaged) = match meta.get(CLOCK_HIGH_WATER_KEY)? {
                        None => (0, None),
                        Some(raw) => match codec::decode_u64(&raw) {
                            Ok(mark) => (mark, None),
                            Err(e) => (0, Some(e)),
                        },
                    };
                    // The ledger records the send at the clock mark, not at the invite's own
                    // clock: an entry stamped in the past (a clock set back) could fall out of
                    // the rolling window early and free a slot, and one stamped in the future
                    // (a clock far ahead, which the caller's bounded mark does not follow)
                    // would hold the window shut for as long as the jump.
                    let at = current.max(high_water_ms);
                    let ledger_key = codec::quota_key(at, &invite.invite_id);
                    out.insert(&invite.invite_id[..], &value[..])?;
                    quota.insert(&ledger_key[..], &[][..])?;
                    meta.insert(CLOCK_HIGH_WATER_KEY, &at.to_be_bytes()[..])?;
                    invite_index::apply(index, &update)?;
                    Ok(damaged)
                },
            )
            .map_err(tx_error)?;
        if let Some(e) = damaged_mark {
            self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
        }
        Ok(())
    }

    // ----- invites we received -----

    /// Stores an incoming invite, replacing any with the same id, with its index entries.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// write fails.
    pub fn put_incoming(&self, invite: &IncomingInvite) -> Result<(), StoreError> {
        let plain = codec::encode_incoming(invite).map_err(bad_record(trees::INVITES_IN))?;
        let value = self.seal(trees::INVITES_IN, &invite.invite_id, &plain)?;
        let update = self.index_incoming(invite)?;
        (&self.invites_in, &self.connect_index)
            .transaction(|(invites, index)| -> TxResult<()> {
                invites.insert(&invite.invite_id[..], &value[..])?;
                invite_index::apply(index, &update)
            })
            .map_err(tx_error)
    }

    /// Looks up an incoming invite.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged record is reported as absent.
    pub fn incoming(&self, id: &InviteId) -> Result<Option<IncomingInvite>, StoreError> {
        self.decode_one(
            trees::INVITES_IN,
            &self.invites_in,
            id,
            codec::decode_incoming,
        )
    }

    /// Every incoming invite, newest received first (ties broken by invite id).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged records are skipped.
    pub fn incoming_invites(&self) -> Result<Vec<IncomingInvite>, StoreError> {
        let mut out =
            self.decode_all(trees::INVITES_IN, &self.invites_in, codec::decode_incoming)?;
        out.sort_by(|a, b| {
            b.received_at_ms
                .cmp(&a.received_at_ms)
                .then_with(|| a.invite_id.cmp(&b.invite_id))
        });
        Ok(out)
    }

    /// Removes an incoming invite (damaged or not) with its live index entry. Returns whether
    /// it was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn remove_incoming(&self, id: &InviteId) -> Result<bool, StoreError> {
        let update = self.index_removed(invite_index::LiveItem::Incoming(*id), b'i');
        (&self.invites_in, &self.connect_index)
            .transaction(|(invites, index)| -> TxResult<bool> {
                let removed = invites.remove(&id[..])?.is_some();
                invite_index::apply(index, &update)?;
                Ok(removed)
            })
            .map_err(tx_error)
    }
}
