//! The handshake's decoders: gossip frames, payloads, sealed boxes and attestations.

use accord_api::AttestationText;
use accord_handshake::seal::{self, SealError};
use accord_handshake::{
    Attestation, AttestationId, FrameError, GossipFrame, MAX_CLOCK_SKEW_MS, OpenError, Payload,
    Statement, open_payload,
};
use accord_identity::AccordId;

use crate::assert_explained;
use crate::fixtures::{NOW_MS, SEAL_AD, WORK_BITS, world};

/// What a relay and a recipient run on every frame of a shard: decode, validate (structure and
/// stamp) and trial-open as the fixed recipient.
pub(crate) fn gossip_frame(data: &[u8]) {
    let decoded = GossipFrame::decode(data);
    match &decoded {
        Ok(frame) => assert_eq!(frame.encode(), data, "a gossip frame re-encodes exactly"),
        Err(err) => assert_explained(err),
    }
    let validated = GossipFrame::validate(data, NOW_MS, WORK_BITS);
    match (&decoded, &validated) {
        (Err(decode_err), Err(FrameError::Malformed(err))) => assert_eq!(decode_err, err),
        (Err(_), _) => panic!("validate disagrees with decode on a malformed frame"),
        (Ok(frame), Ok(valid)) => assert_eq!(frame, valid),
        (Ok(frame), Err(err)) => {
            assert!(!matches!(err, FrameError::Malformed(_)));
            let expected = frame
                .check_stamp(NOW_MS)
                .and_then(|()| frame.check_work(WORK_BITS));
            assert_eq!(expected.err().as_ref(), Some(err));
        }
    }
    assert_eq!(
        GossipFrame::check(data, NOW_MS, WORK_BITS).is_ok(),
        validated.is_ok(),
        "check and validate agree"
    );
    // Opening checks the structure and the expiry but not the work (the relay check runs
    // first, and a recipient runs it on frames handed over directly), so compare with those.
    let timely = GossipFrame::decode(data)
        .map_err(FrameError::from)
        .and_then(|frame| frame.check_stamp(NOW_MS));
    match open_payload(&world().bob, data, NOW_MS) {
        Ok(payload) => {
            assert!(
                timely.is_ok(),
                "an opened frame is well formed and unexpired"
            );
            assert_eq!(Payload::decode(&payload.encode()).as_ref(), Ok(&payload));
            verify_payload(&payload);
        }
        Err(OpenError::Frame(err)) => assert_eq!(timely.err(), Some(err)),
        Err(err) => {
            assert!(
                timely.is_ok(),
                "only a well-formed, unexpired frame gets as far as opening"
            );
            assert_explained(&err);
        }
    }
}

/// A payload as it comes out of a sealed box: decode, re-encode, verify against the world.
pub(crate) fn payload(data: &[u8]) {
    match Payload::decode(data) {
        Ok(payload) => {
            assert_eq!(payload.encode(), data, "a payload re-encodes exactly");
            verify_payload(&payload);
        }
        Err(err) => assert_explained(&err),
    }
}

/// Runs the verification a node runs on each kind of payload.
fn verify_payload(payload: &Payload) {
    let world = world();
    match payload {
        Payload::Invite(invite) => {
            let full = invite.verify(&world.bob.id(), NOW_MS, MAX_CLOCK_SKEW_MS);
            let signatures = invite.verify_signatures();
            if full.is_ok() {
                assert!(signatures.is_ok(), "a verified invite has valid signatures");
            }
            if let Err(err) = full {
                assert_explained(&err);
            }
        }
        Payload::Acceptance(acceptance) => match acceptance.verify(&world.invite) {
            Ok(attestation) => {
                assert_eq!(attestation.verify(), Ok(()));
                assert_eq!(attestation.statement, world.attestation.statement);
            }
            Err(err) => assert_explained(&err),
        },
        Payload::Withdrawal(withdrawal) => {
            if let Err(err) = withdrawal.verify(&world.invite) {
                assert_explained(&err);
            }
        }
        Payload::Revocation(revocation) => {
            if let Err(err) = revocation.verify(&world.attestation) {
                assert_explained(&err);
            }
        }
        Payload::Settlement(settlement) => {
            if let Err(err) = settlement.verify(&world.invite) {
                assert_explained(&err);
            }
        }
    }
}

/// Opening a sealed box as the fixed recipient.
pub(crate) fn sealed_box(data: &[u8]) {
    match seal::open(&world().bob, data, SEAL_AD) {
        Ok(plaintext) => {
            assert!(
                seal::is_sealed_len(data.len()),
                "only a bucket-sized box opens"
            );
            assert!(plaintext.len() <= seal::MAX_PLAINTEXT_LEN);
        }
        Err(err) => {
            if !seal::is_sealed_len(data.len()) {
                assert!(
                    matches!(
                        err,
                        SealError::Malformed(_) | SealError::UnsupportedVersion(_)
                    ),
                    "a box of impossible length is refused as malformed, not tried: {err:?}"
                );
            }
            assert_explained(&err);
        }
    }
}

/// The statement and attestation decoders, the portable text form users paste into
/// `accord verify-attestation` and its offline verification, attestation ids, and the control
/// API's attestation result.
pub(crate) fn attestation(data: &[u8]) {
    if let Ok(statement) = Statement::decode(data) {
        assert_eq!(statement.to_bytes(), data, "a statement re-encodes exactly");
    }
    match Attestation::decode(data) {
        Ok(attestation) => {
            assert_eq!(
                attestation.encode(),
                data,
                "an attestation re-encodes exactly"
            );
            text_round_trip(&attestation);
            verify_offline(&attestation);
        }
        Err(err) => assert_explained(&err),
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Attestation::from_text(text) {
        Ok(attestation) => {
            text_round_trip(&attestation);
            verify_offline(&attestation);
        }
        Err(err) => assert_explained(&err),
    }
    if let Ok(id) = text.parse::<AttestationId>() {
        assert!(
            id.to_string().eq_ignore_ascii_case(text),
            "an attestation id displays as it was parsed"
        );
    }
    if let Ok(shared) = serde_json::from_str::<AttestationText>(text) {
        if let Ok(attestation) = Attestation::from_text(&shared.text) {
            verify_offline(&attestation);
        }
        let _ = shared.attestation_id.parse::<AttestationId>();
        if let Ok(peer) = shared.peer.parse::<AccordId>() {
            assert_eq!(peer.to_string().parse::<AccordId>(), Ok(peer));
        }
    }
}

fn text_round_trip(attestation: &Attestation) {
    assert_eq!(
        Attestation::from_text(&attestation.to_text()).as_ref(),
        Ok(attestation),
        "the text form round-trips"
    );
}

/// What `accord verify-attestation` does after parsing.
fn verify_offline(attestation: &Attestation) {
    match attestation.verify() {
        Ok(()) => assert_ne!(
            attestation.statement.inviter, attestation.statement.invitee,
            "a valid attestation names two identities"
        ),
        Err(err) => assert_explained(&err),
    }
}
