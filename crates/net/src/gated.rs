//! A request-response behaviour whose connections only take requests from allowed peers.
//!
//! Request-response never tells its codec which peer a stream comes from, so a codec cannot
//! refuse a stranger before reading its request. [`GatedDirect`] wraps the behaviour and, while
//! the inner behaviour builds a connection's handler (which clones the codec into it), marks
//! that connection's peer in the [`PeerGate`]; the clone binds itself to the peer, and from
//! then on checks the gate before reading anything (see [`crate::FrameCodec::gated`]).

use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::request_response;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

use crate::direct::{FrameCodec, PeerGate};

/// A direct protocol's request-response behaviour with a [`PeerGate`] in front of it.
pub struct GatedDirect {
    inner: request_response::Behaviour<FrameCodec>,
    gate: Arc<PeerGate>,
}

impl GatedDirect {
    /// Wraps `inner`, whose codec must be [`FrameCodec::gated`] with the same `gate`.
    pub(crate) fn new(inner: request_response::Behaviour<FrameCodec>, gate: Arc<PeerGate>) -> Self {
        GatedDirect { inner, gate }
    }

    /// The wrapped behaviour, to send requests and responses.
    pub fn inner(&mut self) -> &mut request_response::Behaviour<FrameCodec> {
        &mut self.inner
    }

    /// The gate: which peers may open requests.
    pub fn gate(&self) -> &PeerGate {
        &self.gate
    }

    /// Runs `build` with `peer` marked as the connection being built.
    fn binding<T>(&mut self, peer: PeerId, build: impl FnOnce(&mut Self) -> T) -> T {
        self.gate.set_establishing(Some(peer));
        let built = build(self);
        self.gate.set_establishing(None);
        built
    }
}

impl NetworkBehaviour for GatedDirect {
    type ConnectionHandler = THandler<request_response::Behaviour<FrameCodec>>;
    type ToSwarm = <request_response::Behaviour<FrameCodec> as NetworkBehaviour>::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.binding(peer, |this| {
            this.inner.handle_established_inbound_connection(
                connection_id,
                peer,
                local_addr,
                remote_addr,
            )
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.binding(peer, |this| {
            this.inner.handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}
