//! Carrying out the core's [`StoreJob`]s: each is one closure run on the store thread, and
//! its result goes back to the core as a [`StoreDone`]. The jobs whose writes something must
//! wait for (a send, an incoming message, a read mark, a receipt) come back with the flush
//! ticket of those writes.

use std::sync::Arc;

use accord_api::{ConversationInfo, RemoteError, format_rfc3339_ms as rfc3339};
use accord_identity::AccordId;
use accord_store::{FlushTicket, MessageState, Store, StoreError, StoreHandle};

use super::core::{
    DeliveriesWritten, Outcome, Query, ReceiptPlan, Request, ResponseToken, StoreDone, StoreJob,
    WINDOW,
};
use super::{receipt_step, receive_step, send_step};
use crate::Config;
use crate::remote_error::internal;

/// The longest preview in `accord inbox`, in characters.
const PREVIEW_CHARS: usize = 60;

/// Runs `job` on the store thread; returns its result and, for the jobs that write something
/// to wait for, the ticket of its flush.
pub(super) async fn run(
    store: &StoreHandle,
    config: &Arc<Config>,
    job: StoreJob,
) -> (StoreDone, Option<FlushTicket>) {
    let done = match job {
        StoreJob::RecordSends {
            replies,
            sends,
            queued,
            now_ms,
        } => {
            let config = Arc::clone(config);
            let job = store.run_with_ticket(
                move |store| {
                    Ok(send_step::record_batch(
                        store, &config, &sends, queued, now_ms,
                    ))
                },
                |(results, _)| results.iter().any(Result::is_ok),
            );
            let (result, ticket) = split(job.await);
            return (StoreDone::SendsRecorded { replies, result }, ticket);
        }
        StoreJob::Receive {
            tokens,
            requests,
            now_ms,
        } => return receive(store, config, tokens, requests, now_ms).await,
        StoreJob::MarkRead { peer, local_seq } => return mark_read(store, peer, local_seq).await,
        StoreJob::MakeReceipt { peer, receipts_on } => {
            return make_receipt(store, peer, receipts_on).await;
        }
        StoreJob::OutboxPeers => StoreDone::OutboxPeers(store.run(|s| s.outbox_peers()).await),
        StoreJob::OutboxHead { peer, fill } => {
            let result = store
                .run(move |store| store.active_outbox_head(&peer, WINDOW))
                .await;
            StoreDone::OutboxHead { peer, fill, result }
        }
        StoreJob::WriteDeliveries {
            completed,
            rescheduled,
            refill,
        } => {
            let result = store
                .run(move |store| Ok(write_deliveries(store, &completed, &rescheduled, refill)))
                .await;
            StoreDone::DeliveriesWritten { result }
        }
        StoreJob::AcknowledgeReceipts {
            peer,
            up_to_local_seq,
        } => {
            let acknowledge = move |s: &Store| s.receipts_acknowledged(&peer, up_to_local_seq);
            StoreDone::ReceiptsAcknowledged {
                result: store.run(acknowledge).await,
            }
        }
        StoreJob::MarkStored { peer, message_id } => {
            let result = store
                .run(move |s| {
                    let marked = s.set_message_state(&peer, &message_id, MessageState::Stored)?;
                    Ok(marked.is_some())
                })
                .await;
            StoreDone::MarkedStored {
                peer,
                message_id,
                result,
            }
        }
        StoreJob::DepositPage { peer, after, limit } => {
            // Only the ids leave the store thread: each deposit reads its own envelope.
            let result = store
                .run(move |s| {
                    let page = s.outbox_page(&peer, after, limit)?;
                    Ok(page
                        .into_iter()
                        .map(|e| (e.outbox_seq, e.message_id))
                        .collect())
                })
                .await;
            StoreDone::DepositPage { peer, result }
        }
        StoreJob::Query(query) => run_query(store, query).await,
    };
    (done, None)
}

/// Takes in `requests` (see [`receive_step`]).
async fn receive(
    store: &StoreHandle,
    config: &Arc<Config>,
    tokens: Vec<ResponseToken>,
    requests: Vec<Request>,
    now_ms: u64,
) -> (StoreDone, Option<FlushTicket>) {
    let config = Arc::clone(config);
    let job = store.run_with_ticket(
        move |store| {
            let outcomes = receive_step::receive_batch(store, &config, &requests, now_ms);
            Ok((requests, outcomes))
        },
        |(_, outcomes)| outcomes.iter().any(Outcome::waits_for_flush),
    );
    let (result, ticket) = split(job.await);
    (StoreDone::Received { tokens, result }, ticket)
}

/// Marks `peer`'s messages read up to `local_seq`.
async fn mark_read(
    store: &StoreHandle,
    peer: AccordId,
    local_seq: u64,
) -> (StoreDone, Option<FlushTicket>) {
    let job = store.run_with_ticket(
        move |store| Ok(!store.mark_read(&peer, local_seq)?.is_empty()),
        |changed| *changed,
    );
    let (result, ticket) = split(job.await);
    (StoreDone::ReadMarked { peer, result }, ticket)
}

/// Makes the receipt owed to `peer` (see [`receipt_step`]).
async fn make_receipt(
    store: &StoreHandle,
    peer: AccordId,
    receipts_on: bool,
) -> (StoreDone, Option<FlushTicket>) {
    let job = store.run_with_ticket(
        move |store| receipt_step::receipt_step(store, peer, receipts_on),
        |plan| matches!(plan, ReceiptPlan::Send { .. }),
    );
    let (result, ticket) = split(job.await);
    (StoreDone::ReceiptMade { peer, result }, ticket)
}

/// The result and the ticket apart.
fn split<T>(
    job: Result<(T, FlushTicket), StoreError>,
) -> (Result<T, StoreError>, Option<FlushTicket>) {
    match job {
        Ok((result, ticket)) => (Ok(result), Some(ticket)),
        Err(err) => (Err(err), None),
    }
}

/// Completes the delivered outbox entries and stores the new schedules, then reads the
/// outbox heads of the `refill` peers.
fn write_deliveries(
    store: &Store,
    completed: &[(AccordId, accord_store::MessageId)],
    rescheduled: &[accord_store::OutboxEntry],
    refill: Vec<AccordId>,
) -> DeliveriesWritten {
    DeliveriesWritten {
        completed: completed
            .iter()
            .map(|(peer, id)| store.complete_outbox(peer, id, MessageState::Delivered))
            .collect(),
        rescheduled: rescheduled
            .iter()
            .map(|entry| store.update_outbox(entry))
            .collect(),
        heads: refill
            .into_iter()
            .map(|peer| (peer, store.active_outbox_head(&peer, WINDOW)))
            .collect(),
    }
}

/// Runs a user command's job (`history`, `inbox`, `alias`, `verify`).
async fn run_query(store: &StoreHandle, query: Query) -> StoreDone {
    match query {
        Query::History {
            reply,
            peer,
            limit,
            before,
        } => {
            let result = flat(
                store
                    .run(move |s| Ok(history(s, &peer, limit, before)))
                    .await,
            );
            StoreDone::History {
                reply,
                result,
                newest: before.is_none(),
            }
        }
        Query::Inbox { reply } => {
            let result = flat(store.run(|s| Ok(inbox(s))).await);
            StoreDone::Inbox { reply, result }
        }
        Query::Resolve { reply, peer } => {
            let resolve = move |s: &Store| Ok(send_step::resolve(s, &peer).map(|(id, _)| id));
            let result = flat(store.run(resolve).await);
            StoreDone::Resolved { reply, result }
        }
    }
}

/// The store's error, or the command's.
fn flat<T>(result: Result<Result<T, RemoteError>, StoreError>) -> Result<T, RemoteError> {
    result.map_err(internal)?
}

/// `accord history`: `text` resolved, and its newest `limit` messages, oldest first.
fn history(
    store: &Store,
    text: &str,
    limit: usize,
    before: Option<accord_store::MessageId>,
) -> Result<(AccordId, Vec<accord_store::MessageRecord>), RemoteError> {
    let (peer, _) = send_step::resolve(store, text)?;
    let records = match before {
        None => store.history(&peer, limit, None).map_err(internal)?,
        Some(id) => store
            .history_before(&peer, limit, &id)
            .map_err(internal)?
            .ok_or_else(|| {
                RemoteError::new(
                    accord_api::ErrorCode::InvalidParams,
                    "no message with that id in this conversation",
                )
            })?,
    };
    Ok((peer, records))
}

/// The conversations, newest first as the store lists them, with their aliases and previews.
fn inbox(store: &Store) -> Result<Vec<ConversationInfo>, RemoteError> {
    let conversations = store.conversations().map_err(internal)?;
    let mut list = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let alias = store
            .connection(&conversation.peer)
            .map_err(internal)?
            .and_then(|connection| connection.alias);
        let last = store
            .history(&conversation.peer, 1, None)
            .map_err(internal)?;
        let preview: String = last
            .first()
            .map(|m| m.body.chars().take(PREVIEW_CHARS).collect())
            .unwrap_or_default();
        list.push(ConversationInfo {
            peer: conversation.peer.to_string(),
            alias,
            unread: conversation.unread,
            last_message_at: rfc3339(conversation.last_message_at_ms),
            preview,
            // Filled in at the control edge (`people::names`).
            name: None,
        });
    }
    Ok(list)
}
