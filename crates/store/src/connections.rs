//! Connections (signed mutual attestations), and the two transactions that make one: the
//! inviter's [`Store::complete_outgoing`] and the invitee's [`Store::accept_incoming`].

use sled::Transactional;

use accord_identity::AccordId;

use crate::at_rest::split_peer_record;
use crate::invite_index;
use crate::invites::{Connection, IncomingInvite, InviteId, TxResult, bad_record, tx_error};
use crate::lifecycle_record::{self as codec, CodecError};
use crate::{InviteState, Store, StoreError, trees};

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

impl Store {
    /// Closes a pending outgoing invite as accepted and saves the resulting connection, in
    /// one transaction: the invite becomes [`InviteState::Accepted`] with `closed_at_ms` set,
    /// its one-time secret and its publish schedule are deleted, and `connection` is stored
    /// (replacing any connection with the same peer), with the index entries of both.
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
        let conn_key = self.slot(&connection.peer);
        let conn_value = self.sealed_connection(&conn_key, connection)?;
        let session_value = self.sealed_session(&connection.peer, session_state)?;
        let conn_update = self.index_connection(connection)?;
        let trees = (
            &self.invites_out,
            &self.attestations,
            &self.sessions,
            &self.connect_index,
        );
        let outcome = trees
            .transaction(
                |(out, attestations, sessions, index)| -> TxResult<Completion> {
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
                    let invite_update = match self.index_outgoing(&invite) {
                        Ok(update) => update,
                        Err(e) => return Ok(Completion::SealFailed(e)),
                    };
                    out.insert(&invite_id[..], &value[..])?;
                    let old = attestations.insert(&conn_key[..], &conn_value[..])?;
                    sessions.insert(&conn_key[..], &session_value[..])?;
                    invite_index::apply(index, &invite_update)?;
                    invite_index::apply_connection_count(
                        index,
                        self.was_active(&conn_key, old.as_deref(), &connection.peer),
                        connection,
                    )?;
                    invite_index::apply(index, &conn_update)?;
                    Ok(Completion::Done)
                },
            )
            .map_err(tx_error)?;
        match outcome {
            Completion::Done => Ok(true),
            Completion::Refused => Ok(false),
            Completion::Damaged(e) => {
                self.note_skipped(trees::INVITES_OUT, invite_id, &e);
                Ok(false)
            }
            Completion::SealFailed(e) => Err(e),
        }
    }

    /// Stores our answer to an incoming invite and the resulting connection in one
    /// transaction (`updated` replaces the invite with the same id; `connection` replaces any
    /// connection with the same peer), with the index entries of both.
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
        let conn_key = self.slot(&connection.peer);
        let conn_value = self.sealed_connection(&conn_key, connection)?;
        let session_value = self.sealed_session(&connection.peer, session_state)?;
        let invite_update = self.index_incoming(updated)?;
        let conn_update = self.index_connection(connection)?;
        let trees = (
            &self.invites_in,
            &self.attestations,
            &self.sessions,
            &self.connect_index,
        );
        trees
            .transaction(|(invites, attestations, sessions, index)| -> TxResult<()> {
                invites.insert(&updated.invite_id[..], &invite_value[..])?;
                let old = attestations.insert(&conn_key[..], &conn_value[..])?;
                sessions.insert(&conn_key[..], &session_value[..])?;
                invite_index::apply(index, &invite_update)?;
                invite_index::apply_connection_count(
                    index,
                    self.was_active(&conn_key, old.as_deref(), &connection.peer),
                    connection,
                )?;
                invite_index::apply(index, &conn_update)
            })
            .map_err(tx_error)
    }

    /// Stores a connection, replacing any with the same peer, with its index entries.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// write fails.
    pub fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let key = self.slot(&connection.peer);
        let value = self.sealed_connection(&key, connection)?;
        let update = self.index_connection(connection)?;
        (&self.attestations, &self.connect_index)
            .transaction(|(attestations, index)| -> TxResult<()> {
                let old = attestations.insert(&key[..], &value[..])?;
                invite_index::apply_connection_count(
                    index,
                    self.was_active(&key, old.as_deref(), &connection.peer),
                    connection,
                )?;
                invite_index::apply(index, &update)
            })
            .map_err(tx_error)
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
            &self.slot(peer),
            |_, value| codec::decode_connection_of(*peer, value),
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

    /// Stores a revoked connection and deletes the ratchet session with its peer, in one
    /// transaction, so a revocation can never be stored while the channel's keys survive.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the record is too large; [`StoreError::Db`] when the
    /// transaction fails, in which case nothing was written.
    pub fn revoke_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let key = self.slot(&connection.peer);
        let value = self.sealed_connection(&key, connection)?;
        let update = self.index_connection(connection)?;
        (&self.attestations, &self.sessions, &self.connect_index)
            .transaction(|(attestations, sessions, index)| -> TxResult<()> {
                let old = attestations.insert(&key[..], &value[..])?;
                sessions.remove(&key[..])?;
                invite_index::apply_connection_count(
                    index,
                    self.was_active(&key, old.as_deref(), &connection.peer),
                    connection,
                )?;
                invite_index::apply(index, &update)
            })
            .map_err(tx_error)
    }

    /// The sealed `attestations` value of `connection`, stored under `slot` (its peer's).
    fn sealed_connection(
        &self,
        slot: &[u8],
        connection: &Connection,
    ) -> Result<Vec<u8>, StoreError> {
        let plain =
            codec::encode_connection(connection).map_err(bad_record(trees::ATTESTATIONS))?;
        self.seal_peer_record(trees::ATTESTATIONS, slot, &connection.peer, &plain)
    }

    /// Whether the connection record `old`, read from `slot` inside a transaction that
    /// replaces it, was active (not revoked), for the connection counter. A damaged record
    /// counts as inactive, as it did before the record was sealed.
    fn was_active(&self, slot: &[u8], old: Option<&[u8]>, peer: &AccordId) -> bool {
        old.and_then(|raw| self.open_sealed(trees::ATTESTATIONS, slot, raw).ok())
            .and_then(|opened| {
                let (_, record) = split_peer_record(&opened).ok()?;
                codec::decode_connection_of(*peer, record).ok()
            })
            .is_some_and(|old| old.revoked_at_ms.is_none())
    }
}
