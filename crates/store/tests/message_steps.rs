//! The combined reads of the Message actor's hot steps agree with the separate reads.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{Connection, StoreConfig};
use common::{id, open};

fn connection(n: u8, revoked: bool) -> Connection {
    Connection {
        peer: id(n),
        attestation: vec![n; 100],
        attestation_id: [n; 32],
        since_ms: 1,
        alias: None,
        revoked_at_ms: revoked.then_some(2),
        revocation: None,
        next_publish_at_ms: None,
        publish_count: 0,
        awaiting_confirmation: false,
    }
}

#[test]
fn the_contexts_read_what_the_separate_calls_read() {
    let (_dir, store) = open(&StoreConfig::default());
    let (friend, stranger, former) = (id(1), id(2), id(3));
    store.put_connection(&connection(1, false)).unwrap();
    store.put_connection(&connection(3, true)).unwrap();
    store.put_session(&friend, b"state-1").unwrap();
    store.put_session(&former, b"state-3").unwrap();

    // Not a connection, or a revoked one: nothing else is read.
    for peer in [stranger, former] {
        let context = store.incoming_context(&peer, &[7; 16]).unwrap();
        assert!(!context.active && !context.seen && context.session.is_none());
        assert_eq!(store.active_outbox_head(&peer, 8).unwrap(), Some(vec![]));
    }
    let context = store.incoming_context(&friend, &[7; 16]).unwrap();
    assert!(context.active && !context.seen);
    assert_eq!(&context.session.unwrap()[..], b"state-1");

    let sending = store.sending_context(&friend, 10).unwrap();
    assert_eq!(sending.next_sender_seq, 1);
    assert_eq!(sending.queued, 0);
    assert_eq!(&sending.session.unwrap()[..], b"state-1");
    let (record, entry) = store
        .record_outgoing(&friend, b"state-1b", [7; 16], "hi", None, 10, b"env", 10)
        .unwrap();
    assert_eq!(record.sender_seq, 1);
    let sending = store.sending_context(&friend, 10).unwrap();
    assert_eq!(sending.next_sender_seq, 2);
    assert_eq!(sending.queued, 1);
    assert_eq!(store.sending_context(&friend, 0).unwrap().queued, 0);

    // The id is now used in the conversation: seen, and the state is not read.
    let context = store.incoming_context(&friend, &[7; 16]).unwrap();
    assert!(context.active && context.seen && context.session.is_none());
    assert_eq!(
        store.active_outbox_head(&friend, 8).unwrap(),
        Some(vec![entry])
    );

    // A revoked connection's queue is kept but not offered for sending.
    store
        .record_outgoing(&former, b"state-3b", [8; 16], "late", None, 11, b"env", 11)
        .unwrap();
    assert_eq!(store.active_outbox_head(&former, 8).unwrap(), None);
    assert_eq!(store.outbox_head(&former, 8).unwrap().len(), 1);

    // A connection awaiting the inviter's confirmation keeps its queue too, until confirmed.
    let mut awaiting = connection(4, false);
    awaiting.awaiting_confirmation = true;
    store.put_connection(&awaiting).unwrap();
    store.put_session(&id(4), b"state-4").unwrap();
    let (_, queued) = store
        .record_outgoing(&id(4), b"state-4b", [9; 16], "early", None, 12, b"env", 12)
        .unwrap();
    assert_eq!(store.active_outbox_head(&id(4), 8).unwrap(), None);
    awaiting.awaiting_confirmation = false;
    store.put_connection(&awaiting).unwrap();
    assert_eq!(
        store.active_outbox_head(&id(4), 8).unwrap(),
        Some(vec![queued])
    );
}

#[test]
fn outbox_peers_lists_each_waiting_peer_once_oldest_first() {
    let (_dir, store) = open(&StoreConfig::default());
    assert!(store.outbox_peers().unwrap().is_empty());
    for (n, p) in [(1u8, 2u8), (2, 1), (3, 2), (4, 3)] {
        store
            .record_outgoing(&id(p), b"s", [n; 16], "m", None, 1, b"env", 1)
            .unwrap();
    }
    assert_eq!(store.outbox_peers().unwrap(), vec![id(2), id(1), id(3)]);
}
