//! The sender's side: a delivery failed because the recipient could not be reached, so the
//! already encrypted envelope goes, padded, to one of the recipient's mailboxes.
//!
//! The outbox keeps the message either way (it leaves only on the recipient's own
//! acknowledgement), so a mailbox that refuses, loses or drops it costs time, never the
//! message. A full mailbox answers with its own code, and the next mailbox is tried.

use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetHandle};
use accord_store::{MessageId, StoreHandle};

use super::wire::{MailboxRequest, MailboxResponse, pad_item};

/// Deposits our (`me`) queued message `message_id` to `peer` at one of `peer`'s mailboxes
/// other than ourselves; returns once a mailbox took it (after its flush), or why none did.
pub(crate) async fn deposit(
    net: NetHandle,
    store: StoreHandle,
    me: AccordId,
    peer: AccordId,
    message_id: MessageId,
) -> Result<(), String> {
    let frame = store
        .run(move |s| s.outbox_envelope(&peer, &message_id))
        .await
        .map_err(|err| err.to_string())?
        .ok_or_else(|| "the message is no longer queued".to_owned())?;
    deposit_frame(&net, &store, me, peer, &frame).await
}

/// Deposits `frame` (an `/accord/dm/1` request frame for `peer`) at one of `peer`'s
/// mailboxes other than ourselves (`me`).
pub(crate) async fn deposit_frame(
    net: &NetHandle,
    store: &StoreHandle,
    me: AccordId,
    peer: AccordId,
    frame: &[u8],
) -> Result<(), String> {
    let announcement = store
        .run(move |s| s.announcement(&peer))
        .await
        .map_err(|err| err.to_string())?;
    let announcement = announcement
        .map(|mut a| {
            // We hold the peer's mail ourselves: depositing it with us would not bring it any
            // closer; it waits in our outbox instead.
            a.mailboxes.retain(|m| *m != me);
            a
        })
        .filter(|a| !a.mailboxes.is_empty())
        .ok_or_else(|| "the recipient announced no mailbox".to_owned())?;
    let item = pad_item(frame).map_err(|err| err.to_string())?;
    let request = MailboxRequest::Deposit {
        token: announcement.token,
        item,
    }
    .encode();
    let mut reasons = Vec::new();
    for mailbox in announcement.mailboxes {
        let answer = crate::reach::send_routed(
            net,
            store,
            DirectProtocol::Mailbox,
            mailbox,
            request.clone(),
        )
        .await
        .and_then(|bytes| MailboxResponse::decode(&bytes).map_err(|e| e.to_string()));
        match answer {
            Ok(MailboxResponse::Ok) => {
                tracing::debug!(%peer, %mailbox, "held by a mailbox of the recipient");
                return Ok(());
            }
            Ok(MailboxResponse::Full) => reasons.push(format!("mailbox {mailbox} is full")),
            Ok(other) => reasons.push(format!("mailbox {mailbox} refused: {}", other.name())),
            Err(err) => reasons.push(format!("mailbox {mailbox}: {err}")),
        }
    }
    Err(reasons.join("; "))
}
