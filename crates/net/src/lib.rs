//! Accord's libp2p layer.
//!
//! This crate composes the [`Behaviour`] every Accord node runs (TCP and QUIC with Noise and
//! Yamux, plus circuit relay v2; identify, ping, Kademlia, mDNS, gossipsub, the relay client and
//! server, DCUtR hole punching and AutoNAT), and runs it in one [`EventLoop`] task
//! that alone owns the `Swarm`. Everyone else talks to the network through a cloneable
//! [`NetHandle`] (a bounded command queue with one-shot replies) and reads [`NetEvent`]s from a
//! bounded queue. Nothing here knows about invites or messages: the node crate gives meaning to
//! peers and gossip payloads.
//!
//! ```no_run
//! # async fn demo(keypair: libp2p::identity::Keypair) -> Result<(), accord_net::NetError> {
//! use accord_net::{NetConfig, NetHandle};
//! let config = NetConfig::default()
//!     .with_listen(vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|_| accord_net::NetError::Stopped)?])
//!     .with_mdns(false);
//! let (net, mut events, _task) = NetHandle::spawn(keypair, config)?;
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! println!("listening on {:?}", net.listen_addrs().await?);
//! # Ok(()) }
//! ```

mod addresses;
mod behaviour;
mod config;
mod direct;
mod direct_budget;
mod error;
mod event_loop;
mod gated;
mod handle;
mod prefix;
mod rate;
mod transport;

pub use behaviour::{Behaviour, BehaviourEvent, GOSSIP_DUPLICATE_WINDOW};
pub use config::{
    GossipValidator, GossipVerdict, MAX_YAMUX_STREAMS, NetConfig, NetLimits, RelayLimits,
};
pub use direct::{
    DM_PROTOCOL, DirectProtocol, Frame, FrameCodec, FrameTooLarge, INBOX_PROTOCOL,
    MAILBOX_PROTOCOL, MAX_DIRECT_REQUEST, MAX_DIRECT_RESPONSE, MAX_INBOX_REQUEST,
    MAX_MAILBOX_RESPONSE, PeerGate,
};
pub use error::NetError;
pub use event_loop::EventLoop;
pub use gated::GatedDirect;
pub use handle::{
    ConnectedPeer, DirectResponse, Lookup, LookupSource, NetEvent, NetHandle, NetStats,
    ReachStatus, Reachability, RelayStatus, Via,
};
pub use libp2p::StreamProtocol;
pub use libp2p::request_response::ResponseChannel;
pub use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};
pub use prefix::{IpPrefix, ip_prefix};
pub use rate::{ForwardingRate, PeerRateLimiter, RateLimiter, RateVerdict};
pub use transport::{ByteCounters, counted_transport};

/// Returns `addr` with a trailing `/p2p/<peer>` removed, and the peer it named.
pub fn split_peer_id(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => (base, Some(peer)),
        _ => (addr.clone(), None),
    }
}

/// Returns `addr` ending in `/p2p/<peer>` (added once, never twice).
pub fn with_peer_id(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    let (base, _) = split_peer_id(addr);
    base.with(Protocol::P2p(peer))
}
