//! Identity churn (issue 15 item 6): 10,000 identify events from fresh identities leave gossip
//! and direct requests flowing, and the churned daemon drops no network event.
//!
//! Each new identity costs the daemon an identify event and an address-book write. The network
//! loop hands the sighting to the Connect actor without waiting (and the address book finds
//! its least recently seen entry through an index, not a scan), so the churn must not hold up
//! anything else the node does. Were the node's event loop to await the address book per
//! identify, the network loop's bounded event queue would fill behind it and `accord stats`
//! would count `events_dropped`, and messages and invites would stall or be lost meanwhile.
//!
//! The topology: A and B are connections; C knows only B. The raw identities churn B. During
//! the churn, A sends B a message (a direct `/accord/dm/1` request into B) and C invites A (a
//! gossip frame that only B can relay to A); after it, B answers A and A accepts C's invite
//! (the acceptance again relayed by B).

use accord_tests::churn::Churn;
use accord_tests::conversation::{self, str_of, wait_connected, wait_incoming_invite};
use accord_tests::{ARRIVAL, Daemon, Launch, NO_DHT, TestDir, wait_until};

/// The fresh identities that churn B.
const IDENTITIES: usize = 10_000;

/// How many of them dial at once: enough to keep B busy on two shared cores, well inside its
/// limit of pending incoming connections.
const PARALLEL: usize = 8;

/// How far into the churn the first exchange starts.
const CHURN_BEFORE_EXCHANGE: usize = 1_000;

/// Starts a daemon logging at `info` only: libp2p's debug lines for 10,000 connections would
/// make the log, not the churn, the daemon's main work.
fn quiet_daemon(dir: &TestDir, name: &str, extra: &[&str]) -> Daemon {
    let data_dir = dir.path(name);
    std::fs::create_dir_all(&data_dir).unwrap_or_else(|err| panic!("data dir: {err}"));
    std::fs::write(data_dir.join("config.toml"), NO_DHT)
        .unwrap_or_else(|err| panic!("config: {err}"));
    let launch = Launch {
        log_filter: Some("info"),
        ..Launch::default()
    };
    let child = Daemon::spawn_with(&data_dir, extra, &launch);
    Daemon::wait_ready(&data_dir, child)
}

/// Waits until `from`'s copy of the message `message_id` to `to` is acknowledged.
fn wait_delivered(from: &Daemon, to: &Daemon, message_id: &str) {
    wait_until(
        &format!("message {message_id} to be delivered"),
        ARRIVAL,
        || {
            from.history(&to.id)
                .iter()
                .any(|m| {
                    m["message_id"] == message_id
                        && (m["state"] == "delivered" || m["state"] == "read")
                })
                .then_some(())
        },
    );
}

/// Sends `body` from `from` to `to` and waits until `to` holds it and `from` sees it delivered.
fn exchange(from: &Daemon, to: &Daemon, body: &str) {
    let (message_id, _) = conversation::send(from, &to.id, body);
    wait_until(&format!("{} to hold {body:?}", to.id), ARRIVAL, || {
        to.history(&from.id)
            .iter()
            .any(|m| m["message_id"] == message_id.as_str() && m["body"] == body)
            .then_some(())
    });
    wait_delivered(from, to, &message_id);
}

#[test]
fn ten_thousand_fresh_identities_leave_gossip_and_direct_requests_flowing() {
    let dir = TestDir::new();
    let a = quiet_daemon(&dir, "a", &[]);
    let b = quiet_daemon(&dir, "b", &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    conversation::invite_and_accept(&a, &b, "before the churn");
    let c = quiet_daemon(&dir, "c", &["--bootstrap", &b.tcp_addr()]);
    b.wait_for_peer(&c.id, ARRIVAL);

    let churn = Churn::start(&b.tcp_addr(), IDENTITIES, PARALLEL);
    wait_until("the churn to get under way", ARRIVAL, || {
        (churn.identified() >= CHURN_BEFORE_EXCHANGE).then_some(())
    });

    // During the churn: a direct request into B, and a gossip frame through B.
    let invite = c.json(&["connect", &a.id, "--note", "during the churn"]);
    assert_eq!(invite["state"], "pending", "{invite}");
    let invite_id = str_of(&invite, "invite_id");
    exchange(&a, &b, "sent during the churn");
    let received = wait_incoming_invite(&a, &invite_id);
    assert_eq!(received["peer"], c.id.as_str());
    assert!(
        !churn.is_finished(),
        "the churn ended before the exchange did, so it proved nothing; {churn:?}"
    );

    let identified = churn.wait();
    let failed = IDENTITIES - identified;
    assert_eq!(
        identified, IDENTITIES,
        "{failed} fresh identities did not complete identify"
    );

    // After the churn: B answers A directly, and A's acceptance reaches C through B.
    exchange(&b, &a, "sent after the churn");
    let accepted = a.json(&["accept", &invite_id]);
    assert_eq!(accepted["state"], "accepted", "{accepted}");
    wait_connected(&c, &a.id);
    wait_connected(&a, &c.id);

    let stats = b.json(&["stats"]);
    assert_eq!(
        stats["events_dropped"], 0,
        "the churned daemon dropped network events: {stats}"
    );
}
