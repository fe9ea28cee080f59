//! A small behaviour that remembers where peers can be dialled.
//!
//! Kademlia keeps addresses only for peers in its routing table (and not at all when the DHT
//! is off). The node also learns addresses elsewhere: from its own address book in the store
//! (cached identify reports, so that a restart needs no lookup), from a lookup, or from a
//! relay. This behaviour hands those to the swarm whenever anything dials a peer by its ID
//! alone (a direct request to a peer we are not connected to, say), so that every dial uses
//! everything we know. It has no protocol of its own.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::{Endpoint, transport::PortUse};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// At most this many peers are remembered; the oldest entry goes first.
const MAX_PEERS: usize = 4096;

/// At most this many addresses are remembered per peer; the oldest goes first.
const MAX_ADDRS_PER_PEER: usize = 16;

/// Remembers addresses by peer and offers them to outbound dials.
#[derive(Debug, Default)]
pub struct Addresses {
    by_peer: HashMap<PeerId, Vec<Multiaddr>>,
    /// Insertion order of `by_peer`'s keys, for eviction.
    order: VecDeque<PeerId>,
}

impl Addresses {
    /// Remembers `addr` (without `/p2p/<id>`) for `peer`.
    pub(crate) fn add(&mut self, peer: PeerId, addr: Multiaddr) {
        if !self.by_peer.contains_key(&peer) {
            if self.order.len() >= MAX_PEERS
                && let Some(oldest) = self.order.pop_front()
            {
                self.by_peer.remove(&oldest);
            }
            self.order.push_back(peer);
        }
        let addrs = self.by_peer.entry(peer).or_default();
        if addrs.contains(&addr) {
            return;
        }
        if addrs.len() >= MAX_ADDRS_PER_PEER {
            addrs.remove(0);
        }
        addrs.push(addr);
    }

    /// What we know about `peer`.
    pub(crate) fn get(&self, peer: &PeerId) -> &[Multiaddr] {
        self.by_peer.get(peer).map_or(&[], Vec::as_slice)
    }
}

impl NetworkBehaviour for Addresses {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(peer
            .map(|peer| self.get(&peer).to_vec())
            .unwrap_or_default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number_of_unique_addresses() {
        let mut book = Addresses::default();
        let peer = PeerId::random();
        for port in 0..40u16 {
            let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .unwrap_or_else(|err| panic!("{err}"));
            book.add(peer, addr.clone());
            book.add(peer, addr);
        }
        assert_eq!(book.get(&peer).len(), MAX_ADDRS_PER_PEER);
        assert!(book.get(&PeerId::random()).is_empty());
    }
}
