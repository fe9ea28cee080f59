//! The requests that wait for the network to answer: dials, lookups and direct
//! request-response exchanges, plus the gossip validation step. Split from the event loop
//! by role; the event loop still owns the swarm and calls these.

use libp2p::gossipsub::{self, IdentTopic};
use libp2p::kad::{self, QueryId};
use libp2p::request_response;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::EventLoop;
use crate::behaviour::inbox_topic_score_params;
use crate::direct::{DirectProtocol, Frame, FrameCodec};
use crate::direct_budget::Admission;
use crate::handle::{Lookup, LookupSource, NetEvent};
use crate::{GossipVerdict, NetError, RateVerdict, split_peer_id};

impl EventLoop {
    pub(super) fn start_dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    ) {
        if self.pending_dials.len() >= self.config.max_pending_requests {
            let _ = reply.send(Err(NetError::Busy));
            return;
        }
        let (base, peer) = split_peer_id(&addr);
        if let Some(peer) = peer
            && self.swarm.is_connected(&peer)
        {
            let _ = reply.send(Ok(peer));
            return;
        }
        if let Some(peer) = peer {
            // Remembered for later dials by peer ID (a direct request, say), even if this
            // dial fails: the address may work later (a relay circuit that frees up).
            self.swarm.behaviour_mut().addresses.add(peer, base);
        }
        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
        let opts = match peer {
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Always)
                .build(),
            None => opts,
        };
        let connection_id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(connection_id, reply);
            }
            Err(err) => {
                let _ = reply.send(Err(NetError::Dial {
                    target: addr.to_string(),
                    reason: err.to_string(),
                }));
            }
        }
    }

    pub(super) fn start_lookup(
        &mut self,
        peer: PeerId,
        reply: oneshot::Sender<Result<Lookup, NetError>>,
    ) {
        if peer == *self.swarm.local_peer_id() {
            let _ = reply.send(Err(NetError::OwnId(peer)));
            return;
        }
        if self.pending_lookups.len() >= self.config.max_pending_requests {
            let _ = reply.send(Err(NetError::Busy));
            return;
        }
        let Some(kademlia) = self.swarm.behaviour_mut().kademlia.as_mut() else {
            let _ = reply.send(Err(NetError::DhtDisabled));
            return;
        };
        let query = kademlia.get_closest_peers(peer);
        self.pending_lookups.insert(query, (peer, reply));
    }

    pub(super) fn finish_lookup(&mut self, query: QueryId, found: Vec<kad::PeerInfo>) {
        let Some((peer, reply)) = self.pending_lookups.remove(&query) else {
            return;
        };
        let from_dht = found
            .into_iter()
            .find(|info| info.peer_id == peer)
            .map(|info| {
                // Kademlia peers may report addresses with or without `/p2p/<id>`; callers
                // get them one way only, and once each.
                let mut addrs: Vec<Multiaddr> = info
                    .addrs
                    .iter()
                    .map(|addr| split_peer_id(addr).0)
                    .collect();
                addrs.sort();
                addrs.dedup();
                addrs
            })
            .filter(|addrs| !addrs.is_empty());
        let result = match from_dht {
            Some(addrs) => {
                for addr in &addrs {
                    self.add_to_dht(&peer, addr.clone());
                }
                Ok(Lookup {
                    peer,
                    addrs,
                    source: LookupSource::Dht,
                })
            }
            None => match self.connected_peers().into_iter().find(|p| p.peer == peer) {
                Some(connected) => Ok(Lookup {
                    peer,
                    addrs: connected.addrs,
                    source: LookupSource::Connected,
                }),
                None => Err(NetError::NotFound(peer)),
            },
        };
        let _ = reply.send(result);
    }

    /// Runs the forwarder's rate limit and then the validator before anything else sees the
    /// message, and tells gossipsub the verdict so that it forwards only valid messages and
    /// scores the forwarder. The rate comes first: it is the cheapest check, and a peer over
    /// its rate should not make us hash anything.
    pub(super) fn on_gossip(
        &mut self,
        via: PeerId,
        message_id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let topic = message.topic.as_str().to_owned();
        let prefix = self
            .peers
            .get(&via)
            .and_then(|state| state.connections.values().find_map(crate::ip_prefix));
        let rate = self
            .gossip_rate
            .check(via, prefix, tokio::time::Instant::now().into_std());
        if rate != RateVerdict::Allow {
            let acceptance = if rate == RateVerdict::Penalise {
                self.stats.gossip_rate_penalised += 1;
                tracing::debug!(%via, %topic, "gossip forwarder far over its rate; penalised");
                gossipsub::MessageAcceptance::Reject
            } else {
                self.stats.gossip_rate_limited += 1;
                tracing::debug!(%via, %topic, "gossip forwarder over its rate; dropped");
                gossipsub::MessageAcceptance::Ignore
            };
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(message_id, &via, acceptance);
            return;
        }
        let verdict = self.config.gossip_validator.check(&topic, &message.data);
        let acceptance = match verdict {
            GossipVerdict::Accept => gossipsub::MessageAcceptance::Accept,
            GossipVerdict::Reject => {
                self.stats.gossip_rejected += 1;
                tracing::debug!(%via, %topic, len = message.data.len(), "gossip message rejected");
                gossipsub::MessageAcceptance::Reject
            }
            GossipVerdict::Ignore => {
                self.stats.gossip_ignored += 1;
                gossipsub::MessageAcceptance::Ignore
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(message_id, &via, acceptance);
        if verdict == GossipVerdict::Accept {
            self.emit(NetEvent::Gossip {
                topic,
                data: message.data,
                via,
                source: message.source,
                sequence_number: message.sequence_number,
            });
        }
    }

    /// Hands a request to the node if the peer is within its direct budgets; otherwise drops
    /// it (the stream is reset) and counts it.
    fn on_direct_request(
        &mut self,
        protocol: DirectProtocol,
        peer: PeerId,
        data: Vec<u8>,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        let now = tokio::time::Instant::now().into_std();
        match self.direct_budget.admit(protocol, peer, data.len(), now) {
            Admission::Admit => self.emit(NetEvent::DirectRequest {
                protocol,
                peer,
                data,
                channel,
            }),
            Admission::OverRate => {
                self.stats.direct_rate_limited += 1;
                tracing::debug!(%peer, ?protocol, "peer over its request rate; dropped");
            }
            Admission::OverBytes => {
                self.stats.direct_bytes_limited += 1;
                tracing::debug!(%peer, ?protocol, "peer over its byte budget; dropped");
            }
        }
    }

    /// Counts a DHT record or provider announcement a peer asked us to store. Kademlia is
    /// configured not to store them itself (`StoreInserts::FilterBoth`), and Accord stores
    /// nothing in the DHT, so not storing it is the whole refusal.
    pub(super) fn refuse_dht_record(&mut self) {
        self.stats.dht_records_refused += 1;
    }

    /// What gossipsub reports: messages go through the rate limits and the validator; a
    /// peer's subscription is passed on (the node hands a peer that joins a shard what it
    /// stores of it).
    pub(super) fn on_gossipsub_event(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => self.on_gossip(propagation_source, &message_id, message),
            gossipsub::Event::Subscribed { peer_id, topic, .. } => {
                self.emit(NetEvent::Subscribed {
                    peer: peer_id,
                    topic: topic.into_string(),
                });
            }
            _ => {}
        }
    }

    pub(super) fn subscribe(&mut self, topic: String, join: bool) -> Result<bool, NetError> {
        let ident = IdentTopic::new(topic.clone());
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        if !join {
            return Ok(gossipsub.unsubscribe(&ident));
        }
        let subscribed = gossipsub
            .subscribe(&ident)
            .map_err(|err| NetError::Subscribe {
                topic: topic.clone(),
                reason: err.to_string(),
            })?;
        gossipsub
            .set_topic_params(ident, inbox_topic_score_params())
            .map_err(|reason| NetError::Subscribe {
                topic,
                reason: reason.to_owned(),
            })?;
        Ok(subscribed)
    }

    pub(super) fn direct(
        &mut self,
        protocol: DirectProtocol,
    ) -> &mut request_response::Behaviour<FrameCodec> {
        match protocol {
            DirectProtocol::Inbox => &mut self.swarm.behaviour_mut().inbox,
            DirectProtocol::Dm => self.swarm.behaviour_mut().dm.inner(),
            DirectProtocol::Mailbox => self.swarm.behaviour_mut().mailbox.inner(),
        }
    }

    pub(super) fn on_direct_event(
        &mut self,
        protocol: DirectProtocol,
        event: request_response::Event<Frame, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request: Frame::Bytes(data),
                    channel,
                    ..
                } => self.on_direct_request(protocol, peer, data, channel),
                request_response::Message::Request {
                    request: Frame::Refused,
                    ..
                } => {
                    // The codec read nothing; dropping the channel resets the stream. The
                    // peer keeps its connection: an honest peer may race the revocation or
                    // the completion of a connection.
                    self.stats.dm_refused += 1;
                    tracing::debug!(%peer, ?protocol, "request from a non-connection refused");
                }
                request_response::Message::Request {
                    request: Frame::TooLarge(too_large),
                    ..
                } => {
                    // Only a broken or hostile peer announces a frame above the limit: cut
                    // it off rather than let it try again on the next stream. Dropping the
                    // response channel resets the stream.
                    tracing::info!(%peer, ?protocol, %too_large, "disconnecting peer");
                    self.stats.peers_disconnected += 1;
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending_direct.remove(&(protocol, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending_direct.remove(&(protocol, request_id)) {
                    let _ = reply.send(Err(NetError::Dial {
                        target: peer.to_string(),
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, ?protocol, "inbound direct request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
