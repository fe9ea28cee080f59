//! Our side of mailboxes: our own mailboxes, the tokens we issue to our connections, the
//! version of our announcement and who acknowledged it, and what our connections announced
//! of theirs (the key layout is in the parent module's docs).

use accord_identity::AccordId;

use super::{
    ACKED, ANNOUNCED, Announcement, ISSUED, MANUAL, MINE, OwnMailbox, TOKEN_LABEL, VERSION, key,
    u64_of,
};
use crate::error::StoreError;
use crate::{Store, trees};

impl Store {
    /// The deposit token we give `peer` (a keyed hash of its ID under the store's slot key,
    /// so it is never stored and cannot be guessed from a copied database).
    pub fn mailbox_token(&self, peer: &AccordId) -> [u8; 32] {
        let mut input = TOKEN_LABEL.to_vec();
        input.extend_from_slice(&peer.to_bytes());
        let mut token = [0u8; 32];
        token.copy_from_slice(&self.slots.slot_of_bytes(&input));
        token
    }

    /// Remembers that the token whose hash is `hash` was issued to `peer`, so that an item
    /// fetched with it is known to come from `peer`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn note_issued_token(&self, hash: &[u8; 32], peer: &AccordId) -> Result<(), StoreError> {
        let k = key(ISSUED, &[hash]);
        let sealed = self.seal(trees::MAILBOX, &k, &peer.to_bytes())?;
        self.mailbox_tree()?
            .insert(k, sealed)
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// The connection we issued the token whose hash is `hash` to.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn issued_to(&self, hash: &[u8; 32]) -> Result<Option<AccordId>, StoreError> {
        Ok(self
            .get_sealed_mail(&key(ISSUED, &[hash]))?
            .and_then(|bytes| AccordId::from_bytes(&bytes).ok()))
    }

    /// Our mailboxes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn own_mailboxes(&self) -> Result<Vec<OwnMailbox>, StoreError> {
        let tree = self.mailbox_tree()?;
        let mut mine = Vec::new();
        for entry in tree.scan_prefix([MINE]) {
            let (k, v) = entry.map_err(StoreError::db)?;
            let plain = match self.open_sealed(trees::MAILBOX, &k, &v) {
                Ok(plain) => plain,
                Err(err) => {
                    self.note_skipped(trees::MAILBOX, &k, &err);
                    continue;
                }
            };
            let Some(split) = plain.len().checked_sub(9) else {
                continue;
            };
            let (id, rest) = plain.split_at(split);
            let Ok(id) = AccordId::from_bytes(id) else {
                continue;
            };
            let last = rest.get(1..).and_then(u64_of).unwrap_or_default();
            mine.push(OwnMailbox {
                id,
                pinned: rest.first() == Some(&1),
                last_reached_ms: (last > 0).then_some(last),
            });
        }
        Ok(mine)
    }

    /// Adds or updates one of our mailboxes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_own_mailbox(&self, mailbox: &OwnMailbox) -> Result<(), StoreError> {
        let k = key(MINE, &[&self.slot(&mailbox.id)]);
        let mut plain = mailbox.id.to_bytes();
        plain.push(u8::from(mailbox.pinned));
        plain.extend_from_slice(&mailbox.last_reached_ms.unwrap_or_default().to_be_bytes());
        let sealed = self.seal(trees::MAILBOX, &k, &plain)?;
        self.mailbox_tree()?
            .insert(k, sealed)
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Forgets one of our mailboxes; returns whether it was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn remove_own_mailbox(&self, id: &AccordId) -> Result<bool, StoreError> {
        let k = key(MINE, &[&self.slot(id)]);
        Ok(self
            .mailbox_tree()?
            .remove(k)
            .map_err(StoreError::db)?
            .is_some())
    }

    /// The version of our announcement (0: never announced).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn announcement_version(&self) -> Result<u64, StoreError> {
        Ok(self
            .mailbox_tree()?
            .get([VERSION])
            .map_err(StoreError::db)?
            .and_then(|v| u64_of(&v))
            .unwrap_or_default())
    }

    /// Moves our announcement to the next version and returns it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn next_announcement_version(&self) -> Result<u64, StoreError> {
        let next = self.announcement_version()? + 1;
        self.mailbox_tree()?
            .insert([VERSION], next.to_be_bytes().to_vec())
            .map_err(StoreError::db)?;
        Ok(next)
    }

    /// Whether the user chose or dropped a mailbox (the automatic choice then stops).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn mailbox_manual(&self) -> Result<bool, StoreError> {
        Ok(self
            .mailbox_tree()?
            .get([MANUAL])
            .map_err(StoreError::db)?
            .is_some())
    }

    /// Records that the user chose or dropped a mailbox.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn set_mailbox_manual(&self) -> Result<(), StoreError> {
        self.mailbox_tree()?
            .insert([MANUAL], vec![1])
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// The announcement version `peer` acknowledged (0: none).
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn announcement_acked(&self, peer: &AccordId) -> Result<u64, StoreError> {
        Ok(self
            .mailbox_tree()?
            .get(key(ACKED, &[&self.slot(peer)]))
            .map_err(StoreError::db)?
            .and_then(|v| u64_of(&v))
            .unwrap_or_default())
    }

    /// `peer` acknowledged our announcement `version`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn set_announcement_acked(&self, peer: &AccordId, version: u64) -> Result<(), StoreError> {
        self.mailbox_tree()?
            .insert(
                key(ACKED, &[&self.slot(peer)]),
                version.to_be_bytes().to_vec(),
            )
            .map_err(StoreError::db)?;
        Ok(())
    }

    // ----- sending: what our connections told us of their mailboxes -----

    /// Stores `peer`'s announcement if it is newer than the one we have; returns whether it
    /// was.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`], [`StoreError::Randomness`].
    pub fn put_announcement(
        &self,
        peer: &AccordId,
        announcement: &Announcement,
    ) -> Result<bool, StoreError> {
        if let Some(known) = self.announcement(peer)?
            && known.version >= announcement.version
        {
            return Ok(false);
        }
        let k = key(ANNOUNCED, &[&self.slot(peer)]);
        let mut plain = announcement.version.to_be_bytes().to_vec();
        plain.extend_from_slice(&announcement.token);
        let count = u8::try_from(announcement.mailboxes.len())
            .map_err(|_| StoreError::InvalidConfig("too many mailboxes"))?;
        plain.push(count);
        for id in &announcement.mailboxes {
            let bytes = id.to_bytes();
            plain.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
            plain.extend_from_slice(&bytes);
        }
        let sealed = self.seal(trees::MAILBOX, &k, &plain)?;
        self.mailbox_tree()?
            .insert(k, sealed)
            .map_err(StoreError::db)?;
        Ok(true)
    }

    /// What `peer` told us of its mailboxes, if anything.
    ///
    /// # Errors
    ///
    /// [`StoreError::Db`].
    pub fn announcement(&self, peer: &AccordId) -> Result<Option<Announcement>, StoreError> {
        let Some(plain) = self.get_sealed_mail(&key(ANNOUNCED, &[&self.slot(peer)]))? else {
            return Ok(None);
        };
        let (Some(version), Some(token), Some(&count)) = (
            plain.get(..8).and_then(u64_of),
            plain.get(8..40).and_then(|t| <[u8; 32]>::try_from(t).ok()),
            plain.get(40),
        ) else {
            return Ok(None);
        };
        let mut rest = plain.get(41..).unwrap_or_default();
        let mut mailboxes = Vec::new();
        for _ in 0..count {
            let Some((&len, tail)) = rest.split_first() else {
                return Ok(None);
            };
            let Some((id, tail)) = tail.split_at_checked(usize::from(len)) else {
                return Ok(None);
            };
            if let Ok(id) = AccordId::from_bytes(id) {
                mailboxes.push(id);
            }
            rest = tail;
        }
        Ok(Some(Announcement {
            version,
            token,
            mailboxes,
        }))
    }
}
