//! The receiving side of the core: `/accord/dm/1` requests, a batch at a time. Refusals are
//! answered at once; everything else once what it wrote is durable; a message that overtook an
//! earlier one is held in the reorder buffer, and goes into the next store job as soon as the
//! one before it is stored.

use std::collections::HashMap;

use accord_api::Event;
use accord_identity::AccordId;
use accord_net::PeerId;
use accord_store::StoreError;

use super::flush::{AfterFlush, Received};
use super::input::{Outcome, Request};
use super::output::StoreJob;
use super::{MessageCore, ResponseToken};
use crate::hex::encode as hex;
use crate::message::wire::Status;

impl MessageCore {
    /// A batch of `/accord/dm/1` requests: the ones from an Accord ID go to the store as one
    /// job.
    pub(super) fn on_incoming(
        &mut self,
        incoming: Vec<(ResponseToken, PeerId, Vec<u8>)>,
        now_ms: u64,
    ) {
        let mut tokens = Vec::with_capacity(incoming.len());
        let mut requests = Vec::with_capacity(incoming.len());
        for (token, from, data) in incoming {
            match self.known.of_peer(from) {
                Some(peer) => {
                    tokens.push(token);
                    requests.push(Request { peer, data });
                }
                None => {
                    self.drop_message("not_an_accord_id", &from);
                    self.respond(token, Status::Refused);
                }
            }
        }
        if !requests.is_empty() {
            self.store(StoreJob::Receive {
                tokens,
                requests,
                now_ms,
            });
        }
    }

    /// What the store job made of the requests: refusals answered now, the rest after the
    /// flush, early ones held; then the held requests they let through go into the next job.
    pub(super) fn on_received(
        &mut self,
        tokens: Vec<ResponseToken>,
        result: Result<(Vec<Request>, Vec<Outcome>), StoreError>,
        now_ms: u64,
    ) {
        let (requests, outcomes) = match result {
            Ok(done) => done,
            Err(err) => {
                // The store is gone: nothing was taken, and the senders try again.
                self.note_store_failure("store_failed_receive", &err);
                for token in tokens {
                    self.respond(token, Status::Refused);
                }
                return;
            }
        };
        let mut durable = Vec::new();
        let mut stored_up_to: HashMap<AccordId, u64> = HashMap::new();
        for ((request, token), outcome) in requests.into_iter().zip(tokens).zip(outcomes) {
            let peer = request.peer;
            if let Outcome::Stored { sender_seq, .. } = &outcome {
                let up_to = stored_up_to.entry(peer).or_default();
                *up_to = (*up_to).max(*sender_seq);
            }
            if let Some(received) = self.on_outcome(request, token, outcome, now_ms) {
                durable.push(received);
            }
        }
        if !durable.is_empty() {
            self.await_flush(AfterFlush::Received(durable));
        }
        self.release_held(stored_up_to, now_ms);
    }

    /// What one request's outcome asks for: an answer now, a place in the reorder buffer, or
    /// an answer (and events) after the flush, which is returned.
    fn on_outcome(
        &mut self,
        request: Request,
        token: ResponseToken,
        outcome: Outcome,
        now_ms: u64,
    ) -> Option<Received> {
        let peer = request.peer;
        let status = outcome.status();
        let events = match outcome {
            Outcome::Refused(dropped) => {
                if let Some(dropped) = dropped {
                    self.drop_message(dropped.reason, &dropped.detail);
                }
                self.respond(token, status);
                return None;
            }
            Outcome::Early { sender_seq } => {
                let held = self
                    .reorder
                    .hold(peer, sender_seq, request.data, token, now_ms);
                if let Some(refused) = held {
                    self.respond(refused, Status::Early);
                }
                return None;
            }
            Outcome::Duplicate => Vec::new(),
            Outcome::Stored { event, .. } => vec![*event],
            Outcome::Taken { event } => event.map(|event| vec![*event]).unwrap_or_default(),
            Outcome::Receipt { read, delivered } => {
                for id in &delivered {
                    self.acknowledged_elsewhere(peer, id);
                }
                let read = read.iter().map(|id| Event::MessageRead {
                    peer: peer.to_string(),
                    message_id: hex(id),
                });
                let delivered = delivered.iter().map(|id| Event::MessageDelivered {
                    peer: peer.to_string(),
                    message_id: hex(id),
                });
                delivered.chain(read).collect()
            }
        };
        Some(Received {
            token,
            status,
            events,
        })
    }

    /// The held requests that now come next (after `stored_up_to` of each peer) go into the
    /// next job, in order.
    fn release_held(&mut self, stored_up_to: HashMap<AccordId, u64>, now_ms: u64) {
        let mut tokens = Vec::new();
        let mut requests = Vec::new();
        for (peer, up_to) in stored_up_to {
            let mut seq = up_to.saturating_add(1);
            while let Some(held) = self.reorder.take(&peer, seq) {
                tokens.push(held.channel);
                requests.push(Request {
                    peer,
                    data: held.data,
                });
                seq = seq.saturating_add(1);
            }
        }
        if !requests.is_empty() {
            self.store(StoreJob::Receive {
                tokens,
                requests,
                now_ms,
            });
        }
    }
}
