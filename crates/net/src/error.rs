//! Errors of the network layer.

use libp2p::{Multiaddr, PeerId};

/// What can go wrong when using the network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The transport stack could not be built (for example, QUIC's TLS setup failed).
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    /// A behaviour could not be built from its configuration.
    #[error("cannot build the libp2p behaviour: {0}")]
    Behaviour(String),
    /// Listening on an address failed (unsupported protocol, port in use, …).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Dialling failed.
    #[error("cannot dial {target}: {reason}")]
    Dial {
        /// The address or peer we dialled.
        target: String,
        /// Why.
        reason: String,
    },
    /// A lookup finished without finding the peer.
    #[error("peer {0} was not found in the DHT")]
    NotFound(PeerId),
    /// A lookup for our own ID makes no sense.
    #[error("{0} is this node's own ID")]
    OwnId(PeerId),
    /// The DHT is switched off (`network.dht = false`), so nothing can be looked up.
    #[error("the DHT is switched off on this node (network.dht = false)")]
    DhtDisabled,
    /// Too many dials or lookups are already waiting for an answer.
    #[error("too many network requests in flight; try again shortly")]
    Busy,
    /// Publishing a gossip message failed.
    #[error("cannot publish on {topic}: {reason}")]
    Publish {
        /// The topic.
        topic: String,
        /// Why (no peers subscribed, message too large, duplicate, …).
        reason: String,
    },
    /// Subscribing to a gossip topic failed.
    #[error("cannot subscribe to {topic}: {reason}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A relay address does not name the relay's peer id.
    #[error("relay address {0} must end in /p2p/<relay id>")]
    RelayAddress(Multiaddr),
    /// The event loop has stopped; the node is shutting down.
    #[error("the network event loop has stopped")]
    Stopped,
}
