//! The requests that wait for the network to answer: dials, lookups and direct
//! request-response exchanges, plus the gossip validation step. Split from the event loop
//! by role; the event loop still owns the swarm and calls these.

use libp2p::gossipsub;
use libp2p::kad::{self, QueryId};
use libp2p::request_response;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::EventLoop;
use crate::direct::{DirectProtocol, Frame, FrameCodec};
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
        let rate = self
            .gossip_rate
            .check(via, tokio::time::Instant::now().into_std());
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

    pub(super) fn direct(
        &mut self,
        protocol: DirectProtocol,
    ) -> &mut request_response::Behaviour<FrameCodec> {
        match protocol {
            DirectProtocol::Inbox => &mut self.swarm.behaviour_mut().inbox,
            DirectProtocol::Dm => &mut self.swarm.behaviour_mut().dm,
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
                } => self.emit(NetEvent::DirectRequest {
                    protocol,
                    peer,
                    data,
                    channel,
                }),
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
