//! Reachability: relay reservations, the relay server, DCUtR hole punching and AutoNAT, and
//! how each connected peer is reached.
//!
//! Everything here reacts to swarm events; nothing polls. A reservation is requested when a
//! configured relay's connection comes up and the node is not known to be public (AutoNAT says
//! private or has not decided, or the node listens on no direct address). When AutoNAT
//! concludes the node is public, the reservations are released, so that others dial it
//! directly; when it concludes private again, they are requested again.

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, relay};

use super::EventLoop;
use std::collections::HashSet;

use crate::handle::{ConnectedPeer, ReachStatus, Reachability, RelayStatus, Via};

/// A relay this node was told to use.
#[derive(Debug)]
pub(super) struct RelayEntry {
    /// The relay's peer id.
    pub(super) peer: PeerId,
    /// Its address, with `/p2p/<id>`.
    pub(super) addr: Multiaddr,
    /// The `/p2p-circuit` listener while we hold (or ask for) a reservation.
    pub(super) listener: Option<ListenerId>,
    /// Our circuit address once the relay granted the reservation.
    pub(super) reserved: Option<Multiaddr>,
}

/// Whether `addr` runs through a relay circuit.
pub(super) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

impl EventLoop {
    /// The connected peers, each with its addresses and whether only a relay reaches it.
    pub(super) fn connected_peers(&self) -> Vec<ConnectedPeer> {
        let mut peers: Vec<ConnectedPeer> = self
            .peers
            .iter()
            .map(|(peer, state)| {
                let addrs = if state.listen_addrs.is_empty() {
                    let unique: HashSet<&Multiaddr> = state.connections.values().collect();
                    unique.into_iter().cloned().collect()
                } else {
                    state.listen_addrs.clone()
                };
                let via = if state.connections.values().all(is_relayed) {
                    Via::Relayed
                } else {
                    Via::Direct
                };
                ConnectedPeer {
                    peer: *peer,
                    addrs,
                    via,
                }
            })
            .collect();
        peers.sort_by_key(|peer| peer.peer);
        peers
    }

    /// Whether we should hold reservations: unless AutoNAT found us public while we listen
    /// on a direct address.
    fn wants_reservations(&self) -> bool {
        self.config.listen.is_empty() || self.reachability != Reachability::Public
    }

    /// Asks `relay` for a reservation if we want one and have not asked yet.
    pub(super) fn reserve_on(&mut self, relay: PeerId) {
        if !self.wants_reservations() {
            return;
        }
        let Some(index) = self.relays.iter().position(|r| r.peer == relay) else {
            return;
        };
        if self.relays[index].listener.is_some() {
            return;
        }
        let circuit = self.relays[index].addr.clone().with(Protocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(listener) => {
                tracing::info!(%relay, %circuit, "asking the relay for a reservation");
                self.relays[index].listener = Some(listener);
            }
            Err(err) => tracing::warn!(%relay, %circuit, %err, "cannot listen through relay"),
        }
    }

    /// Releases every reservation (AutoNAT found us public).
    fn release_reservations(&mut self) {
        for index in 0..self.relays.len() {
            if let Some(listener) = self.relays[index].listener.take() {
                tracing::info!(relay = %self.relays[index].peer, "publicly reachable: releasing the relay reservation");
                self.relays[index].reserved = None;
                self.swarm.remove_listener(listener);
            }
        }
    }

    /// A listener reported an address: if it is a relay listener, the reservation is ours.
    /// A relay server's operator has declared it publicly reachable, so its direct listen
    /// addresses are confirmed as external at once: a reservation carries them, and a client
    /// refuses a reservation that names no address of the relay.
    pub(super) fn on_listen_addr(&mut self, listener: ListenerId, addr: &Multiaddr) {
        if self.config.relay_server.is_some() && !is_relayed(addr) {
            self.swarm.add_external_address(addr.clone());
        }
        if let Some(entry) = self
            .relays
            .iter_mut()
            .find(|r| r.listener == Some(listener))
        {
            tracing::info!(relay = %entry.peer, %addr, "reserved a slot on the relay; reachable through it");
            entry.reserved = Some(addr.clone());
        }
    }

    /// A listener closed: a relay listener closes when the reservation is refused or its
    /// connection drops. It is asked for again when the relay connection comes back.
    pub(super) fn on_listener_closed(&mut self, listener: ListenerId, reason: Option<String>) {
        if let Some(entry) = self
            .relays
            .iter_mut()
            .find(|r| r.listener == Some(listener))
        {
            tracing::warn!(relay = %entry.peer, reason = reason.as_deref().unwrap_or("closed"), "relay reservation ended");
            entry.listener = None;
            entry.reserved = None;
        }
    }

    pub(super) fn on_relay_client_event(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                limit,
            } => {
                tracing::debug!(relay = %relay_peer_id, renewal, ?limit, "reservation accepted");
            }
            relay::client::Event::OutboundCircuitEstablished {
                relay_peer_id,
                limit,
            } => {
                tracing::info!(relay = %relay_peer_id, ?limit, "relayed circuit established (outbound)");
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, limit } => {
                tracing::info!(from = %src_peer_id, ?limit, "relayed circuit established (inbound)");
            }
        }
    }

    #[allow(deprecated)] // The deprecated variants are still emitted in 0.57; we log them.
    pub(super) fn on_relay_server_event(&mut self, event: relay::Event) {
        let limits = self.config.relay_server.unwrap_or_default();
        match event {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed,
            } => tracing::info!(peer = %src_peer_id, renewed, "relay: reservation granted"),
            relay::Event::ReservationReqDenied {
                src_peer_id,
                status,
            } => tracing::warn!(
                peer = %src_peer_id,
                ?status,
                max_reservations = limits.max_reservations,
                "relay: reservation refused"
            ),
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => tracing::info!(from = %src_peer_id, to = %dst_peer_id, "relay: circuit opened"),
            relay::Event::CircuitReqDenied {
                src_peer_id,
                dst_peer_id,
                status,
            } => tracing::warn!(
                from = %src_peer_id,
                to = %dst_peer_id,
                ?status,
                max_circuits = limits.max_circuits,
                "relay: circuit refused ({status:?}; limit max_circuits = {})",
                limits.max_circuits
            ),
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                error,
            } => tracing::info!(
                from = %src_peer_id,
                to = %dst_peer_id,
                error = error.map(|e| e.to_string()),
                "relay: circuit closed"
            ),
            other => tracing::debug!(?other, "relay server event"),
        }
    }

    pub(super) fn on_dcutr_event(&mut self, event: dcutr::Event) {
        match event.result {
            Ok(connection) => tracing::info!(
                peer = %event.remote_peer_id,
                ?connection,
                "hole punch succeeded: relayed connection upgraded to a direct one"
            ),
            Err(err) => tracing::info!(
                peer = %event.remote_peer_id,
                %err,
                "hole punch failed; staying on the relayed connection"
            ),
        }
    }

    pub(super) fn on_autonat_event(&mut self, event: autonat::Event) {
        let autonat::Event::StatusChanged { old, new } = event else {
            return;
        };
        let reachability = match &new {
            autonat::NatStatus::Public(_) => Reachability::Public,
            autonat::NatStatus::Private => Reachability::Private,
            autonat::NatStatus::Unknown => Reachability::Unknown,
        };
        tracing::info!(?old, ?new, "AutoNAT: reachability changed");
        self.reachability = reachability;
        if self.wants_reservations() {
            let connected: Vec<PeerId> = self
                .relays
                .iter()
                .map(|r| r.peer)
                .filter(|peer| self.swarm.is_connected(peer))
                .collect();
            for relay in connected {
                self.reserve_on(relay);
            }
        } else {
            self.release_reservations();
        }
    }

    pub(super) fn reach_status(&self) -> ReachStatus {
        ReachStatus {
            reachability: self.reachability,
            relays: self
                .relays
                .iter()
                .map(|r| RelayStatus {
                    peer: r.peer,
                    addr: r.addr.clone(),
                    connected: self.swarm.is_connected(&r.peer),
                    reserved: r.reserved.clone(),
                })
                .collect(),
            relay_server: self.config.relay_server.is_some(),
        }
    }
}
