//! The Connect half end to end: sealed invites over gossip between real daemons, acceptance as
//! an attestation anyone can verify offline, and the lifecycle around it.

use std::time::Duration;

use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, run, stderr, stdout, wait_until};
use serde_json::Value;

// Daemons in these tests run without the DHT (`NO_DHT`), so that the topology is exactly the
// one built (the DHT would connect every node to every other).

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Starts `n` daemons in a chain (`n0`…), each bootstrapped to the one before.
fn chain(dir: &TestDir, n: usize) -> Vec<Daemon> {
    accord_tests::chain(dir, "n", n, NO_DHT)
}

/// Waits until `node` lists an invite matching `check` in `direction`.
fn wait_invite(node: &Daemon, direction: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("an invite on {}", node.id), ARRIVAL, || {
        node.invites(direction)
            .into_iter()
            .find(|invite| check(invite))
    })
}

fn wait_connected(node: &Daemon, peer: &str) -> Value {
    wait_until(
        &format!("{} to list {peer} as a connection", node.id),
        ARRIVAL,
        || node.connections().into_iter().find(|c| c["peer"] == peer),
    )
}

#[test]
fn an_invite_crosses_a_five_node_chain_by_gossip_and_acceptance_is_a_verifiable_attestation() {
    let dir = TestDir::new();
    let nodes = chain(&dir, 5);
    let (a, b) = (&nodes[0], &nodes[4]);
    assert!(
        !a.peer_ids().contains(&b.id),
        "A and B must not be directly connected"
    );

    let sent = a.json(&["connect", &b.id, "--note", "Hi B, we met at RustConf — Ω"]);
    assert_eq!(sent["state"], "pending");
    assert_eq!(sent["peer"], b.id.as_str());
    let invite_id = sent["invite_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(invite_id.len(), 32);

    let received = wait_invite(b, "--incoming", |i| i["invite_id"] == invite_id.as_str());
    assert_eq!(received["peer"], a.id.as_str());
    assert_eq!(received["note"], "Hi B, we met at RustConf — Ω");
    assert_eq!(received["state"], "pending");
    assert!(
        !a.peer_ids().contains(&b.id),
        "the invite must have travelled by gossip"
    );

    let accepted = b.json(&["accept", &a.id]);
    assert_eq!(accepted["state"], "accepted");
    let on_b = wait_connected(b, &a.id);
    let on_a = wait_connected(a, &b.id);
    assert_eq!(on_a["attestation_id"], on_b["attestation_id"]);
    let outgoing = a.invites("--outgoing");
    assert_eq!(outgoing[0]["state"], "accepted");
    assert_eq!(a.json(&["status"])["connections"], 1);

    // The portable attestation verifies offline: no daemon, no data dir.
    let text = stdout(&a.run(&["attestation", &b.id]));
    assert!(
        text.starts_with("-----BEGIN ACCORD ATTESTATION-----"),
        "{text}"
    );
    let file = dir.path("attestation.txt");
    std::fs::write(&file, &text).unwrap_or_default();
    let nowhere = dir.path("no-such-data-dir");
    let check = run(
        &nowhere,
        &["--json", "verify-attestation", file.to_str().unwrap_or("")],
    );
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let verdict: Value = serde_json::from_slice(&check.stdout).unwrap_or_default();
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["inviter"], a.id.as_str());
    assert_eq!(verdict["invitee"], b.id.as_str());
    assert!(
        verdict["issued_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(!nowhere.exists(), "verification must not create a data dir");

    // Changing any one character of the armoured body makes it invalid.
    let body_start = text.find('\n').unwrap_or(0) + 1;
    let body_end = text.rfind("-----END").unwrap_or(text.len());
    let mut failures = 0;
    for (position, byte) in text.bytes().enumerate().take(body_end).skip(body_start) {
        if !byte.is_ascii_hexdigit() {
            continue;
        }
        let replacement = if byte == b'0' { '1' } else { '0' };
        let mut tampered = text.clone().into_bytes();
        tampered[position] = replacement as u8;
        std::fs::write(&file, &tampered).unwrap_or_default();
        let check = run(
            &nowhere,
            &["verify-attestation", file.to_str().unwrap_or("")],
        );
        assert_eq!(
            check.status.code(),
            Some(1),
            "a change at {position} still verified"
        );
        assert!(stderr(&check).starts_with("error: invalid attestation"));
        failures += 1;
    }
    assert!(failures > 200, "only {failures} positions were checked");
}

#[test]
fn an_invitee_that_was_offline_receives_the_invite_when_it_comes_up() {
    let dir = TestDir::new();
    let hub = Daemon::start_with_config(&dir.path("hub"), NO_DHT, &[]);
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &["--bootstrap", &hub.tcp_addr()]);
    hub.wait_for_peer(&a.id, ARRIVAL);

    // B exists (it has an identity) but is not running when A invites it.
    let b_dir = dir.path("b");
    let init = run(&b_dir, &["--json", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let b_id = serde_json::from_slice::<Value>(&init.stdout).unwrap_or_default()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sent = a.json(&["connect", &b_id, "--note", "for when you are back"]);
    std::thread::sleep(Duration::from_secs(3));

    let b = Daemon::start_with_config(&b_dir, NO_DHT, &["--bootstrap", &hub.tcp_addr()]);
    let received = wait_invite(&b, "--incoming", |i| i["invite_id"] == sent["invite_id"]);
    assert_eq!(received["note"], "for when you are back");
}

#[test]
fn decline_withdraw_block_and_disconnect_hold_on_both_sides_across_restarts() {
    let dir = TestDir::new();
    let mut nodes = chain(&dir, 3);
    let c = nodes.pop().unwrap_or_else(|| panic!("three nodes"));
    let b = nodes.pop().unwrap_or_else(|| panic!("three nodes"));
    let a = nodes.pop().unwrap_or_else(|| panic!("three nodes"));
    let boot_a: Vec<String> = vec![];
    let boot_b = vec!["--bootstrap".to_owned(), a.tcp_addr()];
    let boot_c = vec!["--bootstrap".to_owned(), b.tcp_addr()];

    // Decline: B declines A's invite; A is not told.
    let sent = a.json(&["connect", &b.id, "--note", "decline me"]);
    wait_invite(&b, "--incoming", |i| i["invite_id"] == sent["invite_id"]);
    assert_eq!(b.json(&["decline", &a.id])["state"], "declined");
    let b = b.restart(&args(&boot_b));
    assert_eq!(b.invites("--incoming")[0]["state"], "declined");
    assert_eq!(a.invites("--outgoing")[0]["state"], "pending");

    // Withdraw: A withdraws its invite to C; C's node drops it.
    let sent = a.json(&["connect", &c.id, "--note", "withdraw me"]);
    wait_invite(&c, "--incoming", |i| i["invite_id"] == sent["invite_id"]);
    assert_eq!(a.json(&["withdraw", &c.id])["state"], "withdrawn");
    wait_invite(&c, "--incoming", |i| {
        i["invite_id"] == sent["invite_id"] && i["state"] == "withdrawn"
    });
    let a = a.restart(&args(&boot_a));
    let again = a.run(&["connect", &c.id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("again"), "{}", stderr(&again));
    let c = c.restart(&args(&boot_c));
    assert_eq!(c.invites("--incoming")[0]["state"], "withdrawn");

    // Block: C blocks B, then B's invite never shows up on C, even after a restart.
    c.json(&["block", &b.id]);
    let c = c.restart(&args(&boot_c));
    b.json(&["connect", &c.id, "--note", "let me in"]);
    wait_until("C to drop B's invite", ARRIVAL, || {
        let stats = c.json(&["stats"]);
        (stats["dropped"]["blocked"].as_u64() >= Some(1)).then_some(())
    });
    assert!(
        c.invites("--incoming")
            .iter()
            .all(|i| i["peer"] != b.id.as_str())
    );
    let refused = c.run(&["connect", &b.id]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("blocked"));

    // Disconnect: B and C... C blocked B, so connect A and C instead? A withdrew from C (cool
    // down), so C invites A, A accepts, then A disconnects.
    let sent = c.json(&["connect", &a.id, "--note", "friends?"]);
    wait_invite(&a, "--incoming", |i| i["invite_id"] == sent["invite_id"]);
    a.json(&["accept", sent["invite_id"].as_str().unwrap_or_default()]);
    wait_connected(&c, &a.id);
    let revoked = a.json(&["disconnect", &c.id]);
    assert!(revoked["revoked_at"].is_string());
    assert!(a.connections().is_empty());
    wait_until("C to see the revocation", ARRIVAL, || {
        c.connections().is_empty().then_some(())
    });
    let a = a.restart(&args(&boot_a));
    let c = c.restart(&args(&boot_c));
    assert!(a.connections().is_empty());
    assert!(c.connections().is_empty());
    let attestation = a.run(&["attestation", &c.id]);
    assert_eq!(attestation.status.code(), Some(1));
}

#[test]
fn the_weekly_quota_and_the_cool_down_hold_across_restarts() {
    let dir = TestDir::new();
    let config = "[network]\nmdns = false\ndht = false\n[invites]\nweekly_limit = 2\n";
    let a = Daemon::start_with_config(&dir.path("a"), config, &[]);
    let mut ids = Vec::new();
    for name in ["x", "y", "z"] {
        let out = run(&dir.path(name), &["--json", "init"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        ids.push(doc["id"].as_str().unwrap_or_default().to_owned());
    }
    a.json(&["connect", &ids[0]]);
    a.json(&["connect", &ids[1]]);
    assert_eq!(a.json(&["status"])["invites_left_this_week"], 0);
    let third = a.run(&["connect", &ids[2]]);
    assert_eq!(third.status.code(), Some(1));
    let err = stderr(&third);
    assert!(
        err.contains("weekly invite limit of 2") && err.contains("next slot frees at 20"),
        "{err}"
    );

    let a = a.restart(&[]);
    let again = a.run(&["connect", &ids[2]]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a restart must not reset the quota"
    );
    assert_eq!(a.json(&["status"])["invites_left_this_week"], 0);

    // Cool-down: after a withdrawal the same pair cannot invite again.
    a.json(&["withdraw", &ids[0]]);
    let reinvite = a.run(&["connect", &ids[0]]);
    assert_eq!(reinvite.status.code(), Some(1));
    assert!(stderr(&reinvite).contains("again"), "{}", stderr(&reinvite));
}

#[test]
fn bad_invites_are_refused_locally_with_clear_messages() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let other = run(&dir.path("o"), &["--json", "init"]);
    let other: Value = serde_json::from_slice(&other.stdout).unwrap_or_default();
    let other = other["id"].as_str().unwrap_or_default();

    let long_note = "x".repeat(301);
    let out = a.run(&["connect", other, "--note", &long_note]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("300"), "{}", stderr(&out));

    let out = a.run(&["connect", other, "--note", "bell\u{7}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("control"), "{}", stderr(&out));

    let out = a.run(&["connect", &a.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("yourself"));

    let out = a.run(&["connect", "12D3KooWnotanid"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an Accord ID"));

    a.json(&["connect", other]);
    let out = a.run(&["connect", other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already pending"));
    assert_eq!(
        a.invites("--outgoing").len(),
        1,
        "refusals must not store anything"
    );
}

#[test]
fn crossed_invites_end_in_one_connection() {
    let dir = TestDir::new();
    let nodes = chain(&dir, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    // Both invite at the same moment, before either invite can arrive.
    std::thread::scope(|scope| {
        let from_a = scope.spawn(|| a.json(&["connect", &b.id, "--note", "from A"]));
        let from_b = scope.spawn(|| b.json(&["connect", &a.id, "--note", "from B"]));
        let _ = from_a.join();
        let _ = from_b.join();
    });
    let on_a = wait_connected(a, &b.id);
    let on_b = wait_connected(b, &a.id);
    assert_eq!(
        on_a["attestation_id"], on_b["attestation_id"],
        "two connections were made"
    );
    // Nothing is left pending on either side once the pair is connected.
    wait_until("every invite to be settled", ARRIVAL, || {
        let settled = |node: &Daemon| {
            node.json(&["invites"])
                .as_array()
                .is_some_and(|all| all.iter().all(|i| i["state"] != "pending"))
        };
        (settled(a) && settled(b)).then_some(())
    });
    assert_eq!(a.connections().len(), 1);
    assert_eq!(b.connections().len(), 1);
}
