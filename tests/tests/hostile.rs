//! Hostile and curious peers: relays learn nothing, and crafted, replayed, misaddressed,
//! expired, oversized or random frames are dropped and counted without changing anything.

use std::time::Duration;

use accord_handshake::{Invite, Note, Payload, seal_payload};
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
    std::thread::sleep(Duration::from_secs(2));

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
    }
    needles.push(("the note".into(), b"secret plans".to_vec()));

    for (relay, seen) in [("X", x.received()), ("Y", y.received())] {
        assert!(!seen.is_empty(), "relay {relay} saw no gossip");
        for message in &seen {
            assert_eq!(message.source, None, "{relay} saw an author field");
            assert_eq!(
                message.sequence_number, None,
                "{relay} saw a sequence number"
            );
            for (what, needle) in &needles {
                assert!(
                    !message
                        .data
                        .windows(needle.len())
                        .any(|w| w == needle.as_slice()),
                    "relay {relay} saw {what} in a gossip message"
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn crafted_and_garbage_frames_are_dropped_and_counted_and_change_nothing() {
    let dir = TestDir::new();
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &[]);
    let hostile = TestPeer::start(&[&b.tcp_addr()]);
    b.wait_for_peer(&hostile.identity().id().to_string(), ARRIVAL);
    std::thread::sleep(Duration::from_secs(2));
    let before = snapshot(&b);
    let b_id = b.accord_id();
    let topic = inbox_topic(&b_id);
    let now = now_ms();
    let frame_expiry = now + 3600 * 1000;

    // Random bytes and an oversized message on the inbox topic: refused before forwarding.
    hostile.publish(&topic, (0..200u8).map(|i| i.wrapping_mul(37)).collect());
    hostile.publish(&topic, vec![1u8; 5 * 1024]);
    wait_until("B to reject both gossip messages", ARRIVAL, || {
        (b.json(&["stats"])["gossip_rejected"].as_u64() >= Some(2)).then_some(())
    });

    // A forged invite: a valid one whose signature is replaced by one over other bytes.
    let me = hostile.identity();
    let note = Note::new("trust me", 300).unwrap_or_else(|err| panic!("{err}"));
    let (mut forged, _) = Invite::create(me, b_id, note.clone(), now, 14 * DAY_MS, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    forged.signature = me.sign(
        accord_identity::SignatureDomain::new("accord/v1/invite"),
        b"other",
    );
    let frame = seal_payload(&b_id, &Payload::Invite(forged), frame_expiry, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        hostile.send_inbox(&b.id, frame.clone()).ok(),
        Some(b"no".to_vec())
    );
    hostile.publish(&topic, frame);

    // An invite to someone else, sealed to B.
    let stranger = Identity::generate(&mut os_rng()).id();
    let (elsewhere, _) =
        Invite::create(me, stranger, note.clone(), now, 14 * DAY_MS, &mut os_rng())
            .unwrap_or_else(|err| panic!("{err}"));
    let frame = seal_payload(
        &b_id,
        &Payload::Invite(elsewhere),
        frame_expiry,
        &mut os_rng(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(hostile.send_inbox(&b.id, frame).ok(), Some(b"no".to_vec()));

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
    let frame = seal_payload(
        &b_id,
        &Payload::Invite(expired),
        frame_expiry,
        &mut os_rng(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(hostile.send_inbox(&b.id, frame).ok(), Some(b"no".to_vec()));

    // Garbage straight to the inbox protocol.
    assert_eq!(
        hostile.send_inbox(&b.id, vec![0xff; 300]).ok(),
        Some(b"no".to_vec())
    );

    wait_until("B to count three invalid invites", ARRIVAL, || {
        (b.dropped("invalid_invite") >= 3).then_some(())
    });
    assert!(b.dropped("malformed") >= 1);
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
    wait_until("A to count the replayed acceptance", ARRIVAL, || {
        (a.dropped("repeated_acceptance") >= 1).then_some(())
    });
    assert_eq!(snapshot(&a), before, "a replay changed what A stores");
    assert!(
        a.json(&["connections"])
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}
