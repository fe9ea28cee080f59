// The NetworkBehaviour derive generates `BehaviourEvent` without doc comments, so the lint
// cannot be satisfied for this file; every hand-written item here is documented anyway.
#![allow(missing_docs)]

//! The composed `NetworkBehaviour` of an Accord node.

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, gossipsub, identify, kad, mdns, ping};
use sha2::{Digest, Sha256};

use crate::{NetConfig, NetError};

/// The identify protocol version all Accord nodes announce. Peers announcing another version
/// are still served, but not added to our DHT routing table.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/accord/1.0.0";

/// Accord's own Kademlia protocol name, so that our DHT never merges with IPFS's.
pub(crate) const KADEMLIA_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/kad/1.0.0");

/// Every protocol an Accord node speaks, in one behaviour.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub struct Behaviour {
    /// Exchanges listen addresses and protocols with every peer.
    pub identify: identify::Behaviour,
    /// Keeps an eye on connection liveness and round-trip time.
    pub ping: ping::Behaviour,
    /// The DHT: finds a peer's addresses from its ID.
    pub kademlia: kad::Behaviour<kad::store::MemoryStore>,
    /// LAN discovery; absent when switched off.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// The gossip layer that carries sealed invites on inbox topics.
    pub gossipsub: gossipsub::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `keypair` with `config`.
    pub(crate) fn new(keypair: &Keypair, config: &NetConfig) -> Result<Self, NetError> {
        let local_peer_id = keypair.public().to_peer_id();
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), keypair.public())
                .with_agent_version(format!("accord/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );

        let mut kad_config = kad::Config::new(KADEMLIA_PROTOCOL);
        kad_config.set_query_timeout(config.lookup_timeout);
        let mut kademlia = kad::Behaviour::with_config(
            local_peer_id,
            kad::store::MemoryStore::new(local_peer_id),
            kad_config,
        );
        if config.kademlia_server {
            kademlia.set_mode(Some(kad::Mode::Server));
        }

        let mdns = if config.mdns {
            let behaviour = mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                .map_err(|err| NetError::Behaviour(format!("mDNS: {err}")))?;
            Some(behaviour)
        } else {
            None
        };

        Ok(Behaviour {
            identify,
            ping: ping::Behaviour::default(),
            kademlia,
            mdns: Toggle::from(mdns),
            gossipsub: build_gossipsub(config)?,
        })
    }
}

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
        .build()
        .map_err(|err| NetError::Behaviour(format!("gossipsub config: {err}")))?;
    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
        .map_err(|err| NetError::Behaviour(format!("gossipsub: {err}")))
}
