//! The event loop: the one owner of the `Swarm`.
//!
//! It `select!`s over swarm events, commands from [`crate::NetHandle`]s and, when a bootstrap
//! peer is down, the deadline of its next redial. Requests that need the network to answer
//! (dials, lookups) park their reply channel in a bounded map until the answering event
//! arrives.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::IdentTopic;
use libp2p::identity::Keypair;
use libp2p::kad::{self, QueryId, QueryResult};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

mod reach;
mod requests;
mod trim;

use self::reach::RelayEntry;
use self::trim::{TrimConfig, Trimmer};
use crate::direct::DirectProtocol;
use crate::direct_budget::DirectBudget;

/// Where the answer to a direct request goes.
type DirectReply = oneshot::Sender<Result<Vec<u8>, NetError>>;
use crate::behaviour::{Behaviour, BehaviourEvent, KADEMLIA_PROTOCOL};
use crate::handle::{ConnectedPeer, Lookup, NetEvent, NetStats, ReachStatus, Reachability};
use crate::transport::{ByteCounters, build_swarm};
use crate::{ForwardingRate, NetConfig, NetError, split_peer_id};

/// A request from a handle.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<ConnectedPeer>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    Lookup {
        peer: PeerId,
        reply: oneshot::Sender<Result<Lookup, NetError>>,
    },
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<()>,
    },
    /// Joins (`join`) or leaves a gossip topic.
    Subscribe {
        topic: String,
        join: bool,
        reply: oneshot::Sender<Result<bool, NetError>>,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    SendDirect {
        protocol: DirectProtocol,
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    RespondDirect {
        protocol: DirectProtocol,
        channel: ResponseChannel<Vec<u8>>,
        data: Vec<u8>,
        reply: oneshot::Sender<()>,
    },
    Stats {
        reply: oneshot::Sender<NetStats>,
    },
    KeepPeers {
        peers: Vec<PeerId>,
        reply: oneshot::Sender<()>,
    },
    Reach {
        reply: oneshot::Sender<ReachStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What we know about a connected peer.
#[derive(Debug, Default)]
struct PeerState {
    /// Remote address of each open connection.
    connections: HashMap<ConnectionId, Multiaddr>,
    /// Listen addresses from identify.
    listen_addrs: Vec<Multiaddr>,
}

/// A bootstrap peer we keep redialling while it is down.
#[derive(Debug)]
struct BootstrapPeer {
    peer: PeerId,
    addr: Multiaddr,
    backoff: Duration,
    redial_at: Option<Instant>,
    /// A relay is redialled whenever it is down; a bootstrap peer only while the node has
    /// fewer peers than trimming leaves (it is how the node rejoins, not a peer to hold).
    relay: bool,
}

/// The owner of the swarm. Built by [`crate::NetHandle::spawn`].
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    config: NetConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    peers: HashMap<PeerId, PeerState>,
    pending_dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, NetError>>>,
    pending_lookups: HashMap<QueryId, (PeerId, oneshot::Sender<Result<Lookup, NetError>>)>,
    pending_direct: HashMap<(DirectProtocol, OutboundRequestId), DirectReply>,
    bootstrap_peers: Vec<BootstrapPeer>,
    /// Configured relays, and our reservations on them.
    relays: Vec<RelayEntry>,
    /// What AutoNAT last concluded.
    reachability: Reachability,
    stats: NetStats,
    /// Substream bytes of every connection, counted by the transport.
    bytes: std::sync::Arc<ByteCounters>,
    /// The gossip rate per forwarding peer and per IP prefix, checked before the validator.
    gossip_rate: ForwardingRate,
    /// Which peers to disconnect when too many are connected.
    trim: Trimmer,
    /// What each peer may still send on the direct protocols.
    direct_budget: DirectBudget,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("local_peer_id", self.swarm.local_peer_id())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    pub(crate) fn new(
        keypair: Keypair,
        config: NetConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
    ) -> Result<Self, NetError> {
        let bytes = std::sync::Arc::new(ByteCounters::default());
        let mut swarm = build_swarm(keypair, &config, std::sync::Arc::clone(&bytes))?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|err| NetError::Listen {
                    addr: addr.clone(),
                    reason: err.to_string(),
                })?;
        }
        let mut relays = Vec::new();
        for addr in &config.relays {
            let (_, Some(peer)) = split_peer_id(addr) else {
                return Err(NetError::RelayAddress(addr.clone()));
            };
            relays.push(RelayEntry {
                peer,
                addr: addr.clone(),
                listener: None,
                reserved: None,
            });
        }
        let gossip_rate = ForwardingRate::new(
            config.gossip_frames_per_peer_per_minute,
            config.gossip_frames_per_prefix_per_minute,
            config.gossip_rate_peers,
        );
        let trim = Trimmer::new(TrimConfig {
            low: config.peer_low_water,
            high: config.peer_high_water,
            grace: config.trim_grace,
        });
        let direct_budget = DirectBudget::new(&config.limits);
        let mut event_loop = EventLoop {
            swarm,
            config,
            relays,
            reachability: Reachability::Unknown,
            commands,
            events,
            peers: HashMap::new(),
            pending_dials: HashMap::new(),
            pending_lookups: HashMap::new(),
            pending_direct: HashMap::new(),
            bootstrap_peers: Vec::new(),
            stats: NetStats::default(),
            bytes,
            gossip_rate,
            trim,
            direct_budget,
        };
        event_loop.dial_bootstrap();
        Ok(event_loop)
    }

    /// Runs until shut down or until every handle is gone.
    pub async fn run(mut self) {
        loop {
            let redial_at = self.next_redial();
            let trim_at = self.trim.due();
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                () = sleep_until(redial_at), if redial_at.is_some() => self.redial_due(),
                () = sleep_until(trim_at), if trim_at.is_some() => self.trim_connections(),
            }
        }
        tracing::debug!("network event loop stopped");
    }

    /// Dials the bootstrap peers and the relays; both are redialled with back-off while down.
    fn dial_bootstrap(&mut self) {
        let relays = self.config.relays.iter().map(|addr| (addr.clone(), true));
        let bootstrap = self
            .config
            .bootstrap
            .iter()
            .map(|addr| (addr.clone(), false));
        for (addr, relay) in bootstrap.chain(relays).collect::<Vec<_>>() {
            let (base, peer) = split_peer_id(&addr);
            if let Some(peer) = peer {
                self.add_to_dht(&peer, base);
                self.bootstrap_peers.push(BootstrapPeer {
                    peer,
                    addr: addr.clone(),
                    backoff: Duration::from_secs(1),
                    redial_at: None,
                    relay,
                });
            }
            if let Err(err) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, %err, "cannot dial bootstrap address");
            }
        }
        // With no known peers this fails harmlessly; Kademlia bootstraps again on its own
        // whenever its routing table gains a peer.
        if let Some(kademlia) = self.swarm.behaviour_mut().kademlia.as_mut() {
            let _ = kademlia.bootstrap();
        }
    }

    fn next_redial(&self) -> Option<Instant> {
        self.bootstrap_peers
            .iter()
            .filter_map(|peer| peer.redial_at)
            .min()
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for peer in &mut self.bootstrap_peers {
            if peer.redial_at.is_some_and(|at| at <= now) {
                peer.redial_at = None;
                due.push(peer.addr.clone());
            }
        }
        for addr in due {
            tracing::debug!(%addr, "redialling bootstrap peer");
            if let Err(err) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, %err, "cannot redial bootstrap peer");
            }
        }
    }

    /// Disconnects the peers the trimmer chooses (see [`trim`]).
    fn trim_connections(&mut self) {
        let protected: HashSet<PeerId> = self.bootstrap_peers.iter().map(|b| b.peer).collect();
        let in_mesh: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        for peer in self.trim.choose(Instant::now(), &protected, &in_mesh) {
            tracing::debug!(%peer, "trimming the connection");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Schedules the next redial of `peer` if it is a bootstrap peer and now unreachable.
    fn schedule_redial(&mut self, peer: PeerId) {
        if self.swarm.is_connected(&peer) {
            return;
        }
        let max = self.config.max_redial_backoff;
        let rejoin = self.peers.len() < self.config.peer_low_water;
        for entry in self
            .bootstrap_peers
            .iter_mut()
            .filter(|entry| entry.peer == peer && (entry.relay || rejoin))
        {
            if entry.redial_at.is_none() {
                entry.redial_at = Some(Instant::now() + entry.backoff);
                entry.backoff = (entry.backoff * 2).min(max);
            }
        }
    }

    fn emit(&mut self, event: NetEvent) {
        if let Err(err) = self.events.try_send(event) {
            // The node is not keeping up (or is gone). Dropping is better than stalling the
            // swarm: every event here is either repeated later or recoverable by asking.
            self.stats.events_dropped += 1;
            tracing::warn!(dropped = self.stats.events_dropped, %err, "network event dropped");
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.connected_peers());
            }
            Command::Dial { addr, reply } => self.start_dial(addr, reply),
            Command::Lookup { peer, reply } => self.start_lookup(peer, reply),
            Command::AddAddress { peer, addr, reply } => {
                self.add_to_dht(&peer, addr);
                let _ = reply.send(());
            }
            Command::Subscribe { topic, join, reply } => {
                let _ = reply.send(self.subscribe(topic, join));
            }
            Command::SendDirect {
                protocol,
                peer,
                data,
                reply,
            } => {
                if self.pending_direct.len() >= self.config.max_pending_requests {
                    let _ = reply.send(Err(NetError::Busy));
                    return;
                }
                let id = self
                    .direct(protocol)
                    .send_request(&peer, crate::direct::Frame::Bytes(data));
                self.pending_direct.insert((protocol, id), reply);
            }
            Command::RespondDirect {
                protocol,
                channel,
                data,
                reply,
            } => {
                if self.direct(protocol).send_response(channel, data).is_err() {
                    tracing::debug!(?protocol, "response not sent: the requester has gone");
                }
                let _ = reply.send(());
            }
            Command::KeepPeers { peers, reply } => {
                // The same set is who may open dm and mailbox requests.
                let behaviour = self.swarm.behaviour();
                behaviour.dm.gate().allow_only(peers.iter().copied());
                behaviour.mailbox.gate().allow_only(peers.iter().copied());
                self.trim.keep(peers);
                let _ = reply.send(());
            }
            Command::Stats { reply } => {
                let _ = reply.send(NetStats {
                    bytes_in: self.bytes.inbound(),
                    bytes_out: self.bytes.outbound(),
                    ..self.stats
                });
            }
            Command::Reach { reply } => {
                let _ = reply.send(self.reach_status());
            }
            Command::Publish { topic, data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic.clone()), data)
                    .map(|_| ())
                    .map_err(|err| NetError::Publish {
                        topic,
                        reason: err.to_string(),
                    });
                let _ = reply.send(result);
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                self.on_listen_addr(listener_id, &address);
                self.emit(NetEvent::Listening { addr: address });
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => self.on_listener_closed(listener_id, reason.err().map(|e| e.to_string())),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => self.on_connection_established(
                peer_id,
                connection_id,
                &endpoint,
                num_established.get(),
            ),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.connections.remove(&connection_id);
                }
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    self.trim.disconnected(&peer_id);
                    self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                    self.schedule_redial(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        target: peer_id.map_or_else(|| "address".to_owned(), |p| p.to_string()),
                        reason: error.to_string(),
                    }));
                }
                if let Some(peer) = peer_id {
                    self.schedule_redial(peer);
                }
            }
            _ => {}
        }
    }

    fn on_connection_established(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        endpoint: &libp2p::core::ConnectedPoint,
        num_established: u32,
    ) {
        let addr = endpoint.get_remote_address().clone();
        let relayed = endpoint.is_relayed();
        tracing::debug!(peer = %peer_id, %addr, relayed, "connection established");
        if !relayed {
            self.reserve_on(peer_id);
        }
        if let Some(reply) = self.pending_dials.remove(&connection_id) {
            let _ = reply.send(Ok(peer_id));
        }
        for entry in self
            .bootstrap_peers
            .iter_mut()
            .filter(|e| e.peer == peer_id)
        {
            entry.backoff = Duration::from_secs(1);
            entry.redial_at = None;
        }
        let state = self.peers.entry(peer_id).or_default();
        state.connections.insert(connection_id, addr.clone());
        if num_established == 1 {
            self.emit(NetEvent::PeerConnected {
                peer: peer_id,
                addr,
            });
            self.trim.connected(peer_id, Instant::now());
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identified(peer_id, info);
            }
            BehaviourEvent::Kademlia(kad::Event::OutboundQueryProgressed {
                id, result, ..
            }) => match result {
                QueryResult::GetClosestPeers(Ok(ok)) => self.finish_lookup(id, ok.peers),
                QueryResult::GetClosestPeers(Err(kad::GetClosestPeersError::Timeout {
                    peers,
                    ..
                })) => self.finish_lookup(id, peers),
                _ => {}
            },
            BehaviourEvent::Kademlia(kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord { .. } | kad::InboundRequest::AddProvider { .. },
            }) => self.refuse_dht_record(),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.add_to_dht(&peer, addr.clone());
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            BehaviourEvent::Gossipsub(event) => self.on_gossipsub_event(event),
            BehaviourEvent::Inbox(event) => self.on_direct_event(DirectProtocol::Inbox, event),
            BehaviourEvent::Dm(event) => self.on_direct_event(DirectProtocol::Dm, event),
            BehaviourEvent::Mailbox(event) => {
                self.on_direct_event(DirectProtocol::Mailbox, event);
            }
            BehaviourEvent::RelayClient(event) => self.on_relay_client_event(event),
            BehaviourEvent::RelayServer(event) => self.on_relay_server_event(event),
            BehaviourEvent::Dcutr(event) => self.on_dcutr_event(event),
            BehaviourEvent::Autonat(event) => self.on_autonat_event(event),
            _ => {}
        }
    }

    /// Tells the DHT (when it runs) and later dials where a peer can be reached.
    fn add_to_dht(&mut self, peer: &PeerId, addr: Multiaddr) {
        self.swarm
            .behaviour_mut()
            .addresses
            .add(*peer, addr.clone());
        if let Some(kademlia) = self.swarm.behaviour_mut().kademlia.as_mut() {
            kademlia.add_address(peer, addr);
        }
    }

    fn on_identified(&mut self, peer: PeerId, info: identify::Info) {
        let speaks_kademlia = info.protocols.contains(&KADEMLIA_PROTOCOL);
        let listen_addrs: Vec<Multiaddr> = info
            .listen_addrs
            .into_iter()
            .map(|addr| split_peer_id(&addr).0)
            .collect();
        if speaks_kademlia {
            for addr in &listen_addrs {
                self.add_to_dht(&peer, addr.clone());
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.listen_addrs = listen_addrs.clone();
        }
        self.emit(NetEvent::PeerIdentified { peer, listen_addrs });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
