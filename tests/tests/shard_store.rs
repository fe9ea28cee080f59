//! The shard store, end to end (issue 13 item 2): an invite and its acceptance reach peers
//! that are never online at the same time, through a relay that keeps the sealed frames of
//! the shards it relays and hands each peer its shard's frames when it connects.

use accord_tests::conversation::{str_of, wait_connected, wait_incoming_invite};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, init_identity, wait_until};

/// How many frames `node`'s shard store holds.
fn stored_frames(node: &Daemon) -> u64 {
    node.json(&["stats"])["shard_store_frames"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn an_invite_and_its_acceptance_cross_a_relay_while_the_other_side_is_offline() {
    let dir = TestDir::new();
    let relay = Daemon::start_with_config(&dir.path("r"), NO_DHT, &[]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &relay.tcp_addr()]);
    relay.wait_for_peer(&a.id, ARRIVAL);
    // A network this small is one shard (level 0), and the relay counts A, once identified,
    // in its estimate of the network's size.
    wait_until(
        "the relay to count A in its network estimate",
        ARRIVAL,
        || {
            let stats = relay.json(&["stats"]);
            assert_eq!(stats["shard_level"], 0, "{stats}");
            (stats["network_estimate"].as_u64() >= Some(2)).then_some(())
        },
    );
    // E exists but is offline: only its ID is known.
    let e_dir = dir.path("e");
    let e_id = init_identity(&e_dir);

    // A invites E, and the relay keeps the sealed frame for E's shard.
    let sent = a.json(&["connect", &e_id, "--note", "from the shard store"]);
    assert_eq!(sent["state"], "pending", "{sent}");
    let invite_id = str_of(&sent, "invite_id");
    wait_until("the relay to store A's invite", ARRIVAL, || {
        (stored_frames(&relay) >= 1).then_some(())
    });
    let a_dir = a.data_dir.clone();
    let a_listen = a.listen_addr();
    assert!(a.stop().success(), "A did not stop cleanly");

    // E comes online after A has gone, and gets the invite from the relay's store.
    let e = Daemon::start_with_config(&e_dir, NO_DHT, &["--bootstrap", &relay.tcp_addr()]);
    let received = wait_incoming_invite(&e, &invite_id);
    assert_eq!(received["note"], "from the shard store");

    // E accepts while A is still offline; the relay keeps the acceptance for A's shard.
    let before = stored_frames(&relay);
    let accepted = e.json(&["accept", &invite_id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    wait_until("the relay to store E's acceptance", ARRIVAL, || {
        (stored_frames(&relay) > before).then_some(())
    });
    assert!(e.stop().success(), "E did not stop cleanly");

    // A comes back (E is gone again) and completes the connection from the relay's store.
    let a = Daemon::start(
        &a_dir,
        &["--listen", &a_listen, "--bootstrap", &relay.tcp_addr()],
    );
    let on_a = wait_connected(&a, &e_id);
    let e = Daemon::start(&e_dir, &["--bootstrap", &relay.tcp_addr()]);
    let on_e = wait_connected(&e, &a.id);
    assert_eq!(on_a["attestation_id"], on_e["attestation_id"]);
    assert!(!str_of(&on_a, "attestation_id").is_empty());
}

#[test]
fn a_node_that_joins_a_shard_is_back_filled_and_serves_the_frames_on() {
    let dir = TestDir::new();
    let relay = Daemon::start_with_config(&dir.path("r"), NO_DHT, &[]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &relay.tcp_addr()]);
    relay.wait_for_peer(&a.id, ARRIVAL);
    let e_dir = dir.path("e");
    let e_id = init_identity(&e_dir);

    // A invites the offline E; only the relay holds the frame once A has gone.
    let sent = a.json(&["connect", &e_id, "--note", "back-filled"]);
    let invite_id = str_of(&sent, "invite_id");
    wait_until("the relay to store A's invite", ARRIVAL, || {
        (stored_frames(&relay) >= 1).then_some(())
    });
    assert!(a.stop().success(), "A did not stop cleanly");

    // J starts after the invite was published, so gossip never carried it to J: joining the
    // shard, J is handed the relay's older frames, checks them as a relay would, and keeps the
    // one that is not for it.
    let j = Daemon::start_with_config(&dir.path("j"), NO_DHT, &["--bootstrap", &relay.tcp_addr()]);
    wait_until(
        "J to be back-filled from the relay's store",
        ARRIVAL,
        || (stored_frames(&j) >= 1).then_some(()),
    );
    assert!(relay.stop().success(), "the relay did not stop cleanly");

    // With the relay and A gone, E gets the invite from J's store alone.
    let e = Daemon::start_with_config(&e_dir, NO_DHT, &["--bootstrap", &j.tcp_addr()]);
    let received = wait_incoming_invite(&e, &invite_id);
    assert_eq!(received["note"], "back-filled");
}
