//! The mailbox records: deposits bounded by the budget, the owner's share and the age, only
//! for registered tokens, stored once, fetched in order and deleted; our own mailboxes and
//! the announcements of our connections; and that nothing of it is in clear on disk.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{
    Announcement, DepositRefusal, MailboxLimits, OwnMailbox, Store, StoreConfig, token_hash,
};
use common::id;

const LIMITS: MailboxLimits = MailboxLimits {
    max_bytes: 4 * 1024,
    max_bytes_per_owner: 3 * 1024,
    max_age_ms: 1_000,
};

fn item(n: u8) -> Vec<u8> {
    let mut item = vec![n; 1024];
    item[0] = 1;
    item
}

/// Whether any file under `dir` holds `needle`.
fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            files_contain(&path, needle)
        } else {
            std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
        }
    })
}

#[test]
fn deposits_are_bounded_deduplicated_and_only_for_registered_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (owner, other) = (id(1), id(2));
    let (token, other_token) = (token_hash(&[7; 32]), token_hash(&[8; 32]));
    assert_eq!(
        store.deposit(&token, &item(1), &LIMITS, 0).unwrap(),
        Err(DepositRefusal::UnknownToken)
    );
    store.register_tokens(&owner, &[token], true).unwrap();
    store.register_tokens(&other, &[other_token], true).unwrap();
    for n in 1..=3 {
        assert_eq!(
            store.deposit(&token, &item(n), &LIMITS, 10).unwrap(),
            Ok(u64::from(n))
        );
    }
    // The same item again is the same item; the owner's share is used up.
    assert_eq!(store.deposit(&token, &item(2), &LIMITS, 10).unwrap(), Ok(2));
    assert_eq!(
        store.deposit(&token, &item(4), &LIMITS, 10).unwrap(),
        Err(DepositRefusal::Full)
    );
    // Another owner has room within the whole budget, once.
    assert!(
        store
            .deposit(&other_token, &item(9), &LIMITS, 10)
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        store.deposit(&other_token, &item(8), &LIMITS, 10).unwrap(),
        Err(DepositRefusal::Full)
    );
    let totals = store.serving_totals().unwrap();
    assert_eq!(
        (totals.recipients, totals.messages, totals.bytes),
        (2, 4, 4096)
    );

    // Only the owner's items, in order, paged; deleting frees the room.
    let held = store
        .held_for(&owner, 0, 2048, LIMITS.max_age_ms, 20)
        .unwrap();
    assert_eq!(held.iter().map(|h| h.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(held[0].item, item(1));
    assert_eq!(held[0].token_hash, token);
    let rest = store
        .held_for(&owner, 2, 2048, LIMITS.max_age_ms, 20)
        .unwrap();
    assert_eq!(rest.iter().map(|h| h.seq).collect::<Vec<_>>(), vec![3]);
    assert_eq!(store.delete_held(&owner, &[1, 2, 99]).unwrap(), 2);
    assert_eq!(store.deposit(&token, &item(5), &LIMITS, 20).unwrap(), Ok(4));

    // Replacing the registration withdraws the old token.
    store.register_tokens(&owner, &[], true).unwrap();
    assert_eq!(
        store.deposit(&token, &item(6), &LIMITS, 20).unwrap(),
        Err(DepositRefusal::UnknownToken)
    );
    // Past the age, the owner's items are gone when next touched.
    assert!(
        store
            .held_for(&owner, 0, 1 << 20, LIMITS.max_age_ms, 5_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.expire_all_held(LIMITS.max_age_ms, 5_000).unwrap(), 1);
    assert_eq!(store.serving_totals().unwrap().messages, 0);
}

#[test]
fn our_mailboxes_and_our_connections_announcements_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mailbox, peer) = (id(3), id(4));
    {
        let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
        store
            .put_own_mailbox(&OwnMailbox {
                id: mailbox,
                pinned: true,
                last_reached_ms: Some(42),
            })
            .unwrap();
        assert_eq!(store.next_announcement_version().unwrap(), 1);
        store.set_announcement_acked(&peer, 1).unwrap();
        let announcement = Announcement {
            version: 5,
            token: [9; 32],
            mailboxes: vec![mailbox],
        };
        assert!(store.put_announcement(&peer, &announcement).unwrap());
        let older = Announcement {
            version: 4,
            ..announcement
        };
        assert!(!store.put_announcement(&peer, &older).unwrap(), "older");
        let token = store.mailbox_token(&peer);
        assert_ne!(
            token,
            store.mailbox_token(&mailbox),
            "one token per connection"
        );
        store.note_issued_token(&token_hash(&token), &peer).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let mine = store.own_mailboxes().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].id, mine[0].pinned, mine[0].last_reached_ms),
        (mailbox, true, Some(42))
    );
    assert_eq!(store.announcement_version().unwrap(), 1);
    assert_eq!(store.announcement_acked(&peer).unwrap(), 1);
    let known = store.announcement(&peer).unwrap().unwrap();
    assert_eq!(
        (known.version, known.token, known.mailboxes),
        (5, [9; 32], vec![mailbox])
    );
    let token = store.mailbox_token(&peer);
    assert_eq!(store.issued_to(&token_hash(&token)).unwrap(), Some(peer));
    assert!(store.remove_own_mailbox(&mailbox).unwrap());
    assert!(store.own_mailboxes().unwrap().is_empty());
    drop(store);
    // Nothing of it in clear: no ID, and no held item's bytes.
    for needle in [mailbox.to_bytes(), peer.to_bytes()] {
        assert!(!files_contain(dir.path(), &needle), "an ID in clear");
    }
}
