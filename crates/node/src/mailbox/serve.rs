//! Answering `/accord/mailbox/1` as a mailbox, as one job on the store thread.
//!
//! Only connections reach this (the network layer resets every other peer's stream before
//! reading it). A connection may register tokens for itself, deposit with a token some owner
//! registered, and fetch or delete only its own items: the owner is always the peer on the
//! connection, never a name in the request, so nobody can read or delete another's mail.

use accord_identity::AccordId;
use accord_store::{DepositRefusal, Store, StoreError, token_hash};

use super::wire::{MAX_FETCH_BYTES, MailboxRequest, MailboxResponse};
use crate::config::MailboxSection;

/// What serving one request did.
#[derive(Debug)]
pub(super) struct Served {
    /// The answer, to send once what the job wrote is durable.
    pub(super) response: MailboxResponse,
    /// Whether the job wrote something (the answer then waits for the flush).
    pub(super) wrote: bool,
    /// The reason to count, if the request was refused.
    pub(super) refused: Option<&'static str>,
}

impl Served {
    fn wrote(response: MailboxResponse) -> Served {
        Served {
            response,
            wrote: true,
            refused: None,
        }
    }

    fn refused(response: MailboxResponse, reason: &'static str) -> Served {
        Served {
            response,
            wrote: false,
            refused: Some(reason),
        }
    }
}

/// Serves `data` from `peer` at `now_ms`.
///
/// # Errors
///
/// A store failure (the requester is then left unanswered, and tries again).
pub(super) fn serve(
    store: &Store,
    config: &MailboxSection,
    peer: &AccordId,
    data: &[u8],
    now_ms: u64,
) -> Result<Served, StoreError> {
    let Ok(request) = MailboxRequest::decode(data) else {
        return Ok(Served::refused(
            MailboxResponse::Malformed,
            "mailbox_malformed",
        ));
    };
    let limits = config.limits();
    match request {
        MailboxRequest::Register { .. } | MailboxRequest::Deposit { .. } if !config.serve => Ok(
            Served::refused(MailboxResponse::NotServing, "mailbox_not_serving"),
        ),
        MailboxRequest::Register { replace, hashes } => {
            match store.register_tokens(peer, &hashes, replace) {
                Ok(()) => Ok(Served::wrote(MailboxResponse::Ok)),
                Err(StoreError::InvalidConfig(_)) => Ok(Served::refused(
                    MailboxResponse::Full,
                    "mailbox_too_many_tokens",
                )),
                Err(err) => Err(err),
            }
        }
        MailboxRequest::Deposit { token, item } => {
            match store.deposit(&token_hash(&token), &item, &limits, now_ms)? {
                Ok(_) => Ok(Served::wrote(MailboxResponse::Ok)),
                Err(DepositRefusal::UnknownToken) => Ok(Served::refused(
                    MailboxResponse::UnknownToken,
                    "mailbox_unknown_token",
                )),
                Err(DepositRefusal::Full) => {
                    Ok(Served::refused(MailboxResponse::Full, "mailbox_full"))
                }
            }
        }
        MailboxRequest::Fetch { after } => {
            let items = store.held_for(peer, after, MAX_FETCH_BYTES, limits.max_age_ms, now_ms)?;
            // Fetching may have deleted expired items: the answer waits for that flush too.
            Ok(Served::wrote(MailboxResponse::Items(items)))
        }
        MailboxRequest::Delete { seqs } => {
            store.delete_held(peer, &seqs)?;
            Ok(Served::wrote(MailboxResponse::Ok))
        }
    }
}
