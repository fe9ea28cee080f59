//! Read receipts. Reading a conversation marks its incoming messages read; a receipt naming
//! them is then owed to the sender until its node answers `stored`. What is owed is kept in
//! the store (the conversation's acknowledged-receipts mark, see
//! [`accord_store::Store::owed_receipts`]), so a sender that was offline when its messages
//! were read still learns it: the receipt goes out when it connects, as the outbox does.
//!
//! Nothing here waits for the disk inline: the read marks and the ratchet state a receipt is
//! made with are written in one store job each, and what depends on them being durable (the
//! receipt leaving) waits for the flush in [`super::durable`].

use accord_channel::Session;
use accord_identity::AccordId;
use accord_store::{Store, StoreError};

use super::MessageMessage;
use super::actor::MessageActor;
use super::commands::random_id;
use super::core::receipts::{Owed, decide};
use super::durable::AfterFlush;
use super::wire::{self, Content, Status};
use crate::rng;

/// What the store job of [`MessageActor::send_owed_receipts`] made.
pub(super) enum ReceiptPlan {
    /// Nothing to send now.
    Nothing,
    /// A receipt, encrypted with a ratchet state written in the same job: it leaves once that
    /// is durable.
    Send { frame: Vec<u8>, up_to: u64 },
}

impl MessageActor {
    /// Marks a conversation read up to `local_seq`; once the marks are durable, the receipts
    /// now owed go out.
    pub(super) async fn mark_read(&mut self, peer: AccordId, local_seq: u64) {
        let job = self
            .store
            .run_with_ticket(
                move |store| store.mark_read(&peer, local_seq),
                |changed| !changed.is_empty(),
            )
            .await;
        match job {
            Ok((changed, ticket)) if !changed.is_empty() => {
                self.after_flush(ticket, AfterFlush::ReadMarked(peer));
            }
            Ok(_) => {}
            Err(err) => self.note_store_failure("store_failed_mark_read", &err),
        }
    }

    /// Sends the oldest read receipts owed to `peer` (at most [`wire::MAX_RECEIPTS`] ids), one
    /// receipt in flight per peer; its answer sends the next. With `messages.read_receipts`
    /// off nothing is owed: the mark just moves on. None goes to a blocked peer (it stays
    /// owed until the peer is unblocked).
    pub(super) async fn send_owed_receipts(&mut self, peer: AccordId) {
        if self.receipts.busy(&peer) {
            return;
        }
        let receipts_on = self.config.messages.read_receipts;
        let job = self
            .store
            .run_with_ticket(
                move |store| receipt_step(store, peer, receipts_on),
                |plan| matches!(plan, ReceiptPlan::Send { .. }),
            )
            .await;
        match job {
            Ok((ReceiptPlan::Send { frame, up_to }, ticket)) => {
                self.receipts.sent(peer);
                self.after_flush(ticket, AfterFlush::Receipt { peer, frame, up_to });
            }
            Ok((ReceiptPlan::Nothing, _)) => {}
            // Still owed: tried again when the peer next connects or more is read.
            Err(err) => self.note_store_failure("store_failed_receipts", &err),
        }
    }

    /// The ratchet state a receipt was made with is durable: send it. Its answer comes back
    /// through the queue.
    pub(super) fn send_receipt(&self, peer: AccordId, frame: Vec<u8>, up_to: u64) {
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

    /// A receipt was answered: an acknowledged one moves the mark and sends the next owed
    /// receipt; an unanswered one stays owed until the peer next connects or more is read.
    pub(super) async fn on_receipt_answered(
        &mut self,
        peer: AccordId,
        up_to_local_seq: u64,
        acknowledged: bool,
    ) {
        self.receipts.answered(&peer);
        if acknowledged {
            // Not flushed on its own: a mark lost in a crash only sends the receipt again.
            let moved = self
                .store
                .run(move |store| store.receipts_acknowledged(&peer, up_to_local_seq))
                .await;
            if let Err(err) = moved {
                self.note_store_failure("store_failed_receipts", &err);
            }
            self.send_owed_receipts(peer).await;
        }
    }
}

/// On the store thread: what is owed to `peer`, and, if a receipt is to go, the receipt,
/// encrypted with the conversation's ratchet state, which is advanced and written here.
fn receipt_step(
    store: &Store,
    peer: AccordId,
    receipts_on: bool,
) -> Result<ReceiptPlan, StoreError> {
    let blocked = store.is_blocked(&peer)?;
    let (ids, up_to) = if blocked {
        (Vec::new(), 0)
    } else {
        store.owed_receipts(&peer, wire::MAX_RECEIPTS)?
    };
    match decide(blocked, ids.len(), up_to, receipts_on) {
        Owed::Nothing => Ok(ReceiptPlan::Nothing),
        Owed::Acknowledge(up_to) => {
            store.receipts_acknowledged(&peer, up_to)?;
            Ok(ReceiptPlan::Nothing)
        }
        Owed::Send(up_to) => {
            // No usable session: the receipt stays owed until the channel is set up again.
            let Some(state) = store.session(&peer)? else {
                return Ok(ReceiptPlan::Nothing);
            };
            let Ok(mut session) = Session::from_own_bytes(&state) else {
                return Ok(ReceiptPlan::Nothing);
            };
            let content = Content::Read { ids };
            let Ok(envelope) = session.encrypt(&content.encode(), &mut rng::os_rng()) else {
                return Ok(ReceiptPlan::Nothing);
            };
            store.put_session(&peer, &session.to_bytes())?;
            Ok(ReceiptPlan::Send {
                frame: wire::encode_request(&random_id(), &envelope),
                up_to,
            })
        }
    }
}
