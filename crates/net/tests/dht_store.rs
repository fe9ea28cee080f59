//! A peer asking an Accord node to store DHT records: Accord puts nothing in the DHT, so every
//! inbound record and provider announcement is refused (not stored, counted), and a stranger
//! cannot fill the node's memory with them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures fail loudly"
)]

use std::time::Duration;

use accord_net::{Keypair, NetConfig, NetEvent, NetHandle, StreamProtocol, with_peer_id};
use futures::StreamExt;
use libp2p::kad::{self, Quorum, Record, RecordKey};
use libp2p::swarm::SwarmEvent;
use libp2p::{Swarm, noise, tcp, yamux};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

/// Accord's Kademlia protocol, spelt out from the wire spec rather than taken from the crate.
const KADEMLIA: StreamProtocol = StreamProtocol::new("/accord/kad/1.0.0");

/// A plain Kademlia client speaking Accord's DHT protocol, with no Accord code in it.
fn raw_kad_client() -> Swarm<kad::Behaviour<kad::store::MemoryStore>> {
    libp2p::SwarmBuilder::with_existing_identity(Keypair::generate_ed25519())
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|keypair| {
            let peer = keypair.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                peer,
                kad::store::MemoryStore::new(peer),
                kad::Config::new(KADEMLIA),
            );
            kad.set_mode(Some(kad::Mode::Client));
            kad
        })
        .unwrap()
        .build()
}

/// Drives `swarm` until the query `id` ends, returning the result of every step.
async fn finish(
    swarm: &mut Swarm<kad::Behaviour<kad::store::MemoryStore>>,
    id: kad::QueryId,
) -> Vec<kad::QueryResult> {
    timeout(WAIT, async {
        let mut results = Vec::new();
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                id: got,
                result,
                step,
                ..
            }) = swarm.select_next_some().await
                && got == id
            {
                results.push(result);
                if step.last {
                    return results;
                }
            }
        }
    })
    .await
    .expect("the query did not finish")
}

#[tokio::test]
async fn records_put_by_a_peer_are_refused_and_counted() {
    let config = NetConfig::default()
        .with_listen(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()])
        .with_mdns(false)
        .with_kademlia_server(true);
    let (node, mut events, _task) = NetHandle::spawn(Keypair::generate_ed25519(), config).unwrap();
    let addr = timeout(WAIT, async {
        loop {
            if let Some(NetEvent::Listening { addr }) = events.recv().await {
                return addr;
            }
        }
    })
    .await
    .unwrap();
    // Nobody else reads the node's events.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let node_id = node.local_peer_id();

    let mut raw = raw_kad_client();
    raw.behaviour_mut().add_address(&node_id, addr.clone());
    raw.dial(with_peer_id(&addr, node_id)).unwrap();

    let key = RecordKey::new(&b"a record nobody asked for".to_vec());
    // Kademlia's default packet limit is 16 KiB; a stranger would send many records this size.
    let record = Record::new(key.clone(), vec![0x42; 8 * 1024]);
    let put = raw.behaviour_mut().put_record(record, Quorum::One).unwrap();
    let put = finish(&mut raw, put).await;
    assert!(
        matches!(put.last(), Some(kad::QueryResult::PutRecord(Ok(_)))),
        "the put never reached the node: {put:?}"
    );
    // The node counts the refusal as the request arrives.
    timeout(WAIT, async {
        while node.stats().await.unwrap().dht_records_refused < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the node did not count the refusal");
    let provide = raw.behaviour_mut().start_providing(key.clone()).unwrap();
    let _ = finish(&mut raw, provide).await;

    // Ask the node for both back, with our own copies gone: it has neither.
    raw.behaviour_mut().remove_record(&key);
    raw.behaviour_mut().stop_providing(&key);
    let get = raw.behaviour_mut().get_record(key.clone());
    for result in finish(&mut raw, get).await {
        assert!(
            !matches!(
                result,
                kad::QueryResult::GetRecord(Ok(kad::GetRecordOk::FoundRecord(_)))
            ),
            "the node stored a stranger's record: {result:?}"
        );
    }
    let providers = raw.behaviour_mut().get_providers(key);
    for result in finish(&mut raw, providers).await {
        assert!(
            !matches!(
                &result,
                kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                    providers,
                    ..
                })) if !providers.is_empty()
            ),
            "the node stored a stranger's provider record: {result:?}"
        );
    }
}
