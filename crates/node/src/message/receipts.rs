//! Read receipts. Reading a conversation marks its incoming messages read; a receipt naming
//! them is then owed to the sender until its node answers `stored`. What is owed is kept in
//! the store (the conversation's acknowledged-receipts mark, see
//! [`accord_store::Store::owed_receipts`]), so a sender that was offline when its messages
//! were read still learns it: the receipt goes out when it connects, as the outbox does.

use accord_channel::Session;
use accord_identity::AccordId;
use accord_store::MessageId;

use super::MessageMessage;
use super::actor::MessageActor;
use super::commands::random_id;
use super::wire::{self, Content, Status};
use crate::rng;

impl MessageActor {
    /// Marks a conversation read up to `local_seq` and sends the receipts now owed.
    pub(super) async fn mark_read(&mut self, peer: AccordId, local_seq: u64) {
        if let Ok(changed) = self.store.mark_read(&peer, local_seq).await
            && !changed.is_empty()
        {
            self.send_owed_receipts(peer).await;
        }
    }

    /// Sends the oldest read receipts owed to `peer` (at most [`wire::MAX_RECEIPTS`] ids), one
    /// receipt in flight per peer; its answer sends the next. With `messages.read_receipts`
    /// off nothing is owed: the mark just moves on. None goes to a blocked peer (it stays
    /// owed until the peer is unblocked).
    pub(super) async fn send_owed_receipts(&mut self, peer: AccordId) {
        if self.receipts_in_flight.contains(&peer)
            || self.store.is_blocked(&peer).await.unwrap_or(true)
        {
            return;
        }
        let Ok((ids, up_to)) = self.store.owed_receipts(&peer, wire::MAX_RECEIPTS).await else {
            return;
        };
        if ids.is_empty() || !self.config.messages.read_receipts {
            let _ = self.store.receipts_acknowledged(&peer, up_to).await;
            return;
        }
        let Some(frame) = self.receipt_frame(peer, ids).await else {
            return;
        };
        self.receipts_in_flight.insert(peer);
        let (net, tx) = (self.net.clone(), self.tx.clone());
        tokio::spawn(async move {
            let answer = net
                .send_direct(accord_net::DirectProtocol::Dm, peer.peer_id(), frame)
                .await;
            let acknowledged = answer
                .ok()
                .and_then(|bytes| wire::decode_status(&bytes).ok())
                .is_some_and(|status| status == Status::Stored);
            let _ = tx
                .send(MessageMessage::ReceiptAnswered {
                    peer,
                    up_to_local_seq: up_to,
                    acknowledged,
                })
                .await;
        });
    }

    /// Encrypts a receipt naming `ids` and stores the advanced session state; the request
    /// frame, or `None` if there is no usable session.
    async fn receipt_frame(&mut self, peer: AccordId, ids: Vec<MessageId>) -> Option<Vec<u8>> {
        let state = self.store.session(&peer).await.ok()??;
        let mut session = Session::from_own_bytes(&state).ok()?;
        let content = Content::Read { ids };
        let envelope = session
            .encrypt(&content.encode(), &mut rng::os_rng())
            .ok()?;
        self.store
            .put_session(&peer, &session.to_bytes())
            .await
            .ok()?;
        Some(wire::encode_request(&random_id(), &envelope))
    }

    /// A receipt was answered: an acknowledged one moves the mark and sends the next owed
    /// receipt; an unanswered one stays owed until the peer next connects or more is read.
    pub(super) async fn on_receipt_answered(
        &mut self,
        peer: AccordId,
        up_to_local_seq: u64,
        acknowledged: bool,
    ) {
        self.receipts_in_flight.remove(&peer);
        if acknowledged {
            let _ = self
                .store
                .receipts_acknowledged(&peer, up_to_local_seq)
                .await;
            self.send_owed_receipts(peer).await;
        }
    }
}
