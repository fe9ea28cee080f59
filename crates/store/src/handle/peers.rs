//! The address book, meta, counts and flushes, through the handle.

use accord_identity::AccordId;
use multiaddr::Multiaddr;

use crate::{FlushTicket, PeerRecord, StoreCounts, StoreError, StoreHandle};

impl StoreHandle {
    /// See [`Store::record_peer`].
    ///
    /// # Errors
    ///
    /// As [`Store::record_peer`], plus [`StoreError::Closed`].
    pub async fn record_peer(
        &self,
        id: AccordId,
        addrs: &[Multiaddr],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let addrs = addrs.to_vec();
        self.call(move |s| s.record_peer(id, &addrs, now_ms)).await
    }

    /// See [`Store::peer`].
    ///
    /// # Errors
    ///
    /// As [`Store::peer`], plus [`StoreError::Closed`].
    pub async fn peer(&self, id: &AccordId) -> Result<Option<PeerRecord>, StoreError> {
        let id = *id;
        self.call(move |s| s.peer(&id)).await
    }

    /// See [`Store::set_meta`].
    ///
    /// # Errors
    ///
    /// As [`Store::set_meta`], plus [`StoreError::Closed`].
    pub async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.call(move |s| s.set_meta(&key, &value)).await
    }

    /// See [`Store::meta`].
    ///
    /// # Errors
    ///
    /// As [`Store::meta`], plus [`StoreError::Closed`].
    pub async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.call(move |s| s.meta(&key)).await
    }

    /// See [`Store::counts`].
    ///
    /// # Errors
    ///
    /// As [`Store::counts`], plus [`StoreError::Closed`].
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.call(|s| s.counts()).await
    }

    /// See [`Store::flush`]. When this returns `Ok`, everything written before it is durable.
    ///
    /// # Errors
    ///
    /// As [`Store::flush`], plus [`StoreError::Closed`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_ticket().await?.wait().await
    }

    /// A [`FlushTicket`] that resolves once everything written before this call is durable,
    /// without waiting for it here (a durable job with nothing to write, in the next group
    /// commit).
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`].
    pub async fn flush_ticket(&self) -> Result<FlushTicket, StoreError> {
        Ok(self.call_with_ticket(|_| Ok(())).await?.1)
    }

    /// See [`Store::flush_count`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`].
    pub async fn flush_count(&self) -> Result<u64, StoreError> {
        self.call(|s| Ok(s.flush_count())).await
    }
}
