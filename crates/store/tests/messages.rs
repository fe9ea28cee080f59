//! Messaging persistence: sessions, history, the outbox, de-duplication, read state, group
//! commit and damaged records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{
    Connection, Direction, Incoming, MessageId, MessageRecord, MessageState, Store, StoreConfig,
    StoreError, trees,
};
use common::{id, open};

fn reopen(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap()
}

fn mid(n: u32) -> MessageId {
    let mut id = [0xEE; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

/// Sends message `n` to peer `p` at time `t`.
fn send(store: &Store, p: u8, n: u32, t: u64) -> MessageRecord {
    let (record, entry) = store
        .record_outgoing(
            &id(p),
            &[p, n as u8, 1],
            mid(n),
            &format!("out {n}"),
            None,
            t,
            &[0xAB; 64],
            t + 1,
        )
        .unwrap();
    assert_eq!(entry.local_seq, record.local_seq);
    assert_eq!(entry.message_id, record.message_id);
    record
}

/// Receives message `n` from peer `p` at time `t`, numbered as the next the conversation
/// expects (so that the sender sequence never makes it early).
fn receive(store: &Store, p: u8, n: u32, t: u64) -> Incoming {
    let next = store
        .conversation(&id(p))
        .unwrap()
        .and_then(|c| c.last_received_sender_seq)
        .unwrap_or(0)
        + 1;
    store
        .record_incoming(
            &id(p),
            &[p, n as u8, 2],
            mid(n),
            next,
            &format!("in {n}"),
            Some(mid(0)),
            t - 1,
            t,
        )
        .unwrap()
}

fn new(incoming: Incoming) -> MessageRecord {
    match incoming {
        Incoming::New(record) => record,
        other => panic!("expected a new message, got {other:?}"),
    }
}

#[test]
fn sessions_round_trip_and_are_removed() {
    let (_dir, store) = open(&StoreConfig::default());
    assert!(store.session(&id(1)).unwrap().is_none());
    store.put_session(&id(1), b"ratchet").unwrap();
    assert_eq!(&store.session(&id(1)).unwrap().unwrap()[..], b"ratchet");
    store.put_session(&id(1), b"").unwrap();
    assert_eq!(&store.session(&id(1)).unwrap().unwrap()[..], b"");
    assert!(store.remove_session(&id(1)).unwrap());
    assert!(!store.remove_session(&id(1)).unwrap());
    assert!(store.session(&id(1)).unwrap().is_none());
    assert!(matches!(
        store.put_session(&id(1), &vec![0; 1024 * 1024]),
        Err(StoreError::BadRecord { .. })
    ));
}

#[test]
fn both_directions_share_consecutive_local_sequences() {
    let (_dir, store) = open(&StoreConfig::default());
    let a = send(&store, 1, 1, 100);
    let b = new(receive(&store, 1, 2, 110));
    let c = send(&store, 1, 3, 120);
    let other = send(&store, 2, 4, 130);
    assert_eq!(
        [a.local_seq, b.local_seq, c.local_seq, other.local_seq],
        [1, 2, 3, 1]
    );
    // Our sender sequence counts only our messages; theirs is kept as sent.
    assert_eq!([a.sender_seq, c.sender_seq, b.sender_seq], [1, 2, 1]);
    assert_eq!(a.state, MessageState::Queued);
    assert_eq!(a.direction, Direction::Outgoing);
    assert_eq!(a.received_at_ms, None);
    assert_eq!(b.state, MessageState::Delivered);
    assert_eq!(b.direction, Direction::Incoming);
    assert_eq!(b.received_at_ms, Some(110));
    assert_eq!(b.reply_to, Some(mid(0)));
    // The session holds the state written by the latest message.
    assert_eq!(&store.session(&id(1)).unwrap().unwrap()[..], &[1, 3, 1]);

    let conversation = store.conversation(&id(1)).unwrap().unwrap();
    assert_eq!(conversation.next_local_seq, 4);
    assert_eq!(conversation.next_sender_seq, 3);
    assert_eq!(conversation.unread, 1);
    assert_eq!(conversation.last_message_at_ms, 120);

    let history = store.history(&id(1), 10, None).unwrap();
    assert_eq!(history, vec![a, b, c]);
    let counts = store.counts().unwrap();
    assert_eq!((counts.messages, counts.outbox), (4, 3));
}

#[test]
fn a_reused_outgoing_message_id_is_refused() {
    let (_dir, store) = open(&StoreConfig::default());
    send(&store, 1, 1, 100);
    let err = store
        .record_outgoing(&id(1), b"s", mid(1), "again", None, 200, b"e", 200)
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRecord { .. }));
    assert_eq!(store.history(&id(1), 10, None).unwrap().len(), 1);
    assert_eq!(store.outbox().unwrap().len(), 1);
    // The same id in another conversation is fine.
    send(&store, 2, 1, 100);
}

#[test]
fn a_duplicate_incoming_message_changes_nothing() {
    let (_dir, store) = open(&StoreConfig::default());
    let first = new(receive(&store, 1, 7, 100));
    let before_session = store.session(&id(1)).unwrap().unwrap();
    let before_conversation = store.conversation(&id(1)).unwrap();
    let again = store
        .record_incoming(&id(1), b"other state", mid(7), 99, "changed", None, 5, 500)
        .unwrap();
    assert_eq!(again, Incoming::Duplicate(first.clone()));
    assert_eq!(again.record(), Some(&first));
    assert_eq!(store.session(&id(1)).unwrap().unwrap(), before_session);
    assert_eq!(store.conversation(&id(1)).unwrap(), before_conversation);
    assert_eq!(
        store.history(&id(1), 10, None).unwrap(),
        vec![first.clone()]
    );
    assert_eq!(store.is_seen(&id(1), &mid(7)).unwrap(), Some(first));
    assert_eq!(store.is_seen(&id(2), &mid(7)).unwrap(), None);
    assert_eq!(store.is_seen(&id(1), &mid(8)).unwrap(), None);
}

#[test]
fn history_returns_the_newest_oldest_first_and_pages_backwards() {
    let (_dir, store) = open(&StoreConfig::default());
    for n in 1..=25u32 {
        if n % 3 == 0 {
            new(receive(&store, 1, n, u64::from(n) * 10));
        } else {
            send(&store, 1, n, u64::from(n) * 10);
        }
        // Another conversation interleaved, which must not show up.
        send(&store, 2, 1000 + n, u64::from(n) * 10);
    }
    let seqs = |records: &[MessageRecord]| records.iter().map(|m| m.local_seq).collect::<Vec<_>>();
    let page = store.history(&id(1), 10, None).unwrap();
    assert_eq!(seqs(&page), (16..=25).collect::<Vec<_>>());
    let page = store.history(&id(1), 10, Some(16)).unwrap();
    assert_eq!(seqs(&page), (6..=15).collect::<Vec<_>>());
    let page = store.history(&id(1), 10, Some(6)).unwrap();
    assert_eq!(seqs(&page), (1..=5).collect::<Vec<_>>());
    assert!(store.history(&id(1), 10, Some(1)).unwrap().is_empty());
    assert!(store.history(&id(1), 0, None).unwrap().is_empty());
    assert!(store.history(&id(3), 10, None).unwrap().is_empty());
    assert!(page.iter().all(|m| m.peer == id(1)));
    assert_eq!(page[2].body, "in 3");
}

#[test]
fn completing_the_outbox_removes_the_entry_and_never_moves_state_backwards() {
    let (_dir, store) = open(&StoreConfig::default());
    let a = send(&store, 1, 1, 100);
    let b = send(&store, 2, 2, 101);
    let c = send(&store, 1, 3, 102);
    let outbox = store.outbox().unwrap();
    assert_eq!(
        outbox.iter().map(|e| e.message_id).collect::<Vec<_>>(),
        vec![a.message_id, b.message_id, c.message_id]
    );
    assert!(outbox.windows(2).all(|w| w[0].outbox_seq < w[1].outbox_seq));
    assert_eq!(outbox[0].attempts, 0);
    assert_eq!(outbox[0].next_attempt_at_ms, 101);
    assert_eq!(outbox[0].envelope, vec![0xAB; 64]);
    assert_eq!(store.outbox_for(&id(1)).unwrap().len(), 2);
    // The next message for a peer is its oldest waiting one, skipping other peers' entries.
    let next = store.next_outbox_for(&id(1)).unwrap().unwrap();
    assert_eq!(
        next.message_id,
        store.outbox_for(&id(1)).unwrap()[0].message_id
    );
    let other = outbox.iter().find(|e| e.peer != id(1)).map(|e| e.peer);
    if let Some(other) = other {
        assert_eq!(
            store.next_outbox_for(&other).unwrap().map(|e| e.peer),
            Some(other)
        );
    }
    assert_eq!(store.next_outbox_for(&id(99)).unwrap(), None);

    // The retry schedule is updated in place.
    let mut first = outbox[0].clone();
    first.attempts = 3;
    first.next_attempt_at_ms = 999;
    first.envelope = vec![]; // ignored: only the schedule changes
    assert!(store.update_outbox(&first).unwrap());
    let stored = &store.outbox_for(&id(1)).unwrap()[0];
    assert_eq!((stored.attempts, stored.next_attempt_at_ms), (3, 999));
    assert_eq!(stored.envelope, vec![0xAB; 64]);

    let done = store
        .complete_outbox(&id(1), &mid(1), MessageState::Delivered)
        .unwrap()
        .unwrap();
    assert_eq!(done.state, MessageState::Delivered);
    assert_eq!(store.outbox_for(&id(1)).unwrap().len(), 1);
    // A repeated acknowledgement finds nothing to do.
    assert_eq!(
        store
            .complete_outbox(&id(1), &mid(1), MessageState::Delivered)
            .unwrap(),
        None
    );
    // A completed entry is never brought back by a stale update.
    assert!(!store.update_outbox(&first).unwrap());
    assert_eq!(store.outbox().unwrap().len(), 2);

    // A read receipt moves the state forward; going back is refused.
    let read = store
        .set_message_state(&id(1), &mid(1), MessageState::Read)
        .unwrap()
        .unwrap();
    assert_eq!(read.state, MessageState::Read);
    assert_eq!(
        store
            .set_message_state(&id(1), &mid(1), MessageState::Delivered)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .set_message_state(&id(1), &mid(99), MessageState::Read)
            .unwrap(),
        None
    );

    // A message read before its acknowledgement arrives: the receipt takes it out of the
    // outbox, and completing it afterwards does not move it back to delivered.
    store
        .set_message_state(&id(1), &mid(3), MessageState::Sent)
        .unwrap()
        .unwrap();
    assert_eq!(store.outbox_for(&id(1)).unwrap().len(), 1);
    store
        .set_message_state(&id(1), &mid(3), MessageState::Read)
        .unwrap()
        .unwrap();
    assert!(store.outbox_for(&id(1)).unwrap().is_empty());
    assert_eq!(
        store
            .complete_outbox(&id(1), &mid(3), MessageState::Delivered)
            .unwrap(),
        None
    );
    assert_eq!(
        store.is_seen(&id(1), &mid(3)).unwrap().unwrap().state,
        MessageState::Read
    );

    // Completing with a lower state than the current one keeps the current one.
    store
        .set_message_state(&id(2), &mid(2), MessageState::Sent)
        .unwrap();
    let kept = store
        .complete_outbox(&id(2), &mid(2), MessageState::Queued)
        .unwrap()
        .unwrap();
    assert_eq!(kept.state, MessageState::Sent);
    assert!(store.outbox().unwrap().is_empty());
    assert_eq!(store.counts().unwrap().outbox, 0);

    // An empty outbox starts numbering again, and a stale entry with a reused number is not
    // mistaken for the new one.
    let d = send(&store, 1, 4, 200);
    let new_entry = store.outbox().unwrap().remove(0);
    assert_eq!(new_entry.message_id, d.message_id);
    assert_eq!(new_entry.outbox_seq, first.outbox_seq);
    assert!(!store.update_outbox(&first).unwrap());
    assert_eq!(store.outbox().unwrap(), vec![new_entry]);
}

#[test]
fn mark_read_marks_incoming_messages_and_resets_unread() {
    let (_dir, store) = open(&StoreConfig::default());
    let i1 = new(receive(&store, 1, 1, 100));
    send(&store, 1, 2, 110);
    let i3 = new(receive(&store, 1, 3, 120));
    let i4 = new(receive(&store, 1, 4, 130));
    assert_eq!(store.conversation(&id(1)).unwrap().unwrap().unread, 3);

    let changed = store.mark_read(&id(1), i3.local_seq).unwrap();
    assert_eq!(
        changed.iter().map(|m| m.local_seq).collect::<Vec<_>>(),
        vec![i1.local_seq, i3.local_seq]
    );
    assert!(changed.iter().all(|m| m.state == MessageState::Read));
    let conversation = store.conversation(&id(1)).unwrap().unwrap();
    assert_eq!(conversation.unread, 1);
    assert_eq!(conversation.last_read_local_seq, i3.local_seq);

    // Reading again changes nothing; outgoing messages are never touched.
    assert!(store.mark_read(&id(1), i3.local_seq).unwrap().is_empty());
    let history = store.history(&id(1), 10, None).unwrap();
    assert_eq!(history[1].state, MessageState::Queued);

    let changed = store.mark_read(&id(1), u64::MAX).unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].message_id, i4.message_id);
    let conversation = store.conversation(&id(1)).unwrap().unwrap();
    assert_eq!(conversation.unread, 0);
    assert_eq!(conversation.last_read_local_seq, i4.local_seq);
    assert!(store.mark_read(&id(9), 10).unwrap().is_empty());
    assert!(store.conversation(&id(9)).unwrap().is_none());

    // A read receipt from our user's other path (set_message_state) also counts down.
    new(receive(&store, 1, 5, 140));
    assert_eq!(store.conversation(&id(1)).unwrap().unwrap().unread, 1);
    store
        .set_message_state(&id(1), &mid(5), MessageState::Read)
        .unwrap()
        .unwrap();
    assert_eq!(store.conversation(&id(1)).unwrap().unwrap().unread, 0);
}

#[test]
fn conversations_are_listed_most_recent_first_with_unread_counts() {
    let (_dir, store) = open(&StoreConfig::default());
    receive(&store, 1, 1, 100);
    receive(&store, 1, 2, 101);
    send(&store, 2, 3, 300);
    receive(&store, 3, 4, 200);
    let list = store.conversations().unwrap();
    assert_eq!(
        list.iter().map(|c| (c.peer, c.unread)).collect::<Vec<_>>(),
        vec![(id(2), 0), (id(3), 1), (id(1), 2)]
    );
    // A new message moves its conversation to the top; a clock going backwards does not
    // move it down.
    receive(&store, 1, 5, 400);
    send(&store, 3, 6, 50);
    let list = store.conversations().unwrap();
    assert_eq!(
        list.iter().map(|c| c.peer).collect::<Vec<_>>(),
        vec![id(1), id(2), id(3)]
    );
    assert_eq!(list[0].unread, 3);
    assert_eq!(list[2].last_message_at_ms, 200);
}

#[test]
fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (history, outbox, conversations) = {
        let store = reopen(&dir);
        send(&store, 1, 1, 100);
        receive(&store, 1, 2, 110);
        send(&store, 2, 3, 120);
        store
            .complete_outbox(&id(2), &mid(3), MessageState::Delivered)
            .unwrap();
        store.mark_read(&id(1), 2).unwrap();
        store.put_session(&id(5), b"alone").unwrap();
        store.flush().unwrap();
        (
            store.history(&id(1), 10, None).unwrap(),
            store.outbox().unwrap(),
            store.conversations().unwrap(),
        )
    };
    let store = reopen(&dir);
    assert_eq!(store.history(&id(1), 10, None).unwrap(), history);
    assert_eq!(store.outbox().unwrap(), outbox);
    assert_eq!(store.conversations().unwrap(), conversations);
    assert_eq!(&store.session(&id(1)).unwrap().unwrap()[..], &[1, 2, 2]);
    assert_eq!(&store.session(&id(5)).unwrap().unwrap()[..], b"alone");
    assert_eq!(
        store.history(&id(2), 1, None).unwrap()[0].state,
        MessageState::Delivered
    );
    // Sequences continue where they stopped, and duplicates are still recognised.
    assert_eq!(send(&store, 1, 4, 130).local_seq, 3);
    assert!(matches!(receive(&store, 1, 2, 999), Incoming::Duplicate(_)));
    let counts = store.counts().unwrap();
    assert_eq!((counts.messages, counts.outbox), (4, 2));
    assert_eq!(store.skipped_records(), 0);
}

#[test]
fn damaged_records_are_skipped_and_counted_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        send(&store, 1, 1, 100);
        receive(&store, 1, 2, 110);
        send(&store, 1, 3, 120);
        store.flush().unwrap();
    }
    {
        let db = common::raw_db(dir.path());
        let messages = db.open_tree(trees::MESSAGES).unwrap();
        // Message 2 becomes garbage, and a garbage key appears inside the conversation's range.
        let mut key = common::slot(&id(1));
        key.extend_from_slice(&2u64.to_be_bytes());
        messages.insert(&key, b"\x01garbage".as_slice()).unwrap();
        let mut odd = common::slot(&id(1));
        odd.extend_from_slice(&[0, 0, 0, 1]);
        messages.insert(odd, b"\x01x".as_slice()).unwrap();
        // The conversation record and an outbox entry become garbage too.
        db.open_tree(trees::CONVERSATIONS)
            .unwrap()
            .insert(common::slot(&id(1)), b"\x07".as_slice())
            .unwrap();
        db.open_tree(trees::OUTBOX)
            .unwrap()
            .insert(999u64.to_be_bytes(), b"\x01\x02".as_slice())
            .unwrap();
        db.open_tree(trees::SESSIONS)
            .unwrap()
            .insert(common::slot(&id(7)), b"".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let store = reopen(&dir);
    let history = store.history(&id(1), 10, None).unwrap();
    assert_eq!(
        history.iter().map(|m| m.local_seq).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(store.skipped_records() >= 2);
    let before = store.skipped_records();
    assert!(store.conversation(&id(1)).unwrap().is_none());
    assert!(store.conversations().unwrap().is_empty());
    assert_eq!(store.outbox().unwrap().len(), 2);
    assert!(store.session(&id(7)).unwrap().is_none());
    assert!(store.is_seen(&id(1), &mid(2)).unwrap().is_none());
    assert!(store.skipped_records() >= before + 5);

    // Recording a message rebuilds the conversation and never reuses a sequence number.
    let next = send(&store, 1, 4, 130);
    assert_eq!(next.local_seq, 4);
    assert_eq!(next.sender_seq, 3);
    let conversation = store.conversation(&id(1)).unwrap().unwrap();
    assert_eq!(conversation.next_local_seq, 5);
    assert_eq!(conversation.last_message_at_ms, 130);
    // The damaged message's id can be received again and is stored anew, not lost.
    let again = new(receive(&store, 1, 2, 140));
    assert_eq!(again.local_seq, 5);
    // Nothing was deleted: the damaged entries are all still there.
    drop(store);
    let db = common::raw_db(dir.path());
    assert_eq!(db.open_tree(trees::MESSAGES).unwrap().len(), 6);
    assert_eq!(db.open_tree(trees::OUTBOX).unwrap().len(), 4);
}

#[test]
fn message_states_print_and_parse_lowercase() {
    for (state, name) in [
        (MessageState::Queued, "queued"),
        (MessageState::Sent, "sent"),
        (MessageState::Delivered, "delivered"),
        (MessageState::Read, "read"),
    ] {
        assert_eq!(state.to_string(), name);
        assert_eq!(name.parse::<MessageState>(), Ok(state));
    }
    assert!("Read".parse::<MessageState>().is_err());
    assert!(MessageState::Queued < MessageState::Sent);
    assert!(MessageState::Delivered < MessageState::Read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_durable_writes_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (handle, task) = store.spawn(256).unwrap();
    let before = handle.flush_count().await.unwrap();
    let mut writers = Vec::new();
    for n in 0..100u32 {
        let handle = handle.clone();
        writers.push(tokio::spawn(async move {
            let peer = id((n % 5) as u8 + 1);
            let (incoming, ticket) = handle
                .run_with_ticket(
                    move |s| s.record_incoming(&peer, &[n as u8], mid(n), 1, "hi", None, 1, 2),
                    |_| true,
                )
                .await?;
            ticket.wait().await.map(|()| incoming)
        }));
    }
    for writer in writers {
        assert!(matches!(writer.await.unwrap().unwrap(), Incoming::New(_)));
    }
    let flushes = handle.flush_count().await.unwrap() - before;
    println!("100 concurrent durable writes took {flushes} flushes");
    assert!(flushes >= 1, "durable writes were never flushed");
    assert!(
        flushes <= 25,
        "100 durable writes took {flushes} flushes; group commit is not batching"
    );
    // Every write is durable and visible.
    let conversations = handle.run(|s| s.conversations()).await.unwrap();
    assert_eq!(conversations.iter().map(|c| c.unread).sum::<u64>(), 100);
    assert_eq!(handle.counts().await.unwrap().messages, 100);

    // A single durable request when idle costs exactly one flush.
    let before = handle.flush_count().await.unwrap();
    let ((), ticket) = handle
        .run_with_ticket(|s| s.put_session(&id(1), b"s"), |_| true)
        .await
        .unwrap();
    ticket.wait().await.unwrap();
    assert_eq!(handle.flush_count().await.unwrap() - before, 1);
    // Reads do not flush, and neither does a job whose answer says it needs none.
    handle.history(&id(1), 10, None).await.unwrap();
    let (_, ticket) = handle
        .run_with_ticket(|s| s.session(&id(1)), |_| false)
        .await
        .unwrap();
    ticket.wait().await.unwrap();
    assert_eq!(handle.flush_count().await.unwrap() - before, 1);
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_handle_runs_batches_and_answers_durable_ones_after_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (handle, task) = store.spawn(8).unwrap();
    let peer = id(1);
    // The connection makes the outbox head readable through the typed method.
    handle
        .put_connection(&Connection {
            peer,
            attestation: vec![1; 100],
            attestation_id: [1; 32],
            since_ms: 1,
            alias: None,
            revoked_at_ms: None,
            revocation: None,
            next_publish_at_ms: None,
            publish_count: 0,
            awaiting_confirmation: false,
        })
        .await
        .unwrap();
    // A batch of steps in one job: both sends see the state the one before left.
    let (recorded, ticket) = handle
        .run_with_ticket(
            move |s| {
                s.put_session(&peer, b"s0")?;
                let first =
                    s.record_outgoing(&peer, b"s1", mid(1), "hello", None, 10, b"e1", 11)?;
                let second =
                    s.record_outgoing(&peer, b"s2", mid(2), "again", None, 12, b"e2", 13)?;
                Ok((first, second))
            },
            |_| true,
        )
        .await
        .unwrap();
    ticket.wait().await.unwrap();
    let ((first, entry), (second, _)) = recorded;
    assert_eq!((first.sender_seq, second.sender_seq), (1, 2));
    assert_eq!(
        handle.active_outbox_head(&peer, 1).await.unwrap(),
        Some(vec![entry])
    );
    assert_eq!(handle.outbox_peers().await.unwrap(), vec![peer]);
    assert_eq!(handle.history(&peer, 10, None).await.unwrap().len(), 2);
    assert!(handle.remove_session(&peer).await.unwrap());
    // An error comes back at once and does not wait for a flush.
    assert!(matches!(
        handle
            .run_with_ticket(
                move |s| s.record_outgoing(&peer, b"s", mid(1), "dup", None, 1, b"e", 1),
                |_| true,
            )
            .await,
        Err(StoreError::BadRecord { .. })
    ));
    task.shutdown().await.unwrap();
    assert!(matches!(
        handle.history(&peer, 1, None).await,
        Err(StoreError::Closed)
    ));
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    assert_eq!(store.history(&peer, 10, None).unwrap().len(), 2);
    assert!(store.session(&peer).unwrap().is_none());
}

#[test]
fn an_early_message_is_refused_untouched_until_the_gap_is_filled() {
    let (_dir, store) = open(&StoreConfig::default());
    let peer = id(1);
    let incoming = |n: u32, seq: u64| {
        store
            .record_incoming(&peer, &[n as u8], mid(n), seq, &format!("m{n}"), None, 1, 2)
            .unwrap()
    };
    assert!(matches!(incoming(1, 1), Incoming::New(_)));
    // Sequence 3 before 2: refused, and nothing of it is written.
    assert_eq!(incoming(3, 3), Incoming::Early { expected: 2 });
    assert!(store.is_seen(&peer, &mid(3)).unwrap().is_none());
    assert_eq!(&store.session(&peer).unwrap().unwrap()[..], &[1]);
    let conversation = store.conversation(&peer).unwrap().unwrap();
    assert_eq!(conversation.last_received_sender_seq, Some(1));
    assert_eq!(conversation.unread, 1);
    // Once 2 arrives, 3 is taken, and the history shows the order sent.
    assert!(matches!(incoming(2, 2), Incoming::New(_)));
    assert!(matches!(incoming(3, 3), Incoming::New(_)));
    let bodies: Vec<_> = store
        .history(&peer, 10, None)
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["m1", "m2", "m3"]);
    // A message numbered below the last one (a sender restored from an old state) is kept.
    assert!(matches!(incoming(9, 2), Incoming::New(_)));
    assert_eq!(
        store
            .conversation(&peer)
            .unwrap()
            .unwrap()
            .last_received_sender_seq,
        Some(3)
    );
}

#[test]
fn the_outbox_head_is_one_peers_oldest_entries_in_order() {
    let (_dir, store) = open(&StoreConfig::default());
    for n in 0..10u32 {
        send(&store, 1 + (n % 2) as u8, n, 100 + u64::from(n));
    }
    let head = store.outbox_head(&id(1), 3).unwrap();
    let ids: Vec<_> = head.iter().map(|e| e.message_id).collect();
    assert_eq!(ids, vec![mid(0), mid(2), mid(4)]);
    assert_eq!(store.outbox_head(&id(2), 100).unwrap().len(), 5);
    assert!(store.outbox_head(&id(3), 100).unwrap().is_empty());
    assert!(store.outbox_head(&id(1), 0).unwrap().is_empty());
}
