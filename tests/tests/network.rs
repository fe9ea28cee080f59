//! Daemons find each other over real libp2p on 127.0.0.1.

use std::time::Duration;

use accord_tests::{Daemon, TestDir, conversation};

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

/// The QUIC-only listen address the QUIC tests use: no TCP listener at all, so anything that
/// works between the two daemons worked over QUIC.
const QUIC_ONLY: &str = "/ip4/127.0.0.1/udp/0/quic-v1";

/// The addresses `node` lists for `peer` in `accord peers --json` (empty if it lists none).
fn listed_addrs(node: &Daemon, peer: &str) -> Vec<String> {
    node.json(&["peers"])
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["id"] == peer))
        .and_then(|entry| entry["addrs"].as_array())
        .map(|addrs| {
            addrs
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_quic_only_daemons_peer_connect_and_message_over_quic() {
    let dir = TestDir::new();
    let a = Daemon::start_with_config(
        &dir.path("a"),
        accord_tests::NO_DHT,
        &["--listen", QUIC_ONLY],
    );
    assert!(
        a.addrs
            .iter()
            .all(|addr| addr.contains("/udp/") && addr.contains("/quic-v1/")),
        "A listens on more than QUIC: {:?}",
        a.addrs
    );
    let a_quic = a.quic_addr();
    let b = Daemon::start_with_config(
        &dir.path("b"),
        accord_tests::NO_DHT,
        &["--listen", QUIC_ONLY, "--bootstrap", &a_quic],
    );
    assert!(
        b.addrs
            .iter()
            .all(|addr| addr.contains("/udp/") && addr.contains("/quic-v1/")),
        "B listens on more than QUIC: {:?}",
        b.addrs
    );

    a.wait_for_peer(&b.id, DISCOVERY);
    b.wait_for_peer(&a.id, DISCOVERY);

    // Each side lists the other at QUIC addresses only: there is no TCP path between them.
    for (node, peer) in [(&a, &b), (&b, &a)] {
        let addrs = listed_addrs(node, &peer.id);
        assert!(
            !addrs.is_empty(),
            "{} lists no address for {}",
            node.id,
            peer.id
        );
        assert!(
            addrs
                .iter()
                .all(|addr| addr.contains("/udp/") && addr.contains("/quic-v1")),
            "{} lists {} at non-QUIC addresses: {addrs:?}",
            node.id,
            peer.id
        );
    }
    // A lists B at B's own QUIC port, so the listing is B's real listen address.
    let b_port = b
        .quic_addr()
        .split('/')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    assert!(
        listed_addrs(&a, &b.id)
            .iter()
            .any(|addr| addr.contains(&format!("/udp/{b_port}/"))),
        "A does not list B's QUIC port {b_port}"
    );

    // The whole protocol runs over QUIC: an invite, its acceptance and one message.
    conversation::invite_and_accept(&a, &b, "over quic");
    let sent = conversation::send(&a, &b.id, "hello over **QUIC**");
    let on_b = b.wait_history(&a.id, 1);
    assert_eq!(conversation::written_by(&on_b, &a.id), vec![sent]);
}
