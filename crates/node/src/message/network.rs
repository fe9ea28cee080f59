//! Carrying out the core's network outputs: deliveries and read receipts on their way, and
//! the answers to `/accord/dm/1` requests. The actor's loop polls all three itself, so an
//! answer costs no task and no hop through its queue.

use accord_identity::AccordId;
use accord_net::{DirectProtocol, NetError, NetHandle, ResponseChannel};
use accord_store::{MessageId, StoreHandle};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use super::core::DeliveryAnswer;
use super::wire::{self, Status};

/// The answers of the deliveries under way, as they come.
pub(super) type Deliveries = FuturesUnordered<BoxFuture<'static, DeliveryAnswer>>;

/// The read receipts under way: the peer, how far the receipt acknowledges, and whether the
/// peer answered that it stored it.
pub(super) type ReceiptAnswers = FuturesUnordered<BoxFuture<'static, (AccordId, u64, bool)>>;

/// Hands a delivery to the swarm (here, in the actor, so that a window of messages leaves in
/// order) and returns the future of its answer. One that could not reach the peer with what
/// the swarm knows is sent once more by another route (the address book's cached addresses,
/// or a Kademlia lookup; see [`crate::reach`]).
pub(super) async fn deliver(
    net: &NetHandle,
    store: &StoreHandle,
    peer: AccordId,
    message_id: MessageId,
    frame: Vec<u8>,
) -> BoxFuture<'static, DeliveryAnswer> {
    let started = net
        .start_direct(DirectProtocol::Dm, peer.peer_id(), frame.clone())
        .await;
    let (net, store) = (net.clone(), store.clone());
    Box::pin(async move {
        let answer = match started {
            Ok(response) => response.wait().await,
            Err(err) => Err(err),
        };
        let answer = match answer {
            Ok(answer) => Ok(answer),
            Err(NetError::Dial { .. }) => crate::reach::send_dm(&net, &store, peer, frame).await,
            Err(err) => Err(err.to_string()),
        };
        let status =
            answer.and_then(|bytes| wire::decode_status(&bytes).map_err(|e| e.to_string()));
        (peer, message_id, status)
    })
}

/// Sends a read receipt; the future says whether the peer stored it. One that cannot reach
/// the peer is also left at one of the peer's mailboxes (we are `me`), and still counts as
/// unacknowledged: it goes again when the peer connects, and a receipt applied twice changes
/// nothing.
pub(super) fn send_receipt(
    net: &NetHandle,
    store: &StoreHandle,
    me: AccordId,
    peer: AccordId,
    frame: Vec<u8>,
    up_to_local_seq: u64,
) -> BoxFuture<'static, (AccordId, u64, bool)> {
    let (net, store) = (net.clone(), store.clone());
    Box::pin(async move {
        let answer = net
            .send_direct(DirectProtocol::Dm, peer.peer_id(), frame.clone())
            .await;
        let unreachable = answer.is_err();
        let acknowledged = answer
            .ok()
            .and_then(|bytes| wire::decode_status(&bytes).ok())
            .is_some_and(|status| status == Status::Stored);
        if unreachable
            && let Err(reason) = crate::mailbox::deposit_frame(&net, &store, me, peer, &frame).await
        {
            tracing::debug!(%peer, %reason, "no mailbox of the peer took a read receipt");
        }
        (peer, up_to_local_seq, acknowledged)
    })
}

/// The most answers to `/accord/dm/1` requests handed to the swarm and not yet confirmed by
/// it. When this many are outstanding, the actor waits for the swarm before it hands over more.
const MAX_RESPONDING: usize = 1024;

/// One answer on its way to the swarm.
type Responding = BoxFuture<'static, Result<(), NetError>>;

/// The answers to `/accord/dm/1` requests on their way to the swarm, polled by the actor's own
/// loop.
///
/// Answering is a round trip to the swarm, which the actor does not wait for. The answers used
/// to go through a task of their own, but that task's wake-up was one more thread hand-off on
/// every acknowledgement's path; polled here, an answer reaches the swarm in the same wake-up
/// of the actor that found its flush done. [`FuturesUnordered`] polls newly pushed futures in
/// the order they were pushed, and the swarm's command queue is first come, first served, so
/// the answers still reach the swarm in order.
pub(super) struct Responder {
    net: NetHandle,
    pending: FuturesUnordered<Responding>,
}

impl Responder {
    pub(super) fn new(net: NetHandle) -> Responder {
        Responder {
            net,
            pending: FuturesUnordered::new(),
        }
    }

    /// Hands answers to the swarm (they leave when the actor's loop next polls
    /// [`Responder::next_done`]), first waiting for room if the swarm is behind.
    pub(super) async fn send(&mut self, answers: Vec<(ResponseChannel<Vec<u8>>, Status)>) {
        for (channel, status) in answers {
            while self.pending.len() >= MAX_RESPONDING {
                if let Some(result) = self.pending.next().await {
                    note_answered(result);
                }
            }
            let net = self.net.clone();
            self.pending.push(Box::pin(async move {
                net.respond_direct(DirectProtocol::Dm, channel, wire::encode_status(status))
                    .await
            }));
        }
    }

    /// Whether no answer is on its way.
    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drives the answers on their way; resolves when the swarm has taken one.
    pub(super) async fn next_done(&mut self) {
        if let Some(result) = self.pending.next().await {
            note_answered(result);
        }
    }

    /// Lets the responder send what it holds, and waits for it.
    pub(super) async fn finish(mut self) {
        while let Some(result) = self.pending.next().await {
            note_answered(result);
        }
    }
}

/// Logs an answer the swarm could not send.
fn note_answered(result: Result<(), NetError>) {
    if let Err(err) = result {
        // The requester went away (or the swarm stopped): it sends again.
        tracing::debug!(%err, "could not answer a message request");
    }
}
