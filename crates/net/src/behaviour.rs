// The NetworkBehaviour derive generates `BehaviourEvent` without doc comments, so the lint
// cannot be satisfied for this file; every hand-written item here is documented anyway.
#![allow(missing_docs)]

//! The composed `NetworkBehaviour` of an Accord node.

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libp2p::{
    StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns, ping, relay,
    request_response,
};
use sha2::{Digest, Sha256};

use crate::addresses::Addresses;
use crate::direct::{DM_PROTOCOL, FrameCodec, INBOX_PROTOCOL, MAILBOX_PROTOCOL, PeerGate};
use crate::gated::GatedDirect;
use crate::{NetConfig, NetError, RelayLimits};

/// The identify protocol version all Accord nodes announce. Peers announcing another version
/// are still served, but not added to our DHT routing table.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/accord/1.0.0";

/// Accord's own Kademlia protocol name, so that our DHT never merges with IPFS's.
pub(crate) const KADEMLIA_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/kad/1.0.0");

/// Every protocol an Accord node speaks, in one behaviour.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub struct Behaviour {
    /// Refuses connections beyond [`crate::NetLimits`]; first, so that it sees every
    /// connection before the others do any work for it.
    pub connection_limits: connection_limits::Behaviour,
    /// Exchanges listen addresses and protocols with every peer.
    pub identify: identify::Behaviour,
    /// Keeps an eye on connection liveness and round-trip time.
    pub ping: ping::Behaviour,
    /// The DHT: finds a peer's addresses from its ID; absent when switched off.
    pub kademlia: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    /// LAN discovery; absent when switched off.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// The gossip layer that carries sealed invites on inbox topics.
    pub gossipsub: gossipsub::Behaviour,
    /// Direct delivery of sealed inbox frames to a connected peer.
    pub inbox: request_response::Behaviour<FrameCodec>,
    /// End-to-end encrypted messages to a connection; only connections may open requests.
    pub dm: GatedDirect,
    /// Mailboxes among connections (`/accord/mailbox/1`); only connections may open requests.
    pub mailbox: GatedDirect,
    /// Addresses learnt outside Kademlia, offered to every dial by peer ID.
    pub addresses: Addresses,
    /// Circuit relay v2 client: reserves slots on relays and dials `/p2p-circuit` addresses.
    pub relay_client: relay::client::Behaviour,
    /// Circuit relay v2 server; absent unless the node is configured to serve as a relay.
    pub relay_server: Toggle<relay::Behaviour>,
    /// Direct Connection Upgrade through Relay: hole punching over a relayed connection.
    pub dcutr: dcutr::Behaviour,
    /// AutoNAT (v1): asks peers to dial us back, and answers their requests.
    pub autonat: autonat::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `keypair` with `config`.
    pub(crate) fn new(
        keypair: &Keypair,
        relay_client: relay::client::Behaviour,
        config: &NetConfig,
    ) -> Result<Self, NetError> {
        let dm_gate = std::sync::Arc::new(PeerGate::default());
        let mailbox_gate = std::sync::Arc::new(PeerGate::default());
        let local_peer_id = keypair.public().to_peer_id();
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), keypair.public())
                .with_agent_version(format!("accord/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );

        let mut kad_config = kad::Config::new(KADEMLIA_PROTOCOL);
        kad_config.set_query_timeout(config.lookup_timeout);
        // Accord puts nothing in the DHT: it is used only to find a peer's addresses from its
        // ID. Inbound records and provider announcements are therefore handed to the event
        // loop instead of the store, and it drops them (counted), so a peer cannot fill the
        // store (up to about 64 MiB by libp2p's defaults) with records nobody reads.
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        let mut kademlia = kad::Behaviour::with_config(
            local_peer_id,
            kad::store::MemoryStore::new(local_peer_id),
            kad_config,
        );
        kademlia.set_mode(Some(if config.kademlia_server {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        }));

        let mdns = if config.mdns {
            let behaviour = mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                .map_err(|err| NetError::Behaviour(format!("mDNS: {err}")))?;
            Some(behaviour)
        } else {
            None
        };

        let limits = &config.limits;
        let connection_limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established_per_peer(Some(limits.max_connections_per_peer))
                .with_max_established(Some(limits.max_connections))
                .with_max_pending_incoming(Some(limits.max_pending_incoming)),
        );
        Ok(Behaviour {
            connection_limits,
            identify,
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL)),
            kademlia: Toggle::from(config.dht.then_some(kademlia)),
            mdns: Toggle::from(mdns),
            gossipsub: build_gossipsub(config)?,
            inbox: direct_behaviour(
                INBOX_PROTOCOL,
                FrameCodec::new(limits.max_inbox_request),
                config,
            ),
            dm: GatedDirect::new(
                direct_behaviour(
                    DM_PROTOCOL,
                    FrameCodec::gated(limits.max_dm_request, std::sync::Arc::clone(&dm_gate)),
                    config,
                ),
                dm_gate,
            ),
            mailbox: GatedDirect::new(
                direct_behaviour(
                    MAILBOX_PROTOCOL,
                    FrameCodec::gated(limits.max_dm_request, std::sync::Arc::clone(&mailbox_gate))
                        .with_max_response(crate::direct::MAX_MAILBOX_RESPONSE),
                    config,
                ),
                mailbox_gate,
            ),
            addresses: Addresses::default(),
            relay_client,
            relay_server: Toggle::from(config.relay_server.map(|limits| {
                let mut server = relay::Behaviour::new(local_peer_id, relay_config(limits));
                // The operator said this node is publicly reachable: serve at once rather
                // than wait for a confirmed external address.
                server.set_status(Some(relay::Status::Enable));
                server
            })),
            dcutr: dcutr::Behaviour::new(local_peer_id),
            autonat: autonat::Behaviour::new(
                local_peer_id,
                autonat::Config {
                    boot_delay: std::time::Duration::from_secs(2),
                    retry_interval: std::time::Duration::from_secs(30),
                    throttle_server_period: std::time::Duration::from_secs(15),
                    only_global_ips: config.autonat_global_only,
                    ..autonat::Config::default()
                },
            ),
        })
    }
}

/// libp2p's relay defaults with our limits on top.
fn relay_config(limits: RelayLimits) -> relay::Config {
    relay::Config {
        max_reservations: limits.max_reservations,
        max_circuits: limits.max_circuits,
        max_circuit_bytes: limits.max_circuit_bytes,
        max_circuit_duration: limits.max_circuit_duration,
        ..relay::Config::default()
    }
}

/// One request-response behaviour per direct protocol, so that a request is never negotiated
/// onto another protocol. The request timeout also bounds how long a peer may take to send its
/// request: a stream that trickles is reset when it runs out.
fn direct_behaviour(
    protocol: StreamProtocol,
    codec: FrameCodec,
    config: &NetConfig,
) -> request_response::Behaviour<FrameCodec> {
    request_response::Behaviour::with_codec(
        codec,
        [(protocol, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.direct_timeout)
            .with_max_concurrent_streams(config.limits.max_concurrent_streams),
    )
}

/// How often gossipsub maintains its meshes, emits gossip and decays peer scores (libp2p's
/// default is 1 s for both). Each heartbeat wakes the whole swarm task and walks every topic's
/// mesh and every peer's score, which made it the largest cost of an idle node (about seven
/// context switches each; see the `idle` benchmark). It does not delay delivery: a node's own
/// frames are flood-published to every subscribed peer at once, relays forward to their mesh
/// at once, and a peer joins a mesh as soon as its subscription arrives while the mesh is
/// short. What waits for it is mesh repair, gossip to non-mesh peers and the pruning of a
/// peer whose score fell below zero; 2 s keeps the last within a few seconds of the offence.
pub(crate) const GOSSIP_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often each connection is pinged (libp2p's default is 15 s). Nothing in the node reads
/// the round-trip times and a failed ping closes nothing (connections close when idle or when
/// the transport fails), so the pings are only liveness traffic: once a minute is enough, and
/// a quarter of the wake-ups.
pub(crate) const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long gossipsub remembers a message id to drop its duplicates (libp2p's default is 60 s).
/// Messages cross the mesh in seconds, so this is ample against loops. Replays after it are the
/// node's business: Accord's validator remembers every accepted frame's digest for the frame's
/// whole lifetime.
pub const GOSSIP_DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(45);

/// Gossip is published anonymously (no author, no sequence number, no signature): the sealed
/// payloads authenticate themselves, and an author field would tell every relay who invites
/// whom. Anonymous messages need a content-derived id, so the id is SHA-256 of the data.
fn build_gossipsub(config: &NetConfig) -> Result<gossipsub::Behaviour, NetError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|message: &gossipsub::Message| {
            gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
        })
        .max_transmit_size(config.max_gossip_message)
        .duplicate_cache_time(GOSSIP_DUPLICATE_WINDOW)
        .heartbeat_interval(GOSSIP_HEARTBEAT)
        // Every message is checked by the node's validator before it is forwarded.
        .validate_messages()
        // A node's own frames go only to its mesh peers of the topic, exactly as a frame it
        // relays does: with flood publishing (libp2p's default) they would go to every
        // subscribed peer at once, which tells every neighbour which frames the node
        // originated, since a relayed frame never reaches them that way.
        .flood_publish(false)
        .build()
        .map_err(|err| NetError::Behaviour(format!("gossipsub config: {err}")))?;
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
            .map_err(|err| NetError::Behaviour(format!("gossipsub: {err}")))?;
    gossipsub
        .with_peer_score(
            peer_score_params(),
            gossipsub::PeerScoreThresholds::default(),
        )
        .map_err(|err| NetError::Behaviour(format!("gossipsub scoring: {err}")))?;
    Ok(gossipsub)
}

/// Peer scoring, so that a peer forwarding invalid messages is first ignored for gossip and
/// then cut off. Scores decay once per heartbeat rather than every second, so that the two
/// timers are one. Loopback is exempt from the same-IP penalty: a local test network runs every
/// node on 127.0.0.1, and that must not look like a Sybil attack.
fn peer_score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        decay_interval: GOSSIP_HEARTBEAT,
        ..gossipsub::PeerScoreParams::default()
    };
    params.ip_colocation_factor_whitelist.extend([
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]);
    params
}

/// Scoring for one inbox topic. Inbox topics are quiet most of the time, so the mesh delivery
/// penalties (which punish peers for not forwarding enough) are off; invalid messages (a bad
/// frame, or a forwarder far over its rate) cost a lot: two of them make a peer's score
/// negative (it is pruned from the mesh and gets no more gossip from us) and three take it
/// past the graylist threshold (everything it sends is ignored until the penalty decays, by
/// half each [`GOSSIP_HEARTBEAT`]). The rewards are kept small so that they cannot mask that: libp2p's
/// default time-in-mesh bonus (+1 per millisecond in the mesh, up to +3600) would let a peer
/// that joined a few seconds ago send thousands of invalid frames unpunished, so it is off,
/// and the bonus for delivering messages first is capped at +20.
pub(crate) fn inbox_topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.5,
        ..gossipsub::TopicScoreParams::default()
    }
}
