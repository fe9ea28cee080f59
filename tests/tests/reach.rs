//! Reach: finding a node by its ID alone and connecting through a relay, between real daemons
//! on 127.0.0.1 (mDNS off). Each test prints what it measured (lookup time, message latency),
//! so that `cargo test -p accord-tests --test reach -- --nocapture` is also the measurement.

use std::time::{Duration, Instant};

use accord_tests::{Daemon, TestDir, wait_until};
use serde_json::Value;

const ARRIVAL: Duration = Duration::from_secs(60);

/// A DHT server (the default) that also lets AutoNAT work on loopback.
const SERVER: &str = "[network]\nmdns = false\nautonat_global_only = false\n";

/// A DHT client: asks the DHT, is never in anyone's routing table, so no other node's DHT
/// query ever dials it. That keeps the laptop in these tests from meeting its peer by chance.
const CLIENT: &str = "[network]\nmdns = false\ndht_server = false\nautonat_global_only = false\n";

/// A node that runs no DHT at all: nobody can look it up.
const NO_DHT: &str = "[network]\nmdns = false\ndht = false\n";

/// `inviter` invites `invitee` by ID alone; the invitee accepts; both see the connection.
fn connect_by_id(inviter: &Daemon, invitee: &Daemon) {
    let sent = inviter.json(&["connect", &invitee.id, "--note", "hello from afar"]);
    wait_until("the invite to arrive", ARRIVAL, || {
        invitee
            .json(&["invites", "--incoming"])
            .as_array()?
            .iter()
            .find(|i| i["invite_id"] == sent["invite_id"])
            .cloned()
    });
    invitee.json(&["accept", &inviter.id]);
    for node in [inviter, invitee] {
        wait_until("the connection on both sides", ARRIVAL, || {
            let connections = node.json(&["connections"]);
            connections
                .as_array()?
                .iter()
                .any(|c| c["peer"] == inviter.id.as_str() || c["peer"] == invitee.id.as_str())
                .then_some(())
        });
    }
}

/// Sends `body` and waits until the recipient holds it; returns the time that took.
fn send_and_wait(from: &Daemon, to: &Daemon, body: &str) -> Duration {
    let started = Instant::now();
    from.json(&["send", &to.id, body]);
    wait_until(&format!("{body:?} to arrive"), ARRIVAL, || {
        to.history(&from.id)
            .iter()
            .any(|m| m["body"] == body)
            .then_some(())
    });
    started.elapsed()
}

/// The median of a few round trips of `send --wait` (which returns on the recipient's ack).
fn median_ack_latency(from: &Daemon, to: &Daemon, rounds: usize) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|i| {
            let started = Instant::now();
            from.json(&["send", &to.id, &format!("latency probe {i}"), "--wait"]);
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The `elapsed_ms` of the first "found … by a Kademlia lookup" line about `peer` in a log.
fn lookup_ms(log: &str, peer: &str) -> Option<u64> {
    strip_ansi(log)
        .lines()
        .find(|l| l.contains("by a Kademlia lookup") && l.contains(peer))
        .and_then(|l| l.split("elapsed_ms=").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|ms| ms.parse().ok())
}

/// The log without terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn peer_entry(node: &Daemon, peer: &str) -> Option<Value> {
    node.json(&["peers"])
        .as_array()?
        .iter()
        .find(|p| p["id"] == peer)
        .cloned()
}

#[test]
fn a_chain_a_x_y_b_finds_b_by_id_through_kademlia() {
    let dir = TestDir::new();
    let x = Daemon::start_with_config(&dir.path("x"), SERVER, &[]);
    let y = Daemon::start_with_config(&dir.path("y"), SERVER, &["--bootstrap", &x.tcp_addr()]);
    // A only asks (a DHT client), and is told about X alone. Its DHT bootstrap (a lookup of
    // its own ID, then bucket refreshes) meets Y; B joins only after that has settled, so A
    // can learn B's address from nothing but the lookup it makes before the first message.
    // (Had B been there, the bootstrap itself would have met B: in a four-node DHT a
    // bootstrap visits everyone.) No DHT query of another node ever dials a client.
    let a = Daemon::start_with_config(&dir.path("a"), CLIENT, &["--bootstrap", &x.tcp_addr()]);
    a.wait_for_peer(&y.id, ARRIVAL);
    std::thread::sleep(Duration::from_secs(3));
    let b = Daemon::start_with_config(&dir.path("b"), SERVER, &["--bootstrap", &y.tcp_addr()]);
    b.wait_for_peer(&y.id, ARRIVAL);
    x.wait_for_peer(&y.id, ARRIVAL);

    connect_by_id(&a, &b);
    assert!(
        peer_entry(&a, &b.id).is_none(),
        "A met B before any lookup; the test would prove nothing"
    );
    let there = send_and_wait(&a, &b, "found you by your ID");
    let back = send_and_wait(&b, &a, "and I answer");
    let log = a.log();
    let lookup = lookup_ms(&log, &b.id).unwrap_or_else(|| {
        panic!("A's log has no Kademlia lookup of B:\n{log}");
    });
    // The address A dialled is B's own, which only the DHT could have told A: A is a DHT
    // client that knows X alone, and no DHT query of another node dials a client.
    let found = strip_ansi(&log)
        .lines()
        .find(|l| l.contains("by a Kademlia lookup") && l.contains(&b.id))
        .map(str::to_owned)
        .unwrap_or_default();
    let entry = peer_entry(&a, &b.id).unwrap_or_default();
    let b_base = b
        .tcp_addr()
        .split("/p2p/")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        entry["addrs"]
            .as_array()
            .is_some_and(|addrs| addrs.iter().any(|addr| addr == b_base.as_str())),
        "A reaches B at {entry}, expected {b_base}"
    );
    assert!(
        found.contains(&b_base),
        "lookup line {found:?} lacks {b_base}"
    );
    assert_eq!(entry["via"], "direct");
    let direct = median_ack_latency(&a, &b, 5);
    println!(
        "measured: Kademlia lookup {lookup} ms; first message A→B {there:?} (lookup, dial, \
         delivery), reply B→A {back:?}; direct send --wait median {direct:?}"
    );
}

#[test]
fn a_lookup_that_finds_nothing_leaves_the_message_queued_and_says_why() {
    let dir = TestDir::new();
    let x = Daemon::start_with_config(&dir.path("x"), SERVER, &[]);
    let a = Daemon::start_with_config(&dir.path("a"), CLIENT, &["--bootstrap", &x.tcp_addr()]);
    // B runs no DHT: gossip through X carries the handshake, but nobody can look B up.
    let b = Daemon::start_with_config(&dir.path("b"), NO_DHT, &["--bootstrap", &x.tcp_addr()]);
    connect_by_id(&a, &b);

    a.json(&["send", &b.id, "are you there?"]);
    let queued = wait_until("the reason on the queued message", ARRIVAL, || {
        let messages = a.history(&b.id);
        let message = messages.iter().find(|m| m["body"] == "are you there?")?;
        message.get("reason").is_some().then(|| message.clone())
    });
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(queued["reason"], "peer not found", "{queued}");
    let status = a.json(&["status"]);
    assert_eq!(status["outbox"], 1, "{status}");
    let reasons = status["queued"].as_array().cloned().unwrap_or_default();
    assert!(
        reasons
            .iter()
            .any(|q| q["peer"] == b.id.as_str() && q["reason"] == "peer not found"),
        "{status}"
    );

    // B joins the DHT: the next retry finds it and the message is delivered.
    b.stop();
    let b = Daemon::start_with_config(&dir.path("b"), SERVER, &["--bootstrap", &x.tcp_addr()]);
    wait_until(
        "the queued message to arrive",
        Duration::from_secs(120),
        || {
            b.history(&a.id)
                .iter()
                .any(|m| m["body"] == "are you there?")
                .then_some(())
        },
    );
    wait_until("the reason to clear", ARRIVAL, || {
        a.json(&["status"])["queued"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    });
}

#[test]
fn a_node_reachable_only_through_a_relay_exchanges_invites_and_messages() {
    let dir = TestDir::new();
    let r = Daemon::start_with_config(&dir.path("r"), SERVER, &["--relay-server"]);
    let b = Daemon::start_with_config(
        &dir.path("b"),
        SERVER,
        &["--no-listen", "--relay", &r.tcp_addr()],
    );
    // B listens on nothing but its reservation on R.
    assert!(
        b.addrs.iter().all(|addr| addr.contains("/p2p-circuit")),
        "{:?}",
        b.addrs
    );
    let a = Daemon::start_with_config(&dir.path("a"), CLIENT, &["--bootstrap", &r.tcp_addr()]);

    connect_by_id(&a, &b);
    let there = send_and_wait(&a, &b, "through the relay");
    let back = send_and_wait(&b, &a, "and back through it");

    let status = b.json(&["status"]);
    let relays = status["relays"].as_array().cloned().unwrap_or_default();
    assert_eq!(relays.len(), 1, "{status}");
    assert_eq!(relays[0]["peer"], r.id.as_str(), "{status}");
    assert_eq!(relays[0]["connected"], true, "{status}");
    assert!(
        relays[0]["reserved"]
            .as_str()
            .is_some_and(|addr| addr.contains(&r.id) && addr.contains("/p2p-circuit")),
        "{status}"
    );
    assert!(r.json(&["status"])["relay_server"] == true);
    let entry = peer_entry(&a, &b.id).unwrap_or_default();
    assert_eq!(entry["via"], "relayed", "{entry}");
    let relayed = median_ack_latency(&a, &b, 5);
    println!(
        "measured: first message A→B through the relay {there:?}, reply {back:?}; relayed send \
         --wait median {relayed:?}"
    );
}

#[test]
fn a_relay_full_of_circuits_refuses_one_and_the_message_waits_for_a_free_circuit() {
    let dir = TestDir::new();
    let relay_config = format!("{NO_DHT}[relay]\nmax_circuits = 1\n");
    let r = Daemon::start_with_config(&dir.path("r"), &relay_config, &["--relay-server"]);
    let via_r = ["--no-listen", "--relay", &r.tcp_addr()];
    let a = Daemon::start_with_config(&dir.path("a"), NO_DHT, &via_r);
    let b1 = Daemon::start_with_config(&dir.path("b1"), NO_DHT, &via_r);
    let b2 = Daemon::start_with_config(&dir.path("b2"), NO_DHT, &via_r);

    // A meets B1 through the relay's one circuit.
    a.json(&["dial", &b1.addrs[0]]);
    connect_by_id(&a, &b1);
    send_and_wait(&a, &b1, "first circuit");

    // The handshake with B2 goes by gossip through R, but a message needs a circuit.
    connect_by_id(&a, &b2);
    // A learns B2's relayed address by dialling it; the relay has no circuit left.
    let refused = a.run(&["dial", &b2.addrs[0]]);
    assert!(!refused.status.success(), "the second circuit was granted");
    a.json(&["send", &b2.id, "waiting for a circuit"]);
    wait_until("the relay to refuse the second circuit", ARRIVAL, || {
        strip_ansi(&r.log())
            .lines()
            .any(|l| l.contains("relay: circuit refused") && l.contains("max_circuits = 1"))
            .then_some(())
    });
    let queued = wait_until("the reason on the queued message", ARRIVAL, || {
        let messages = a.history(&b2.id);
        let message = messages
            .iter()
            .find(|m| m["body"] == "waiting for a circuit")?;
        message.get("reason").is_some().then(|| message.clone())
    });
    assert_eq!(queued["state"], "queued", "{queued}");

    // B1 leaves: its circuit frees and the queued message goes through the next retry.
    b1.stop();
    wait_until(
        "the queued message to arrive over the freed circuit",
        Duration::from_secs(120),
        || {
            b2.history(&a.id)
                .iter()
                .any(|m| m["body"] == "waiting for a circuit")
                .then_some(())
        },
    );
}
