//! Our side of our mailboxes: registering the hashes of the tokens we gave our connections,
//! fetching what they hold for us (each item through the Message actor's ordinary receive
//! path, then deleted), and announcing our mailboxes to our connections over the end-to-end
//! channel. Each is a round of network requests, run as a future the actor polls.

use std::collections::BTreeMap;

use accord_channel::Session;
use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetHandle};
use accord_store::{MessageId, Store, StoreError, StoreHandle, token_hash};
use futures::future::join_all;

use super::schedule::Fetched;
use super::wire::{self, Announce, MAX_DELETE, MAX_REGISTER, MailboxRequest, MailboxResponse};
use crate::message::MessageHandle;
use crate::message::wire::{Content, Status, decode_request, decode_status, encode_request};
use crate::rng;

/// The most pages one fetch round reads (each at most [`wire::MAX_FETCH_BYTES`]), so that a
/// round ends; what is left is fetched in the next.
const MAX_PAGES: usize = 64;

async fn ask(
    net: &NetHandle,
    store: &StoreHandle,
    mailbox: AccordId,
    request: &MailboxRequest,
) -> Result<MailboxResponse, String> {
    let bytes = crate::reach::send_routed(
        net,
        store,
        DirectProtocol::Mailbox,
        mailbox,
        request.encode(),
    )
    .await?;
    MailboxResponse::decode(&bytes).map_err(|err| err.to_string())
}

/// The token hashes of every unrevoked connection, each remembered as issued to it.
fn issued_hashes(store: &Store) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut hashes = Vec::new();
    for connection in store.connections()? {
        if connection.revoked_at_ms.is_some() {
            continue;
        }
        let hash = token_hash(&store.mailbox_token(&connection.peer));
        store.note_issued_token(&hash, &connection.peer)?;
        hashes.push(hash);
    }
    Ok(hashes)
}

/// Registers the hashes of the tokens of all our connections with `mailbox` (replacing what
/// it held, so a revoked connection's token stops working there).
pub(super) async fn register(net: NetHandle, store: StoreHandle, mailbox: AccordId) -> Fetched {
    let hashes = match store.run(issued_hashes).await {
        Ok(hashes) => hashes,
        Err(err) => {
            tracing::warn!(%err, "cannot list the tokens to register");
            return Fetched::Unreachable;
        }
    };
    let mut chunks: Vec<Vec<[u8; 32]>> = hashes.chunks(MAX_REGISTER).map(<[_]>::to_vec).collect();
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    for (i, hashes) in chunks.into_iter().enumerate() {
        let request = MailboxRequest::Register {
            replace: i == 0,
            hashes,
        };
        match ask(&net, &store, mailbox, &request).await {
            Ok(MailboxResponse::Ok) => {}
            Ok(MailboxResponse::NotServing) => return Fetched::Refusing,
            Ok(other) => {
                tracing::info!(%mailbox, answer = other.name(), "mailbox refused our tokens");
                return Fetched::Refusing;
            }
            Err(err) => {
                tracing::debug!(%mailbox, %err, "cannot reach our mailbox");
                return Fetched::Unreachable;
            }
        }
    }
    Fetched::Reached { early: false }
}

/// Withdraws every token we registered with `mailbox` (we stopped using it): deposits there
/// are refused from now on. Best effort: a mailbox we cannot reach keeps them until its
/// items expire, and a depositor learns of our new mailboxes from our next announcement.
pub(super) async fn unregister(net: NetHandle, store: StoreHandle, mailbox: AccordId) {
    let request = MailboxRequest::Register {
        replace: true,
        hashes: Vec::new(),
    };
    if let Err(err) = ask(&net, &store, mailbox, &request).await {
        tracing::debug!(%mailbox, %err, "cannot withdraw our tokens from a dropped mailbox");
    }
}

/// Registers with `mailbox`, then fetches everything it holds for us, a page at a time: each
/// item goes through the Message actor's receive path, and is deleted at the mailbox once
/// that answered (after its flush) that it has it, or that it never will take it.
pub(super) async fn fetch(
    net: NetHandle,
    store: StoreHandle,
    messages: MessageHandle,
    me: AccordId,
    mailbox: AccordId,
) -> Fetched {
    let registered = register(net.clone(), store.clone(), mailbox).await;
    if registered != (Fetched::Reached { early: false }) {
        return registered;
    }
    let mut after = 0;
    let mut early = false;
    for _ in 0..MAX_PAGES {
        let items = match ask(&net, &store, mailbox, &MailboxRequest::Fetch { after }).await {
            Ok(MailboxResponse::Items(items)) => items,
            Ok(MailboxResponse::NotServing) => return Fetched::Refusing,
            Ok(other) => {
                tracing::info!(%mailbox, answer = other.name(), "unexpected fetch answer");
                return Fetched::Unreachable;
            }
            Err(err) => {
                tracing::debug!(%mailbox, %err, "cannot fetch from our mailbox");
                return Fetched::Unreachable;
            }
        };
        let Some(last) = items.last().map(|item| item.seq) else {
            break;
        };
        after = last;
        let (done, held_back, taken) = take_in(&store, &messages, items).await;
        early |= held_back;
        for (sender, ids) in taken {
            acknowledge(&net, &store, me, sender, ids).await;
        }
        for seqs in done.chunks(MAX_DELETE) {
            let request = MailboxRequest::Delete {
                seqs: seqs.to_vec(),
            };
            if let Err(err) = ask(&net, &store, mailbox, &request).await {
                // Deleted at the next fetch: the copy we take in again is a duplicate.
                tracing::debug!(%mailbox, %err, "cannot delete fetched mail");
            }
        }
    }
    Fetched::Reached { early }
}

/// What a page of fetched items came to: the sequences to delete, whether any item waits for
/// an earlier message, and the messages taken in, by sender (to acknowledge).
type TakenIn = (Vec<u64>, bool, BTreeMap<AccordId, Vec<MessageId>>);

/// Hands fetched items to the Message actor, all at once and in order (so that they share
/// its batches and flushes).
async fn take_in(
    store: &StoreHandle,
    messages: &MessageHandle,
    items: Vec<accord_store::HeldItem>,
) -> TakenIn {
    let hashes: Vec<[u8; 32]> = items.iter().map(|item| item.token_hash).collect();
    let senders = store
        .run(move |s| {
            hashes
                .iter()
                .map(|h| s.issued_to(h))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap_or_default();
    let mut waiting = Vec::new();
    let mut done = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let sender = senders.get(i).copied().flatten();
        let frame = wire::unpad_item(&item.item).ok();
        match (sender, frame) {
            (Some(sender), Some(frame)) => {
                let id = decode_request(frame).ok().map(|(id, _)| id);
                match messages.fetched(sender, frame.to_vec()).await {
                    Some(answer) => waiting.push(((item.seq, sender, id), answer)),
                    None => return (done, true, BTreeMap::new()),
                }
            }
            // Not from a token we issued, or not an item: nothing we could ever take in.
            _ => done.push(item.seq),
        }
    }
    let (items, answers): (Vec<_>, Vec<_>) = waiting.into_iter().unzip();
    let mut early = false;
    let mut taken: BTreeMap<AccordId, Vec<MessageId>> = BTreeMap::new();
    for ((seq, sender, id), status) in items.into_iter().zip(join_all(answers).await) {
        match status {
            Ok(Status::Stored | Status::Duplicate) => {
                done.push(seq);
                if let Some(id) = id {
                    taken.entry(sender).or_default().push(id);
                }
            }
            Ok(Status::Refused) => done.push(seq),
            Ok(Status::Early) => early = true,
            // The actor stopped: the item stays, and is fetched again.
            Err(_) => early = true,
        }
    }
    (done, early, taken)
}

/// On the store thread: an acknowledgement of `ids` for `peer`, encrypted with its ratchet
/// state (advanced and written here), if `peer` announced a mailbox.
fn make_acknowledgement(
    store: &Store,
    peer: AccordId,
    ids: Vec<MessageId>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let has_mailbox = store
        .announcement(&peer)?
        .is_some_and(|a| !a.mailboxes.is_empty());
    if !has_mailbox || store.is_blocked(&peer)? {
        return Ok(None);
    }
    let Some(state) = store.session(&peer)? else {
        return Ok(None);
    };
    let Ok(mut session) = Session::from_own_bytes(&state) else {
        return Ok(None);
    };
    let content = Content::Delivered { ids };
    let Ok(envelope) = session.encrypt(&content.encode(), &mut rng::os_rng()) else {
        return Ok(None);
    };
    store.put_session(&peer, &session.to_bytes())?;
    Ok(Some(encode_request(
        &crate::message::random_frame_id(),
        &envelope,
    )))
}

/// Tells `sender`, through its own mailboxes (it deposited with ours because it could not
/// reach us, so it may well be offline now), that we took in `ids`. Best effort: without it
/// the sender learns the same from our `duplicate` answer when it next reaches us.
async fn acknowledge(
    net: &NetHandle,
    store: &StoreHandle,
    me: AccordId,
    sender: AccordId,
    ids: Vec<MessageId>,
) {
    for ids in ids.chunks(crate::message::wire::MAX_RECEIPTS) {
        let ids = ids.to_vec();
        let made = store
            .run_with_ticket(
                move |s| make_acknowledgement(s, sender, ids),
                Option::is_some,
            )
            .await;
        let frame = match made {
            Ok((Some(frame), ticket)) => {
                // Its ratchet state must be on disk before the envelope leaves.
                if ticket.wait().await.is_err() {
                    return;
                }
                frame
            }
            Ok((None, _)) => return,
            Err(err) => {
                tracing::warn!(%sender, %err, "cannot make an acknowledgement");
                return;
            }
        };
        if let Err(reason) = super::deposit::deposit_frame(net, store, me, sender, &frame).await {
            tracing::debug!(%sender, %reason, "no mailbox of the sender took our acknowledgement");
        }
    }
}

/// On the store thread: our announcement for `peer`, encrypted with its ratchet state (which
/// is advanced and written here), if `peer` has not acknowledged the current version.
fn make_announcement(store: &Store, peer: AccordId) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
    let version = store.announcement_version()?;
    if version == 0 || store.announcement_acked(&peer)? >= version || store.is_blocked(&peer)? {
        return Ok(None);
    }
    let Some(state) = store.session(&peer)? else {
        return Ok(None);
    };
    let Ok(mut session) = Session::from_own_bytes(&state) else {
        return Ok(None);
    };
    let token = store.mailbox_token(&peer);
    store.note_issued_token(&token_hash(&token), &peer)?;
    let announce = Announce {
        version,
        token,
        mailboxes: store.own_mailboxes()?.into_iter().map(|m| m.id).collect(),
    };
    let content = Content::Mailboxes(announce.encode());
    let Ok(envelope) = session.encrypt(&content.encode(), &mut rng::os_rng()) else {
        return Ok(None);
    };
    store.put_session(&peer, &session.to_bytes())?;
    let frame = encode_request(&crate::message::random_frame_id(), &envelope);
    Ok(Some((frame, version)))
}

/// Tells `peer` our current mailboxes and its token, if it has not acknowledged them yet.
/// The envelope leaves only once the ratchet state it was made with is durable. Returns
/// whether `peer` still lacks it (it did not answer `stored`), so that it is sent again.
pub(super) async fn announce(net: NetHandle, store: StoreHandle, peer: AccordId) -> bool {
    let made = store
        .run_with_ticket(move |s| make_announcement(s, peer), Option::is_some)
        .await;
    let (frame, version) = match made {
        Ok((Some(made), ticket)) => {
            if let Err(err) = ticket.wait().await {
                tracing::warn!(%peer, %err, "an announcement's ratchet state did not reach the disk");
                return false;
            }
            made
        }
        Ok((None, _)) => return false,
        Err(err) => {
            tracing::warn!(%peer, %err, "cannot make a mailbox announcement");
            return false;
        }
    };
    let answer = net
        .send_direct(DirectProtocol::Dm, peer.peer_id(), frame)
        .await
        .ok()
        .and_then(|bytes| decode_status(&bytes).ok());
    if answer == Some(Status::Stored) {
        let acked = store
            .run(move |s| s.set_announcement_acked(&peer, version))
            .await;
        if let Err(err) = acked {
            tracing::warn!(%peer, %err, "cannot record an acknowledged announcement");
        }
        return false;
    }
    tracing::debug!(%peer, ?answer, "a connection did not take our mailbox announcement");
    true
}
