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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::mailbox::wire::pad_item;
    use accord_identity::Identity;
    use accord_store::StoreConfig;
    use zeroize::Zeroizing;

    fn peer(n: u8) -> AccordId {
        Identity::from_seed(Zeroizing::new([n; 32])).id()
    }

    fn ask(store: &Store, config: &MailboxSection, from: u8, request: MailboxRequest) -> Served {
        serve(store, config, &peer(from), &request.encode(), 1_000).unwrap()
    }

    #[test]
    fn only_registered_tokens_deposit_and_only_the_owner_fetches_or_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let key = Identity::from_seed(Zeroizing::new([9; 32])).store_key();
        let store = Store::open(dir.path(), &StoreConfig::default(), &key).unwrap();
        let config = MailboxSection::default();
        let (token, item) = ([4; 32], pad_item(b"frame").unwrap());
        let deposit = || MailboxRequest::Deposit {
            token,
            item: item.clone(),
        };
        let refused = ask(&store, &config, 2, deposit());
        assert_eq!(refused.response, MailboxResponse::UnknownToken);
        assert_eq!(refused.refused, Some("mailbox_unknown_token"));
        let register = MailboxRequest::Register {
            replace: true,
            hashes: vec![token_hash(&token)],
        };
        assert_eq!(
            ask(&store, &config, 1, register).response,
            MailboxResponse::Ok
        );
        let taken = ask(&store, &config, 2, deposit());
        assert_eq!((taken.response, taken.wrote), (MailboxResponse::Ok, true));
        // The depositor cannot fetch the owner's mail: a fetch is always of one's own.
        let theirs = ask(&store, &config, 2, MailboxRequest::Fetch { after: 0 });
        assert_eq!(theirs.response, MailboxResponse::Items(Vec::new()));
        let ask_delete = MailboxRequest::Delete { seqs: vec![1] };
        ask(&store, &config, 2, ask_delete.clone());
        let MailboxResponse::Items(items) =
            ask(&store, &config, 1, MailboxRequest::Fetch { after: 0 }).response
        else {
            panic!("no items");
        };
        assert_eq!(items.len(), 1, "another's delete removed nothing");
        assert_eq!(items[0].item, item);
        ask(&store, &config, 1, ask_delete);
        let empty = ask(&store, &config, 1, MailboxRequest::Fetch { after: 0 });
        assert_eq!(empty.response, MailboxResponse::Items(Vec::new()));
        // Not serving: deposits and registrations are refused; junk is counted.
        let off = MailboxSection {
            serve: false,
            ..MailboxSection::default()
        };
        assert_eq!(
            ask(&store, &off, 2, deposit()).response,
            MailboxResponse::NotServing
        );
        let junk = serve(&store, &config, &peer(2), b"\x01\x09", 1_000).unwrap();
        assert_eq!(junk.refused, Some("mailbox_malformed"));
    }
}
