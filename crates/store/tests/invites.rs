//! The invite lifecycle's persistence: invites, the quota ledger, connections, the block list.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{
    Connection, IncomingInvite, InviteId, InviteState, OutgoingInvite, Store, StoreConfig,
    StoreError, Zeroizing, trees,
};
use common::{id, open};

fn outgoing(n: u8, created_at_ms: u64) -> OutgoingInvite {
    OutgoingInvite {
        invite_id: [n; 16],
        peer: id(n),
        invite: vec![n; 40],
        one_time_secret: Some(Zeroizing::new([0xA5; 32])),
        state: InviteState::Pending,
        note: format!("hello {n}"),
        created_at_ms,
        expires_at_ms: created_at_ms + 1_000,
        closed_at_ms: None,
        next_publish_at_ms: Some(created_at_ms + 10),
        publish_count: 1,
    }
}

fn incoming(n: u8, received_at_ms: u64) -> IncomingInvite {
    IncomingInvite {
        invite_id: [n; 16],
        peer: id(n),
        invite: vec![n; 40],
        note: format!("hi from {n}"),
        state: InviteState::Pending,
        created_at_ms: received_at_ms - 5,
        expires_at_ms: received_at_ms + 1_000,
        received_at_ms,
        closed_at_ms: None,
        acceptance: None,
        ephemeral_secret: None,
        next_publish_at_ms: None,
        publish_count: 0,
    }
}

fn connection(n: u8, since_ms: u64) -> Connection {
    Connection {
        peer: id(n),
        attestation: vec![n; 100],
        attestation_id: [n; 32],
        since_ms,
        alias: None,
        revoked_at_ms: None,
        revocation: None,
        next_publish_at_ms: None,
        publish_count: 0,
        awaiting_confirmation: false,
    }
}

fn reopen(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap()
}

#[test]
fn every_record_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = OutgoingInvite {
        closed_at_ms: Some(7),
        ..outgoing(1, 100)
    };
    let inc = IncomingInvite {
        acceptance: Some(vec![9; 30]),
        ephemeral_secret: Some(Zeroizing::new([0x5A; 32])),
        next_publish_at_ms: Some(500),
        publish_count: 3,
        state: InviteState::Accepted,
        ..incoming(2, 200)
    };
    let conn = Connection {
        alias: Some("Ada".into()),
        revoked_at_ms: Some(900),
        revocation: Some(vec![1, 2, 3]),
        next_publish_at_ms: Some(950),
        publish_count: 2,
        awaiting_confirmation: false,
        ..connection(3, 300)
    };
    {
        let store = reopen(&dir);
        store.put_outgoing(&out).unwrap();
        store.put_incoming(&inc).unwrap();
        store.put_connection(&conn).unwrap();
    }
    let store = reopen(&dir);
    assert_eq!(store.outgoing(&[1; 16]).unwrap(), Some(out));
    assert_eq!(store.incoming(&[2; 16]).unwrap(), Some(inc));
    assert_eq!(store.connection(&id(3)).unwrap(), Some(conn));
    assert_eq!(store.outgoing(&[2; 16]).unwrap(), None);
    assert_eq!(store.incoming(&[1; 16]).unwrap(), None);
    assert_eq!(store.connection(&id(1)).unwrap(), None);
    assert_eq!(store.skipped_records(), 0);
}

#[test]
fn listings_are_ordered() {
    let (_dir, store) = open(&StoreConfig::default());
    for (n, t) in [(1, 100), (2, 300), (3, 200)] {
        store.put_outgoing(&outgoing(n, t)).unwrap();
        store.put_incoming(&incoming(n, t)).unwrap();
        store.put_connection(&connection(n, t)).unwrap();
    }
    let out: Vec<InviteId> = store
        .outgoing_invites()
        .unwrap()
        .iter()
        .map(|i| i.invite_id)
        .collect();
    assert_eq!(out, vec![[2; 16], [3; 16], [1; 16]]);
    let inc: Vec<InviteId> = store
        .incoming_invites()
        .unwrap()
        .iter()
        .map(|i| i.invite_id)
        .collect();
    assert_eq!(inc, vec![[2; 16], [3; 16], [1; 16]]);
    let conns: Vec<_> = store
        .connections()
        .unwrap()
        .iter()
        .map(|c| c.peer)
        .collect();
    assert_eq!(conns, vec![id(1), id(3), id(2)]);
}

#[test]
fn record_sent_invite_writes_invite_ledger_and_clock_together() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        assert_eq!(store.clock_high_water_ms().unwrap(), 0);
        store
            .record_sent_invite(&outgoing(1, 1_000), 1_000)
            .unwrap();
        store
            .record_sent_invite(&outgoing(2, 3_000), 3_000)
            .unwrap();
        // A clock moved backwards: the ledger records the later mark, and the mark stays.
        store
            .record_sent_invite(&outgoing(3, 2_000), 2_000)
            .unwrap();
    }
    let store = reopen(&dir);
    assert_eq!(store.outgoing_invites().unwrap().len(), 3);
    assert_eq!(store.quota_sent_at(0).unwrap(), vec![1_000, 3_000, 3_000]);
    assert_eq!(store.quota_used_since(2_000).unwrap(), 2);
    assert_eq!(store.clock_high_water_ms().unwrap(), 3_000);

    // The raw layout is as documented.
    drop(store);
    let db = common::raw_db(dir.path());
    let quota = db.open_tree(trees::QUOTA).unwrap();
    let (key, value) = quota.first().unwrap().unwrap();
    let mut expected = 1_000u64.to_be_bytes().to_vec();
    expected.extend_from_slice(&[1; 16]);
    assert_eq!(key.as_ref(), expected.as_slice());
    assert!(value.is_empty());
    let meta = db.open_tree(trees::META).unwrap();
    assert_eq!(
        meta.get("clock_high_water_ms").unwrap().unwrap().as_ref(),
        3_000u64.to_be_bytes()
    );
    let raw = db
        .open_tree(trees::INVITES_OUT)
        .unwrap()
        .get([1u8; 16])
        .unwrap()
        .unwrap();
    // The invite is sealed at rest: the format byte of a sealed value, then the nonce.
    assert_eq!(raw[0], 0xA1, "sealed value format byte");
}

#[test]
fn note_clock_only_raises_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        store.note_clock(500).unwrap();
        store.note_clock(400).unwrap();
        assert_eq!(store.clock_high_water_ms().unwrap(), 500);
        store.record_sent_invite(&outgoing(1, 450), 450).unwrap();
        assert_eq!(store.clock_high_water_ms().unwrap(), 500);
        store.note_clock(800).unwrap();
        store.flush().unwrap();
    }
    let store = reopen(&dir);
    assert_eq!(store.clock_high_water_ms().unwrap(), 800);
    // The mark is the store's own: the generic metadata API cannot touch it.
    assert!(matches!(
        store.set_meta("clock_high_water_ms", &[0; 8]),
        Err(StoreError::InvalidMetaKey { .. })
    ));
}

#[test]
fn complete_outgoing_succeeds_once_and_refuses_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        store.record_sent_invite(&outgoing(1, 100), 100).unwrap();
        assert!(
            store
                .complete_outgoing(&[1; 16], &connection(1, 150), 150, b"session")
                .unwrap()
        );
        // The replay changes nothing, even with a different attestation.
        let forged = Connection {
            attestation: vec![0xFF; 10],
            ..connection(1, 999)
        };
        assert!(
            !store
                .complete_outgoing(&[1; 16], &forged, 999, b"forged")
                .unwrap()
        );
        // Unknown invites are refused too, and save no connection.
        assert!(
            !store
                .complete_outgoing(&[7; 16], &connection(7, 1), 1, b"session")
                .unwrap()
        );
        assert_eq!(store.connection(&id(7)).unwrap(), None);
    }
    // Reopened, the closed invite has no one-time key and the connection and its ratchet
    // session are there: they were written in the same step, and the replay wrote nothing.
    let store = reopen(&dir);
    assert_eq!(
        store.session(&id(1)).unwrap().map(|s| s.to_vec()),
        Some(b"session".to_vec())
    );
    assert_eq!(store.session(&id(7)).unwrap(), None);
    let invite = store.outgoing(&[1; 16]).unwrap().unwrap();
    assert_eq!(invite.state, InviteState::Accepted);
    assert_eq!(invite.closed_at_ms, Some(150));
    assert!(invite.one_time_secret.is_none());
    assert_eq!(invite.next_publish_at_ms, None);
    assert_eq!(invite.note, "hello 1");
    assert_eq!(store.connection(&id(1)).unwrap(), Some(connection(1, 150)));
    assert!(
        !store
            .complete_outgoing(&[1; 16], &connection(1, 150), 150, b"session")
            .unwrap()
    );
}

#[test]
fn complete_outgoing_refuses_closed_invites() {
    let (_dir, store) = open(&StoreConfig::default());
    for state in [
        InviteState::Declined,
        InviteState::Withdrawn,
        InviteState::Expired,
    ] {
        let invite = OutgoingInvite {
            state,
            ..outgoing(1, 100)
        };
        store.put_outgoing(&invite).unwrap();
        assert!(
            !store
                .complete_outgoing(&[1; 16], &connection(1, 150), 150, b"session")
                .unwrap()
        );
        assert_eq!(store.outgoing(&[1; 16]).unwrap(), Some(invite));
        assert_eq!(store.connection(&id(1)).unwrap(), None);
    }
}

#[test]
fn accept_incoming_writes_invite_and_connection() {
    let dir = tempfile::tempdir().unwrap();
    let accepted = IncomingInvite {
        state: InviteState::Accepted,
        closed_at_ms: Some(250),
        acceptance: Some(vec![4; 64]),
        ephemeral_secret: Some(Zeroizing::new([3; 32])),
        next_publish_at_ms: Some(260),
        ..incoming(2, 200)
    };
    {
        let store = reopen(&dir);
        store.put_incoming(&incoming(2, 200)).unwrap();
        store
            .accept_incoming(&accepted, &connection(2, 250), b"session")
            .unwrap();
    }
    let store = reopen(&dir);
    assert_eq!(store.incoming(&[2; 16]).unwrap(), Some(accepted));
    assert_eq!(store.connection(&id(2)).unwrap(), Some(connection(2, 250)));
    assert!(store.remove_incoming(&[2; 16]).unwrap());
    assert!(!store.remove_incoming(&[2; 16]).unwrap());
    assert_eq!(store.incoming(&[2; 16]).unwrap(), None);
}

#[test]
fn counts_include_only_pending_invites_and_live_connections() {
    let (_dir, store) = open(&StoreConfig::default());
    store.put_outgoing(&outgoing(1, 1)).unwrap();
    store.put_outgoing(&outgoing(2, 2)).unwrap();
    store
        .put_outgoing(&OutgoingInvite {
            state: InviteState::Withdrawn,
            ..outgoing(3, 3)
        })
        .unwrap();
    store.put_incoming(&incoming(4, 10)).unwrap();
    store
        .put_incoming(&IncomingInvite {
            state: InviteState::Declined,
            ..incoming(5, 10)
        })
        .unwrap();
    store
        .put_incoming(&IncomingInvite {
            state: InviteState::Expired,
            ..incoming(6, 10)
        })
        .unwrap();
    store.put_connection(&connection(7, 1)).unwrap();
    store
        .put_connection(&Connection {
            revoked_at_ms: Some(5),
            ..connection(8, 1)
        })
        .unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.invites_out, 2);
    assert_eq!(counts.invites_in, 1);
    assert_eq!(counts.attestations, 1);

    // Accepting moves an invite out of the pending count and adds a connection.
    assert!(
        store
            .complete_outgoing(&[1; 16], &connection(1, 20), 20, b"session")
            .unwrap()
    );
    let counts = store.counts().unwrap();
    assert_eq!(counts.invites_out, 1);
    assert_eq!(counts.attestations, 2);
}

#[test]
fn blocked_set() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        assert!(!store.is_blocked(&id(1)).unwrap());
        store.block(&id(1), 100).unwrap();
        store.block(&id(2), 200).unwrap();
        store.block(&id(2), 250).unwrap();
        assert!(store.is_blocked(&id(1)).unwrap());
        assert!(store.unblock(&id(1)).unwrap());
        assert!(!store.unblock(&id(1)).unwrap());
        assert!(!store.is_blocked(&id(1)).unwrap());
    }
    let store = reopen(&dir);
    assert!(store.is_blocked(&id(2)).unwrap());
    assert_eq!(store.blocked().unwrap(), vec![(id(2), 250)]);
    drop(store);
    let db = common::raw_db(dir.path());
    let raw = db
        .open_tree(trees::BLOCKED)
        .unwrap()
        .get(common::slot(&id(2)))
        .unwrap()
        .unwrap();
    // Stored under the peer's slot, sealed: neither the ID nor the plain entry is on disk.
    let mut plain = vec![1];
    plain.extend_from_slice(&250u64.to_be_bytes());
    assert!(!raw.windows(plain.len()).any(|w| w == plain.as_slice()));
    assert!(!raw.windows(38).any(|w| w == id(2).to_bytes().as_slice()));
    assert_eq!(raw.len(), 38 + plain.len() + 41);
}

#[test]
fn debug_never_prints_secrets() {
    let with = |secret: [u8; 32]| {
        let out = OutgoingInvite {
            one_time_secret: Some(Zeroizing::new(secret)),
            ..outgoing(1, 1)
        };
        let inc = IncomingInvite {
            ephemeral_secret: Some(Zeroizing::new(secret)),
            ..incoming(2, 10)
        };
        (format!("{out:?}"), format!("{out:#?}"), format!("{inc:?}"))
    };
    let (a, b) = (with([0xAB; 32]), with([0x11; 32]));
    // The output does not depend on the secrets at all, and says they are there.
    assert_eq!(a, b);
    for text in [&a.0, &a.1, &a.2] {
        assert!(text.contains("Some(<redacted>)"), "{text}");
        assert!(!text.contains("171, 171"), "secret bytes in {text}");
    }
    let closed = format!(
        "{:?}",
        OutgoingInvite {
            one_time_secret: None,
            ..outgoing(1, 1)
        }
    );
    assert!(closed.contains("one_time_secret: None"), "{closed}");
    let conn = format!("{:?}", connection(3, 1));
    assert!(conn.contains("attestation: <100 bytes>"), "{conn}");
}

#[test]
fn damaged_incoming_invite_is_skipped_and_counted_and_others_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(&dir);
        store.put_incoming(&incoming(1, 100)).unwrap();
        store.put_incoming(&incoming(2, 200)).unwrap();
        store.put_incoming(&incoming(3, 300)).unwrap();
    }
    {
        let db = common::raw_db(dir.path());
        let tree = db.open_tree(trees::INVITES_IN).unwrap();
        tree.insert([2u8; 16], b"\x01garbage".as_slice()).unwrap();
        tree.insert([4u8; 16], b"\x09future".as_slice()).unwrap();
        tree.insert(b"short key".as_slice(), b"\x01".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let store = reopen(&dir);
    let ids: Vec<InviteId> = store
        .incoming_invites()
        .unwrap()
        .iter()
        .map(|i| i.invite_id)
        .collect();
    assert_eq!(ids, vec![[3; 16], [1; 16]]);
    assert_eq!(store.skipped_records(), 3);
    assert_eq!(store.incoming(&[2; 16]).unwrap(), None);
    assert_eq!(store.skipped_records(), 4);
    // Counts come from the counters kept with the store's own writes, which read nothing:
    // the damage done behind the store's back is not seen (nor counted as skipped) there.
    assert_eq!(store.counts().unwrap().invites_in, 3);
    assert_eq!(store.skipped_records(), 4);
    // Nothing was deleted by reading; writing the invite afresh repairs it.
    drop(store);
    {
        let db = common::raw_db(dir.path());
        assert_eq!(db.open_tree(trees::INVITES_IN).unwrap().len(), 5);
    }
    let store = reopen(&dir);
    store.put_incoming(&incoming(2, 200)).unwrap();
    assert_eq!(store.incoming_invites().unwrap().len(), 3);
}

#[test]
fn damaged_outgoing_invite_cannot_be_completed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = common::raw_db(dir.path());
        db.open_tree(trees::INVITES_OUT)
            .unwrap()
            .insert([1u8; 16], b"\x01\xff\xff".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let store = reopen(&dir);
    assert!(
        !store
            .complete_outgoing(&[1; 16], &connection(1, 5), 5, b"session")
            .unwrap()
    );
    assert_eq!(store.connection(&id(1)).unwrap(), None);
    // Once when the first open indexed the store, once when the completion read it.
    assert_eq!(store.skipped_records(), 2);
}

#[test]
fn oversized_records_are_refused_without_writing() {
    let (_dir, store) = open(&StoreConfig::default());
    let huge = OutgoingInvite {
        invite: vec![0; 100 * 1024],
        ..outgoing(1, 1)
    };
    assert!(matches!(
        store.record_sent_invite(&huge, 1),
        Err(StoreError::BadRecord { .. })
    ));
    assert!(store.outgoing_invites().unwrap().is_empty());
    assert!(store.quota_sent_at(0).unwrap().is_empty());
    assert_eq!(store.clock_high_water_ms().unwrap(), 0);
}

#[tokio::test]
async fn the_handle_mirrors_the_invite_api() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, task) = reopen(&dir).spawn(8).unwrap();
    handle
        .record_sent_invite(&outgoing(1, 100), 100)
        .await
        .unwrap();
    handle.put_outgoing(&outgoing(2, 200)).await.unwrap();
    assert_eq!(handle.outgoing_invites().await.unwrap().len(), 2);
    assert_eq!(
        handle.outgoing(&[2; 16]).await.unwrap(),
        Some(outgoing(2, 200))
    );
    assert_eq!(handle.quota_sent_at(0).await.unwrap(), vec![100]);
    handle.note_clock(500).await.unwrap();
    assert_eq!(handle.clock_high_water_ms().await.unwrap(), 500);
    assert!(
        handle
            .complete_outgoing(&[1; 16], &connection(1, 150), 150, b"session")
            .await
            .unwrap()
    );
    handle.put_incoming(&incoming(3, 300)).await.unwrap();
    assert_eq!(handle.incoming_invites().await.unwrap().len(), 1);
    assert!(handle.incoming(&[3; 16]).await.unwrap().is_some());
    let accepted = IncomingInvite {
        state: InviteState::Accepted,
        ..incoming(3, 300)
    };
    handle
        .accept_incoming(&accepted, &connection(3, 310), b"session")
        .await
        .unwrap();
    assert!(handle.remove_incoming(&[3; 16]).await.unwrap());
    handle.put_connection(&connection(4, 400)).await.unwrap();
    assert!(handle.connection(&id(4)).await.unwrap().is_some());
    assert_eq!(handle.connections().await.unwrap().len(), 3);
    handle.block(&id(5), 5).await.unwrap();
    assert!(handle.is_blocked(&id(5)).await.unwrap());
    assert!(handle.is_blocked(&id(5)).await.unwrap());
    assert!(handle.unblock(&id(5)).await.unwrap());
    assert_eq!(handle.counts().await.unwrap().attestations, 3);
    task.shutdown().await.unwrap();
}

#[test]
fn a_clock_set_back_cannot_date_a_ledger_entry_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(&dir);
    let ten_days = 10 * 24 * 3600 * 1000;
    store.note_clock(ten_days).unwrap();
    // The invite's own clock says 1 s after the epoch: ten days behind what was seen before.
    store
        .record_sent_invite(&outgoing(1, 1_000), 1_000)
        .unwrap();
    assert_eq!(store.quota_sent_at(0).unwrap(), vec![ten_days]);
    assert_eq!(store.clock_high_water_ms().unwrap(), ten_days);
}

#[test]
fn quota_reads_only_the_window_asked_for() {
    let (_dir, store) = open(&StoreConfig::default());
    store
        .record_sent_invite(&outgoing(1, 1_000), 1_000)
        .unwrap();
    store
        .record_sent_invite(&outgoing(2, 5_000), 5_000)
        .unwrap();
    assert_eq!(store.quota_sent_at(2_000).unwrap(), vec![5_000]);
}

#[test]
fn counters_follow_pending_invites_and_active_connections() {
    let (_dir, store) = open(&StoreConfig::default());
    store.put_incoming(&incoming(1, 100)).unwrap();
    store.put_incoming(&incoming(2, 100)).unwrap();
    store.record_sent_invite(&outgoing(3, 100), 0).unwrap();
    store.put_connection(&connection(4, 1)).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.invites_in, counts.invites_out, counts.attestations),
        (2, 1, 1)
    );
    let mut declined = incoming(1, 100);
    declined.state = InviteState::Declined;
    declined.closed_at_ms = Some(200);
    store.put_incoming(&declined).unwrap();
    assert!(store.remove_incoming(&[2; 16]).unwrap());
    let mut revoked = connection(4, 1);
    revoked.revoked_at_ms = Some(5);
    store.revoke_connection(&revoked).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.invites_in, counts.invites_out, counts.attestations),
        (0, 1, 0)
    );
    let live: Vec<_> = store
        .live_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.item)
        .collect();
    assert_eq!(live, vec![accord_store::LiveItem::Outgoing([3; 16])]);
}

#[test]
fn a_closed_invite_is_compacted_then_deleted_and_a_restart_scans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let open_at = |dir: &tempfile::TempDir| {
        Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap()
    };
    let store = open_at(&dir);
    assert!(store.index_built_at_open(), "a fresh store is indexed once");
    let mut declined = incoming(7, 1_000);
    declined.state = InviteState::Declined;
    declined.closed_at_ms = Some(1_500);
    store.put_incoming(&declined).unwrap();
    // Kept in full until a day after the invite could no longer be used.
    let purge_at = declined.expires_at_ms + accord_store::CLOSED_RETENTION_MS;
    assert_eq!(store.next_purge_at().unwrap(), Some(purge_at));
    assert_eq!(store.purge_due(purge_at - 1).unwrap(), 0);
    assert!(store.incoming(&[7; 16]).unwrap().is_some());
    drop(store);

    // Reopened: the index is read as it is, nothing is rebuilt.
    let store = open_at(&dir);
    assert!(
        !store.index_built_at_open(),
        "a restart rebuilt the index by a scan"
    );
    assert_eq!(store.purge_due(purge_at).unwrap(), 1);
    assert!(
        store.incoming(&[7; 16]).unwrap().is_none(),
        "the closed record survived"
    );
    assert!(store.incoming_invites().unwrap().is_empty());
    // The compacted form, the decline's cool-down, stays until its own deadline.
    let cooldowns = store.cooldowns().unwrap();
    assert_eq!(cooldowns.len(), 1);
    assert_eq!(
        (cooldowns[0].peer, cooldowns[0].closed_at_ms),
        (id(7), 1_500)
    );
    let cooldown_end = 1_500 + accord_store::COOLDOWN_RETENTION_MS;
    assert_eq!(store.next_purge_at().unwrap(), Some(cooldown_end));
    assert_eq!(store.purge_due(cooldown_end).unwrap(), 1);
    assert!(store.cooldowns().unwrap().is_empty());
    assert_eq!(store.next_purge_at().unwrap(), None);
}

#[test]
fn only_our_own_declines_and_withdrawals_start_a_cool_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    // An invite its sender withdrew does not stop us from inviting that sender.
    let mut withdrawn_by_them = incoming(8, 1_000);
    withdrawn_by_them.state = InviteState::Withdrawn;
    withdrawn_by_them.closed_at_ms = Some(1_200);
    store.put_incoming(&withdrawn_by_them).unwrap();
    assert!(store.cooldowns().unwrap().is_empty());
    // An invite we withdrew does, and so does one we declined.
    let mut withdrawn_by_us = outgoing(9, 1_000);
    withdrawn_by_us.state = InviteState::Withdrawn;
    withdrawn_by_us.closed_at_ms = Some(1_300);
    store.put_outgoing(&withdrawn_by_us).unwrap();
    let mut declined = incoming(10, 1_000);
    declined.state = InviteState::Declined;
    declined.closed_at_ms = Some(1_400);
    store.put_incoming(&declined).unwrap();
    let mut cooldowns: Vec<_> = store
        .cooldowns()
        .unwrap()
        .into_iter()
        .map(|c| (c.peer, c.declined, c.closed_at_ms))
        .collect();
    cooldowns.sort_by_key(|c| c.2);
    assert_eq!(
        cooldowns,
        vec![
            (withdrawn_by_us.peer, false, 1_300),
            (declined.peer, true, 1_400)
        ]
    );
}

#[test]
fn an_expired_incoming_invite_is_deleted_and_leaves_no_cool_down() {
    // Issue 15 item 2: expired incoming invites are not kept for ever, like declined ones.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let mut expired = incoming(8, 1_000);
    expired.state = InviteState::Expired;
    expired.closed_at_ms = Some(expired.expires_at_ms);
    store.put_incoming(&expired).unwrap();
    let purge_at = expired.expires_at_ms + accord_store::CLOSED_RETENTION_MS;
    assert_eq!(store.next_purge_at().unwrap(), Some(purge_at));
    assert_eq!(store.purge_due(purge_at - 1).unwrap(), 0);
    assert!(store.incoming(&[8; 16]).unwrap().is_some());
    assert_eq!(store.purge_due(purge_at).unwrap(), 1);
    assert!(store.incoming(&[8; 16]).unwrap().is_none());
    assert!(store.incoming_invites().unwrap().is_empty());
    assert!(
        store.cooldowns().unwrap().is_empty(),
        "an expiry holds no cool-down"
    );
    assert_eq!(store.next_purge_at().unwrap(), None);
}
