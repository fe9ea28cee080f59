//! What the sender sees of its messages (`queued`, `sent`, `delivered`), what blocking does to
//! the message path, and that a peer that connects gets its queue at once, between real daemons.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use accord_tests::{ARRIVAL, Daemon, Launch, NO_DHT, TestDir, signal, stderr, wait_until};
use serde_json::Value;

/// The state `accord history` shows for our message `message_id` (`None` if it is not listed).
fn state_of(daemon: &Daemon, peer: &str, message_id: &Value) -> Option<String> {
    daemon
        .history(peer)
        .iter()
        .find(|m| &m["message_id"] == message_id)
        .and_then(|m| m["state"].as_str().map(str::to_owned))
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["body"].as_str().map(str::to_owned))
        .collect()
}

/// Resumes a stopped process when dropped, so that a failing test never leaves a daemon
/// stopped (and its `Daemon` guard then kills it as usual).
struct ResumeOnDrop(u32);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.0.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_message_handed_to_a_frozen_recipient_is_sent_until_it_answers() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    a.json(&["send", &b.id, "warm-up", "--wait"]);

    // The recipient's process is frozen: its connection stays up, nothing answers.
    signal(b.pid(), "STOP");
    let frozen = ResumeOnDrop(b.pid());
    let reply = a.json(&["send", &b.id, "while frozen"]);
    assert_eq!(
        reply["state"], "sent",
        "handed to a live connection, not acknowledged: {reply}"
    );
    let id = reply["message_id"].clone();
    assert_eq!(state_of(&a, &b.id, &id).as_deref(), Some("sent"));

    drop(frozen);
    wait_until("the message to be delivered", ARRIVAL, || {
        (state_of(&a, &b.id, &id).as_deref() == Some("delivered")).then_some(())
    });
    let on_b = b.wait_history(&a.id, 2);
    assert_eq!(bodies(&on_b), ["warm-up", "while frozen"]);
}

#[test]
fn a_message_to_a_stopped_recipient_is_queued_not_sent() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let b_id = b.id.clone();
    assert!(b.stop().success());
    wait_until("A to see B gone", ARRIVAL, || {
        (!a.peer_ids().contains(&b_id)).then_some(())
    });
    let reply = a.json(&["send", &b_id, "nobody home"]);
    assert_eq!(reply["state"], "queued", "{reply}");
    let id = reply["message_id"].clone();
    assert_eq!(state_of(&a, &b_id, &id).as_deref(), Some("queued"));
}

#[test]
fn blocking_drops_messages_both_ways_and_unblocking_delivers_what_waited() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let a_boot = a.tcp_addr();
    let (b_dir, b_id, b_listen) = (b.data_dir.clone(), b.id.clone(), b.listen_addr());

    // A message queued for B before A blocks it is kept, not lost.
    assert!(b.stop().success());
    assert_eq!(
        a.json(&["send", &b_id, "queued before the block"])["state"],
        "queued"
    );
    a.json(&["block", &b_id]);
    let b = Daemon::start(&b_dir, &["--listen", &b_listen, "--bootstrap", &a_boot]);
    b.wait_for_peer(&a.id, ARRIVAL);

    // B's message reaches A, which drops it before decrypting anything and stores nothing.
    b.json(&["send", &a.id, "sent while blocked"]);
    wait_until("A to drop a message from the blocked ID", ARRIVAL, || {
        (a.dropped("blocked") >= 1).then_some(())
    });
    assert!(a.history(&b_id).iter().all(|m| m["from"] != b_id.as_str()));
    assert_eq!(
        a.json(&["status"])["outbox"],
        1,
        "the queued message is kept"
    );
    assert!(
        b.history(&a.id).iter().all(|m| m["from"] != a.id.as_str()),
        "nothing is sent to a blocked ID"
    );

    // Sending to a blocked ID is refused locally.
    let refused = a.run(&["send", &b_id, "to a blocked ID"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(&format!(
            "error: {b_id} is blocked; unblock it with: accord unblock {b_id}"
        )),
        "{}",
        stderr(&refused)
    );

    // Unblocked, both directions work again, and nothing waited in vain.
    a.json(&["unblock", &b_id]);
    let on_b = b.wait_history(&a.id, 2);
    assert_eq!(
        bodies(&on_b),
        ["sent while blocked", "queued before the block"]
    );
    let on_a = a.wait_history(&b_id, 2);
    assert_eq!(
        bodies(&on_a),
        ["queued before the block", "sent while blocked"]
    );
    a.json(&["send", &b_id, "after the unblock", "--wait"]);
    b.json(&["send", &a.id, "and back", "--wait"]);
    assert_eq!(a.json(&["status"])["outbox"], 0);
}

/// Starts `accord daemon` on `data_dir` like [`Daemon::start`], with the Message actor's
/// debug log on, so that the test can follow the outbox's back-off.
fn start_with_delivery_log(data_dir: &Path, extra: &[&str]) -> Daemon {
    let launch = Launch {
        log_filter: Some("info,accord_node::message=debug"),
        ..Launch::default()
    };
    Daemon::wait_ready(data_dir, Daemon::spawn_with(data_dir, extra, &launch))
}

#[test]
fn a_recipient_that_connects_gets_its_queue_at_once_not_at_the_next_back_off() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let (a_dir, a_listen) = (a.data_dir.clone(), a.listen_addr());
    let (b_dir, b_id, b_listen) = (b.data_dir.clone(), b.id.clone(), b.listen_addr());
    assert!(b.stop().success());
    assert!(a.stop().success());
    let a = start_with_delivery_log(&a_dir, &["--listen", &a_listen]);

    for i in 0..3 {
        assert_eq!(
            a.json(&["send", &b_id, &format!("m{i}")])["state"],
            "queued"
        );
    }
    // After the fifth failed attempt the next retry is 16 s away (1, 2, 4, 8, 16 s), far
    // more than B needs to start and connect.
    wait_until(
        "A's back-off to reach 16 s",
        Duration::from_secs(120),
        || {
            a.log()
                .contains("delivery failed (attempt 5)")
                .then_some(())
        },
    );
    let b = Daemon::start(
        &b_dir,
        &["--listen", &b_listen, "--bootstrap", &a.tcp_addr()],
    );
    let on_b = b.wait_history(&a.id, 3);
    assert_eq!(bodies(&on_b), ["m0", "m1", "m2"]);
    // The connection, not the timer, sent them (how many at once depends on whether a
    // route lookup of the last attempt was still under way).
    let log = a.log();
    let line = format!("outbox: {b_id} connected; retrying ");
    assert!(
        log.lines()
            .any(|l| l.contains(&line) && l.ends_with(" queued message(s) now")),
        "no {line:?}… in A's log"
    );
}

#[test]
fn a_sender_offline_when_its_message_is_read_sees_read_once_it_is_back() {
    let dir = TestDir::new();
    let (a, b) = accord_tests::connected_pair(&dir, NO_DHT);
    let sent = a.json(&["send", &b.id, "read me later", "--wait"]);
    let id = sent["message_id"].clone();
    let (a_dir, a_id, a_listen) = (a.data_dir.clone(), a.id.clone(), a.listen_addr());
    assert!(a.stop().success());

    // B reads while A is away: the receipt cannot be delivered now, and stays owed.
    let on_b = b.wait_history(&a_id, 1);
    assert_eq!(on_b[0]["state"], "delivered", "as listed before this read");
    assert_eq!(b.history(&a_id)[0]["state"], "read");

    let a = Daemon::start(
        &a_dir,
        &["--listen", &a_listen, "--bootstrap", &b.tcp_addr()],
    );
    wait_until("A to learn that B read its message", ARRIVAL, || {
        (state_of(&a, &b.id, &id).as_deref() == Some("read")).then_some(())
    });
}
