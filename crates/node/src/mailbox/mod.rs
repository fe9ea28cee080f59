//! Mailboxes among connections (design §11): offline delivery of messages.
//!
//! A node holds mail for its connections (`[mailbox] serve`), and picks up to two of its
//! connections to hold its own (`accord mailbox use`, or automatically by the uptime it
//! observed). It tells each connection over the end-to-end channel which mailboxes to use and
//! the token to deposit with (`/accord/dm/1` content kind 4), and registers only the tokens'
//! hashes with its mailboxes. A sender that cannot reach the recipient deposits the already
//! encrypted envelope, padded, at one of them; the recipient fetches it when it is online,
//! takes it through the ordinary receive path (exactly once, in order), and deletes it.
//!
//! - [`wire`]: the bytes of `/accord/mailbox/1`, of a held item and of the announcement;
//! - [`schedule`]: the decisions without I/O: when to fetch from each mailbox (a bounded
//!   back-off, at once on connecting), what state each is in, which connection to choose
//!   automatically;
//! - [`serve`]: answering a request as a mailbox, on the store thread;
//! - [`announce_retry`]: when to send an announcement a connection did not take again (a
//!   short, bounded back-off);
//! - [`owner`]: our side: announcing, registering, fetching, deleting;
//! - [`deposit`]: the sender's side, which the Message actor calls when a delivery fails;
//! - [`commands`]: `accord mailbox`, `use`, `drop`;
//! - [`actor`]: the loop that runs the above.

mod actor;
mod announce_retry;
mod commands;
mod deposit;
mod owner;
pub(crate) mod schedule;
mod serve;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use accord_api::{ErrorCode, Event, RemoteError, Request};
use accord_identity::AccordId;
use accord_net::{NetHandle, PeerId, ResponseChannel};
use accord_store::{Announcement, Store, StoreHandle};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Config;
use crate::message::MessageHandle;
pub(crate) use deposit::{deposit, deposit_frame};

/// Capacity of the actor's queue.
const QUEUE_CAPACITY: usize = 256;

/// A message to the Mailbox actor.
#[derive(Debug)]
pub(crate) enum MailboxMessage {
    /// A mailbox request from the control API.
    Command {
        request: Request,
        reply: oneshot::Sender<Result<Value, RemoteError>>,
    },
    /// The counters for `accord stats`.
    Stats {
        reply: oneshot::Sender<BTreeMap<&'static str, u64>>,
    },
    /// A `/accord/mailbox/1` request from a connection, with the channel to answer on.
    Incoming {
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    },
    /// Stop after what is queued before this.
    Shutdown,
}

/// A cloneable handle to the Mailbox actor.
#[derive(Debug, Clone)]
pub(crate) struct MailboxHandle {
    tx: mpsc::Sender<MailboxMessage>,
}

fn stopped() -> RemoteError {
    RemoteError::new(ErrorCode::Internal, "the node is shutting down")
}

impl MailboxHandle {
    /// Starts the actor.
    pub(crate) fn spawn(
        me: AccordId,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
        messages: MessageHandle,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let actor = actor::MailboxActor::new(me, config, store, net, events, messages);
        let task = tokio::spawn(actor.run(rx));
        (Self { tx }, task)
    }

    /// Runs a mailbox request.
    pub(crate) async fn command(&self, request: Request) -> Result<Value, RemoteError> {
        let (reply, response) = oneshot::channel();
        self.tx
            .send(MailboxMessage::Command { request, reply })
            .await
            .map_err(|_| stopped())?;
        response.await.map_err(|_| stopped())?
    }

    /// The refused deposits and the like, by reason.
    pub(crate) async fn stats(&self) -> Result<BTreeMap<&'static str, u64>, RemoteError> {
        let (reply, response) = oneshot::channel();
        self.tx
            .send(MailboxMessage::Stats { reply })
            .await
            .map_err(|_| stopped())?;
        response.await.map_err(|_| stopped())
    }

    /// Queues an incoming request; false when the queue is full (the requester retries).
    pub(crate) fn incoming(
        &self,
        peer: PeerId,
        data: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) -> bool {
        self.tx
            .try_send(MailboxMessage::Incoming {
                peer,
                data,
                channel,
            })
            .is_ok()
    }

    /// Stops the actor once it has handled what is already queued.
    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(MailboxMessage::Shutdown).await;
    }
}

/// Takes in a connection's announcement (content kind 4), inside the Message actor's job
/// that decrypted it, so that it shares that job's flush. A stale version changes nothing.
///
/// # Errors
///
/// The reason it is dropped (counted in `accord stats`).
pub(crate) fn receive_announcement(
    store: &Store,
    peer: &AccordId,
    bytes: &[u8],
) -> Result<(), &'static str> {
    let announce = wire::Announce::decode(bytes).map_err(|_| "malformed_announcement")?;
    // A connection cannot name itself: its mail would wait where it is not.
    let mailboxes = announce
        .mailboxes
        .into_iter()
        .filter(|id| id != peer)
        .collect();
    let announcement = Announcement {
        version: announce.version,
        token: announce.token,
        mailboxes,
    };
    store
        .put_announcement(peer, &announcement)
        .map(|_| ())
        .map_err(|err| {
            tracing::warn!(%peer, %err, "cannot store a mailbox announcement");
            "store_failed_announcement"
        })
}
