//! Tests of the invite, connection, block and quota codecs.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]
use super::*;
use crate::test_strategies::{arb_bytes, arb_id};
use accord_identity::Identity;
use proptest::prelude::*;

fn arb_state() -> impl Strategy<Value = InviteState> {
    prop_oneof![
        Just(InviteState::Pending),
        Just(InviteState::Accepted),
        Just(InviteState::Declined),
        Just(InviteState::Withdrawn),
        Just(InviteState::Expired),
    ]
}

fn arb_secret() -> impl Strategy<Value = Option<Zeroizing<[u8; 32]>>> {
    proptest::option::of(any::<[u8; 32]>().prop_map(Zeroizing::new))
}

prop_compose! {
    fn arb_outgoing()(
        invite_id in any::<[u8; 16]>(),
        peer in arb_id(),
        invite in arb_bytes(600),
        one_time_secret in arb_secret(),
        state in arb_state(),
        note in "\\PC{0,300}",
        times in any::<(u64, u64, Option<u64>, Option<u64>)>(),
        publish_count in any::<u32>(),
    ) -> OutgoingInvite {
        OutgoingInvite {
            invite_id, peer, invite, one_time_secret, state, note,
            created_at_ms: times.0, expires_at_ms: times.1, closed_at_ms: times.2,
            next_publish_at_ms: times.3, publish_count,
        }
    }
}

prop_compose! {
    fn arb_incoming()(
        invite_id in any::<[u8; 16]>(),
        peer in arb_id(),
        invite in arb_bytes(600),
        note in "\\PC{0,300}",
        state in arb_state(),
        times in any::<(u64, u64, u64, Option<u64>, Option<u64>)>(),
        acceptance in proptest::option::of(arb_bytes(600)),
        ephemeral_secret in arb_secret(),
        publish_count in any::<u32>(),
    ) -> IncomingInvite {
        IncomingInvite {
            invite_id, peer, invite, note, state,
            created_at_ms: times.0, expires_at_ms: times.1, received_at_ms: times.2,
            closed_at_ms: times.3, acceptance, ephemeral_secret,
            next_publish_at_ms: times.4, publish_count,
        }
    }
}

prop_compose! {
    fn arb_connection()(
        peer in arb_id(),
        attestation in arb_bytes(600),
        attestation_id in any::<[u8; 32]>(),
        since_ms in any::<u64>(),
        alias in proptest::option::of("\\PC{0,64}"),
        revoked_at_ms in any::<Option<u64>>(),
        revocation in proptest::option::of(arb_bytes(300)),
        next_publish_at_ms in any::<Option<u64>>(),
        publish_count in any::<u32>(),
        awaiting_confirmation in any::<bool>(),
    ) -> Connection {
        Connection {
            peer, attestation, attestation_id, since_ms, alias, revoked_at_ms, revocation,
            next_publish_at_ms, publish_count, awaiting_confirmation,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn outgoing_round_trips(i in arb_outgoing(), extra in 1usize..8) {
        let bytes = encode_outgoing(&i).unwrap();
        prop_assert_eq!(bytes[0], RECORD_V1);
        prop_assert_eq!(decode_outgoing(&i.invite_id, &bytes).unwrap(), i.clone());
        let mut longer = bytes.to_vec();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(
            decode_outgoing(&i.invite_id, &longer).unwrap_err(),
            CodecError::TrailingBytes(extra)
        );
    }

    #[test]
    fn incoming_round_trips(i in arb_incoming(), extra in 1usize..8) {
        let bytes = encode_incoming(&i).unwrap();
        prop_assert_eq!(decode_incoming(&i.invite_id, &bytes).unwrap(), i.clone());
        let mut longer = bytes.to_vec();
        longer.extend(std::iter::repeat_n(7u8, extra));
        prop_assert_eq!(
            decode_incoming(&i.invite_id, &longer).unwrap_err(),
            CodecError::TrailingBytes(extra)
        );
    }

    #[test]
    fn connection_round_trips(c in arb_connection(), extra in 1usize..8) {
        let key = c.peer.to_bytes();
        let bytes = encode_connection(&c).unwrap();
        prop_assert_eq!(decode_connection(&key, &bytes).unwrap(), c.clone());
        prop_assert_eq!(decode_connection_of(c.peer, &bytes).unwrap(), c.clone());
        let mut longer = bytes.to_vec();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(
            decode_connection(&key, &longer).unwrap_err(),
            CodecError::TrailingBytes(extra)
        );
    }

    #[test]
    fn a_version_1_connection_decodes_as_confirmed(c in arb_connection()) {
        // What a store written before connections could await confirmation holds.
        let v1 = ConnectionV1 {
            attestation: c.attestation.clone(),
            attestation_id: c.attestation_id,
            since_ms: c.since_ms,
            alias: c.alias.clone(),
            revoked_at_ms: c.revoked_at_ms,
            revocation: c.revocation.clone(),
            next_publish_at_ms: c.next_publish_at_ms,
            publish_count: c.publish_count,
        };
        let mut bytes = vec![RECORD_V1];
        bytes.extend(postcard::to_allocvec(&v1).unwrap());
        let decoded = decode_connection_of(c.peer, &bytes).unwrap();
        prop_assert!(!decoded.awaiting_confirmation);
        prop_assert_eq!(decoded, Connection { awaiting_confirmation: false, ..c.clone() });
        // Every write is version 2.
        prop_assert_eq!(encode_connection(&c).unwrap()[0], CONNECTION_V2);
    }

    #[test]
    fn blocked_and_quota_round_trip(at in any::<u64>(), id in any::<[u8; 16]>()) {
        prop_assert_eq!(decode_blocked(&encode_blocked(at)), Ok(at));
        prop_assert_eq!(quota_key_time(&quota_key(at, &id)), Ok(at));
        // Byte order of keys is numeric order of send times.
        let later = quota_key(at.saturating_add(1), &[0; 16]);
        prop_assert!(at == u64::MAX || quota_key(at, &id) < later);
    }

    #[test]
    fn decoders_never_panic(key in arb_bytes(64), value in arb_bytes(2048)) {
        let _ = decode_outgoing(&key, &value);
        let _ = decode_incoming(&key, &value);
        let _ = decode_connection(&key, &value);
        let _ = decode_blocked(&value);
        let _ = quota_key_time(&key);
        let _ = decode_u64(&value);
    }

    #[test]
    fn decoders_never_panic_on_versioned_input(body in arb_bytes(1024)) {
        let mut value = vec![RECORD_V1];
        value.extend(body);
        let _ = decode_outgoing(&[0; 16], &value);
        let _ = decode_incoming(&[0; 16], &value);
        let _ = decode_blocked(&value);
    }
}

fn sample_outgoing() -> OutgoingInvite {
    OutgoingInvite {
        invite_id: [1; 16],
        peer: Identity::from_seed(Zeroizing::new([9; 32])).id(),
        invite: vec![1, 2, 3],
        one_time_secret: Some(Zeroizing::new([5; 32])),
        state: InviteState::Pending,
        note: "hi".into(),
        created_at_ms: 10,
        expires_at_ms: 20,
        closed_at_ms: None,
        next_publish_at_ms: Some(15),
        publish_count: 1,
    }
}

#[test]
fn rejects_bad_envelopes_and_fields() {
    let good = encode_outgoing(&sample_outgoing()).unwrap();
    assert_eq!(
        decode_outgoing(&[1; 16], &[]).unwrap_err(),
        CodecError::Empty
    );
    let mut future = good.to_vec();
    future[0] = 2;
    assert_eq!(
        decode_outgoing(&[1; 16], &future).unwrap_err(),
        CodecError::UnknownVersion(2)
    );
    assert_eq!(
        decode_outgoing(&[1; 15], &good).unwrap_err(),
        CodecError::BadKey
    );
    let mut cut = good.to_vec();
    cut.pop();
    assert_eq!(
        decode_outgoing(&[1; 16], &cut).unwrap_err(),
        CodecError::Malformed
    );
    let huge = vec![RECORD_V1; MAX_RECORD_LEN + 1];
    assert_eq!(
        decode_outgoing(&[1; 16], &huge).unwrap_err(),
        CodecError::TooLarge(MAX_RECORD_LEN + 1)
    );
    // Every state code beyond the known five is refused.
    let mirror = OutgoingV1 {
        peer: sample_outgoing().peer.to_bytes(),
        invite: vec![],
        one_time_secret: None,
        state: 5,
        note: String::new(),
        created_at_ms: 0,
        expires_at_ms: 0,
        closed_at_ms: None,
        next_publish_at_ms: None,
        publish_count: 0,
    };
    let bad_state = encode_v1(&mirror, 0).unwrap();
    assert_eq!(
        decode_outgoing(&[1; 16], &bad_state).unwrap_err(),
        CodecError::BadState(5)
    );
    let bad_peer = OutgoingV1 {
        peer: vec![1, 2, 3],
        state: 0,
        ..mirror
    };
    let bad_peer = encode_v1(&bad_peer, 0).unwrap();
    assert_eq!(
        decode_outgoing(&[1; 16], &bad_peer).unwrap_err(),
        CodecError::BadPeer
    );
}

#[test]
fn oversize_records_are_refused_on_encode() {
    let mut big = sample_outgoing();
    big.invite = vec![0; MAX_RECORD_LEN];
    assert!(matches!(
        encode_outgoing(&big),
        Err(CodecError::TooLarge(_))
    ));
}

#[test]
fn blocked_layout_is_as_documented() {
    assert_eq!(encode_blocked(0x0102), [1, 0, 0, 0, 0, 0, 0, 1, 2]);
    assert_eq!(decode_blocked(&[]), Err(CodecError::Empty));
    assert_eq!(decode_blocked(&[2; 9]), Err(CodecError::UnknownVersion(2)));
    assert_eq!(decode_blocked(&[1; 5]), Err(CodecError::Malformed));
    assert_eq!(decode_blocked(&[1; 11]), Err(CodecError::TrailingBytes(2)));
    assert_eq!(quota_key(1, &[7; 16])[..8], [0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(quota_key_time(&[0; 23]), Err(CodecError::BadKey));
}

#[test]
fn state_codes_are_stable() {
    for (state, code) in [
        (InviteState::Pending, 0),
        (InviteState::Accepted, 1),
        (InviteState::Declined, 2),
        (InviteState::Withdrawn, 3),
        (InviteState::Expired, 4),
    ] {
        assert_eq!(state_code(state), code);
        assert_eq!(state_from_code(code), Ok(state));
    }
}
