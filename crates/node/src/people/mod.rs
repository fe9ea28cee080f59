//! The people half of the node (design §12): profiles, shared connection lists, degrees and
//! mutual connections, and introductions.
//!
//! - [`content`]: what travels inside the end-to-end channel (as `/accord/dm/1` content kind
//!   3), and the node's own encodings of what it keeps;
//! - [`sync`]: the sans-IO decision of what each connection is owed next;
//! - [`outgoing`]: keeping our list's change log in step with our connections, and preparing
//!   (encrypting) the frames owed, on the store thread;
//! - [`receive`]: taking in a content from a connection, inside the Message actor's job that
//!   decrypted it;
//! - [`commands`], [`own`]: the people requests, and what we sign;
//! - [`names`]: the name on every view, filled in at the control-socket edge;
//! - [`actor`]: the loop that runs the above.
//!
//! Nothing here travels in clear gossip: profiles, lists and introductions go only over the
//! channel, and an invite's name and headline only sealed inside the invite.

mod actor;
pub(crate) mod commands;
pub(crate) mod content;
pub(crate) mod names;
mod network;
pub(crate) mod outgoing;
pub(crate) mod own;
pub(crate) mod receive;
pub(crate) mod sync;

use std::collections::HashSet;
use std::sync::Arc;

use accord_api::{ErrorCode, Event, RemoteError, Request};
use accord_identity::Identity;
use accord_net::NetHandle;
use accord_store::StoreHandle;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Config;
use actor::PeopleActor;
use outgoing::OnAcknowledged;

/// Capacity of the actor's queue.
const QUEUE_CAPACITY: usize = 256;

/// A message to the People actor.
#[derive(Debug)]
pub(crate) enum PeopleMessage {
    /// A people request from the control API.
    Command {
        request: Request,
        reply: oneshot::Sender<Result<Value, RemoteError>>,
    },
    /// A round of frames to `peer` ended.
    Answered {
        peer: accord_identity::AccordId,
        outcome: actor::Round,
        then: OnAcknowledged,
    },
    /// Try `peer` again (a new connection whose channel may have been settling).
    Retry { peer: accord_identity::AccordId },
    /// Stop after what is queued before this.
    Shutdown,
}

/// A cloneable handle to the People actor.
#[derive(Debug, Clone)]
pub(crate) struct PeopleHandle {
    tx: mpsc::Sender<PeopleMessage>,
}

impl PeopleHandle {
    /// Starts the actor.
    pub(crate) fn spawn(
        identity: Identity,
        config: Arc<Config>,
        store: StoreHandle,
        net: NetHandle,
        events: broadcast::Sender<Event>,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let actor = PeopleActor {
            identity,
            config,
            store,
            net,
            events,
            tx: tx.clone(),
            busy: HashSet::new(),
        };
        let task = tokio::spawn(actor.run(rx));
        (Self { tx }, task)
    }

    /// Runs a people request.
    pub(crate) async fn command(&self, request: Request) -> Result<Value, RemoteError> {
        let (reply, response) = oneshot::channel();
        let stopped = || RemoteError::new(ErrorCode::Internal, "the node is shutting down");
        self.tx
            .send(PeopleMessage::Command { request, reply })
            .await
            .map_err(|_| stopped())?;
        response.await.map_err(|_| stopped())?
    }

    /// Stops the actor once it has handled what is already queued.
    pub(crate) async fn shutdown(&self) {
        let _ = self.tx.send(PeopleMessage::Shutdown).await;
    }
}
