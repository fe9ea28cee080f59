//! The requests a client can make, the typed results the daemon returns, and the events it
//! streams to subscribers.
//!
//! Identities and multiaddrs travel as strings so that this crate stays free of libp2p; the
//! daemon validates them and answers [`crate::ErrorCode::InvalidParams`] when they do not parse.

use serde::{Deserialize, Serialize};

/// One control-API request. On the wire this is the `method` and `params` members of a
/// JSON-RPC 2.0 request object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// The node's own identity and addresses. Result: [`IdInfo`].
    Id,
    /// Counters describing the node. Result: [`StatusInfo`].
    Status,
    /// The peers the node is connected to right now. Result: a list of [`PeerInfo`].
    Peers,
    /// Find a peer's addresses from its Accord ID through the DHT. Result: [`LookupInfo`].
    Lookup {
        /// The Accord ID (`12D3KooW…`) to look up.
        peer: String,
    },
    /// Dial a multiaddr and wait until the connection is up. Result: [`PeerInfo`].
    Dial {
        /// The multiaddr to dial; it may end in `/p2p/<id>`.
        addr: String,
    },
    /// Turn this connection into an event stream. Result: `{"subscribed": true}`, then one
    /// `event` notification per [`Event`].
    Subscribe,
    /// Ask the daemon to shut down gracefully. Result: [`ShutdownInfo`].
    Shutdown,
}

impl Request {
    /// The JSON-RPC method name of this request, for logs and error messages.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Id => "id",
            Request::Status => "status",
            Request::Peers => "peers",
            Request::Lookup { .. } => "lookup",
            Request::Dial { .. } => "dial",
            Request::Subscribe => "subscribe",
            Request::Shutdown => "shutdown",
        }
    }
}

/// The node's identity: what `accord id` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdInfo {
    /// The Accord ID (`12D3KooW…`).
    pub id: String,
    /// The short, human-comparable fingerprint of the identity key.
    pub fingerprint: String,
    /// Every address the node listens on, each ending in `/p2p/<id>`.
    pub addrs: Vec<String>,
}

/// What `accord status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The Accord ID of the node.
    pub id: String,
    /// How many peers the node has a live libp2p connection to.
    pub peers: usize,
    /// How many Accord connections (signed mutual attestations) the node holds.
    pub connections: usize,
    /// Invites received and not yet answered.
    pub pending_incoming: usize,
    /// Invites sent and not yet answered.
    pub pending_outgoing: usize,
    /// Messages waiting in the outbox for an acknowledgement.
    pub outbox: usize,
    /// Invites the weekly quota still allows.
    pub invites_left_this_week: u32,
}

/// A peer and the addresses it can be reached at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's Accord ID.
    pub id: String,
    /// The peer's known addresses (its listen addresses when it told us, otherwise the address
    /// of the connection).
    pub addrs: Vec<String>,
}

/// Where the addresses of a [`LookupInfo`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// A Kademlia query returned the peer.
    Dht,
    /// The DHT did not return it, but the node is connected to it already.
    Connected,
}

/// The result of a [`Request::Lookup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupInfo {
    /// The Accord ID that was looked up.
    pub id: String,
    /// The addresses found, each without the `/p2p/<id>` suffix.
    pub addrs: Vec<String>,
    /// Where the addresses came from.
    pub source: LookupSource,
}

/// The result of a [`Request::Shutdown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownInfo {
    /// Always true: the daemon has begun shutting down.
    pub stopping: bool,
}

/// Something that happened in the node, streamed to subscribers (`accord watch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The node started listening on an address.
    Listening {
        /// The new listen address, ending in `/p2p/<id>`.
        addr: String,
    },
    /// A first connection to a peer was established.
    PeerConnected {
        /// The peer's Accord ID.
        peer: String,
        /// The address of the connection.
        addr: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer's Accord ID.
        peer: String,
    },
    /// This subscriber fell behind and missed events; it should re-read state it cares about.
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_serialise_as_method_and_params() {
        let json = serde_json::to_value(Request::Lookup { peer: "x".into() }).unwrap_or_default();
        assert_eq!(json["method"], "lookup");
        assert_eq!(json["params"]["peer"], "x");
        let json = serde_json::to_value(Request::Status).unwrap_or_default();
        assert_eq!(json["method"], "status");
    }

    #[test]
    fn events_carry_their_name_in_the_event_member() {
        let json =
            serde_json::to_value(Event::PeerDisconnected { peer: "p".into() }).unwrap_or_default();
        assert_eq!(json["event"], "peer_disconnected");
        assert_eq!(json["peer"], "p");
    }
}
