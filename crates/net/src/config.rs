//! Network configuration, with documented defaults.

use std::sync::Arc;
use std::time::Duration;

use libp2p::Multiaddr;

/// What the node decides about a gossip message before it is forwarded to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Well formed: deliver it to the node and forward it.
    Accept,
    /// Invalid (malformed, oversized, expired, badly stamped): drop it and penalise the peer
    /// that forwarded it through gossipsub's scoring.
    Reject,
    /// Not invalid but not wanted (a duplicate, say): drop it without penalty.
    Ignore,
}

/// The check every gossip message passes before it is delivered or forwarded. It runs inside
/// the network event loop, so it must be cheap and must not block: stateless checks of size,
/// version and time stamps. Arguments: the topic and the message bytes.
#[derive(Clone)]
pub struct GossipValidator(Arc<ValidatorFn>);

/// The function behind a [`GossipValidator`].
type ValidatorFn = dyn Fn(&str, &[u8]) -> GossipVerdict + Send + Sync;

impl GossipValidator {
    /// Wraps a validation function.
    pub fn new(check: impl Fn(&str, &[u8]) -> GossipVerdict + Send + Sync + 'static) -> Self {
        GossipValidator(Arc::new(check))
    }

    /// Accepts everything (the default, for nodes that only carry gossip for others).
    pub fn accept_all() -> Self {
        GossipValidator::new(|_, _| GossipVerdict::Accept)
    }

    /// The verdict on one message of `topic`.
    pub fn check(&self, topic: &str, data: &[u8]) -> GossipVerdict {
        (self.0)(topic, data)
    }
}

impl std::fmt::Debug for GossipValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GossipValidator(..)")
    }
}

/// How a node joins the network. Build it with [`NetConfig::default`] and the `with_*`
/// methods; every default is stated on its field.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on. Default: every IPv4 interface, a random TCP port and a random
    /// QUIC port (`/ip4/0.0.0.0/tcp/0`, `/ip4/0.0.0.0/udp/0/quic-v1`).
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start and added to Kademlia. An address ending in `/p2p/<id>` is also
    /// redialled with back-off while the connection is down. Default: none.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS. Default: on. Tests turn it off so that
    /// they send nothing beyond the loopback interface.
    pub mdns: bool,
    /// Run the Kademlia DHT. Default: on. Off, a node talks only to the peers it is told
    /// about (bootstrap, mDNS, explicit dials) and cannot look peers up by ID; tests use this
    /// to build exact topologies, since the DHT would otherwise connect every node it finds.
    pub dht: bool,
    /// Act as a Kademlia server (answer other nodes' queries, and so be found in their
    /// routing tables). Default: on, because a node reachable through a relay is still worth
    /// finding. Off, the node only asks: right for a node that must not be dialled by
    /// strangers' DHT queries.
    pub kademlia_server: bool,
    /// How long a Kademlia lookup may take before it gives up. Default: 10 s.
    pub lookup_timeout: Duration,
    /// How long a connection with no active protocol stays open. Default: 10 minutes, so
    /// that a laptop keeps its peers (and gossip mesh) between messages.
    pub idle_connection_timeout: Duration,
    /// Capacity of the command queue from [`crate::NetHandle`]s. Default: 256.
    pub command_capacity: usize,
    /// Capacity of the event queue to the node. When it is full, events are dropped and
    /// counted rather than stalling the swarm. Default: 1024.
    pub event_capacity: usize,
    /// Dials and lookups that may wait for an answer at once. Default: 256.
    pub max_pending_requests: usize,
    /// The largest gossip message the transport accepts, in bytes. Default: 64 KiB; the
    /// protocols on top enforce their own, smaller limits.
    pub max_gossip_message: usize,
    /// Longest pause between redials of a bootstrap peer. Default: 60 s.
    pub max_redial_backoff: Duration,
    /// Checks each gossip message before delivery and forwarding. Default: accept all.
    pub gossip_validator: GossipValidator,
    /// Gossip messages a peer may forward to us per minute (with a burst of as many), checked
    /// before the validator; see [`crate::PeerRateLimiter`] for what happens beyond it.
    /// Default: 600 (10 a second; at most about 2.4 MB a minute of 4 KiB frames). Accord's
    /// only gossip is its inbox topics.
    pub gossip_frames_per_peer_per_minute: u32,
    /// Gossip messages all the peers connecting from one IP prefix (IPv4 /24, IPv6 /48) may
    /// forward to us per minute together, checked with the per-peer rate; loopback and relayed
    /// connections have no prefix. Default: 2400 (four peers' worth).
    pub gossip_frames_per_prefix_per_minute: u32,
    /// Forwarding peers whose gossip rate is tracked at once; beyond it the peer heard from
    /// least recently is forgotten. Default: 1024.
    pub gossip_rate_peers: usize,
    /// How long a direct request waits for its response. Default: 10 s.
    pub direct_timeout: Duration,
    /// Circuit relay v2 servers (each ending in `/p2p/<id>`) this node dials at start, keeps
    /// dialling with back-off, and reserves a slot on unless AutoNAT finds it publicly
    /// reachable. Default: none.
    pub relays: Vec<Multiaddr>,
    /// Serve relay reservations and circuits for others, within these limits. Default: off.
    pub relay_server: Option<RelayLimits>,
    /// AutoNAT only asks, and only answers, peers seen at global IP addresses. Default: on,
    /// so that a LAN peer cannot make a node behind NAT believe it is public. Local test
    /// networks on 127.0.0.1 turn it off.
    pub autonat_global_only: bool,
    /// What one peer, and all peers together, may hold open. Default: [`NetLimits::default`].
    pub limits: NetLimits,
    /// Once more peers than this are connected, the node disconnects the least useful ones
    /// (outside every gossip mesh first, then the most recently connected) down to
    /// `peer_low_water`. Never disconnected: the peers given to
    /// [`crate::NetHandle::keep_peers`], bootstrap peers, relays, and peers connected for
    /// less than `trim_grace`. Default: 20, well above a gossip mesh (6 to 12 peers per topic)
    /// and what a laptop's connections need, and far below the 59 a 60-node network opened.
    pub peer_high_water: usize,
    /// How many connected peers trimming leaves. Default: 10.
    pub peer_low_water: usize,
    /// How long a new connection is safe from trimming. Default: 30 s.
    pub trim_grace: Duration,
}

/// The most Yamux streams per connection a node may be configured with (see
/// [`NetLimits::max_yamux_streams`]).
pub const MAX_YAMUX_STREAMS: usize = 4096;

/// The bounds on what peers may make this node hold: frame sizes, streams and connections.
/// A peer that announces a request frame above its protocol's limit is disconnected; streams
/// and connections above their limits are refused (reset) as they are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// The largest request frame on `/accord/inbox/1`, in bytes. Default: 4 KiB
    /// ([`crate::MAX_INBOX_REQUEST`]; a gossip frame is at most 4,034 bytes).
    pub max_inbox_request: usize,
    /// The largest request frame on `/accord/dm/1`, in bytes. Default: 128 KiB
    /// ([`crate::MAX_DIRECT_REQUEST`]).
    pub max_dm_request: usize,
    /// Requests each direct protocol serves at once on one connection; a stream opened beyond
    /// it is reset at once. Default: 100 (libp2p's request-response default).
    pub max_concurrent_streams: usize,
    /// Yamux substreams open at once on one connection, both ways together. A peer that opens
    /// more has its connection closed by Yamux. Default: 512 (Yamux's default). At most 4096:
    /// Yamux requires its 1 GiB connection window to give every stream 256 KiB.
    pub max_yamux_streams: usize,
    /// Established connections to one peer. Default: 8 (a peer may be reached over TCP, QUIC
    /// and relays at once, and both sides may dial).
    pub max_connections_per_peer: u32,
    /// Established connections in all. Default: 1024.
    pub max_connections: u32,
    /// Incoming connections still in their handshake. Default: 128.
    pub max_pending_incoming: u32,
    /// Requests one peer may make on `/accord/inbox/1` a minute (with a burst of as many);
    /// beyond it a request is dropped (its stream reset) and counted in
    /// [`crate::NetStats::direct_rate_limited`]. Default: 120: an honest peer hands us its
    /// few invites, acceptances and withdrawals, far fewer.
    pub inbox_requests_per_peer_per_minute: u32,
    /// Request bytes (length prefix included) one peer may send on the direct protocols
    /// together a minute (with a burst of as many); beyond it a request is dropped and
    /// counted in [`crate::NetStats::direct_bytes_limited`]. Default: 32 MiB, about 480
    /// messages of the largest size a minute.
    pub direct_bytes_per_peer_per_minute: u32,
    /// Peers whose direct budgets are tracked at once; beyond it the peer heard from least
    /// recently is forgotten. Default: 1024.
    pub direct_budget_peers: usize,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_inbox_request: crate::MAX_INBOX_REQUEST,
            max_dm_request: crate::MAX_DIRECT_REQUEST,
            max_concurrent_streams: 100,
            max_yamux_streams: 512,
            max_connections_per_peer: 8,
            max_connections: 1024,
            max_pending_incoming: 128,
            inbox_requests_per_peer_per_minute: 120,
            direct_bytes_per_peer_per_minute: 32 * 1024 * 1024,
            direct_budget_peers: 1024,
        }
    }
}

/// What a relay server grants. Defaults are libp2p's, except the per-circuit limits, which
/// are raised so that a relayed conversation is not cut after a few messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Reservations held at once. Default: 128.
    pub max_reservations: usize,
    /// Relayed circuits open at once. Default: 16.
    pub max_circuits: usize,
    /// Bytes relayed per circuit, both ways together, before it is closed. Default: 1 MiB.
    pub max_circuit_bytes: u64,
    /// How long a circuit may stay open. Default: 10 minutes.
    pub max_circuit_duration: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_reservations: 128,
            max_circuits: 16,
            max_circuit_bytes: 1 << 20,
            max_circuit_duration: Duration::from_secs(600),
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: default_listen(),
            bootstrap: Vec::new(),
            mdns: true,
            dht: true,
            kademlia_server: true,
            lookup_timeout: Duration::from_secs(10),
            idle_connection_timeout: Duration::from_secs(600),
            command_capacity: 256,
            event_capacity: 1024,
            max_pending_requests: 256,
            max_gossip_message: 64 * 1024,
            max_redial_backoff: Duration::from_secs(60),
            gossip_validator: GossipValidator::accept_all(),
            gossip_frames_per_peer_per_minute: 600,
            gossip_frames_per_prefix_per_minute: 2400,
            gossip_rate_peers: 1024,
            direct_timeout: Duration::from_secs(10),
            relays: Vec::new(),
            relay_server: None,
            autonat_global_only: true,
            limits: NetLimits::default(),
            peer_high_water: 20,
            peer_low_water: 10,
            trim_grace: Duration::from_secs(30),
        }
    }
}

fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .filter_map(|addr| addr.parse().ok())
        .collect()
}

impl NetConfig {
    /// Replaces the listen addresses.
    pub fn with_listen(mut self, listen: Vec<Multiaddr>) -> Self {
        self.listen = listen;
        self
    }

    /// Replaces the bootstrap addresses.
    pub fn with_bootstrap(mut self, bootstrap: Vec<Multiaddr>) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// Turns mDNS on or off.
    pub fn with_mdns(mut self, mdns: bool) -> Self {
        self.mdns = mdns;
        self
    }

    /// Sets the gossip validator.
    pub fn with_gossip_validator(mut self, validator: GossipValidator) -> Self {
        self.gossip_validator = validator;
        self
    }

    /// Sets how many gossip messages a peer may forward to us per minute.
    pub fn with_gossip_rate(mut self, frames_per_peer_per_minute: u32) -> Self {
        self.gossip_frames_per_peer_per_minute = frames_per_peer_per_minute;
        self
    }

    /// Sets how many gossip messages the peers of one IP prefix may forward to us per minute.
    pub fn with_gossip_prefix_rate(mut self, frames_per_prefix_per_minute: u32) -> Self {
        self.gossip_frames_per_prefix_per_minute = frames_per_prefix_per_minute;
        self
    }

    /// Turns the Kademlia DHT on or off.
    pub fn with_dht(mut self, dht: bool) -> Self {
        self.dht = dht;
        self
    }

    /// Replaces the relays to reserve a slot on.
    pub fn with_relays(mut self, relays: Vec<Multiaddr>) -> Self {
        self.relays = relays;
        self
    }

    /// Serves relay reservations and circuits within `limits`, or not (`None`).
    pub fn with_relay_server(mut self, limits: Option<RelayLimits>) -> Self {
        self.relay_server = limits;
        self
    }

    /// Makes this node a Kademlia server (answers queries) or a client (only asks).
    pub fn with_kademlia_server(mut self, server: bool) -> Self {
        self.kademlia_server = server;
        self
    }

    /// Lets AutoNAT ask and answer peers at any IP address, or only global ones.
    pub fn with_autonat_global_only(mut self, global_only: bool) -> Self {
        self.autonat_global_only = global_only;
        self
    }

    /// Replaces the limits on frames, streams and connections.
    pub fn with_limits(mut self, limits: NetLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the connection trimming watermarks (see [`NetConfig::peer_high_water`]); `low`
    /// is capped at `high`.
    pub fn with_peer_watermarks(mut self, low: usize, high: usize) -> Self {
        self.peer_low_water = low.min(high);
        self.peer_high_water = high;
        self
    }

    /// Sets the Kademlia lookup timeout.
    pub fn with_lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }
}
