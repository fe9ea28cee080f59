//! Two or three real swarms on 127.0.0.1 (mDNS off): gossip validation and scoring, direct
//! inbox requests, and bootstrap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures fail loudly"
)]

use std::time::Duration;

use accord_net::{
    DirectProtocol, GossipValidator, GossipVerdict, Keypair, Multiaddr, NetConfig, NetEvent,
    NetHandle, with_peer_id,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn loopback() -> Vec<Multiaddr> {
    vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]
}

async fn node(
    bootstrap: Vec<Multiaddr>,
    validator: GossipValidator,
) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let keypair = Keypair::generate_ed25519();
    let config = NetConfig::default()
        .with_listen(loopback())
        .with_mdns(false)
        .with_bootstrap(bootstrap)
        .with_gossip_validator(validator);
    let (handle, mut events, _task) = NetHandle::spawn(keypair, config).unwrap();
    let addr = loop {
        match timeout(WAIT, events.recv()).await.unwrap().unwrap() {
            NetEvent::Listening { addr } => break with_peer_id(&addr, handle.local_peer_id()),
            _ => continue,
        }
    };
    (handle, events, addr)
}

/// Waits for the first event `pick` accepts.
async fn next<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    timeout(WAIT, async {
        loop {
            if let Some(found) = pick(events.recv().await.expect("event loop ended")) {
                return found;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

/// Rejects anything starting with `bad`.
fn picky() -> GossipValidator {
    GossipValidator::new(|_, data| {
        if data.starts_with(b"bad") {
            GossipVerdict::Reject
        } else {
            GossipVerdict::Accept
        }
    })
}

#[tokio::test]
async fn gossip_is_validated_before_delivery_and_rejections_are_counted() {
    let (a, _a_events, a_addr) = node(vec![], picky()).await;
    let (b, mut b_events, _) = node(vec![a_addr], picky()).await;
    let topic = "accord/v1/inbox/0".to_owned();
    a.subscribe(topic.clone()).await.unwrap();
    b.subscribe(topic.clone()).await.unwrap();

    // Publishing needs a subscribed peer; wait for the subscriptions to propagate.
    let mut published = false;
    for _ in 0..100 {
        if a.publish(topic.clone(), b"good 1".to_vec()).await.is_ok() {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published, "A never found a subscribed peer");
    let got = next(&mut b_events, |event| match event {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(got, b"good 1");

    a.publish(topic.clone(), b"bad message".to_vec())
        .await
        .unwrap();
    a.publish(topic.clone(), b"good 2".to_vec()).await.unwrap();
    let got = next(&mut b_events, |event| match event {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(got, b"good 2", "the rejected message must not be delivered");
    assert_eq!(b.stats().await.unwrap().gossip_rejected, 1);
}

#[tokio::test]
async fn inbox_requests_reach_a_connected_peer_and_get_its_response() {
    let (a, mut a_events, a_addr) = node(vec![], GossipValidator::accept_all()).await;
    let (b, mut b_events, _) = node(vec![a_addr.clone()], GossipValidator::accept_all()).await;
    let a_peer = a.local_peer_id();
    let b_peer = b.local_peer_id();
    // Each side learns of the connection on its own schedule; wait for both.
    next(&mut b_events, |event| match event {
        NetEvent::PeerConnected { peer, .. } if peer == a_peer => Some(()),
        _ => None,
    })
    .await;
    next(&mut a_events, |event| match event {
        NetEvent::PeerConnected { peer, .. } if peer == b_peer => Some(()),
        _ => None,
    })
    .await;

    let responder = {
        let b = b.clone();
        tokio::spawn(async move {
            let (peer, data, channel) = next(&mut b_events, |event| match event {
                NetEvent::DirectRequest {
                    protocol: DirectProtocol::Inbox,
                    peer,
                    data,
                    channel,
                } => Some((peer, data, channel)),
                _ => None,
            })
            .await;
            let mut reply = b"got ".to_vec();
            reply.extend_from_slice(&data);
            b.respond_direct(DirectProtocol::Inbox, channel, reply)
                .await
                .unwrap();
            peer
        })
    };
    let response = a
        .send_direct(DirectProtocol::Inbox, b_peer, b"sealed".to_vec())
        .await
        .unwrap();
    assert_eq!(response, b"got sealed");
    assert_eq!(responder.await.unwrap(), a_peer);
}

#[tokio::test]
async fn a_bootstrap_peer_that_starts_late_is_redialled() {
    // Reserve an identity and a port for the bootstrap node, but start it only later.
    let keypair = Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
        .parse()
        .unwrap();

    let (a, mut a_events, _) = node(vec![addr], GossipValidator::accept_all()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let config = NetConfig::default()
        .with_listen(vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()])
        .with_mdns(false);
    let (_late, _late_events, _task) = NetHandle::spawn(keypair, config).unwrap();

    next(&mut a_events, |event| match event {
        NetEvent::PeerConnected {
            peer: connected, ..
        } if connected == peer => Some(()),
        _ => None,
    })
    .await;
    assert!(
        a.connected_peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer == peer)
    );
}

/// A node without DHT that trims down to one peer once more than two are connected, at once.
async fn trimming_node() -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let mut config = NetConfig::default()
        .with_listen(loopback())
        .with_mdns(false)
        .with_dht(false)
        .with_peer_watermarks(1, 2);
    config.trim_grace = Duration::ZERO;
    let (handle, mut events, _task) =
        NetHandle::spawn(Keypair::generate_ed25519(), config).unwrap();
    let addr = next(&mut events, |event| match event {
        NetEvent::Listening { addr } => Some(with_peer_id(&addr, handle.local_peer_id())),
        _ => None,
    })
    .await;
    (handle, events, addr)
}

#[tokio::test]
async fn above_the_high_watermark_connections_are_trimmed_but_kept_peers_stay() {
    let (a, mut a_events, _) = trimming_node().await;
    let (b, _b_events, b_addr) = trimming_node().await;
    let (c, _c_events, c_addr) = trimming_node().await;
    let (d, _d_events, d_addr) = trimming_node().await;
    // D is dialled last: trimming takes the most recently connected first, so without
    // keep_peers D would be the first to go.
    a.keep_peers(vec![d.local_peer_id()]).await.unwrap();
    for addr in [b_addr, c_addr, d_addr] {
        a.dial(addr).await.unwrap();
    }
    // The third connection takes A above two peers: it trims down to one, the kept D.
    let mut gone = std::collections::HashSet::new();
    while gone.len() < 2 {
        let peer = next(&mut a_events, |event| match event {
            NetEvent::PeerDisconnected { peer } => Some(peer),
            _ => None,
        })
        .await;
        assert_ne!(peer, d.local_peer_id(), "the kept peer was trimmed");
        gone.insert(peer);
    }
    assert_eq!(
        gone,
        std::collections::HashSet::from([b.local_peer_id(), c.local_peer_id()])
    );
    let connected: Vec<_> = a.connected_peers().await.unwrap();
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert_eq!(connected[0].peer, d.local_peer_id());
}

#[tokio::test]
async fn a_peer_joining_and_leaving_a_topic_is_reported_and_unsubscribing_stops_delivery() {
    let (a, mut a_events, a_addr) = node(vec![], GossipValidator::accept_all()).await;
    let (b, mut b_events, _) = node(vec![a_addr], GossipValidator::accept_all()).await;
    let b_peer = b.local_peer_id();
    let topic = "accord/v1/inbox/1/0".to_owned();
    a.subscribe(topic.clone()).await.unwrap();
    // B joins the topic once connected: A hears of it (the node back-fills a peer that joins
    // one of its shards on this event).
    assert!(b.subscribe(topic.clone()).await.unwrap());
    let joined = next(&mut a_events, |event| match event {
        NetEvent::Subscribed { peer, topic } if peer == b_peer => Some(topic),
        _ => None,
    })
    .await;
    assert_eq!(joined, topic);
    // While B is in, A's publications reach it.
    let mut published = false;
    for _ in 0..100 {
        if a.publish(topic.clone(), b"before".to_vec()).await.is_ok() {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published, "A never found B on the topic");
    let got = next(&mut b_events, |event| match event {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(got, b"before");
    // B leaves it: once A knows, a publication finds no subscribed peer any more.
    assert!(b.unsubscribe(topic.clone()).await.unwrap());
    assert!(!b.unsubscribe(topic.clone()).await.unwrap(), "left already");
    let mut refused = false;
    for _ in 0..100 {
        if a.publish(topic.clone(), b"after".to_vec()).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "A still publishes to B after B left the topic");
    // And nothing published after B left reached it.
    let stray = timeout(Duration::from_millis(500), async {
        loop {
            if let Some(NetEvent::Gossip { topic: t, .. }) = b_events.recv().await
                && t == topic
            {
                return;
            }
        }
    })
    .await;
    assert!(stray.is_err(), "B got gossip on a topic it left");
}
