//! Daemons find each other over real libp2p on 127.0.0.1.

use std::time::Duration;

use accord_tests::{Daemon, TestDir};

const DISCOVERY: Duration = Duration::from_secs(20);

#[test]
fn two_daemons_bootstrapped_together_list_each_other_as_peers() {
    let dir = TestDir::new();
    let a = Daemon::start(&dir.path("a"), &[]);
    let b = Daemon::start(&dir.path("b"), &["--bootstrap", &a.tcp_addr()]);

    a.wait_for_peer(&b.id, DISCOVERY);
    b.wait_for_peer(&a.id, DISCOVERY);

    // The peer list carries dialable addresses: B's entry on A names B's listen address.
    let peers = a.json(&["peers"]);
    let entry = peers
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["id"] == b.id.as_str()))
        .cloned()
        .unwrap_or_default();
    let b_port = b
        .tcp_addr()
        .split('/')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    let addrs = entry["addrs"].as_array().cloned().unwrap_or_default();
    assert!(
        addrs
            .iter()
            .any(|addr| addr.as_str().is_some_and(|a| a.contains(&b_port))),
        "A lists B at {addrs:?}, expected B's port {b_port}"
    );

    let status = a.json(&["status"]);
    assert_eq!(status["id"], a.id.as_str());
    assert!(status["peers"].as_u64() >= Some(1), "{status}");
    assert_eq!(status["invites_left_this_week"], 100);
}

#[test]
fn kademlia_finds_a_peer_two_hops_away_by_its_id() {
    let dir = TestDir::new();
    let a = Daemon::start(&dir.path("a"), &[]);
    let b = Daemon::start(&dir.path("b"), &["--bootstrap", &a.tcp_addr()]);
    let c = Daemon::start(&dir.path("c"), &["--bootstrap", &b.tcp_addr()]);
    b.wait_for_peer(&a.id, DISCOVERY);
    b.wait_for_peer(&c.id, DISCOVERY);

    // A was never told about C: only a DHT query through B can produce C's address.
    let found = a.json(&["lookup", &c.id]);
    assert_eq!(found["id"], c.id.as_str());
    assert_eq!(found["source"], "dht", "{found}");
    let c_addr = c.tcp_addr();
    let c_base = c_addr.split("/p2p/").next().unwrap_or_default();
    let addrs = found["addrs"].as_array().cloned().unwrap_or_default();
    assert!(
        addrs.iter().any(|addr| addr == c_base),
        "lookup returned {addrs:?}, expected {c_base}"
    );

    // The address found is usable: A can dial C with it.
    let dialled = a.json(&["dial", &format!("{c_base}/p2p/{}", c.id)]);
    assert_eq!(dialled["id"], c.id.as_str());
    a.wait_for_peer(&c.id, DISCOVERY);
}

#[test]
fn looking_up_an_unknown_or_malformed_id_is_a_clear_error() {
    let dir = TestDir::new();
    let a = Daemon::start(&dir.path("a"), &[]);

    let output = a.run(&["lookup", "not-an-id"]);
    assert_eq!(output.status.code(), Some(1));
    let err = accord_tests::stderr(&output);
    assert!(
        err.starts_with("error: ") && err.contains("not an Accord ID"),
        "{err}"
    );

    let output = a.run(&["lookup", &a.id]);
    assert_eq!(output.status.code(), Some(1));
    assert!(accord_tests::stderr(&output).contains("own ID"));
}
