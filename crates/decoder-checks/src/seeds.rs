//! The seed corpus: valid encodings of everything each target decodes, built from the fixed
//! [`World`](crate::fixtures::World). `examples/write_seeds.rs` writes them to
//! `crates/fuzz/seeds/<target>/`; the decoder tests mutate them.

use accord_api::frame::{RequestFrame, encode_line};
use accord_api::{AttestationText, InviteDirection, Request};
use accord_channel::Envelope;
use accord_handshake::{GossipFrame, Payload, seal};
use accord_identity::keyfile::{self, KdfParams, Passphrase};
use accord_node::Config;
use accord_node::wire::{self, Content, Status};

use crate::fixtures::{KEY_FILE_PASSPHRASE, NOW_MS, SEAL_AD, WORK_BITS, World, world};
use accord_identity::test_rng::TestRng;

/// One valid input of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The target's name (see [`crate::TARGETS`]).
    pub target: &'static str,
    /// The file name in the target's corpus directory.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// Every seed of every target, deterministically.
pub fn all() -> Vec<Seed> {
    let world = world();
    let mut seeds = handshake_seeds(world);
    seeds.extend(channel_seeds(world));
    let groups = [
        ("attestation", attestation_inputs(world)),
        ("direct_frames", direct_frames(world)),
        ("control_request", control_requests(world)),
        ("key_file", key_files(world)),
        (
            "config_file",
            CONFIG_FILES
                .iter()
                .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec()))
                .collect(),
        ),
    ];
    for (target, inputs) in groups {
        seeds.extend(
            inputs
                .into_iter()
                .map(|(name, bytes)| seed(target, &name, bytes)),
        );
    }
    seeds
}

fn seed(target: &'static str, name: &str, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.to_owned(),
        bytes,
    }
}

/// The `gossip_frame`, `payload` and `sealed_box` seeds: every payload, sealed to the fixed
/// recipient, to someone else, already expired, and boxes of every bucket size.
fn handshake_seeds(world: &World) -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut rng = TestRng::new(7);
    let payloads = payloads(world);
    for (name, payload) in &payloads {
        let frame = stamped_frame(&world.bob.id(), payload, NOW_MS, &mut rng);
        seeds.push(seed("gossip_frame", name, sealed(frame)));
        seeds.push(seed("payload", name, payload.encode()));
        let boxed = seal::seal(&world.bob.id(), &payload.encode(), SEAL_AD, &mut rng);
        seeds.push(seed("sealed_box", name, sealed(boxed)));
    }
    let (_, invite) = &payloads[0];
    let not_for_bob = stamped_frame(&world.alice.id(), invite, NOW_MS, &mut rng);
    seeds.push(seed("gossip_frame", "not_for_me", sealed(not_for_bob)));
    // Minted more than a frame's lifetime ago.
    let week = accord_handshake::FRAME_LIFETIME_HOURS * accord_handshake::HOUR_MS;
    let expired = stamped_frame(
        &world.bob.id(),
        invite,
        NOW_MS - week - 4 * 3_600_000,
        &mut rng,
    );
    seeds.push(seed("gossip_frame", "expired", sealed(expired)));
    for len in [0, 300, 1000, 2000, seal::MAX_PLAINTEXT_LEN] {
        let boxed = seal::seal(&world.bob.id(), &vec![0x5a; len], SEAL_AD, &mut rng);
        seeds.push(seed(
            "sealed_box",
            &format!("plaintext_{len}"),
            sealed(boxed),
        ));
    }
    seeds
}

/// The `envelope`, `ratchet_header` and `ratchet_state` seeds.
fn channel_seeds(world: &World) -> Vec<Seed> {
    let mut envelopes: Vec<(String, Vec<u8>)> = world
        .envelopes
        .iter()
        .enumerate()
        .map(|(i, envelope)| (format!("from_bob_{i}"), envelope.clone()))
        .collect();
    envelopes.push(("from_alice".to_owned(), world.reply.clone()));
    envelopes.push((
        "first_message".to_owned(),
        world.acceptance.first_message().to_vec(),
    ));
    let mut seeds = Vec::new();
    for (name, envelope) in &envelopes {
        seeds.push(seed("envelope", name, envelope.clone()));
        if let Ok(parsed) = Envelope::decode(envelope) {
            seeds.push(seed(
                "ratchet_header",
                name,
                parsed.header.encode().to_vec(),
            ));
        }
    }
    for (name, state) in [
        ("alice", &world.alice_state),
        ("bob", &world.bob_state),
        ("alice_with_skipped_keys", &world.alice_skipped_state),
    ] {
        seeds.push(seed("ratchet_state", name, state.to_vec()));
    }
    seeds
}

/// The fixtures are built from fixed inputs; sealing them cannot fail but for a bug here.
fn sealed<E: std::fmt::Display>(result: Result<Vec<u8>, E>) -> Vec<u8> {
    result.unwrap_or_else(|err| panic!("cannot seal a seed: {err}"))
}

/// A gossip frame holding `payload` sealed to `recipient`, minted at `now_ms` and stamped
/// with [`WORK_BITS`].
fn stamped_frame(
    recipient: &accord_identity::AccordId,
    payload: &Payload,
    now_ms: u64,
    rng: &mut TestRng,
) -> Result<Vec<u8>, accord_handshake::SealFrameError> {
    let mut frame = GossipFrame::seal(recipient, payload, now_ms, rng)?;
    frame.mint(WORK_BITS)?;
    Ok(frame.encode())
}

fn payloads(world: &World) -> [(&'static str, Payload); 5] {
    [
        ("invite", Payload::Invite(world.invite.clone())),
        ("acceptance", Payload::Acceptance(world.acceptance.clone())),
        ("withdrawal", Payload::Withdrawal(world.withdrawal.clone())),
        ("revocation", Payload::Revocation(world.revocation.clone())),
        (
            "settlement",
            Payload::Settlement(accord_handshake::Settlement::create(
                &world.alice,
                &world.invite,
                accord_handshake::Outcome::Withdrawn,
                NOW_MS,
            )),
        ),
    ]
}

fn attestation_inputs(world: &World) -> Vec<(String, Vec<u8>)> {
    let attestation = &world.attestation;
    let text = attestation.to_text();
    let shared = AttestationText {
        peer: world.alice.id().to_string(),
        attestation_id: attestation.id().to_string(),
        text: text.clone(),
    };
    let json = serde_json::to_vec(&shared).unwrap_or_default();
    vec![
        ("statement".to_owned(), attestation.statement.to_bytes()),
        ("binary".to_owned(), attestation.encode()),
        ("text".to_owned(), text.clone().into_bytes()),
        (
            "text_pasted_in_a_mail".to_owned(),
            format!("Here it is:\r\n\r\n{}\r\n", text.replace('\n', "\r\n")).into_bytes(),
        ),
        ("id".to_owned(), attestation.id().to_string().into_bytes()),
        ("control_api_result".to_owned(), json),
    ]
}

fn direct_frames(world: &World) -> Vec<(String, Vec<u8>)> {
    let length_prefixed = |body: &[u8]| {
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    };
    let mut rng = TestRng::new(8);
    let invite = Payload::Invite(world.invite.clone());
    let frame = stamped_frame(&world.bob.id(), &invite, NOW_MS, &mut rng);
    let envelope = world.envelopes.first().cloned().unwrap_or_default();
    let request = wire::encode_request(&[0; 16], &envelope);
    let mut out = vec![
        ("inbox_request".to_owned(), length_prefixed(&sealed(frame))),
        ("inbox_answer".to_owned(), length_prefixed(b"ok")),
        ("dm_request_framed".to_owned(), length_prefixed(&request)),
        ("dm_request".to_owned(), request),
    ];
    for (name, status) in [
        ("stored", Status::Stored),
        ("duplicate", Status::Duplicate),
        ("refused", Status::Refused),
        ("early", Status::Early),
    ] {
        out.push((format!("status_{name}"), wire::encode_status(status)));
    }
    let contents = [
        ("hello", Content::Hello),
        (
            "text",
            Content::Text {
                message_id: [1; 16],
                sent_at_ms: NOW_MS,
                sender_seq: 1,
                reply_to: Some([2; 16]),
                body: "**bold** and `code` — ünïcode".to_owned(),
            },
        ),
        (
            "read",
            Content::Read {
                ids: vec![[1; 16], [2; 16]],
            },
        ),
    ];
    for (name, content) in contents {
        out.push((format!("content_{name}"), content.encode()));
    }
    out
}

fn control_requests(world: &World) -> Vec<(String, Vec<u8>)> {
    let peer = world.alice.id().to_string();
    let requests = [
        Request::Id,
        Request::Status,
        Request::Lookup { peer: peer.clone() },
        Request::Dial {
            addr: "/ip4/127.0.0.1/tcp/4001".to_owned(),
        },
        Request::Connect {
            peer: peer.clone(),
            note: "hello from the fuzz lab".to_owned(),
            via: None,
        },
        Request::Invites {
            direction: Some(InviteDirection::Incoming),
        },
        Request::Accept {
            target: "00112233445566778899aabbccddeeff".to_owned(),
        },
        Request::Attestation { peer: peer.clone() },
        Request::Send {
            peer: peer.clone(),
            body: "hi ✓".to_owned(),
            reply_to: Some("00".repeat(16)),
        },
        Request::History {
            peer: peer.clone(),
            limit: Some(20),
            before: Some("ab".repeat(16)),
        },
        Request::Alias {
            peer,
            name: "Alice".to_owned(),
        },
        Request::Subscribe,
    ];
    requests
        .into_iter()
        .enumerate()
        .filter_map(|(i, request)| {
            let name = format!("{i:02}_{}", request.method());
            let mut line = encode_line(&RequestFrame::new(i as u64, request)).ok()?;
            line.pop();
            Some((name, line))
        })
        .collect()
}

fn key_files(world: &World) -> Vec<(String, Vec<u8>)> {
    let mut rng = TestRng::new(9);
    let plain = keyfile::encode(&world.alice, None, &mut rng);
    let passphrase = Passphrase::from(KEY_FILE_PASSPHRASE.to_owned());
    // The cheapest parameters the format allows that still look like a real file; the check
    // decrypts files this cheap.
    let cheap = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let encrypted = keyfile::encode(&world.alice, Some((&passphrase, cheap)), &mut rng);
    [("plain", plain), ("encrypted", encrypted)]
        .into_iter()
        .filter_map(|(name, file)| Some((name.to_owned(), file.ok()?.to_vec())))
        .collect()
}

/// Config files: empty, minimal, and one setting every documented key.
const CONFIG_FILES: [(&str, &str); 3] = [
    ("empty", ""),
    ("tests", "[network]\nmdns = false\ndht = false\n"),
    ("every_key", Config::EVERY_KEY_EXAMPLE),
];
