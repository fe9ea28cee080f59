//! Bad input on the message channel: from a non-connection, tampered, oversize, and after a
//! revocation. Each is refused and counted, stores nothing, and the daemon keeps running.
//!
//! The hostile peer is an in-process libp2p node that performs the real handshake with a real
//! daemon (so it holds a genuine channel) and then misbehaves. It builds frames from the
//! protocol's definition (docs/protocol.md), not from the node's code.

use accord_channel::Session;
use accord_handshake::{Invite, Note, Payload, open_payload, seal_payload};
use accord_identity::AccordId;
use accord_net::DirectProtocol;
use accord_tests::peer::TestPeer;
use accord_tests::{ARRIVAL, Daemon, TestDir, now_ms, os_rng, wait_until};
use serde_json::Value;

const CONFIG: &str = "[network]\nmdns = false\ndht = false\n[messages]\nmax_bytes = 1024\n";
const REFUSED: [u8; 2] = [1, 2];
const STORED: [u8; 2] = [1, 0];

/// A text content: version 1, kind 1, id, sent_at, sender_seq, no reply, u32 length, body.
fn text_content(id: [u8; 16], seq: u64, body: &str) -> Vec<u8> {
    let mut out = vec![1, 1];
    out.extend_from_slice(&id);
    out.extend_from_slice(&now_ms().to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.push(0);
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// A request frame: version 1 ‖ message id ‖ envelope.
fn frame(id: [u8; 16], envelope: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&id);
    out.extend_from_slice(envelope);
    out
}

/// The ids and bodies of a conversation (reading it moves states to `read`, so states are
/// left out of the comparison).
fn history(daemon: &Daemon, peer: &str) -> Vec<(Value, Value)> {
    daemon
        .json(&["history", peer])
        .as_array()
        .map(|all| {
            all.iter()
                .map(|m| (m["message_id"].clone(), m["body"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bad_messages_are_refused_counted_and_change_nothing() {
    let dir = TestDir::new();
    let b = Daemon::start_with_config(&dir.path("b"), CONFIG, &[]);
    let hostile = TestPeer::start(&[&b.tcp_addr()]);
    let h_id = hostile.identity().id();
    b.wait_for_peer(&h_id.to_string(), ARRIVAL);
    let b_id: AccordId = b.id.parse().unwrap_or_else(|err| panic!("{err:?}"));

    // A stranger's message is refused before anything is read: the network layer resets the
    // stream of anyone who is not a connection.
    let junk = frame([5; 16], &[7u8; 200]);
    assert!(
        hostile
            .send_direct(DirectProtocol::Dm, &b.id, junk)
            .is_err(),
        "a stranger's dm was answered"
    );
    assert_eq!(b.dropped("dm_not_connection"), 1);

    // Become a genuine connection: invite B, B accepts, open B's acceptance, build the channel.
    let now = now_ms();
    let note = Note::new("hello", 300).unwrap_or_else(|err| panic!("{err}"));
    let (invite, one_time) = Invite::create(
        hostile.identity(),
        b_id,
        note,
        now,
        86_400_000,
        &mut os_rng(),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let sealed = seal_payload(&b_id, &Payload::Invite(invite.clone()), now, &mut os_rng())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(hostile.send_inbox(&b.id, sealed).ok(), Some(b"ok".to_vec()));
    b.json(&["accept", &h_id.to_string()]);
    let acceptance = wait_until("B's acceptance to arrive", ARRIVAL, || {
        hostile
            .direct_received()
            .into_iter()
            .find_map(|(protocol, data)| {
                if protocol != DirectProtocol::Inbox {
                    return None;
                }
                match open_payload(hostile.identity(), &data, now_ms()) {
                    Ok(Payload::Acceptance(acceptance)) => Some(acceptance),
                    _ => None,
                }
            })
    });
    let attestation = acceptance
        .verify(&invite)
        .unwrap_or_else(|err| panic!("{err}"));
    let mut session = Session::new_inviter(
        hostile.identity(),
        &one_time,
        &b_id,
        &acceptance.ephemeral_key,
        &attestation.id(),
    )
    .unwrap_or_else(|err| panic!("{err:?}"));
    session
        .decrypt(acceptance.first_message(), now_ms())
        .unwrap_or_else(|err| panic!("{err:?}"));

    // A proper message is stored: the channel is real.
    let envelope = session
        .encrypt(&text_content([1; 16], 1, "genuine"), &mut os_rng())
        .unwrap_or_else(|err| panic!("{err:?}"));
    let sent = hostile.send_direct(DirectProtocol::Dm, &b.id, frame([1; 16], &envelope));
    assert_eq!(sent.ok(), Some(STORED.to_vec()));
    let before = history(&b, &h_id.to_string());
    assert_eq!(before.len(), 1);

    // A tampered ciphertext is refused and leaves the channel as it was.
    let envelope = session
        .encrypt(&text_content([2; 16], 2, "second"), &mut os_rng())
        .unwrap_or_else(|err| panic!("{err:?}"));
    let mut tampered = envelope.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let answer = hostile.send_direct(DirectProtocol::Dm, &b.id, frame([2; 16], &tampered));
    assert_eq!(answer.ok(), Some(REFUSED.to_vec()));
    assert_eq!(b.dropped("undecryptable"), 1);
    assert_eq!(history(&b, &h_id.to_string()), before);
    // The untampered original still decrypts: the failed attempt changed no state.
    let answer = hostile.send_direct(DirectProtocol::Dm, &b.id, frame([2; 16], &envelope));
    assert_eq!(answer.ok(), Some(STORED.to_vec()));
    let before = history(&b, &h_id.to_string());
    assert_eq!(before.len(), 2);

    // A body over messages.max_bytes (1024 here) is refused.
    let big = "x".repeat(2000);
    let envelope = session
        .encrypt(&text_content([3; 16], 3, &big), &mut os_rng())
        .unwrap_or_else(|err| panic!("{err:?}"));
    let answer = hostile.send_direct(DirectProtocol::Dm, &b.id, frame([3; 16], &envelope));
    assert_eq!(answer.ok(), Some(REFUSED.to_vec()));
    assert_eq!(b.dropped("oversize_body"), 1);
    assert_eq!(history(&b, &h_id.to_string()), before);

    // After B revokes the connection, even a well-formed message is refused.
    b.json(&["disconnect", &h_id.to_string()]);
    let envelope = session
        .encrypt(&text_content([4; 16], 4, "after revocation"), &mut os_rng())
        .unwrap_or_else(|err| panic!("{err:?}"));
    // The network layer learnt of the revocation before `disconnect` answered, so the
    // stream is reset unread, as a stranger's is.
    let answer = hostile.send_direct(DirectProtocol::Dm, &b.id, frame([4; 16], &envelope));
    assert!(answer.is_err(), "a revoked connection's dm was answered");
    assert_eq!(b.dropped("dm_not_connection"), 2);
    assert_eq!(history(&b, &h_id.to_string()), before);
    let refused = b.run(&["send", &h_id.to_string(), "hi"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = accord_tests::stderr(&refused);
    assert!(
        err.contains("is not a connection; send an invite with: accord connect"),
        "{err}"
    );
    assert_eq!(b.json(&["id"])["id"], b.id.as_str(), "B keeps running");
}
