//! The codec's round trips and its refusals.

use super::*;
use crate::test_strategies::{arb_bytes, arb_id};
use accord_identity::Identity;
use proptest::prelude::*;

/// The slot the tests key `peer`'s messages by: the one a store opened with the test key uses.
fn slot(peer: &AccordId) -> Vec<u8> {
    crate::peer_slot::PeerSlots::new(&crate::at_rest::test_key()).slot(peer)
}

/// The `messages` key of `peer`'s message `seq`.
fn key_of(peer: &AccordId, seq: u64) -> Vec<u8> {
    message_key(&slot(peer), seq)
}

/// Decodes a message of the conversation with `peer`, with its outbox sequence.
fn decode_message_full(
    peer: &AccordId,
    key: &[u8],
    value: &[u8],
) -> Result<(MessageRecord, Option<u64>), CodecError> {
    decode_message_of(peer, &slot(peer), key, value)
}

/// Decodes a message of the conversation with `peer`.
fn decode_message(peer: &AccordId, key: &[u8], value: &[u8]) -> Result<MessageRecord, CodecError> {
    decode_message_full(peer, key, value).map(|(record, _)| record)
}

fn arb_state() -> impl Strategy<Value = MessageState> {
    prop_oneof![
        Just(MessageState::Queued),
        Just(MessageState::Sent),
        Just(MessageState::Stored),
        Just(MessageState::Delivered),
        Just(MessageState::Read),
    ]
}

fn arb_direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Outgoing), Just(Direction::Incoming)]
}

prop_compose! {
    fn arb_message()(
        peer in arb_id(),
        local_seq in any::<u64>(),
        message_id in any::<[u8; 16]>(),
        direction in arb_direction(),
        sender_seq in any::<u64>(),
        body in "\\PC{0,400}",
        reply_to in any::<Option<[u8; 16]>>(),
        sent_at_ms in any::<u64>(),
        received_at_ms in any::<Option<u64>>(),
        state in arb_state(),
    ) -> MessageRecord {
        MessageRecord {
            peer, local_seq, message_id, direction, sender_seq, body, reply_to, sent_at_ms,
            received_at_ms, state,
        }
    }
}

prop_compose! {
    fn arb_outbox()(
        outbox_seq in any::<u64>(),
        peer in arb_id(),
        message_id in any::<[u8; 16]>(),
        local_seq in any::<u64>(),
        envelope in arb_bytes(800),
        attempts in any::<u32>(),
        next_attempt_at_ms in any::<u64>(),
    ) -> OutboxEntry {
        OutboxEntry { outbox_seq, peer, message_id, local_seq, envelope, attempts, next_attempt_at_ms }
    }
}

prop_compose! {
    fn arb_conversation()(
        peer in arb_id(),
        fields in any::<(u64, u64, u64, u64, u64)>(),
        last_received_sender_seq in any::<Option<u64>>(),
        receipts_acked_local_seq in any::<Option<u64>>(),
    ) -> ConversationRecord {
        ConversationRecord {
            peer,
            next_local_seq: fields.0,
            next_sender_seq: fields.1,
            unread: fields.2,
            last_message_at_ms: fields.3,
            last_read_local_seq: fields.4,
            last_received_sender_seq,
            receipts_acked_local_seq,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn message_round_trips(m in arb_message(), outbox_seq in any::<Option<u64>>(), extra in 1usize..8) {
        let key = key_of(&m.peer, m.local_seq);
        prop_assert_eq!(key.len(), MESSAGE_KEY_LEN);
        let bytes = encode_message(&m, outbox_seq).unwrap();
        prop_assert_eq!(bytes[0], RECORD_V1);
        prop_assert_eq!(decode_message_full(&m.peer, &key, &bytes).unwrap(), (m.clone(), outbox_seq));
        let peer_bytes = slot(&m.peer);
        prop_assert_eq!(decode_message_of(&m.peer, &peer_bytes, &key, &bytes).unwrap(), (m.clone(), outbox_seq));
        prop_assert_eq!(decode_message_of(&m.peer, &[0u8; PEER_LEN], &key, &bytes).unwrap_err(), CodecError::BadKey);
        let mut longer = bytes.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(decode_message(&m.peer, &key, &longer).unwrap_err(), CodecError::TrailingBytes(extra));
    }

    #[test]
    fn outbox_round_trips(e in arb_outbox(), extra in 1usize..8) {
        let key = e.outbox_seq.to_be_bytes();
        let bytes = encode_outbox(&e).unwrap();
        prop_assert_eq!(decode_outbox(&key, &bytes).unwrap(), e.clone());
        let mut longer = bytes.clone();
        longer.extend(std::iter::repeat_n(3u8, extra));
        prop_assert_eq!(decode_outbox(&key, &longer).unwrap_err(), CodecError::TrailingBytes(extra));
    }

    #[test]
    fn a_conversation_written_before_the_received_sequence_existed_still_decodes(c in arb_conversation()) {
        let key = c.peer.to_bytes();
        let old = ConversationV1 {
            next_local_seq: c.next_local_seq,
            next_sender_seq: c.next_sender_seq,
            unread: c.unread,
            last_message_at_ms: c.last_message_at_ms,
            last_read_local_seq: c.last_read_local_seq,
        };
        let bytes = encode_versioned(&old, 0, MAX_CONVERSATION_LEN).unwrap();
        let decoded = decode_conversation(&key, &bytes).unwrap();
        prop_assert_eq!(decoded, ConversationRecord {
            last_received_sender_seq: None,
            receipts_acked_local_seq: None,
            ..c
        });
    }

    #[test]
    fn a_conversation_written_before_the_receipts_marker_existed_still_decodes(c in arb_conversation()) {
        let key = c.peer.to_bytes();
        let old = ConversationV1Extended {
            next_local_seq: c.next_local_seq,
            next_sender_seq: c.next_sender_seq,
            unread: c.unread,
            last_message_at_ms: c.last_message_at_ms,
            last_read_local_seq: c.last_read_local_seq,
            last_received_sender_seq: c.last_received_sender_seq,
        };
        let bytes = encode_versioned(&old, 0, MAX_CONVERSATION_LEN).unwrap();
        let decoded = decode_conversation(&key, &bytes).unwrap();
        prop_assert_eq!(decoded.receipts_acked(), c.last_read_local_seq);
        prop_assert_eq!(decoded, ConversationRecord { receipts_acked_local_seq: None, ..c });
    }

    #[test]
    fn conversation_round_trips(c in arb_conversation(), extra in 1usize..8) {
        let key = c.peer.to_bytes();
        let bytes = encode_conversation(&c).unwrap();
        prop_assert_eq!(decode_conversation(&key, &bytes).unwrap(), c);
        let mut longer = bytes.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(decode_conversation(&key, &longer).unwrap_err(), CodecError::TrailingBytes(extra));
    }

    #[test]
    fn session_round_trips(state in arb_bytes(2048)) {
        let bytes = encode_session(&state).unwrap();
        prop_assert_eq!(bytes[0], RECORD_V1);
        prop_assert_eq!(&decode_session(&bytes).unwrap()[..], &state[..]);
    }

    #[test]
    fn message_keys_sort_by_peer_then_sequence(
        peer in arb_id(),
        other in arb_id(),
        a in any::<u64>(),
        b in any::<u64>(),
    ) {
        prop_assert_eq!(key_of(&peer, a).cmp(&key_of(&peer, b)), a.cmp(&b));
        prop_assert_eq!(key_of(&peer, a)[..PEER_LEN].to_vec(), slot(&peer));
        prop_assert_eq!(message_key_seq_of(&slot(&peer), &key_of(&peer, a)).unwrap(), a);
        // A key of another conversation, or of the wrong length, is refused, not misread.
        prop_assume!(other != peer);
        prop_assert_eq!(
            message_key_seq_of(&slot(&other), &key_of(&peer, a)).unwrap_err(),
            CodecError::BadKey
        );
        prop_assert_eq!(
            message_key_seq_of(&slot(&peer), &slot(&peer)).unwrap_err(),
            CodecError::BadKey
        );
        prop_assert_eq!(index_key(&slot(&peer), &[0; 16]).len(), PEER_LEN + 16);
    }

    #[test]
    fn decoders_never_panic(key in arb_bytes(64), value in arb_bytes(2048)) {
        let m = sample();
        let _ = decode_message(&m.peer, &key, &value);
        let _ = decode_outbox(&key, &value);
        let _ = decode_conversation(&key, &value);
        let _ = decode_session(&value);
        let _ = message_key_seq_of(&key, &key);
        let _ = decode_u64_exact(&value);
    }

    #[test]
    fn decoders_never_panic_on_versioned_input(peer in arb_id(), body in arb_bytes(1024)) {
        let mut value = vec![RECORD_V1];
        value.extend(body);
        let _ = decode_message(&peer, &key_of(&peer, 1), &value);
        let _ = decode_outbox(&1u64.to_be_bytes(), &value);
        let _ = decode_conversation(&peer.to_bytes(), &value);
    }
}

fn sample() -> MessageRecord {
    MessageRecord {
        peer: Identity::from_seed(Zeroizing::new([4; 32])).id(),
        local_seq: 7,
        message_id: [1; 16],
        direction: Direction::Incoming,
        sender_seq: 3,
        body: "hello".into(),
        reply_to: None,
        sent_at_ms: 10,
        received_at_ms: Some(11),
        state: MessageState::Delivered,
    }
}

#[test]
fn rejects_bad_envelopes_codes_and_keys() {
    let m = sample();
    let key = key_of(&m.peer, m.local_seq);
    let good = encode_message(&m, None).unwrap();
    assert_eq!(
        decode_message(&m.peer, &key, &[]).unwrap_err(),
        CodecError::Empty
    );
    let mut future = good.clone();
    future[0] = 2;
    assert_eq!(
        decode_message(&m.peer, &key, &future).unwrap_err(),
        CodecError::UnknownVersion(2)
    );
    assert_eq!(
        decode_message(&m.peer, &key[..MESSAGE_KEY_LEN - 1], &good).unwrap_err(),
        CodecError::BadKey
    );
    assert_eq!(
        decode_message(&m.peer, &[0; MESSAGE_KEY_LEN], &good).unwrap_err(),
        CodecError::BadKey
    );
    let mut cut = good.clone();
    cut.pop();
    assert_eq!(
        decode_message(&m.peer, &key, &cut).unwrap_err(),
        CodecError::Malformed
    );
    let huge = vec![RECORD_V1; MAX_MESSAGE_RECORD_LEN + 1];
    assert_eq!(
        decode_message(&m.peer, &key, &huge).unwrap_err(),
        CodecError::TooLarge(MAX_MESSAGE_RECORD_LEN + 1)
    );
    let bad = |direction, state| {
        let mirror = MessageV1 {
            direction,
            message_id: [0; 16],
            sender_seq: 0,
            body: String::new(),
            reply_to: None,
            sent_at_ms: 0,
            received_at_ms: None,
            state,
            outbox_seq: None,
        };
        decode_message(&m.peer, &key, &encode_versioned(&mirror, 0, 1024).unwrap()).unwrap_err()
    };
    assert_eq!(
        bad(2, 0),
        CodecError::BadCode {
            field: "direction",
            code: 2
        }
    );
    // 4 is `stored`, added after the others.
    assert_eq!(
        bad(0, 5),
        CodecError::BadCode {
            field: "message state",
            code: 5
        }
    );
    assert_eq!(decode_session(&[]).unwrap_err(), CodecError::Empty);
    assert_eq!(
        decode_session(&[9, 1, 2]).unwrap_err(),
        CodecError::UnknownVersion(9)
    );
    assert!(matches!(
        encode_session(&vec![0; MAX_SESSION_LEN]),
        Err(CodecError::TooLarge(_))
    ));
    assert_eq!(
        decode_outbox(&[0; 7], &[1]).unwrap_err(),
        CodecError::BadKey
    );
}

#[test]
fn codes_are_stable() {
    for (state, code) in [
        (MessageState::Queued, 0),
        (MessageState::Sent, 1),
        (MessageState::Delivered, 2),
        (MessageState::Read, 3),
        (MessageState::Stored, 4),
    ] {
        assert_eq!(state_code(state), code);
        assert_eq!(state_from_code(code), Ok(state));
    }
    assert_eq!(direction_code(Direction::Outgoing), 0);
    assert_eq!(direction_code(Direction::Incoming), 1);
}

#[test]
fn oversize_messages_are_refused_on_encode() {
    let mut big = sample();
    big.body = "x".repeat(MAX_MESSAGE_RECORD_LEN);
    assert!(matches!(
        encode_message(&big, None),
        Err(CodecError::TooLarge(_))
    ));
}

#[test]
fn the_peer_of_an_outbox_entry_is_read_without_decoding_the_rest() {
    let (a, b) = (
        Identity::from_seed(zeroize::Zeroizing::new([1; 32])).id(),
        Identity::from_seed(zeroize::Zeroizing::new([2; 32])).id(),
    );
    let entry = OutboxEntry {
        outbox_seq: 7,
        peer: a,
        message_id: [3; 16],
        local_seq: 4,
        envelope: vec![5; 300],
        attempts: 2,
        next_attempt_at_ms: 9,
    };
    let value = encode_outbox(&entry).unwrap();
    let key = 7u64.to_be_bytes();
    assert_eq!(outbox_peer_bytes(&value).unwrap(), a.to_bytes().as_slice());
    assert_eq!(
        decode_outbox_of(&a, &a.to_bytes(), &key, &value).unwrap(),
        Some(entry)
    );
    assert_eq!(
        decode_outbox_of(&b, &b.to_bytes(), &key, &value).unwrap(),
        None
    );
    assert!(outbox_peer_bytes(&[]).is_err());
    assert!(outbox_peer_bytes(&[2, 0]).is_err());
}
