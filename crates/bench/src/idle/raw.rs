//! The `idle` suite's baseline: one raw libp2p swarm per process, with the protocols an Accord
//! node runs (identify, ping, Kademlia, gossipsub subscribed to the inbox topics a node of a small network has, and the
//! transport suite's request-response echo) and libp2p's defaults for every timer. The suite
//! starts `accord-bench raw-idle-node` once per node; the child prints one line
//! `ready <peer id> <listen address>`, answers each line it reads on stdin with
//! `bytes <in> <out> <connected peers>`, and runs until its stdin closes. Its bytes are counted
//! by accord-net's own counting transport, so that both sides of the comparison count alike.

// The NetworkBehaviour derive generates an event enum without doc comments.
#![allow(missing_docs)]

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, Swarm, gossipsub, identify, identity::Keypair, kad, ping, yamux};
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use accord_net::{ByteCounters, counted_transport};

use crate::transport::{ECHO_PROTOCOL, EchoCodec};

/// The environment variable holding the addresses (each ending in `/p2p/<id>`) a raw node
/// dials at start, separated by spaces: its bootstrap node and its three "connections".
pub(crate) const DIAL_ENV: &str = "ACCORD_BENCH_RAW_DIAL";
/// The inbox topics an Accord node of a small network (shard level 0) subscribes to: level 0,
/// one shard for every ID, and level 1, the half its key falls in (docs/protocol.md, "The
/// level"). Which half does not change the traffic, so the raw node takes the first.
const TOPICS: [&str; 2] = ["accord/v1/inbox/0/", "accord/v1/inbox/1/0"];

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct RawBehaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kademlia: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    echo: request_response::Behaviour<EchoCodec>,
}

fn build(keypair: Keypair, counters: Arc<ByteCounters>) -> Result<Swarm<RawBehaviour>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|keypair| {
            counted_transport(keypair, yamux::Config::default, counters)
                .map_err(|err| -> Box<dyn std::error::Error + Send + Sync> { Box::new(err) })
        })
        .context("raw idle node: transport")?
        .with_behaviour(|keypair| {
            let peer = keypair.public().to_peer_id();
            let gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(keypair.clone()),
                gossipsub::Config::default(),
            )?;
            let mut kademlia = kad::Behaviour::new(peer, kad::store::MemoryStore::new(peer));
            kademlia.set_mode(Some(kad::Mode::Server));
            Ok(RawBehaviour {
                identify: identify::Behaviour::new(identify::Config::new(
                    "/accord-bench/1.0.0".to_owned(),
                    keypair.public(),
                )),
                ping: ping::Behaviour::default(),
                kademlia,
                gossipsub,
                echo: request_response::Behaviour::with_codec(
                    EchoCodec,
                    [(ECHO_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10)),
                ),
            })
        })
        .map_err(|err| anyhow!("raw idle node: behaviour: {err}"))?
        .build();
    Ok(swarm)
}

/// Runs one raw node until stdin closes (the suite holds the other end).
pub(crate) async fn run_node() -> Result<()> {
    let counters = Arc::new(ByteCounters::default());
    let peers = Arc::new(AtomicUsize::new(0));
    let mut swarm = build(Keypair::generate_ed25519(), Arc::clone(&counters))?;
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().context("listen address")?)
        .context("raw idle node: listen")?;
    for topic in TOPICS {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&gossipsub::IdentTopic::new(topic))
            .context("raw idle node: subscribe")?;
    }
    let dial = std::env::var(DIAL_ENV).unwrap_or_default();
    for addr in dial.split_whitespace() {
        let addr: Multiaddr = addr.parse().context("a dial address")?;
        let (base, peer) = accord_net::split_peer_id(&addr);
        if let Some(peer) = peer {
            swarm.behaviour_mut().kademlia.add_address(&peer, base);
        }
        swarm.dial(addr).context("raw idle node: dial")?;
    }
    // With no known peer (the first node) there is nothing to bootstrap from yet.
    let _ = swarm.behaviour_mut().kademlia.bootstrap();
    let closed = answer_stdin(counters, Arc::clone(&peers));
    tokio::pin!(closed);
    loop {
        tokio::select! {
            _ = &mut closed => return Ok(()),
            event = swarm.select_next_some() => on_event(&mut swarm, event, &peers),
        }
    }
}

/// A thread answers the suite's byte queries on stdin, reading the counters directly (the
/// swarm's loop is not woken for them); the returned receiver resolves when stdin closes (the
/// suite ended or died), so that no node outlives it.
fn answer_stdin(
    counters: Arc<ByteCounters>,
    peers: Arc<AtomicUsize>,
) -> tokio::sync::oneshot::Receiver<()> {
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            println!(
                "bytes {} {} {}",
                counters.inbound(),
                counters.outbound(),
                peers.load(Ordering::Relaxed)
            );
        }
        let _ = closed_tx.send(());
    });
    closed
}

fn on_event(
    swarm: &mut Swarm<RawBehaviour>,
    event: SwarmEvent<RawBehaviourEvent>,
    peers: &AtomicUsize,
) {
    match event {
        SwarmEvent::ConnectionEstablished {
            num_established, ..
        } if num_established.get() == 1 => {
            peers.fetch_add(1, Ordering::Relaxed);
        }
        SwarmEvent::ConnectionClosed {
            num_established: 0, ..
        } => {
            peers.fetch_sub(1, Ordering::Relaxed);
        }
        SwarmEvent::NewListenAddr { address, .. } => {
            // The suite reads this one line; the first address is the only one (loopback).
            println!("ready {} {address}", swarm.local_peer_id());
        }
        SwarmEvent::Behaviour(RawBehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => {
            for addr in info.listen_addrs {
                swarm.behaviour_mut().kademlia.add_address(&peer_id, addr);
            }
        }
        SwarmEvent::Behaviour(RawBehaviourEvent::Echo(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) => {
            // A refused response means the requester went away.
            let _ = swarm.behaviour_mut().echo.send_response(channel, request);
        }
        _ => {}
    }
}
