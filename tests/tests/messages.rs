//! The Message half end to end: encrypted, acknowledged, ordered, exactly-once delivery between
//! real daemons, across restarts and crashes.

use std::process::Stdio;
use std::time::Duration;

use accord_tests::conversation::{str_of, wait_connected, wait_incoming_invite};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, accord, stderr, wait_until};
use serde_json::Value;

/// Two connected daemons: A invited B and B accepted.
fn connected_pair(dir: &TestDir) -> (Daemon, Daemon) {
    accord_tests::connected_pair(dir, NO_DHT)
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["body"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_invitee_writes_first_then_both_ways_arrive_intact_and_in_order() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    let invite = a.json(&["connect", &b.id, "--note", "let's talk"]);
    let invite_id = str_of(&invite, "invite_id");
    wait_incoming_invite(&b, &invite_id);
    let accepted = b.json(&["accept", &invite_id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");

    // The invitee writes the moment `accept` returns, before the inviter has even learnt of
    // the acceptance: the message must wait for the channel, not be refused or lost.
    let hello = "Hello **A**, thanks for the invite!";
    let first = b.json(&["send", &a.id, hello]);
    // `sent` when it went out on the live connection at once, `queued` when it is waiting;
    // either way it is not yet acknowledged.
    assert!(
        first["state"] == "queued" || first["state"] == "sent",
        "{first}"
    );
    let first_id = str_of(&first, "message_id");
    assert_eq!(first_id.len(), 32);
    let on_a = a.wait_history(&b.id, 1);
    assert_eq!(on_a[0]["message_id"], first_id.as_str());
    assert_eq!(on_a[0]["body"], hello);
    assert_eq!(on_a[0]["from"], b.id.as_str());
    assert_eq!(on_a[0]["to"], a.id.as_str());
    let on_a_conn = wait_connected(&a, &b.id);
    let on_b_conn = wait_connected(&b, &a.id);
    assert_eq!(on_a_conn["attestation_id"], on_b_conn["attestation_id"]);

    let mut expected = vec![hello.to_owned()];
    for round in 0..5 {
        let from_a =
            format!("A{round}: a list\n\n- *one*\n- `two`\n\n```rust\nfn main() {{}}\n```");
        let from_b = format!("B{round}: [a link](https://example.org) and ~~strike~~ — ünïcödé ✓");
        a.json(&["send", &b.id, &from_a, "--wait"]);
        expected.push(from_a);
        b.json(&["send", &a.id, &from_b, "--wait"]);
        expected.push(from_b);
    }
    let on_a = a.wait_history(&b.id, expected.len());
    let on_b = b.wait_history(&a.id, expected.len());
    assert_eq!(bodies(&on_a), expected);
    assert_eq!(bodies(&on_b), expected);
    assert_eq!(
        ids(&on_a),
        ids(&on_b),
        "both sides list the same messages in the same order"
    );
    assert!(
        on_a.iter()
            .all(|m| m["sent_at"].as_str().is_some_and(|t| t.ends_with('Z')))
    );

    concurrent_sends_both_ways(&a, &b, expected.len());
    let on_a = a.history(&b.id);
    assert_eq!(
        on_a.iter()
            .filter(|m| m["message_id"] == first_id.as_str())
            .count(),
        1,
        "the first message is shown exactly once"
    );
}

fn ids(list: &[Value]) -> Vec<Value> {
    list.iter().map(|m| m["message_id"].clone()).collect()
}

/// Spawns `accord send` processes on both sides at once, then checks that every body arrived
/// intact, exactly once, and in each direction in the order the sender's daemon stored them.
/// `before` is how many messages the conversation already holds.
fn concurrent_sends_both_ways(a: &Daemon, b: &Daemon, before: usize) {
    const EACH: usize = 4;
    let mut children = Vec::new();
    let mut sent = Vec::new();
    for i in 0..EACH {
        for (from, to, name) in [(a, b, "A"), (b, a, "B")] {
            let body = format!("**{name}** at once #{i}\n\n> ✓ — `{name}{i}`");
            let child = accord(&from.data_dir, &["--json", "send", &to.id, &body])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|err| panic!("cannot spawn accord send: {err}"));
            children.push(child);
            sent.push(body);
        }
    }
    for child in children {
        let output = child
            .wait_with_output()
            .unwrap_or_else(|err| panic!("accord send: {err}"));
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let total = before + sent.len();
    let on_a = a.wait_history(&b.id, total);
    let on_b = b.wait_history(&a.id, total);
    assert_eq!(on_a.len(), total, "exactly once on A");
    assert_eq!(on_b.len(), total, "exactly once on B");
    for node in [a, b] {
        let mine = |list: &[Value]| -> Vec<Value> {
            list.iter()
                .filter(|m| m["from"] == node.id.as_str())
                .cloned()
                .collect()
        };
        assert_eq!(
            mine(&on_a)
                .iter()
                .map(|m| (&m["message_id"], &m["body"]))
                .collect::<Vec<_>>(),
            mine(&on_b)
                .iter()
                .map(|m| (&m["message_id"], &m["body"]))
                .collect::<Vec<_>>(),
            "{}'s messages in the same order on both sides",
            node.id
        );
    }
    let mut arrived: Vec<String> = bodies(&on_a[before..]);
    arrived.sort();
    sent.sort();
    assert_eq!(arrived, sent, "every concurrent body arrived intact");
}

#[test]
fn messages_queued_for_a_stopped_recipient_arrive_once_in_order_after_it_restarts() {
    let dir = TestDir::new();
    let (a, b) = connected_pair(&dir);
    let b_boot = ["--bootstrap".to_owned(), a.tcp_addr()];
    let b_dir = b.data_dir.clone();
    let b_id = b.id.clone();
    let b_listen = b
        .tcp_addr()
        .split("/p2p/")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(b.stop().success());

    let mut sent = Vec::new();
    for i in 0..20 {
        let reply = a.json(&["send", &b_id, &format!("queued {i}")]);
        assert_eq!(reply["state"], "queued");
        sent.push(reply["message_id"].clone());
    }
    assert_eq!(a.json(&["status"])["outbox"], 20);

    let b = Daemon::start(&b_dir, &["--listen", &b_listen, &b_boot[0], &b_boot[1]]);
    let on_b = b.wait_history(&a.id, 20);
    assert_eq!(on_b.len(), 20, "exactly once");
    let expected: Vec<String> = (0..20).map(|i| format!("queued {i}")).collect();
    assert_eq!(bodies(&on_b), expected);
    wait_until("A to see all 20 delivered", ARRIVAL, || {
        let on_a = a.history(&b.id);
        on_a.iter()
            .all(|m| m["state"] == "delivered" || m["state"] == "read")
            .then_some(())
    });
    assert_eq!(a.json(&["status"])["outbox"], 0);
}

#[test]
fn a_recipient_killed_mid_stream_loses_nothing_and_shows_nothing_twice() {
    let dir = TestDir::new();
    let (a, b) = connected_pair(&dir);
    let b_dir = b.data_dir.clone();
    let b_id = b.id.clone();
    let b_listen = b
        .tcp_addr()
        .split("/p2p/")
        .next()
        .unwrap_or_default()
        .to_owned();
    let boot = a.tcp_addr();
    const TOTAL: usize = 500;

    let mut b = Some(b);
    for i in 0..TOTAL {
        a.json(&["send", &b_id, &format!("m{i:03}")]);
        if i == 150 {
            // A crash in the middle of the stream, while messages are in flight.
            if let Some(victim) = b.take() {
                victim.crash();
            }
        }
        if i == 300 {
            b = Some(Daemon::start(
                &b_dir,
                &["--listen", &b_listen, "--bootstrap", &boot],
            ));
        }
    }
    let b = b.unwrap_or_else(|| panic!("B was restarted"));
    let on_b = wait_until("B to hold every message", Duration::from_secs(120), || {
        let messages = b.history(&a.id);
        (messages.len() >= TOTAL).then_some(messages)
    });
    let expected: Vec<String> = (0..TOTAL).map(|i| format!("m{i:03}")).collect();
    assert_eq!(
        bodies(&on_b),
        expected,
        "lost, duplicated or reordered messages"
    );
    wait_until("A's outbox to drain", ARRIVAL, || {
        (a.json(&["status"])["outbox"] == 0).then_some(())
    });
}
