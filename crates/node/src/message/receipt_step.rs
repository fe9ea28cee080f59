//! Making a read receipt, as one job on the store thread: what is owed to a peer and, if a
//! receipt is to go, the receipt, encrypted with the conversation's ratchet state, which is
//! advanced and written in the same job. The receipt leaves only once that state is durable
//! (the core waits for the job's flush).

use accord_channel::Session;
use accord_identity::AccordId;
use accord_store::{Store, StoreError};

use super::core::ReceiptPlan;
use super::core::receipts::{Owed, decide};
use super::send_step::random_id;
use super::wire::{self, Content};
use crate::rng;

/// On the store thread: what is owed to `peer`, and, if a receipt is to go, the receipt,
/// encrypted with the conversation's ratchet state, which is advanced and written here.
pub(super) fn receipt_step(
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
