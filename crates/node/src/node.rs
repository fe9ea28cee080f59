//! Starting, running and stopping a node.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use accord_api::Event;
use accord_identity::AccordId;
use accord_identity::keyfile::Passphrase;
use accord_net::{DirectProtocol, Multiaddr, NetConfig, NetEvent, NetHandle, with_peer_id};
use accord_store::{Store, StoreConfig, StoreTask};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::connect::{ConnectActor, RelayDrops, gossip_validator};
use crate::control::ControlSocket;
use crate::mailbox::MailboxHandle;
use crate::message::MessageActor;
use crate::people::PeopleHandle;
use crate::requests::NodeContext;
use crate::ui::WebApp;
use crate::{Config, DataDir, DataDirLock, NodeError, clock, load_or_create_identity};

/// Capacity of the event broadcast to control subscribers; a subscriber that falls further
/// behind receives a `lagged` event instead of the ones it missed.
const EVENT_BROADCAST_CAPACITY: usize = 256;

/// Capacity of the store's job queue.
const STORE_QUEUE_CAPACITY: usize = 256;

/// How a node is started: the data dir plus command-line overrides of the config file.
#[derive(Debug)]
pub struct NodeOptions {
    /// The data dir (created, 0700, if missing).
    pub data_dir: PathBuf,
    /// The passphrase of the key file, if it is (or is to be) encrypted.
    pub passphrase: Option<Passphrase>,
    /// Listen addresses; when non-empty they replace `network.listen`.
    pub listen: Vec<String>,
    /// Bootstrap addresses, added to `network.bootstrap`.
    pub bootstrap: Vec<String>,
    /// Overrides `network.mdns` when set.
    pub mdns: Option<bool>,
    /// Listen on no direct address at all, only through relays (`--no-listen`).
    pub no_listen: bool,
    /// Relay addresses, added to `network.relays`.
    pub relays: Vec<String>,
    /// Serve as a relay (`--relay-server`), whatever `network.relay_server` says.
    pub relay_server: bool,
}

impl NodeOptions {
    /// Options for `data_dir` with nothing overridden.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeOptions {
            data_dir: data_dir.into(),
            passphrase: None,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            mdns: None,
            no_listen: false,
            relays: Vec::new(),
            relay_server: false,
        }
    }
}

/// A started node. Call [`Node::run`] to serve until shutdown.
#[derive(Debug)]
pub struct Node {
    context: NodeContext,
    dir: DataDir,
    net_events: mpsc::Receiver<NetEvent>,
    net_task: JoinHandle<()>,
    connect_task: JoinHandle<()>,
    message_task: JoinHandle<()>,
    people_task: JoinHandle<()>,
    mailbox_task: JoinHandle<()>,
    store_task: StoreTask,
    control: ControlSocket,
    shutdown_requests: mpsc::Receiver<()>,
    _lock: DataDirLock,
}

impl Node {
    /// Starts a node: lock, config, identity, store, network, control socket — in that order,
    /// so that a second daemon on the same dir is refused before it touches anything.
    pub async fn start(options: NodeOptions) -> Result<Node, NodeError> {
        // First, so that a malformed testing offset stops the node before it touches anything.
        let offset_ms = clock::init_offset_from_env()?;
        if offset_ms != 0 {
            tracing::warn!(
                offset_ms,
                "the clock is shifted by {} (a testing hook)",
                clock::CLOCK_OFFSET_ENV
            );
        }
        let dir = DataDir::new(&options.data_dir);
        dir.prepare()?;
        let lock = dir.lock()?;
        let config = Config::load(&dir.config_file())?;
        let (identity, created) = load_or_create_identity(&dir, options.passphrase.as_ref())?;
        let id = identity.id();
        if created {
            tracing::info!(%id, path = %dir.key_file().display(), "created a new identity");
        }

        let store_config = StoreConfig {
            cache_capacity: config.store.cache_mib * 1024 * 1024,
            ..StoreConfig::default()
        };
        // The store is encrypted at rest with a key derived from the identity, so the key file
        // (and its passphrase, if it has one) protects the messages too.
        let store = Store::open(&dir.db(), &store_config, &identity.store_key())?;
        let (store, store_task) = store.spawn(STORE_QUEUE_CAPACITY)?;

        let relay_drops = Arc::new(RelayDrops::default());
        let validator = gossip_validator(config.invites.stamp_bits, Arc::clone(&relay_drops));
        let net_config = net_config(&config, &options)?.with_gossip_validator(validator);
        let (net, net_events, net_task) =
            NetHandle::spawn(identity.to_libp2p_keypair(), net_config)?;

        let config = Arc::new(config);
        let (events, _) = broadcast::channel(EVENT_BROADCAST_CAPACITY);
        let (messages, message_task) = MessageActor::spawn(
            id,
            Arc::clone(&config),
            store.clone(),
            net.clone(),
            events.clone(),
        );
        let (people, people_task) = PeopleHandle::spawn(
            identity.clone(),
            Arc::clone(&config),
            store.clone(),
            net.clone(),
            events.clone(),
        );
        let (mailbox, mailbox_task) = MailboxHandle::spawn(
            id,
            Arc::clone(&config),
            store.clone(),
            net.clone(),
            events.clone(),
            messages.clone(),
        );
        let (connect, connect_task) = ConnectActor::spawn(
            identity,
            Arc::clone(&config),
            store.clone(),
            net.clone(),
            events.clone(),
            messages.clone(),
            relay_drops,
        )
        .await?;
        let control = ControlSocket::bind(&dir.socket()).await?;
        // Validated when the config was read.
        let ui_listen = config
            .ui
            .listen_addr()
            .ok_or_else(|| NodeError::InvalidOption {
                what: "ui.listen",
                value: config.ui.listen.clone(),
                reason: "not an address and port".to_owned(),
            })?;
        let web_app = Arc::new(WebApp::new(ui_listen, dir.socket()));
        if config.ui.enabled {
            web_app
                .start()
                .await
                .map_err(|err| NodeError::InvalidOption {
                    what: "ui.listen",
                    value: config.ui.listen.clone(),
                    reason: err.message,
                })?;
        }
        let (shutdown_tx, shutdown_requests) = mpsc::channel(1);
        let context = NodeContext {
            id,
            net,
            store,
            config,
            events,
            shutdown: shutdown_tx,
            connect,
            messages,
            people,
            mailbox,
            web_app,
        };
        tracing::info!(%id, data_dir = %dir.root().display(), "node started");
        Ok(Node {
            context,
            dir,
            net_events,
            net_task,
            connect_task,
            message_task,
            people_task,
            mailbox_task,
            store_task,
            control,
            shutdown_requests,
            _lock: lock,
        })
    }

    /// The node's Accord ID.
    pub fn id(&self) -> AccordId {
        self.context.id
    }

    /// The node's data dir.
    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    /// Serves until `shutdown` completes or a client asks for shutdown, then stops cleanly:
    /// clients are disconnected and the socket removed, the actors finish what they were
    /// given, the swarm is closed and the store is flushed (see docs/architecture.md).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = self.shutdown_requests.recv() => break,
                event = self.net_events.recv() => match event {
                    Some(event) => self.on_net_event(event).await,
                    None => {
                        tracing::error!("the network event loop stopped unexpectedly");
                        break;
                    }
                },
                accepted = self.control.accept(&self.context, &stop_rx) => {
                    if let Err(err) = accepted {
                        tracing::warn!(%err, "cannot accept a control connection");
                    }
                }
            }
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        // The socket goes first, not last as design §6 lists it. Once this loop has ended
        // nothing accepts on it, so a socket left in place would let clients connect into the
        // listen backlog and hang until the rest of the shutdown (actors, swarm, store flush:
        // seconds) is over, then fail with a reset. Removed now, a client is told at once that
        // no node is running. Nothing depends on the socket lasting: the in-flight store writes
        // still finish below, and the data-dir lock, held until this `Node` is dropped, is what
        // keeps a second daemon out until then.
        self.control.remove();
        self.context.web_app.shutdown().await;
        self.context.connect.shutdown().await;
        let _ = self.connect_task.await;
        self.context.people.shutdown().await;
        let _ = self.people_task.await;
        // Before the Message actor: a fetch round waits for its answers.
        self.context.mailbox.shutdown().await;
        let _ = self.mailbox_task.await;
        self.context.messages.shutdown().await;
        let _ = self.message_task.await;
        let net = self.context.net.clone();
        drop(self.context);
        if net.shutdown().await.is_ok() {
            let _ = self.net_task.await;
        }
        self.store_task.shutdown().await?;
        tracing::info!("stopped");
        Ok(())
    }

    async fn on_net_event(&mut self, event: NetEvent) {
        let own = self.context.id.peer_id();
        let api_event = match event {
            NetEvent::Listening { addr } => Some(Event::Listening {
                addr: with_peer_id(&addr, own).to_string(),
            }),
            NetEvent::PeerConnected { peer, addr } => {
                self.context.connect.peer_connected(peer);
                self.context.messages.peer_connected(peer);
                Some(Event::PeerConnected {
                    peer: peer.to_string(),
                    addr: addr.to_string(),
                })
            }
            NetEvent::PeerDisconnected { peer } => {
                self.context.messages.peer_disconnected(peer);
                Some(Event::PeerDisconnected {
                    peer: peer.to_string(),
                })
            }
            NetEvent::PeerIdentified { peer, listen_addrs } => {
                self.context.connect.peer_identified(peer, listen_addrs);
                None
            }
            NetEvent::Subscribed { peer, topic } => {
                self.context.connect.peer_subscribed(peer, topic);
                None
            }
            NetEvent::DirectRequest {
                protocol: DirectProtocol::Inbox,
                peer,
                data,
                channel,
            } => {
                if !self.context.connect.frame(data, peer, None, Some(channel)) {
                    // Dropping the channel tells the peer the request failed; it falls back on
                    // gossip and republication.
                    tracing::warn!(%peer, "inbox queue full; direct frame refused");
                }
                None
            }
            NetEvent::DirectRequest {
                protocol: DirectProtocol::Dm,
                peer,
                data,
                channel,
            } => {
                if !self.context.messages.incoming(peer, data, channel) {
                    // Dropping the channel fails the request; the sender's outbox retries.
                    tracing::warn!(%peer, "message queue full; direct message refused");
                }
                None
            }
            NetEvent::DirectRequest {
                protocol: DirectProtocol::Mailbox,
                peer,
                data,
                channel,
            } => {
                if !self.context.mailbox.incoming(peer, data, channel) {
                    // Dropping the channel fails the request; the requester tries again.
                    tracing::warn!(%peer, "mailbox queue full; request refused");
                }
                None
            }
            NetEvent::Gossip {
                topic, data, via, ..
            } => {
                if !self
                    .context
                    .connect
                    .frame(data, via, Some(topic.clone()), None)
                {
                    tracing::warn!(%topic, %via, "inbox queue full; gossip frame dropped");
                }
                None
            }
        };
        if let Some(event) = api_event {
            // No subscribers is fine: the event simply has no audience.
            let _ = self.context.events.send(event);
        }
    }
}

fn net_config(config: &Config, options: &NodeOptions) -> Result<NetConfig, NodeError> {
    let listen = if options.listen.is_empty() {
        &config.network.listen
    } else {
        &options.listen
    };
    let listen = if options.no_listen {
        Vec::new()
    } else {
        parse_addrs("listen address", listen)?
    };
    let mut bootstrap = parse_addrs("bootstrap address", &config.network.bootstrap)?;
    bootstrap.extend(parse_addrs("bootstrap address", &options.bootstrap)?);
    let mut relays = parse_addrs("relay address", &config.network.relays)?;
    relays.extend(parse_addrs("relay address", &options.relays)?);
    for relay in &relays {
        if accord_net::split_peer_id(relay).1.is_none() {
            return Err(NodeError::InvalidOption {
                what: "relay address",
                value: relay.to_string(),
                reason: "it must end in /p2p/<relay id>".to_owned(),
            });
        }
    }
    if listen.is_empty() && relays.is_empty() {
        tracing::warn!("listening on no address and using no relay: nobody can reach this node");
    }
    let relay_server =
        (options.relay_server || config.network.relay_server).then(|| config.relay.limits());
    Ok(NetConfig::default()
        .with_listen(listen)
        .with_bootstrap(bootstrap)
        .with_relays(relays)
        .with_relay_server(relay_server)
        .with_mdns(options.mdns.unwrap_or(config.network.mdns))
        .with_dht(config.network.dht)
        .with_kademlia_server(config.network.dht_server)
        .with_autonat_global_only(config.network.autonat_global_only)
        .with_limits(config.limits.net())
        .with_gossip_rate(config.gossip.max_frames_per_peer_per_minute)
        .with_gossip_prefix_rate(config.gossip.max_frames_per_prefix_per_minute))
}

fn parse_addrs(what: &'static str, addrs: &[String]) -> Result<Vec<Multiaddr>, NodeError> {
    addrs
        .iter()
        .map(|addr| {
            Multiaddr::from_str(addr).map_err(|err| NodeError::InvalidOption {
                what,
                value: addr.clone(),
                reason: err.to_string(),
            })
        })
        .collect()
}
