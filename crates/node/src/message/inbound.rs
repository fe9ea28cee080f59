//! Messages that arrive over `/accord/dm/1`, a batch at a time: what the actor does around the
//! store job of [`super::receive_step`]. Refusals are answered at once; everything else once
//! what it wrote is durable; a message that overtook an earlier one is held in the reorder
//! buffer, and goes into the next job as soon as the one before it is stored.

use std::collections::HashMap;

use accord_api::Event;
use accord_identity::AccordId;
use accord_net::{PeerId, ResponseChannel};

use super::actor::MessageActor;
use super::durable::{AfterFlush, Received};
use super::receive_step::{self, Outcome, Request};
use super::wire::Status;
use crate::clock;
use crate::hex::encode as hex;

/// Requests and the channels their answers go to, index for index.
type Round = (Vec<Request>, Vec<ResponseChannel<Vec<u8>>>);

impl MessageActor {
    /// Handles a batch of `/accord/dm/1` requests, and then every held request they let
    /// through.
    pub(super) async fn on_incoming_batch(
        &mut self,
        incoming: Vec<(PeerId, Vec<u8>, ResponseChannel<Vec<u8>>)>,
    ) {
        let mut round: Round = (Vec::new(), Vec::new());
        let mut refused = Vec::new();
        for (from, data, channel) in incoming {
            match self.known.of_peer(from) {
                Some(peer) => {
                    round.0.push(Request { peer, data });
                    round.1.push(channel);
                }
                None => {
                    self.drop_message("not_an_accord_id", &from);
                    refused.push((channel, Status::Refused));
                }
            }
        }
        self.responder.send(refused).await;
        while !round.0.is_empty() {
            round = self.receive_round(round).await;
        }
    }

    /// Runs one store job for `requests`; returns the held requests it lets through.
    async fn receive_round(&mut self, (requests, channels): Round) -> Round {
        let config = std::sync::Arc::clone(&self.config);
        let now = clock::now_ms();
        let job = self
            .store
            .run_with_ticket(
                move |store| {
                    let outcomes = receive_step::receive_batch(store, &config, &requests, now);
                    Ok((requests, outcomes))
                },
                |(_, outcomes)| outcomes.iter().any(Outcome::waits_for_flush),
            )
            .await;
        let ((requests, outcomes), ticket) = match job {
            Ok(done) => done,
            Err(err) => {
                // The store is gone: nothing was taken, and the senders try again.
                self.note_store_failure("store_failed_receive", &err);
                let refused = channels.into_iter().map(|c| (c, Status::Refused)).collect();
                self.responder.send(refused).await;
                return (Vec::new(), Vec::new());
            }
        };
        let mut now_answers = Vec::new();
        let mut durable = Vec::new();
        let mut stored_up_to: HashMap<AccordId, u64> = HashMap::new();
        for ((request, channel), outcome) in requests.into_iter().zip(channels).zip(outcomes) {
            let peer = request.peer;
            let status = outcome.status();
            let events = match outcome {
                Outcome::Refused(dropped) => {
                    if let Some(dropped) = dropped {
                        self.drop_message(dropped.reason, &dropped.detail);
                    }
                    now_answers.push((channel, status));
                    continue;
                }
                Outcome::Early { sender_seq } => {
                    if let Some(refused) =
                        self.reorder
                            .hold(peer, sender_seq, request.data, channel, now)
                    {
                        now_answers.push((refused, Status::Early));
                    }
                    if let Some(at) = self.reorder.next_expiry_ms() {
                        self.outbox.note_retry(at);
                    }
                    continue;
                }
                Outcome::Duplicate => Vec::new(),
                Outcome::Stored { sender_seq, event } => {
                    let up_to = stored_up_to.entry(peer).or_default();
                    *up_to = (*up_to).max(sender_seq);
                    vec![*event]
                }
                Outcome::Receipt { read } => read
                    .iter()
                    .map(|id| Event::MessageRead {
                        peer: peer.to_string(),
                        message_id: hex(id),
                    })
                    .collect(),
            };
            durable.push(Received {
                channel,
                status,
                events,
            });
        }
        self.responder.send(now_answers).await;
        if !durable.is_empty() {
            self.after_flush(ticket, AfterFlush::Received(durable));
        }
        // The held requests that now come next go into the next job, in order.
        let mut next: Round = (Vec::new(), Vec::new());
        for (peer, up_to) in stored_up_to {
            let mut seq = up_to.saturating_add(1);
            while let Some(held) = self.reorder.take(&peer, seq) {
                next.0.push(Request {
                    peer,
                    data: held.data,
                });
                next.1.push(held.channel);
                seq = seq.saturating_add(1);
            }
        }
        next
    }
}
