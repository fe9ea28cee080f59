//! Ratchet sessions: the state of each conversation's double ratchet, sealed at rest.

use zeroize::Zeroizing;

use accord_identity::AccordId;

use crate::invites::bad_record;
use crate::message_record::{self as codec};
use crate::{Store, StoreError, trees};

impl Store {
    /// The ratchet session state with `peer`, if there is one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the read fails. A damaged value is reported as absent (and
    /// logged and counted).
    pub fn session(&self, peer: &AccordId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = self.slot(peer);
        let Some(raw) = self.sessions.get(&key).map_err(StoreError::db)? else {
            return Ok(None);
        };
        match self
            .open_sealed(trees::SESSIONS, &key, &raw)
            .and_then(|plain| codec::decode_session(&plain))
        {
            Ok(state) => Ok(Some(state)),
            Err(e) => {
                self.note_skipped(trees::SESSIONS, &key, &e);
                Ok(None)
            }
        }
    }

    /// Stores the ratchet session state with `peer`, replacing any earlier one. Does not flush
    /// (see the module docs).
    ///
    /// # Errors
    ///
    /// [`StoreError::BadRecord`] when the state is larger than 1 MiB; [`StoreError::Db`] when
    /// the write fails.
    pub fn put_session(&self, peer: &AccordId, state: &[u8]) -> Result<(), StoreError> {
        let value = self.sealed_session(peer, state)?;
        self.sessions
            .insert(self.slot(peer), value)
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Deletes the ratchet session with `peer`. Returns whether there was one. Does not flush.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`] when the write fails.
    pub fn remove_session(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let removed = self
            .sessions
            .remove(self.slot(peer))
            .map_err(StoreError::db)?;
        Ok(removed.is_some())
    }

    /// Encodes and seals a ratchet session state for its key (the peer's slot).
    pub(crate) fn sealed_session(
        &self,
        peer: &AccordId,
        state: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let plain = codec::encode_session(state).map_err(bad_record(trees::SESSIONS))?;
        self.seal(trees::SESSIONS, &self.slot(peer), &plain)
    }
}
