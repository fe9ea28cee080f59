//! An in-process libp2p peer for tests: it joins a network of real daemons with the same
//! network stack (`accord-net`), relays and records the gossip it sees, and can send crafted
//! bytes — the honest relay and the hostile peer of the tests.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_identity::Identity;
use accord_net::{
    DirectProtocol, GossipValidator, Multiaddr, NetConfig, NetEvent, NetHandle, PeerId,
    with_peer_id,
};

/// The inbox topic of the one shard of the lowest level, which holds every ID: what a default
/// node of a small network (a handful of daemons estimate a handful of nodes) publishes on.
pub const SMALL_NETWORK_TOPIC: &str = "accord/v1/inbox/0/";

/// The inbox topic of an ID on a default node of a small network, from the protocol's
/// definition rather than the node's code: the shard at level 0, which holds every ID.
pub fn inbox_topic(_id: &accord_identity::AccordId) -> String {
    SMALL_NETWORK_TOPIC.to_owned()
}

/// A gossip message as a relay received it.
#[derive(Debug, Clone)]
pub struct ReceivedGossip {
    /// The topic.
    pub topic: String,
    /// The payload bytes exactly as relayed.
    pub data: Vec<u8>,
    /// The gossipsub author field.
    pub source: Option<PeerId>,
    /// The gossipsub sequence-number field.
    pub sequence_number: Option<u64>,
}

/// A running in-process peer. Dropping it stops it.
pub struct TestPeer {
    runtime: tokio::runtime::Runtime,
    net: NetHandle,
    identity: Identity,
    addr: Multiaddr,
    received: Arc<Mutex<Vec<ReceivedGossip>>>,
    direct: Arc<Mutex<Vec<DirectFrame>>>,
}

/// A direct request as received: its protocol and bytes.
pub type DirectFrame = (DirectProtocol, Vec<u8>);

impl std::fmt::Debug for TestPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPeer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestPeer {
    /// Starts a peer on 127.0.0.1 (mDNS and DHT off) that relays every inbox shard, dialling
    /// `bootstrap` if given.
    pub fn start(bootstrap: &[&str]) -> TestPeer {
        let identity = Identity::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        TestPeer::start_as(identity, bootstrap)
    }

    /// [`TestPeer::start`] with a given identity: for instance a stopped daemon's, read from
    /// its key file, so that the peer is that daemon's connections' connection.
    pub fn start_as(identity: Identity, bootstrap: &[&str]) -> TestPeer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("runtime: {err}"));
        let config = NetConfig::default()
            .with_listen(vec![parse("/ip4/127.0.0.1/tcp/0")])
            .with_mdns(false)
            .with_dht(false)
            .with_bootstrap(bootstrap.iter().map(|a| parse(a)).collect())
            .with_gossip_validator(GossipValidator::accept_all());
        let received = Arc::new(Mutex::new(Vec::new()));
        let direct = Arc::new(Mutex::new(Vec::new()));
        let keypair = identity.to_libp2p_keypair();
        let sink = Arc::clone(&received);
        let direct_sink = Arc::clone(&direct);
        let (net, addr) = runtime.block_on(async move {
            let (net, mut events, _task) =
                NetHandle::spawn(keypair, config).unwrap_or_else(|err| panic!("net: {err}"));
            let _ = net.subscribe(SMALL_NETWORK_TOPIC.to_owned()).await;
            let addr = loop {
                match events.recv().await {
                    Some(NetEvent::Listening { addr }) => break addr,
                    Some(_) => continue,
                    None => panic!("the test peer stopped"),
                }
            };
            let responder = net.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        NetEvent::Gossip {
                            topic,
                            data,
                            source,
                            sequence_number,
                            ..
                        } => {
                            if let Ok(mut seen) = sink.lock() {
                                seen.push(ReceivedGossip {
                                    topic,
                                    data,
                                    source,
                                    sequence_number,
                                });
                            }
                        }
                        NetEvent::DirectRequest {
                            protocol,
                            data,
                            channel,
                            ..
                        } => {
                            if let Ok(mut seen) = direct_sink.lock() {
                                seen.push((protocol, data));
                            }
                            // Inbox frames are answered like a node that took them; a
                            // message is answered "stored" (version 1, status 0); a mailbox
                            // request "not serving" (version 1, status 4).
                            let answer = match protocol {
                                DirectProtocol::Inbox => b"ok".to_vec(),
                                DirectProtocol::Dm => vec![1, 0],
                                DirectProtocol::Mailbox => vec![1, 4],
                            };
                            let _ = responder.respond_direct(protocol, channel, answer).await;
                        }
                        _ => {}
                    }
                }
            });
            (net, addr)
        });
        let addr = with_peer_id(&addr, net.local_peer_id());
        TestPeer {
            runtime,
            net,
            identity,
            addr,
            received,
            direct,
        }
    }

    /// The peer's address, ending in `/p2p/<id>`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The peer's identity (to sign crafted messages with).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Everything the peer has received by gossip so far.
    pub fn received(&self) -> Vec<ReceivedGossip> {
        self.received
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// Dials an address and waits for the connection.
    pub fn dial(&self, addr: &str) {
        let net = self.net.clone();
        let addr = parse(addr);
        self.runtime
            .block_on(async move { net.dial(addr).await })
            .unwrap_or_else(|err| panic!("dial: {err}"));
    }

    /// Publishes raw bytes on a topic, retrying until some peer is subscribed.
    pub fn publish(&self, topic: &str, data: Vec<u8>) {
        let net = self.net.clone();
        let topic = topic.to_owned();
        self.runtime.block_on(async move {
            for _ in 0..100 {
                if net.publish(topic.clone(), data.clone()).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("could not publish on {topic}");
        });
    }

    /// Hands raw bytes to a connected peer over the inbox protocol; returns its answer.
    pub fn send_inbox(&self, peer: &str, data: Vec<u8>) -> Result<Vec<u8>, String> {
        self.send_direct(DirectProtocol::Inbox, peer, data)
    }

    /// Sends raw bytes to a connected peer over a direct protocol; returns its answer.
    pub fn send_direct(
        &self,
        protocol: DirectProtocol,
        peer: &str,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let net = self.net.clone();
        let peer = PeerId::from_str(peer).map_err(|err| err.to_string())?;
        self.runtime
            .block_on(async move { net.send_direct(protocol, peer, data).await })
            .map_err(|err| err.to_string())
    }

    /// Every direct request received so far (they were all answered as accepted).
    pub fn direct_received(&self) -> Vec<DirectFrame> {
        self.direct
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

fn parse(addr: &str) -> Multiaddr {
    addr.parse()
        .unwrap_or_else(|err| panic!("bad multiaddr {addr}: {err}"))
}
