//! The invite lifecycle's persistence: invites sent and received, connections (attestations),
//! the quota ledger with its clock high-water mark, and the block list.
//!
//! Records are encoded by [`crate::lifecycle_record`]. Operations that touch several trees run
//! in one sled transaction, so a crash leaves either all of their writes or none:
//! [`Store::record_sent_invite`] (invite, ledger entry, clock mark),
//! [`Store::complete_outgoing`] (invite closed and its one-time key deleted, connection saved)
//! and [`Store::accept_incoming`] (invite and connection).
//!
//! # Durability
//!
//! Every method here that changes invites, connections or the block list flushes before it
//! returns, so a state change the user was shown survives a crash. These changes are rare
//! (a handful per user action), unlike later message traffic, which is why the store does not
//! flush on every write in general. [`Store::note_clock`] does not flush: it runs often, and a
//! lost update only lowers the mark to the last flushed one, which the periodic background
//! flush keeps recent.
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

use crate::lifecycle_record::{self as codec, CodecError};
use crate::{InviteState, Store, StoreError, trees};

/// The 16 random bytes that name an invite.
pub type InviteId = [u8; 16];

/// The `meta` key holding the clock high-water mark, a `u64` BE of unix milliseconds.
pub(crate) const CLOCK_HIGH_WATER_KEY: &str = "clock_high_water_ms";

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

/// What the transaction in [`Store::complete_outgoing`] found.
enum Completion {
    /// The invite was pending and is now accepted, with the connection saved.
    Done,
    /// The invite is missing or no longer pending; nothing was written.
    Refused,
    /// The stored invite cannot be decoded (or re-encoded); nothing was written.
    Damaged(CodecError),
    /// The updated invite could not be encrypted; nothing was written.
    SealFailed(StoreError),
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
                .and_then(|value| decode(&key, &value))
            {
                Ok(record) => out.push(record),
                Err(e) => self.note_skipped(name, &key, &e),
            }
        }
        Ok(out)
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
            .and_then(|value| decode(key, &value))
        {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                self.note_skipped(name, key, &e);
                Ok(None)
            }
        }
    }

    /// Counts the entries of `tree` that decode and satisfy `keep`.
    pub(crate) fn count_where<T>(
        &self,
        name: &'static str,
        tree: &sled::Tree,
        decode: impl Fn(&[u8], &[u8]) -> Result<T, CodecError>,
        keep: impl Fn(&T) -> bool,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        for entry in tree.iter() {
            let (key, value) = entry.map_err(StoreError::db)?;
            match self
                .readable(name, &key, &value)
                .and_then(|value| decode(&key, &value))
            {
                Ok(record) => count += usize::from(keep(&record)),
                Err(e) => self.note_skipped(name, &key, &e),
            }
        }
        Ok(count)
    }

    // ----- invites we sent -----

    /// Stores an outgoing invite, replacing any with the same id, and flushes.
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
        self.invites_out
            .insert(invite.invite_id, value)
            .map_err(StoreError::db)?;
        self.flush()
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
    /// invite id, so a clock set back cannot date a send early. Then flushes.
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
        let damaged_mark = (&self.invites_out, &self.quota, &self.meta)
            .transaction(|(out, quota, meta)| -> TxResult<Option<CodecError>> {
                let (current, damaged) = match meta.get(CLOCK_HIGH_WATER_KEY)? {
                    None => (0, None),
                    Some(raw) => match codec::decode_u64(&raw) {
                        Ok(mark) => (mark, None),
                        Err(e) => (0, Some(e)),
                    },
                };
                // The ledger records the send at the latest time ever seen, not at the
                // invite's own (possibly set-back) clock: an entry stamped in the past could
                // otherwise fall out of the rolling window early and free a slot.
                let mark = current.max(high_water_ms);
                let at = invite.created_at_ms.max(mark);
                let ledger_key = codec::quota_key(at, &invite.invite_id);
                out.insert(&invite.invite_id[..], &value[..])?;
                quota.insert(&ledger_key[..], &[][..])?;
                meta.insert(CLOCK_HIGH_WATER_KEY, &mark.max(at).to_be_bytes()[..])?;
                Ok(damaged)
            })
            .map_err(tx_error)?;
        if let Some(e) = damaged_mark {
            self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
        }
        self.flush()
    }

    /// Closes a pending outgoing invite as accepted and saves the resulting connection, in
    /// one transaction: the invite becomes [`InviteState::Accepted`] with `closed_at_ms` set,
    /// its one-time secret and its publish schedule are deleted, and `connection` is stored
    /// (replacing any connection with the same peer). Then flushes.
    ///
    /// Returns `false`, writing nothing, when the invite is missing, damaged or not pending.
    /// That is how a replayed acceptance is refused: the one-time key it would need is
    /// deleted in the same transaction that saved the first acceptance's attestation.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the connection is too large; [`StoreError::Db`] when the
    /// transaction fails, in which case nothing was written.
    pub fn complete_outgoing(
        &self,
        invite_id: &InviteId,
        connection: &Connection,
        closed_at_ms: u64,
        session_state: &[u8],
    ) -> Result<bool, StoreError> {
        let conn_key = connection.peer.to_bytes();
        let conn_value =
            codec::encode_connection(connection).map_err(bad_record(trees::ATTESTATIONS))?;
        let session_value = self.sealed_session(&connection.peer, session_state)?;
        let outcome = (&self.invites_out, &self.attestations, &self.sessions)
            .transaction(|(out, attestations, sessions)| -> TxResult<Completion> {
                let Some(raw) = out.get(invite_id)? else {
                    return Ok(Completion::Refused);
                };
                let decoded = self
                    .open_sealed(trees::INVITES_OUT, invite_id, &raw)
                    .and_then(|plain| codec::decode_outgoing(invite_id, &plain));
                let mut invite = match decoded {
                    Ok(invite) => invite,
                    Err(e) => return Ok(Completion::Damaged(e)),
                };
                if invite.state != InviteState::Pending {
                    return Ok(Completion::Refused);
                }
                invite.state = InviteState::Accepted;
                invite.closed_at_ms = Some(closed_at_ms);
                invite.one_time_secret = None;
                invite.next_publish_at_ms = None;
                let plain = match codec::encode_outgoing(&invite) {
                    Ok(plain) => plain,
                    Err(e) => return Ok(Completion::Damaged(e)),
                };
                let value = match self.seal(trees::INVITES_OUT, invite_id, &plain) {
                    Ok(value) => value,
                    Err(e) => return Ok(Completion::SealFailed(e)),
                };
                out.insert(&invite_id[..], &value[..])?;
                attestations.insert(&conn_key[..], &conn_value[..])?;
                sessions.insert(&conn_key[..], &session_value[..])?;
                Ok(Completion::Done)
            })
            .map_err(tx_error)?;
        match outcome {
            Completion::Done => {
                self.flush()?;
                Ok(true)
            }
            Completion::Refused => Ok(false),
            Completion::Damaged(e) => {
                self.note_skipped(trees::INVITES_OUT, invite_id, &e);
                Ok(false)
            }
            Completion::SealFailed(e) => Err(e),
        }
    }

    // ----- the quota ledger and the clock -----

    /// The send time of every quota ledger entry, in unix milliseconds, ascending.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the scan fails. Malformed keys are skipped.
    pub fn quota_sent_at(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for entry in self.quota.iter() {
            let (key, _) = entry.map_err(StoreError::db)?;
            match codec::quota_key_time(&key) {
                Ok(at) => out.push(at),
                Err(e) => self.note_skipped(trees::QUOTA, &key, &e),
            }
        }
        Ok(out)
    }

    /// The highest clock reading recorded (unix milliseconds), or 0 if none was. Quota
    /// decisions use it so that a clock moved backwards does not reopen the quota window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged value is logged, counted and read
    /// as 0; the next [`Store::note_clock`] or [`Store::record_sent_invite`] replaces it.
    pub fn clock_high_water_ms(&self) -> Result<u64, StoreError> {
        let Some(raw) = self
            .meta
            .get(CLOCK_HIGH_WATER_KEY)
            .map_err(StoreError::db)?
        else {
            return Ok(0);
        };
        match codec::decode_u64(&raw) {
            Ok(mark) => Ok(mark),
            Err(e) => {
                self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
                Ok(0)
            }
        }
    }

    /// Raises the clock high-water mark to `now_ms` if that is higher; a lower reading
    /// changes nothing. Does not flush (see the module docs).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read or write fails.
    pub fn note_clock(&self, now_ms: u64) -> Result<(), StoreError> {
        let raw = self
            .meta
            .get(CLOCK_HIGH_WATER_KEY)
            .map_err(StoreError::db)?;
        let current = match raw.as_deref().map(codec::decode_u64) {
            None => 0,
            Some(Ok(mark)) if mark >= now_ms => return Ok(()),
            Some(Ok(mark)) => mark,
            Some(Err(e)) => {
                self.note_skipped(trees::META, CLOCK_HIGH_WATER_KEY.as_bytes(), &e);
                0
            }
        };
        self.meta
            .insert(CLOCK_HIGH_WATER_KEY, &current.max(now_ms).to_be_bytes())
            .map_err(StoreError::db)?;
        Ok(())
    }

    // ----- invites we received -----

    /// Stores an incoming invite, replacing any with the same id, and flushes.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// write fails.
    pub fn put_incoming(&self, invite: &IncomingInvite) -> Result<(), StoreError> {
        let plain = codec::encode_incoming(invite).map_err(bad_record(trees::INVITES_IN))?;
        let value = self.seal(trees::INVITES_IN, &invite.invite_id, &plain)?;
        self.invites_in
            .insert(invite.invite_id, value)
            .map_err(StoreError::db)?;
        self.flush()
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

    /// Removes an incoming invite (damaged or not) and flushes. Returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn remove_incoming(&self, id: &InviteId) -> Result<bool, StoreError> {
        let removed = self
            .invites_in
            .remove(id)
            .map_err(StoreError::db)?
            .is_some();
        if removed {
            self.flush()?;
        }
        Ok(removed)
    }

    /// Stores our answer to an incoming invite and the resulting connection in one
    /// transaction (`updated` replaces the invite with the same id; `connection` replaces any
    /// connection with the same peer), then flushes.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when a record is too large; [`StoreError::Db`] when the
    /// transaction fails, in which case nothing was written.
    pub fn accept_incoming(
        &self,
        updated: &IncomingInvite,
        connection: &Connection,
        session_state: &[u8],
    ) -> Result<(), StoreError> {
        let invite_plain =
            codec::encode_incoming(updated).map_err(bad_record(trees::INVITES_IN))?;
        let invite_value = self.seal(trees::INVITES_IN, &updated.invite_id, &invite_plain)?;
        let conn_key = connection.peer.to_bytes();
        let conn_value =
            codec::encode_connection(connection).map_err(bad_record(trees::ATTESTATIONS))?;
        let session_value = self.sealed_session(&connection.peer, session_state)?;
        (&self.invites_in, &self.attestations, &self.sessions)
            .transaction(|(invites, attestations, sessions)| -> TxResult<()> {
                invites.insert(&updated.invite_id[..], &invite_value[..])?;
                attestations.insert(&conn_key[..], &conn_value[..])?;
                sessions.insert(&conn_key[..], &session_value[..])?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    // ----- connections -----

    /// Stores a connection, replacing any with the same peer, and flushes.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// write fails.
    pub fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let value =
            codec::encode_connection(connection).map_err(bad_record(trees::ATTESTATIONS))?;
        self.attestations
            .insert(connection.peer.to_bytes(), &value[..])
            .map_err(StoreError::db)?;
        self.flush()
    }

    /// Looks up the connection with `peer` (revoked or not).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged record is reported as absent.
    pub fn connection(&self, peer: &AccordId) -> Result<Option<Connection>, StoreError> {
        self.decode_one(
            trees::ATTESTATIONS,
            &self.attestations,
            &peer.to_bytes(),
            codec::decode_connection,
        )
    }

    /// Every connection (revoked ones included), oldest first (ties broken by Accord ID).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged records are skipped.
    pub fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let mut out = self.decode_all(
            trees::ATTESTATIONS,
            &self.attestations,
            codec::decode_connection,
        )?;
        out.sort_by(|a, b| {
            a.since_ms
                .cmp(&b.since_ms)
                .then_with(|| a.peer.cmp(&b.peer))
        });
        Ok(out)
    }

    // ----- the block list -----

    /// Blocks `peer` as of `at_ms` (replacing the time of an earlier block), and flushes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn block(&self, peer: &AccordId, at_ms: u64) -> Result<(), StoreError> {
        self.blocked
            .insert(peer.to_bytes(), &codec::encode_blocked(at_ms)[..])
            .map_err(StoreError::db)?;
        self.flush()
    }

    /// Unblocks `peer` and flushes. Returns whether it was blocked.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn unblock(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let removed = self
            .blocked
            .remove(peer.to_bytes())
            .map_err(StoreError::db)?
            .is_some();
        if removed {
            self.flush()?;
        }
        Ok(removed)
    }

    /// Whether `peer` is blocked. An entry whose time cannot be decoded still blocks: damage
    /// must not let a blocked peer through.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails.
    pub fn is_blocked(&self, peer: &AccordId) -> Result<bool, StoreError> {
        self.blocked
            .contains_key(peer.to_bytes())
            .map_err(StoreError::db)
    }

    /// Every blocked peer with the time it was blocked (unix milliseconds), in Accord ID
    /// byte order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. Damaged entries are skipped (and logged and
    /// counted), though [`Store::is_blocked`] still honours them.
    pub fn blocked(&self) -> Result<Vec<(AccordId, u64)>, StoreError> {
        self.decode_all(trees::BLOCKED, &self.blocked, |key, value| {
            let peer = AccordId::from_bytes(key).map_err(|_| CodecError::BadKey)?;
            Ok((peer, codec::decode_blocked(value)?))
        })
    }
}
