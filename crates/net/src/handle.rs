//! The cloneable handle to the network event loop, and the events it reports.

use libp2p::identity::Keypair;
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::direct::DirectProtocol;
use crate::event_loop::{Command, EventLoop};
use crate::{NetConfig, NetError};

/// Something the network saw that the node may care about.
#[derive(Debug)]
pub enum NetEvent {
    /// The swarm listens on a new address.
    Listening {
        /// The address, without `/p2p/<id>`.
        addr: Multiaddr,
    },
    /// The first connection to a peer is up.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The remote address of that connection.
        addr: Multiaddr,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer told us (through identify) where it listens.
    PeerIdentified {
        /// The peer.
        peer: PeerId,
        /// Its listen addresses.
        listen_addrs: Vec<Multiaddr>,
    },
    /// A peer sent us a direct request. Answer it with [`NetHandle::respond_direct`];
    /// dropping the channel tells the peer the request failed.
    DirectRequest {
        /// Which direct protocol it came on.
        protocol: DirectProtocol,
        /// The peer.
        peer: PeerId,
        /// The frame.
        data: Vec<u8>,
        /// Where the response goes.
        channel: ResponseChannel<Vec<u8>>,
    },
    /// A connected peer subscribed to a gossip topic (gossip tells every neighbour).
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
    /// A gossip message the validator accepted arrived on a subscribed topic.
    Gossip {
        /// The topic.
        topic: String,
        /// The payload.
        data: Vec<u8>,
        /// The peer that forwarded it to us (not necessarily its author, who is anonymous).
        via: PeerId,
        /// The author field of the gossipsub message. Accord publishes anonymously, and the
        /// anonymous validation mode refuses messages that carry one, so this is always
        /// `None`; it is reported so that tests and audits can see it.
        source: Option<PeerId>,
        /// The sequence-number field, `None` for the same reason.
        sequence_number: Option<u64>,
    },
}

/// Counters of what the network layer refused or dropped since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Gossip messages the validator rejected (their forwarder was penalised).
    pub gossip_rejected: u64,
    /// Gossip messages the validator ignored.
    pub gossip_ignored: u64,
    /// Gossip messages dropped, without penalty, because their forwarder was over its rate
    /// (not counted in `gossip_ignored`).
    pub gossip_rate_limited: u64,
    /// Gossip messages rejected because their forwarder was far over its rate for a sustained
    /// time (its score was penalised; not counted in `gossip_rejected`).
    pub gossip_rate_penalised: u64,
    /// Events dropped because the node's queue was full.
    pub events_dropped: u64,
    /// Peers disconnected for announcing a request frame above its protocol's limit.
    pub peers_disconnected: u64,
    /// Requests on `/accord/dm/1` or `/accord/mailbox/1` refused, unread, because their peer
    /// is not one of the node's connections (see [`NetHandle::keep_peers`]).
    pub dm_refused: u64,
    /// Requests on `/accord/inbox/1` dropped because their peer was over its request rate
    /// ([`crate::NetLimits::inbox_requests_per_peer_per_minute`]).
    pub direct_rate_limited: u64,
    /// Direct requests dropped because their peer was over its byte budget
    /// ([`crate::NetLimits::direct_bytes_per_peer_per_minute`]).
    pub direct_bytes_limited: u64,
    /// DHT records and provider announcements peers asked us to store, all refused: Accord
    /// stores nothing in the DHT.
    pub dht_records_refused: u64,
    /// Bytes read from peers' substreams since start, over every direct connection (TCP and
    /// QUIC; without the Noise, Yamux and QUIC framing around them).
    pub bytes_in: u64,
    /// Bytes written to peers' substreams since start, counted like `bytes_in`.
    pub bytes_out: u64,
}

/// A peer we are connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedPeer {
    /// The peer.
    pub peer: PeerId,
    /// Its listen addresses if it told us, otherwise the remote addresses of our connections.
    pub addrs: Vec<Multiaddr>,
    /// Whether we reach it directly or only through a relay.
    pub via: Via,
}

/// How a connected peer is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// At least one connection goes straight to the peer.
    Direct,
    /// Every connection runs through a relay circuit.
    Relayed,
}

/// What AutoNAT concluded about this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// Peers dialled us back: we are publicly reachable.
    Public,
    /// Peers could not dial us back: we are behind a NAT or firewall.
    Private,
    /// No conclusion yet (too few peers to ask, or no direct address to test).
    Unknown,
}

/// A relay this node was told to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    /// The relay's peer id.
    pub peer: PeerId,
    /// The relay's address as configured.
    pub addr: Multiaddr,
    /// Whether a connection to it is up.
    pub connected: bool,
    /// Our `/p2p-circuit` address on it, when it granted us a reservation.
    pub reserved: Option<Multiaddr>,
}

/// How this node can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachStatus {
    /// What AutoNAT concluded.
    pub reachability: Reachability,
    /// The configured relays and our reservations on them.
    pub relays: Vec<RelayStatus>,
    /// Whether this node serves relay reservations for others.
    pub relay_server: bool,
}

/// Where the addresses of a [`Lookup`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupSource {
    /// A Kademlia query returned them.
    Dht,
    /// The DHT did not know the peer but we are connected to it.
    Connected,
}

/// The result of a successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The peer.
    pub peer: PeerId,
    /// Its addresses (without `/p2p/<id>`).
    pub addrs: Vec<Multiaddr>,
    /// Where they came from.
    pub source: LookupSource,
}

/// A cloneable handle to the network event loop.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
}

impl NetHandle {
    /// Builds the swarm, starts listening and dialling the bootstrap peers, and spawns the event
    /// loop on the current tokio runtime.
    ///
    /// Returns the handle, the event queue and the loop's task (which ends after
    /// [`NetHandle::shutdown`] or when every handle is dropped).
    pub fn spawn(
        keypair: Keypair,
        config: NetConfig,
    ) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, JoinHandle<()>), NetError> {
        let local_peer_id = keypair.public().to_peer_id();
        let (command_tx, command_rx) = mpsc::channel(config.command_capacity.max(1));
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let event_loop = EventLoop::new(keypair, config, command_rx, event_tx)?;
        let task = tokio::spawn(event_loop.run());
        let handle = NetHandle {
            commands: command_tx,
            local_peer_id,
        };
        Ok((handle, event_rx, task))
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        response.await.map_err(|_| NetError::Stopped)
    }

    /// The addresses the swarm listens on (without `/p2p/<id>`).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.request(|reply| Command::ListenAddrs { reply }).await
    }

    /// The peers connected right now.
    pub async fn connected_peers(&self) -> Result<Vec<ConnectedPeer>, NetError> {
        self.request(|reply| Command::ConnectedPeers { reply })
            .await
    }

    /// Dials `addr` and waits until a connection is established, returning the peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.request(|reply| Command::Dial { addr, reply }).await?
    }

    /// Finds `peer`'s addresses through a Kademlia query.
    pub async fn lookup(&self, peer: PeerId) -> Result<Lookup, NetError> {
        self.request(|reply| Command::Lookup { peer, reply })
            .await?
    }

    /// Tells the swarm (Kademlia, and every later dial by peer ID) where `peer` can be reached.
    pub async fn add_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), NetError> {
        self.request(|reply| Command::AddAddress { peer, addr, reply })
            .await
    }

    /// Subscribes to a gossip topic; returns false if we were subscribed already.
    pub async fn subscribe(&self, topic: String) -> Result<bool, NetError> {
        self.request(|reply| Command::Subscribe {
            topic,
            join: true,
            reply,
        })
        .await?
    }

    /// Leaves a gossip topic; returns false if we were not subscribed.
    pub async fn unsubscribe(&self, topic: String) -> Result<bool, NetError> {
        self.request(|reply| Command::Subscribe {
            topic,
            join: false,
            reply,
        })
        .await?
    }

    /// Publishes `data` on a gossip topic, anonymously.
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<(), NetError> {
        self.request(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Hands `data` to a connected (or dialable) peer over a direct protocol and returns its
    /// response.
    pub async fn send_direct(
        &self,
        protocol: DirectProtocol,
        peer: PeerId,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.start_direct(protocol, peer, data).await?.wait().await
    }

    /// Like [`NetHandle::send_direct`], but returns as soon as the request is queued to the
    /// swarm, with the future of its response.
    ///
    /// Requests queued one after the other by the same caller reach the swarm, and so open
    /// their streams, in that order; awaiting the responses elsewhere (in spawned tasks) does
    /// not reorder them. A caller that keeps several requests to a peer in flight uses this so
    /// that they usually arrive in the order sent.
    ///
    /// # Errors
    ///
    /// [`NetError::Stopped`] when the event loop has stopped; the response future then
    /// resolves to the request's own error.
    pub async fn start_direct(
        &self,
        protocol: DirectProtocol,
        peer: PeerId,
        data: Vec<u8>,
    ) -> Result<DirectResponse, NetError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(Command::SendDirect {
                protocol,
                peer,
                data,
                reply,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        Ok(DirectResponse { response })
    }

    /// Answers a [`NetEvent::DirectRequest`].
    pub async fn respond_direct(
        &self,
        protocol: DirectProtocol,
        channel: ResponseChannel<Vec<u8>>,
        data: Vec<u8>,
    ) -> Result<(), NetError> {
        self.request(|reply| Command::RespondDirect {
            protocol,
            channel,
            data,
            reply,
        })
        .await
    }

    /// Reachability (AutoNAT), the relays in use and our reservations on them.
    pub async fn reach(&self) -> Result<ReachStatus, NetError> {
        self.request(|reply| Command::Reach { reply }).await
    }

    /// Replaces the node's Accord connections: the peers whose connections are never trimmed
    /// (see [`crate::NetConfig::peer_high_water`]), and the only peers allowed to open
    /// requests on `/accord/dm/1` and `/accord/mailbox/1` (every other peer's stream is reset
    /// before a byte of it is read, and counted in [`NetStats::dm_refused`]).
    pub async fn keep_peers(&self, peers: Vec<PeerId>) -> Result<(), NetError> {
        self.request(|reply| Command::KeepPeers { peers, reply })
            .await
    }

    /// Counters of what the network layer dropped.
    pub async fn stats(&self) -> Result<NetStats, NetError> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// Stops the event loop: connections are closed and listeners removed.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.request(|reply| Command::Shutdown { reply }).await
    }
}

/// The response to a request queued with [`NetHandle::start_direct`].
#[derive(Debug)]
#[must_use = "dropping it does not cancel the request; it only discards the response"]
pub struct DirectResponse {
    response: oneshot::Receiver<Result<Vec<u8>, NetError>>,
}

impl DirectResponse {
    /// Waits for the peer's response.
    ///
    /// # Errors
    ///
    /// As [`NetHandle::send_direct`].
    pub async fn wait(self) -> Result<Vec<u8>, NetError> {
        self.response.await.map_err(|_| NetError::Stopped)?
    }
}
