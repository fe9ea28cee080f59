//! Hostile and curious peers: relays learn nothing, and crafted, replayed, misaddressed,
//! expired, oversized or random frames are dropped and counted without changing anything.

use std::time::Duration;

use accord_handshake::{
    GossipFrame, HOUR_MS, Invite, MINT_JITTER_HOURS, Note, Payload, seal_payload,
};
use accord_identity::Identity;
use accord_tests::peer::{TestPeer, inbox_topic};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, now_ms, os_rng, wait_until};
use serde_json::Value;

const DAY_MS: u64 = 24 * 3600 * 1000;

fn snapshot(daemon: &Daemon) -> (Value, Value) {
    (daemon.json(&["invites"]), daemon.json(&["connections"]))
}

#[test]
fn relays_see_neither_party_and_no_author_fields() {
    let dir = TestDir::new();
    let x = TestPeer::start(&[]);
    let y = TestPeer::start(&[&x.addr()]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &x.addr()]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &y.addr()]);
    // A third relay, next to both A and B, that sees the wire form of what each publishes.
    let wire = Sniffer::start(&[&a.tcp_addr(), &b.tcp_addr()]);
    wait_until(
        "A and B to be linked to their relays and the sniffer",
        ARRIVAL,
        || (a.peer_ids().len() >= 2 && b.peer_ids().len() >= 2).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(2));
    let apart = |when: &str| {
        assert!(
            !a.peer_ids().contains(&b.id) && !b.peer_ids().contains(&a.id),
            "A and B are directly connected {when}: the relays would carry nothing between them"
        );
    };
    apart("before the invite");

    let sent = a.json(&["connect", &b.id, "--note", "secret plans"]);
    wait_until("B to receive the invite", ARRIVAL, || {
        let invites = b.json(&["invites", "--incoming"]);
        invites
            .as_array()?
            .iter()
            .find(|i| i["invite_id"] == sent["invite_id"])
            .cloned()
    });

    let (a_id, b_id) = (a.accord_id(), b.accord_id());
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, id) in [("A", a_id), ("B", b_id)] {
        let key = id.public_key_bytes();
        let x25519 = id.x25519_public().to_bytes();
        for (form, bytes) in [
            ("peer id bytes", id.to_bytes()),
            ("ed25519 key", key.to_vec()),
            ("x25519 key", x25519.to_vec()),
            ("base58", id.to_string().into_bytes()),
            ("hex key", hex(&key).into_bytes()),
            ("hex peer id", hex(&id.to_bytes()).into_bytes()),
        ] {
            needles.push((format!("{name} {form}"), bytes));
        }
        for (form, bytes) in [
            ("peer id bytes", id.to_bytes()),
            ("ed25519 key", key.to_vec()),
            ("x25519 key", x25519.to_vec()),
        ] {
            for (alphabet_name, alphabet) in [("base64", BASE64), ("base64url", BASE64_URL)] {
                for (shift, text) in base64_at_every_alignment(&bytes, alphabet) {
                    needles.push((format!("{name} {form} as {alphabet_name} (+{shift})"), text));
                }
            }
        }
    }
    needles.push(("the note".into(), b"secret plans".to_vec()));

    apart("after the invite");
    // B accepts: its acceptance travels on A's shard, through the relays and past the sniffer.
    let hour_before = now_ms() / HOUR_MS;
    let accepted = b.json(&["accept", sent["invite_id"].as_str().unwrap_or_default()]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    wait_until("A to list B as a connection", ARRIVAL, || {
        a.connections()
            .into_iter()
            .find(|c| c["peer"] == b.id.as_str())
    });
    wait_until("the sniffer to see the acceptance too", ARRIVAL, || {
        (wire.seen().len() >= 2).then_some(())
    });
    let on_the_wire = wire.seen();
    // Nothing in clear pairs the invite with its acceptance: each frame's only clear time is
    // its minting epoch, a whole hour a few hours back at most (drawn per frame), never the
    // invite's expiry to the millisecond that frame version 2 carried in every frame of an
    // item.
    let hour_after = now_ms() / HOUR_MS;
    for message in &on_the_wire {
        let frame = GossipFrame::decode(&message.data)
            .unwrap_or_else(|err| panic!("not a version-3 frame on the wire: {err}"));
        let epoch = u64::from(frame.minted_hour);
        assert!(
            epoch + MINT_JITTER_HOURS >= hour_before.saturating_sub(1) && epoch <= hour_after,
            "a clear time that is not a coarse, recent epoch: {epoch}"
        );
    }
    assert!(!on_the_wire.is_empty(), "the sniffer saw no gossip from A");
    for message in &on_the_wire {
        assert_eq!(
            message.signature, None,
            "a gossip message carried a signature"
        );
        assert_eq!(message.key, None, "a gossip message carried a key");
        assert_eq!(message.source, None, "a gossip message carried an author");
        assert_eq!(
            message.sequence_number, None,
            "a gossip message carried a seqno"
        );
        assert_holds_none(&message.data, &needles, "the sniffer");
    }
    for (relay, seen) in [("X", x.received()), ("Y", y.received())] {
        assert!(!seen.is_empty(), "relay {relay} saw no gossip");
        for message in &seen {
            assert_eq!(message.source, None, "{relay} saw an author field");
            assert_eq!(
                message.sequence_number, None,
                "{relay} saw a sequence number"
            );
            assert_holds_none(&message.data, &needles, &format!("relay {relay}"));
        }
    }
}

/// What a relay's gossipsub received on the wire, before any of its own checks: the author
/// fields the application never sees once a message is accepted.
#[derive(Debug, Clone)]
struct WireMessage {
    topic: String,
    source: Option<libp2p::PeerId>,
    sequence_number: Option<u64>,
    signature: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    data: Vec<u8>,
}

/// Records every raw gossip message before gossipsub turns it into a `Message`.
#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<WireMessage>>>);

impl libp2p::gossipsub::DataTransform for Recorder {
    fn inbound_transform(
        &self,
        raw: libp2p::gossipsub::RawMessage,
    ) -> Result<libp2p::gossipsub::Message, std::io::Error> {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(WireMessage {
                topic: raw.topic.to_string(),
                source: raw.source,
                sequence_number: raw.sequence_number,
                signature: raw.signature.clone(),
                key: raw.key.clone(),
                data: raw.data.clone(),
            });
        }
        Ok(libp2p::gossipsub::Message {
            source: raw.source,
            data: raw.data,
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &libp2p::gossipsub::TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        Ok(data)
    }
}

/// A bare gossipsub peer that accepts messages in any form (`ValidationMode::None`, so that a
/// signed or authored message would be recorded rather than refused) and records each one
/// as it came off the wire. It dials `addrs` and subscribes to every inbox shard.
struct Sniffer {
    _runtime: tokio::runtime::Runtime,
    seen: Recorder,
}

impl Sniffer {
    fn start(addrs: &[&str]) -> Sniffer {
        Sniffer::start_with(addrs, false)
    }

    /// A sniffer that ignores every IHAVE, so that it never asks for a message: it receives
    /// only what its peers push to it, never what it could pull. What it holds is then exactly
    /// what each peer chose to send it.
    fn start_listener(addrs: &[&str]) -> Sniffer {
        Sniffer::start_with(addrs, true)
    }

    fn start_with(addrs: &[&str], ignore_ihave: bool) -> Sniffer {
        use libp2p::futures::StreamExt;
        use libp2p::gossipsub;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("runtime: {err}"));
        let seen = Recorder::default();
        let transform = seen.clone();
        let addrs: Vec<libp2p::Multiaddr> = addrs
            .iter()
            .map(|addr| addr.parse().unwrap_or_else(|err| panic!("{addr}: {err}")))
            .collect();
        runtime.block_on(async move {
            let mut builder = gossipsub::ConfigBuilder::default();
            if ignore_ihave {
                builder.max_ihave_messages_heartbeat(0);
            }
            let config = builder
                .validation_mode(gossipsub::ValidationMode::None)
                .message_id_fn(|message: &gossipsub::Message| {
                    use sha2::Digest;
                    gossipsub::MessageId::from(sha2::Sha256::digest(&message.data).to_vec())
                })
                .build()
                .unwrap_or_else(|err| panic!("gossipsub config: {err}"));
            let mut behaviour = gossipsub::Behaviour::<Recorder>::new_with_transform(
                gossipsub::MessageAuthenticity::Anonymous,
                config,
                transform,
            )
            .unwrap_or_else(|err| panic!("gossipsub: {err}"));
            let topic = gossipsub::IdentTopic::new(accord_tests::peer::SMALL_NETWORK_TOPIC);
            let _ = behaviour.subscribe(&topic);
            let mut swarm = libp2p::SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(
                    libp2p::tcp::Config::default(),
                    libp2p::noise::Config::new,
                    libp2p::yamux::Config::default,
                )
                .unwrap_or_else(|err| panic!("sniffer transport: {err}"))
                .with_behaviour(|_| behaviour)
                .unwrap_or_else(|err| panic!("sniffer behaviour: {err}"))
                .with_swarm_config(|config| {
                    config.with_idle_connection_timeout(Duration::from_secs(600))
                })
                .build();
            for addr in addrs {
                swarm
                    .dial(addr.clone())
                    .unwrap_or_else(|err| panic!("dial {addr}: {err}"));
            }
            tokio::spawn(async move { while swarm.next().await.is_some() {} });
        });
        Sniffer {
            _runtime: runtime,
            seen,
        }
    }

    fn seen(&self) -> Vec<WireMessage> {
        self.seen
            .0
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

/// How many bare gossip listeners sit next to A in the test below: more than gossipsub's
/// `mesh_n_high` (12), the most peers that dialed A which A takes into its mesh of a topic.
const LISTENERS: usize = 14;
/// gossipsub's default `mesh_n_high`, which the node does not change.
const MESH_N_HIGH: usize = 12;
// Some listeners stay outside A's mesh, so a frame that reached only the mesh reached fewer
// than all of them.
const _: () = assert!(MESH_N_HIGH < LISTENERS);

/// Issue 15 finding 4: with `flood_publish` (libp2p's default) a node sends each frame it
/// originates to *every* subscribed neighbour at once, while a frame it relays goes only to
/// its mesh, so a neighbour that receives a frame from the node outside the mesh knows the
/// node wrote it. With flood publishing off, the node's own frames take the mesh like any
/// relayed frame: 14 listeners that dialed A (A's mesh of a topic admits at most 12 of them)
/// and never pull (they ignore IHAVE) each receive A's own invite only if they are in A's
/// mesh, so some subscribed neighbour of A never receives it first-hand, exactly as for the
/// frames A relays. Turned back on, every listener would receive A's invite from A.
#[test]
fn a_nodes_own_frames_reach_its_neighbours_only_through_its_mesh_like_relayed_ones() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let listeners: Vec<Sniffer> = (0..LISTENERS)
        .map(|_| Sniffer::start_listener(&[&a.tcp_addr()]))
        .collect();
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    wait_until("A to be linked to every listener and to B", ARRIVAL, || {
        (a.peer_ids().len() > LISTENERS && a.peer_ids().contains(&b.id)).then_some(())
    });

    // A's own frame: its invite to B, published on B's shard.
    let sent = a.json(&["connect", &b.id, "--note", "mesh only"]);
    let invite_id = sent["invite_id"].as_str().unwrap_or_default().to_owned();
    wait_until("B to receive the invite", ARRIVAL, || {
        b.invites("--incoming")
            .into_iter()
            .find(|i| i["invite_id"] == invite_id.as_str())
    });
    // A relayed frame: B's acceptance, which B publishes on A's shard and A forwards.
    let accepted = b.json(&["accept", &invite_id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    let a_topic = inbox_topic(&a.accord_id());
    let b_topic = inbox_topic(&b.accord_id());
    wait_until(
        "a listener to receive B's acceptance from A",
        ARRIVAL,
        || {
            listeners
                .iter()
                .any(|l| l.seen().iter().any(|m| m.topic == a_topic))
                .then_some(())
        },
    );

    // How many listeners received each frame, for A's own frames and for relayed ones.
    let reach = |topic: &str| {
        let mut counts: std::collections::BTreeMap<Vec<u8>, usize> = Default::default();
        for listener in &listeners {
            let mut frames: Vec<Vec<u8>> = listener
                .seen()
                .into_iter()
                .filter(|m| m.topic == topic)
                .map(|m| m.data)
                .collect();
            frames.sort();
            frames.dedup();
            for frame in frames {
                *counts.entry(frame).or_default() += 1;
            }
        }
        counts.into_values().collect::<Vec<usize>>()
    };
    let own = reach(&b_topic);
    let relayed = reach(&a_topic);
    eprintln!("listeners reached: A's own frames {own:?}, frames A relayed {relayed:?}");
    assert!(!own.is_empty(), "no listener received A's invite at all");
    assert!(
        !relayed.is_empty(),
        "no listener received the relayed acceptance"
    );
    for (what, counts) in [("A's own frame", &own), ("a frame A relayed", &relayed)] {
        for &count in counts.iter() {
            assert!(
                count <= MESH_N_HIGH,
                "{what} reached {count} of the {LISTENERS} subscribed listeners: beyond A's \
                 mesh (own {own:?}, relayed {relayed:?})"
            );
        }
    }
}

/// Asserts that `data` contains none of the `needles` (each named for the failure message).
fn assert_holds_none(data: &[u8], needles: &[(String, Vec<u8>)], who: &str) {
    for (what, needle) in needles {
        assert!(
            !data.windows(needle.len()).any(|w| w == needle.as_slice()),
            "{who} saw {what} in a gossip message"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, b)| word | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[((word >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out
}

/// The base64 characters that `bytes` alone decide when they sit at each of the three byte
/// offsets within an encoded stream: an encoder upstream may have put them at any of them.
fn base64_at_every_alignment(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<(usize, Vec<u8>)> {
    (0..3)
        .map(|shift| {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let text = base64(&shifted, alphabet);
            // Characters that mix in a padding byte before, or the unknown byte after, are not
            // decided by `bytes`: drop them.
            let start = [0, 2, 3][shift];
            (shift, text[start..text.len() - 1].to_vec())
        })
        .collect()
}

#[test]
fn the_base64_needles_are_right() {
    // RFC 4648 test vectors, unpadded.
    assert_eq!(base64(b"foobar", BASE64), b"Zm9vYmFy");
    assert_eq!(base64(b"fooba", BASE64), b"Zm9vYmE");
    assert_eq!(base64(b"f", BASE64), b"Zg");
    assert_eq!(base64(&[0xfb, 0xff], BASE64), b"+/8");
    assert_eq!(base64(&[0xfb, 0xff], BASE64_URL), b"-_8");
    // A needle is found in the encoding of any stream that contains its bytes.
    let needle: Vec<u8> = (1..=32).collect();
    for before in 0..3 {
        let mut stream = vec![0xaau8; before + 5];
        stream.extend_from_slice(&needle);
        stream.extend_from_slice(&[0x55; 7]);
        let encoded = base64(&stream, BASE64);
        assert!(
            base64_at_every_alignment(&needle, BASE64)
                .iter()
                .any(|(_, text)| encoded.windows(text.len()).any(|w| w == text.as_slice())),
            "not found with {before} bytes before"
        );
    }
}

#[test]
fn crafted_and_garbage_frames_are_dropped_and_counted_and_change_nothing() {
    let dir = TestDir::new();
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &[]);
    let hostile = TestPeer::start(&[&b.tcp_addr()]);
    b.wait_for_peer(&hostile.identity().id().to_string(), ARRIVAL);
    std::thread::sleep(Duration::from_secs(2));
    let before = snapshot(&b);
    assert_eq!(b.json(&["stats"])["gossip_rejected"], 0);
    assert_eq!(b.dropped("invalid_invite"), 0);
    assert_eq!(b.dropped("malformed"), 0);
    let b_id = b.accord_id();
    let topic = inbox_topic(&b_id);
    let now = now_ms();
    let minted_at = now;

    // Random bytes and an oversized message on the inbox topic: refused before forwarding.
    hostile.publish(&topic, (0..200u8).map(|i| i.wrapping_mul(37)).collect());
    hostile.publish(&topic, vec![1u8; 5 * 1024]);
    let rejected = || b.json(&["stats"])["gossip_rejected"].as_u64().unwrap_or(0);
    wait_until("B to reject both gossip messages", ARRIVAL, || {
        (rejected() >= 2).then_some(())
    });
    assert_eq!(rejected(), 2);
    assert_eq!(b.dropped("invalid_invite"), 0);

    // A forged invite: a valid one whose signature is replaced by one over other bytes.
    let me = hostile.identity();
    let note = Note::new("trust me", 300).unwrap_or_else(|err| panic!("{err}"));
    let (mut forged, _) = Invite::create(me, b_id, note.clone(), now, 14 * DAY_MS, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    forged.signature = me.sign(
        accord_identity::SignatureDomain::new("accord/v1/invite"),
        b"other",
    );
    let frame = seal_payload(&b_id, &Payload::Invite(forged), minted_at, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    // Direct frames are answered after they are processed, so each count is in place at once.
    assert_eq!(
        hostile.send_inbox(&b.id, frame.clone()).ok(),
        Some(b"no".to_vec())
    );
    assert_eq!(b.dropped("invalid_invite"), 1);
    // The same frame by gossip: it passes the relay check (its stamp is good) and is dropped
    // when opened, once (gossipsub delivers a message id once).
    hostile.publish(&topic, frame);
    wait_until("B to drop the forged invite from gossip", ARRIVAL, || {
        (b.dropped("invalid_invite") >= 2).then_some(())
    });
    assert_eq!(b.dropped("invalid_invite"), 2);
    assert_eq!(
        rejected(),
        2,
        "a well-stamped frame was rejected before forwarding"
    );

    // An invite to someone else, sealed to B.
    let stranger = Identity::generate(&mut os_rng()).id();
    let (elsewhere, _) =
        Invite::create(me, stranger, note.clone(), now, 14 * DAY_MS, &mut os_rng())
            .unwrap_or_else(|err| panic!("{err}"));
    let frame = seal_payload(&b_id, &Payload::Invite(elsewhere), minted_at, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(hostile.send_inbox(&b.id, frame).ok(), Some(b"no".to_vec()));
    assert_eq!(b.dropped("invalid_invite"), 3);

    // An expired invite in a frame that is itself still fresh.
    let (expired, _) = Invite::create(
        me,
        b_id,
        note,
        now - 20 * DAY_MS,
        14 * DAY_MS,
        &mut os_rng(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let frame = seal_payload(&b_id, &Payload::Invite(expired), minted_at, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(hostile.send_inbox(&b.id, frame).ok(), Some(b"no".to_vec()));
    assert_eq!(b.dropped("invalid_invite"), 4);

    // Garbage straight to the inbox protocol.
    assert_eq!(
        hostile.send_inbox(&b.id, vec![0xff; 300]).ok(),
        Some(b"no".to_vec())
    );
    assert_eq!(b.dropped("malformed"), 1);

    // Nothing was counted twice or late.
    let stats = b.json(&["stats"]);
    assert_eq!(stats["gossip_rejected"], 2, "{stats}");
    assert_eq!(stats["dropped"]["invalid_invite"], 4, "{stats}");
    assert_eq!(stats["dropped"]["malformed"], 1, "{stats}");
    assert_eq!(snapshot(&b), before, "bad input changed what B stores");
    assert_eq!(b.json(&["id"])["id"], b.id.as_str(), "B must keep running");
}

#[test]
fn a_replayed_acceptance_creates_nothing_even_after_a_disconnect() {
    let dir = TestDir::new();
    let relay = TestPeer::start(&[]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &relay.addr()]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &relay.addr()]);
    std::thread::sleep(Duration::from_secs(2));

    let sent = a.json(&["connect", &b.id]);
    wait_until("B to receive the invite", ARRIVAL, || {
        let invites = b.json(&["invites", "--incoming"]);
        invites
            .as_array()?
            .iter()
            .find(|i| i["invite_id"] == sent["invite_id"])
            .cloned()
    });
    b.json(&["accept", &a.id]);
    wait_until("A to be connected", ARRIVAL, || {
        (a.json(&["connections"]).as_array()?.len() == 1).then_some(())
    });
    a.json(&["disconnect", &b.id]);
    let before = snapshot(&a);

    // The relay saw every frame, the acceptance among them; it replays them all to A.
    let captured = relay.received();
    assert!(!captured.is_empty());
    let a_topic = inbox_topic(&a.accord_id());
    let mut replayed = 0;
    for message in captured.iter().filter(|m| m.topic == a_topic) {
        // The answer does not matter: what matters is what A stores afterwards.
        let _ = relay.send_inbox(&a.id, message.data.clone());
        replayed += 1;
    }
    assert!(replayed >= 1, "the relay captured nothing addressed to A");
    // A handled the acceptance already, so its replay cache drops the copy before opening
    // it (`replayed_frame`); a copy it had not seen would be opened and found repeated.
    wait_until("A to count the replayed acceptance", ARRIVAL, || {
        (a.dropped("replayed_frame") + a.dropped("repeated_acceptance") >= 1).then_some(())
    });
    assert_eq!(snapshot(&a), before, "a replay changed what A stores");
    assert!(
        a.json(&["connections"])
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}
