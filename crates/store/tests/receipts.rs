//! Read receipts owed to a peer: what is owed, acknowledging it, and that it survives a
//! reopen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{Incoming, MessageId, Store, StoreConfig};
use common::id;

fn mid(n: u32) -> MessageId {
    let mut id = [0xEE; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

/// Receives message `n` (sender sequence `seq`) from peer 1; returns its local sequence.
fn receive(store: &Store, n: u32, seq: u64) -> u64 {
    match store
        .record_incoming(&id(1), &[1, 2], mid(n), seq, "in", None, 10, 11)
        .unwrap()
    {
        Incoming::New(record) => record.local_seq,
        other => panic!("expected a new message, got {other:?}"),
    }
}

#[test]
fn receipts_are_owed_for_read_messages_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    assert_eq!(store.owed_receipts(&id(1), 10).unwrap(), (vec![], 0));
    let first = receive(&store, 1, 1);
    store
        .record_outgoing(&id(1), &[1, 3], mid(2), "out", None, 12, &[0xAB; 8], 12)
        .unwrap();
    let third = receive(&store, 3, 2);
    let fourth = receive(&store, 4, 3);
    // Nothing read, nothing owed.
    assert_eq!(store.owed_receipts(&id(1), 10).unwrap(), (vec![], 0));

    store.mark_read(&id(1), third).unwrap();
    // The outgoing message between them owes nothing; the bound cuts the list.
    assert_eq!(
        store.owed_receipts(&id(1), 10).unwrap(),
        (vec![mid(1), mid(3)], third)
    );
    assert_eq!(
        store.owed_receipts(&id(1), 1).unwrap(),
        (vec![mid(1)], first)
    );

    store.receipts_acknowledged(&id(1), first).unwrap();
    assert_eq!(
        store.owed_receipts(&id(1), 10).unwrap(),
        (vec![mid(3)], third)
    );
    // The mark never moves back.
    store.receipts_acknowledged(&id(1), 0).unwrap();
    assert_eq!(
        store.owed_receipts(&id(1), 10).unwrap(),
        (vec![mid(3)], third)
    );

    // Owed receipts survive a reopen.
    drop(store);
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    assert_eq!(
        store.owed_receipts(&id(1), 10).unwrap(),
        (vec![mid(3)], third)
    );
    store.mark_read(&id(1), fourth).unwrap();
    store.receipts_acknowledged(&id(1), third).unwrap();
    assert_eq!(
        store.owed_receipts(&id(1), 10).unwrap(),
        (vec![mid(4)], fourth)
    );
    store.receipts_acknowledged(&id(1), fourth).unwrap();
    assert_eq!(store.owed_receipts(&id(1), 10).unwrap(), (vec![], fourth));
}
